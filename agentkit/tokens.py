"""Token counting: a request's input tokens, counted from above, cached per message.

For Mistral profiles (``provider == "mistral_ai"``) the count uses Mistral's Tekken
tokenizer from ``mistral-common`` (the ``mistral`` extra), offline, from the vocabulary
that package bundles: close to, not exactly, Mistral Small 3.2's (mistral-common ships no
Small 3.2 tokenizer file), so each message gets a margin for its control tokens and JSON
framing. Without ``mistral-common``, and for other profiles, the count is an estimate
that errs on the high side: one token per UTF-8 byte of the message as it is framed
(byte-level BPE tokenizers never make more tokens than bytes), plus the same margins.
The tokenizer is loaded once per process, on first use (about a second); the count of
each message is cached, so counting a long history again costs a lookup per message.

``agentkit.context`` (the context window) is built on it and re-exports its public names.
"""

from __future__ import annotations

import functools
import importlib
import json
from collections.abc import Callable, Sequence
from typing import Any

from agentkit.limits import attachment_tokens
from agentkit.messages import (
    AssistantMessage,
    ImagePart,
    MediaPart,
    Message,
    SystemMessage,
    TextPart,
    UserMessage,
)
from agentkit.models.base import Model, ModelProfile
from agentkit.tools import ToolDefinition

__all__ = [
    "CALL_MARGIN",
    "IMAGE_TOKENS",
    "MESSAGE_MARGIN",
    "REQUEST_MARGIN",
    "count_tokens",
]

MESSAGE_MARGIN = 8
"""Tokens added per message for its role's control tokens."""
CALL_MARGIN = 8
"""Tokens added per tool call (and per tool result) for its JSON framing."""
REQUEST_MARGIN = 16
"""Tokens added per request (BOS, instruction markers, the tools' framing)."""
IMAGE_TOKENS = 4_200
"""Tokens one image may take (Pixtral's ceiling, as ``agentkit.limits`` counts it)."""
_CACHE_SIZE = 100_000
"""Messages whose count is kept per scheme (the cache is emptied when it is full)."""


def _media_bound(part: MediaPart) -> int:
    """An image's tokens; a document's or audio clip's inline bytes (a token per byte, as
    text) plus what ``agentkit.limits.attachment_tokens`` adds for it."""
    if isinstance(part, ImagePart):
        return IMAGE_TOKENS
    return part.size + attachment_tokens(part)


@functools.cache
def _tekken() -> Callable[[str], int] | None:
    """The Tekken tokenizer's text encoder (loaded once), or ``None`` without mistral-common."""
    try:
        module = importlib.import_module("mistral_common.tokens.tokenizers.mistral")
    except ImportError:
        return None
    tokenizer = module.MistralTokenizer.v3(is_tekken=True).instruct_tokenizer.tokenizer

    def encode(text: str) -> int:
        return len(tokenizer.encode(text, bos=False, eos=False))

    return encode


def _utf8(text: str) -> int:
    return len(text.encode("utf-8"))


