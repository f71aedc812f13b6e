"""Cleaning what a server's chat template leaks into a model's output, by profile flags.

Two flags of ``ModelProfile`` drive it (both on for ``LLAMA_CPP_PROFILE``):

- ``unescape_html``: undo HTML escaping in text and tool-call arguments
  (llama-cpp-python's ``chatml-function-calling`` template renders with autoescape,
  and the model copies ``&#34;`` back; a doubly escaped ``&amp;#34;`` is undone too);
- ``template_tokens``: chat-template tokens such as ``<|im_start|>``: a leading one
  (with the role name after it) is dropped, and the text is cut at the next one (what
  follows is the model writing the next turn itself).

``OutputCleaner`` cleans streamed text piece by piece, holding back a tail that could
be the start of an entity or a token, so a token split over two deltas never shows;
``clean_response`` cleans a whole answer. Both leave text untouched when no flag is on.
"""

from __future__ import annotations

import html
import re
from dataclasses import replace

from agentkit.models.base import ModelProfile, ModelResponse

__all__ = ["OutputCleaner", "clean_response", "clean_text", "unescape"]

_ROLE_AFTER_TOKEN = re.compile(r"\A(?:assistant|model|user|system)?[ \t]*\n?")
_ROLES = ("assistant", "model", "user", "system")
_ENTITY_TAIL = re.compile(r"&(?:amp;)*[#a-zA-Z0-9]{0,10};?\Z")  # may still grow
_MAX_UNESCAPES = 3


def unescape(text: str) -> str:
    """``text`` with HTML entities undone, also when escaped twice (``&amp;#34;``)."""
    for _ in range(_MAX_UNESCAPES):
        if "&" not in text:
            break
        undone = html.unescape(text)
        if undone == text:
            break
        text = undone
    return text


def _cut(text: str, tokens: tuple[str, ...]) -> tuple[str, bool]:
    """``text`` without a leading token (and role) and cut at the next token; whether cut."""
    stripped = text.lstrip()
    leading = True
    while leading:
        leading = False
        for token in tokens:
            if stripped.startswith(token):
                stripped = stripped[len(token) :]
                stripped = _ROLE_AFTER_TOKEN.sub("", stripped, count=1).lstrip()
                leading = True
    if stripped != text.lstrip():
        text = stripped
    positions = [i for i in (text.find(token) for token in tokens) if i >= 0]
    if positions:
        return text[: min(positions)].rstrip(), True
    return text, False


def clean_text(text: str, profile: ModelProfile) -> str:
    """Whole ``text`` cleaned as ``profile`` says (unescaped, template tokens cut)."""
    if profile.unescape_html:
        text = unescape(text)
    if profile.template_tokens:
        text, _ = _cut(text, profile.template_tokens)
    return text


def clean_response(response: ModelResponse, profile: ModelProfile) -> ModelResponse:
    """``response`` with its text and tool-call arguments cleaned as ``profile`` says."""
    if not (profile.unescape_html or profile.template_tokens):
        return response
    message = response.message
    changes: dict[str, object] = {}
    if message.content:
        content = clean_text(message.content, profile)
        if content != message.content:
            changes["content"] = content
    if profile.unescape_html and message.tool_calls:
        calls = tuple(
            call.model_copy(update={"arguments": unescape(call.arguments)})
            if "&" in call.arguments
            else call
            for call in message.tool_calls
        )
        if calls != message.tool_calls:
            changes["tool_calls"] = calls
    if not changes:
        return response
    return replace(response, message=message.model_copy(update=changes))


class OutputCleaner:
    """Cleans streamed text as it comes: ``feed`` each piece, ``flush`` at the end.

    What it returns, joined, is ``clean_text`` of all the pieces; a tail that may be
    the start of an entity or a template token waits for the next piece.
    """

    def __init__(self, profile: ModelProfile) -> None:
        self._unescape = profile.unescape_html
        self._tokens = profile.template_tokens
        self.active = self._unescape or bool(self._tokens)
        """Whether the profile asks for any cleaning (else ``feed`` returns its input)."""
        self._raw = ""
        self._sent = 0
        self._done = False

    def _clean(self, text: str) -> tuple[str, bool]:
        if self._unescape:
            text = unescape(text)
        if self._tokens:
            return _cut(text, self._tokens)
        return text, False

    def _held(self, raw: str) -> int:
        """How many characters at the end of ``raw`` may still become an entity or token."""
        hold = 0
        if self._unescape and (match := _ENTITY_TAIL.search(raw)):
            hold = len(raw) - match.start()
        for token in self._tokens:
            for size in range(min(len(token) - 1, len(raw)), 0, -1):
                if raw.endswith(token[:size]):
                    hold = max(hold, size)
                    break
        return hold

    def _role_pending(self, raw: str) -> bool:
        """Whether ``raw`` is leading tokens then what may still become a role line."""
        rest = raw.lstrip()
        led = False
        while any(rest.startswith(token) for token in self._tokens):
            token = next(token for token in self._tokens if rest.startswith(token))
            rest, led = rest[len(token) :], True
        return led and "\n" not in rest and any(role.startswith(rest) for role in _ROLES)

    def feed(self, piece: str) -> str:
        """The cleaned text that can be shown now, given one more streamed ``piece``."""
        if not self.active:
            return piece
        if self._done:
            return ""
        self._raw += piece
        if self._tokens and self._role_pending(self._raw):
            return ""
        hold = self._held(self._raw)
        ready = self._raw[: len(self._raw) - hold] if hold else self._raw
        cleaned, cut = self._clean(ready)
        if cut:
            self._done = True
        elif not cleaned.strip() and self._tokens:
            return ""  # maybe a leading token still to come: wait
        elif self._tokens:
            # Trailing whitespace may precede a token that cuts it: keep it back.
            cleaned = cleaned.rstrip()
        out = cleaned[self._sent :]
        self._sent = max(self._sent, len(cleaned))
        return out

    def flush(self) -> str:
        """The rest of the cleaned text, at the end of the stream."""
        if not self.active or self._done:
            return ""
        cleaned, _ = self._clean(self._raw)
        self._done = True
        return cleaned[self._sent :]