class _Counter:
    """Counts messages with one text measure, caching the count of each message."""

    __slots__ = ("cache", "measure")

    def __init__(self, measure: Callable[[str], int]) -> None:
        self.measure = measure
        self.cache: dict[Any, int] = {}

    def message(self, message: Message) -> int:
        try:
            return self.cache[message]
        except KeyError:
            pass
        except TypeError:  # unhashable content: count it every time
            return self._count(message)
        count = self._count(message)
        if len(self.cache) >= _CACHE_SIZE:
            self.cache.clear()
        self.cache[message] = count
        return count

    def _count(self, message: Message) -> int:
        measure = self.measure
        count = MESSAGE_MARGIN
        if isinstance(message, SystemMessage):
            count += measure(message.content)
        elif isinstance(message, UserMessage):
            if isinstance(message.content, str):
                count += measure(message.content)
            else:
                for part in message.content:
                    if isinstance(part, TextPart):
                        count += measure(part.text)
                    else:
                        count += _media_bound(part)
        elif isinstance(message, AssistantMessage):
            count += measure(message.content or "")
            for thought in message.thinking:  # counted even where it is not sent: from above
                count += measure(thought.text) + CALL_MARGIN
            for call in message.tool_calls:
                framed = json.dumps({"name": call.name, "arguments": _arguments(call.arguments)})
                count += measure(framed) + measure(call.id) + CALL_MARGIN
        else:
            framed = json.dumps({"content": message.content, "call_id": message.tool_call_id})
            count += measure(framed) + measure(message.name) + CALL_MARGIN
            count += IMAGE_TOKENS * len(message.images)
            count += sum(_media_bound(part) for part in message.attachments)
        return count

    def tools(self, tools: Sequence[ToolDefinition]) -> int:
        if not tools:
            return 0
        listed = [
            {
                "type": "function",
                "function": {
                    "name": t.name,
                    "description": t.description,
                    "parameters": dict(t.parameters),
                },
            }
            for t in tools
        ]
        return self.measure(json.dumps(listed)) + CALL_MARGIN * len(tools)


def _arguments(text: str) -> Any:
    """Parsed arguments, re-dumped as the tokenizer frames them (``json.dumps``, spaced),
    or the raw text when it is not JSON."""
    try:
        return json.loads(text)
    except ValueError:
        return text


@functools.cache
def _counter(exact: bool) -> _Counter:
    encode = _tekken() if exact else None
    return _Counter(encode if encode is not None else _utf8)


def _profile_of(model: Model | ModelProfile | str | None) -> ModelProfile | None:
    if model is None or isinstance(model, ModelProfile):
        return model
    if isinstance(model, str):
        from agentkit.models.profiles import profile_for

        return profile_for(model)
    return model.profile


def _counter_for(profile: ModelProfile | None) -> _Counter:
    return _counter(profile is not None and profile.provider == "mistral_ai")


def count_tokens(
    messages: Sequence[Message],
    tools: Sequence[ToolDefinition] = (),
    *,
    model: Model | ModelProfile | str | None = None,
) -> int:
    """The input tokens of a request with ``messages`` and ``tools``, counted from above.

    ``model`` (a ``Model``, its ``ModelProfile`` or a model name) picks the measure:
    Mistral's Tekken tokenizer for Mistral profiles when ``mistral-common`` is installed
    (from the vocabulary it bundles, which is close to, not exactly, Mistral Small 3.2's:
    each message gets a margin for that), else one token per UTF-8 byte, which is never
    fewer than a byte-level BPE tokenizer makes. Counts are cached per message.
    """
    counter = _counter_for(_profile_of(model))
    return REQUEST_MARGIN + counter.tools(tools) + sum(counter.message(m) for m in messages)


def _length_bound(message: Message) -> int:
    """An upper bound of a message's tokens from its lengths (see ``_surely_fits``)."""
    if isinstance(message, SystemMessage):
        return 4 * len(message.content)
    if isinstance(message, UserMessage):
        if isinstance(message.content, str):
            return 4 * len(message.content)
        return sum(
            4 * len(part.text) if isinstance(part, TextPart) else _media_bound(part)
            for part in message.content
        )
    if isinstance(message, AssistantMessage):
        bound = 4 * len(message.content or "") + sum(
            12 * (len(call.name) + len(call.arguments)) + 4 * len(call.id) + 64 + CALL_MARGIN
            for call in message.tool_calls
        )
        if message.thinking:
            bound += sum(4 * len(part.text) + CALL_MARGIN for part in message.thinking)
        return bound
    bound = (
        12 * (len(message.content) + len(message.tool_call_id))
        + 4 * len(message.name or "")
        + 64
        + CALL_MARGIN
        + IMAGE_TOKENS * len(message.images)
    )
    if message.attachments:
        bound += sum(_media_bound(part) for part in message.attachments)
    return bound
