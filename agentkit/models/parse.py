"""Chat-completions responses, parsed once from bytes into agentkit's own types.

No SDK model objects: the body is decoded by pydantic-core and read straight into
``AssistantMessage``, ``ToolCall`` and ``Usage``. ``StreamAccumulator`` does the
same for streamed chunks, yielding ``ThinkingDelta`` / ``TextDelta`` / ``ToolCallDelta``
as they come and the complete ``ModelResponse`` at the end.

Thinking is read from Mistral's content lists (``{"type": "thinking", "thinking":
[{"type": "text", ...}]}`` chunks, whole and streamed) and from the ``reasoning_content``
/ ``reasoning`` fields other OpenAI-compatible servers put beside the content (DeepSeek,
vLLM, llama.cpp, OpenRouter, Ollama). Text in ``<think>`` tags is left as text: it cannot
be told from an answer that quotes the tag.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pydantic_core

from agentkit.messages import AssistantMessage, ThinkingPart, ToolCall
from agentkit.models.base import (
    ModelResponse,
    ModelStreamEvent,
    TextDelta,
    ThinkingDelta,
    ToolCallDelta,
)
from agentkit.usage import ModelPrice, Usage

__all__ = [
    "ResponseShapeError",
    "StreamAccumulator",
    "error_message",
    "parse_response",
    "parse_usage",
]


class ResponseShapeError(ValueError):
    """The server answered, but not with a chat completion; ``str()`` says what was wrong."""


def _new_call_id() -> str:
    import uuid  # imported on first use: import agentkit stays light

    return "call_" + uuid.uuid4().hex[:24]


def _content(content: Any, where: str) -> tuple[str | None, list[str]]:
    """Message content as its text and its thinking: a string is text; a list of parts
    gives the text of its ``text`` parts and, apart, each ``thinking`` chunk's text
    (Mistral's reasoning replies), in order."""
    if content is None or isinstance(content, str):
        return content, []
    if not isinstance(content, list):
        raise ResponseShapeError(f"{where} is a {type(content).__name__}, not text")
    texts: list[str] = []
    thinking: list[str] = []
    for part in content:
        if not isinstance(part, dict):
            continue
        kind = part.get("type")
        if kind == "text":
            texts.append(_string(part.get("text"), "a text part's text") or "")
        elif kind == "thinking":
            thinking.append(_thinking_text(part.get("thinking")))
    return "".join(texts), thinking


def _thinking_text(value: Any) -> str:
    """A thinking chunk's text: a list of text parts (Mistral's API) or a string."""
    if value is None or isinstance(value, str):
        return value or ""
    return "".join(
        _string(p.get("text"), "a thinking chunk's text") or ""
        for p in _list(value, "a thinking chunk's thinking")
        if isinstance(p, dict) and p.get("type", "text") == "text"
    )


def _reasoning_field(message: dict[str, Any]) -> str | None:
    """The thinking an OpenAI-compatible server puts beside the content:
    ``reasoning_content`` (DeepSeek, vLLM, llama.cpp) or ``reasoning`` (OpenRouter,
    Ollama, newer vLLM); the first one set, as both may carry the same text. Anything
    but text there (a gateway's own structure) is not read."""
    for name in ("reasoning_content", "reasoning"):
        value = message.get(name)
        if isinstance(value, str) and value:
            return value
    return None


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _string(value: Any, what: str) -> str | None:
    """``value`` if it is a string or absent; else the body is malformed."""
    if value is None or isinstance(value, str):
        return value
    raise ResponseShapeError(f"{what} is {_shown(value)}, not a string")


def _object(value: Any, what: str) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    raise ResponseShapeError(f"{what} is {_shown(value)}, not a JSON object")


def _list(value: Any, what: str) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list):
        return value
    raise ResponseShapeError(f"{what} is {_shown(value)}, not a list")


def _arguments(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return pydantic_core.to_json(value).decode()


def _count(value: Any, what: str, warn: Callable[[str], None] | None) -> int:
    """A token count: a whole number >= 0. Negative ones become 0 and fractions are cut,
    each with a warning; anything but a number is a malformed body."""
    if type(value) is int and value >= 0:  # what servers send
        return value
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ResponseShapeError(f"usage.{what} is {_shown(value)}, not a number of tokens")
    if value != value or value in (float("inf"), float("-inf")):
        raise ResponseShapeError(f"usage.{what} is {value!r}, not a number of tokens")
    count = max(int(value), 0)
    if count != value and warn is not None:
        warn(
            f"The server reported usage.{what}={value!r}, not a whole number of tokens "
            f">= 0; counted as {count}."
        )
    return count


def parse_usage(
    usage: Any, price: ModelPrice | None, warn: Callable[[str], None] | None = None
) -> Usage:
    """``Usage`` of one request from a response's ``usage`` object (which may be absent).

    Counts must be numbers (else ``ResponseShapeError``); negative or fractional ones
    are clamped to whole tokens >= 0, and ``warn`` is told each time.
    """
    if not isinstance(usage, dict):
        return Usage(requests=1, cost_usd=None, unreported=1)
    input_tokens = _count(usage.get("prompt_tokens"), "prompt_tokens", warn)
    output_tokens = _count(usage.get("completion_tokens"), "completion_tokens", warn)
    details = usage.get("prompt_tokens_details")
    cached = (
        _count(details.get("cached_tokens"), "prompt_tokens_details.cached_tokens", warn)
        if isinstance(details, dict)
        else 0
    )
    # Mistral reports cache hits as num_cached_tokens (some answers carry both).
    cached = max(cached, _count(usage.get("num_cached_tokens"), "num_cached_tokens", warn))
    completion = usage.get("completion_tokens_details")
    reasoning = (
        _count(
            completion.get("reasoning_tokens"),
            "completion_tokens_details.reasoning_tokens",
            warn,
        )
        if isinstance(completion, dict)
        else 0
    )
    cost = price.cost(input_tokens, output_tokens, cached) if price is not None else None
    return Usage(1, input_tokens, output_tokens, cached, cost, reasoning_tokens=reasoning)


def _upstream(error: dict[str, Any], message: str) -> str:
    """``message``, with the upstream provider's own reason when a gateway wrapped it
    (OpenRouter: ``{"message": "Provider returned error", "metadata": {"provider_name":
    ..., "raw": ...}}``, ``raw`` being the upstream's text or error body)."""
    metadata = error.get("metadata")
    if not isinstance(metadata, dict):
        return message
    raw = metadata.get("raw")
    if raw is None or raw == "":
        return message
    reason: Any = raw
    if isinstance(raw, str):
        try:
            reason = pydantic_core.from_json(raw)
        except ValueError:
            reason = raw
    if isinstance(reason, dict):
        inner = reason.get("error", reason)
        found = inner.get("message") if isinstance(inner, dict) else inner
        reason = found if found else reason
    text = reason if isinstance(reason, str) else pydantic_core.to_json(reason).decode()
    text = text.strip()[:500]
    if not text or text in message:
        return message
    provider = metadata.get("provider_name")
    source = f"upstream {provider}" if isinstance(provider, str) and provider else "upstream"
    return f"{message} ({source}: {text})"


def _error_in_body(obj: dict[str, Any]) -> str | None:
    error = obj.get("error")
    if error is None:
        return None
    if isinstance(error, dict):
        return _upstream(error, str(error.get("message") or error))
    return str(error)


def parse_response(
    data: bytes, price: ModelPrice | None, provider: str | None = None
) -> ModelResponse:
    """A complete chat-completions response body as a ``ModelResponse``; its thinking is
    marked as made by ``provider`` (the profile's)."""
    try:
        obj = pydantic_core.from_json(data)
    except ValueError as exc:
        raise ResponseShapeError(f"the body is not valid JSON ({exc})") from None
    if not isinstance(obj, dict):
        raise ResponseShapeError("the body is not a JSON object")
    try:
        choice = obj["choices"][0]
        message = choice["message"]
    except (KeyError, IndexError, TypeError):
        error = _error_in_body(obj)
        if error is not None:
            raise ResponseShapeError(f"the server reported an error: {error}") from None
        raise ResponseShapeError("the body has no choices[0].message") from None
    message = _object(message, "choices[0].message")
    calls = tuple(
        _tool_call(tc, f"choices[0].message.tool_calls[{n}]")
        for n, tc in enumerate(_list(message.get("tool_calls"), "choices[0].message.tool_calls"))
    )
    content, thinking = _content(message.get("content"), "choices[0].message.content")
    reasoning = _reasoning_field(message)
    if reasoning is not None:
        thinking.insert(0, reasoning)
    if calls and content == "":
        content = None
    finish_reason = _string(choice.get("finish_reason"), "choices[0].finish_reason")
    model_name = _string(obj.get("model"), "model")
    warnings: list[str] = []
    return ModelResponse(
        message=AssistantMessage(
            content=content,
            tool_calls=calls,
            finish_reason=finish_reason,
            model_name=model_name,
            thinking=_thinking_parts(thinking, provider),
        ),
        usage=parse_usage(obj.get("usage"), price, warnings.append),
        finish_reason=finish_reason,
        model_name=model_name,
        response_id=_string(obj.get("id"), "id"),
        warnings=tuple(warnings),
    )


def _thinking_parts(texts: list[str], provider: str | None) -> tuple[ThinkingPart, ...]:
    if not texts:
        return ()
    return tuple(ThinkingPart(text=text, provider=provider) for text in texts if text)


def _tool_call(tc: Any, where: str) -> ToolCall:
    tc = _object(tc, where)
    function = _object(tc.get("function"), f"{where}.function")
    name = _string(function.get("name"), f"{where}.function.name")
    if name is None:
        raise ResponseShapeError(f"{where}.function.name is missing")
    return ToolCall(
        id=_string(tc.get("id"), f"{where}.id") or _new_call_id(),
        name=name,
        arguments=_arguments(function.get("arguments")),
    )


class _CallParts:
    __slots__ = ("args", "id", "name")

    def __init__(self) -> None:
        self.id: str | None = None
        self.name: str | None = None
        self.args: list[str] = []


class StreamAccumulator:
    """Turns streamed chunks into deltas and, at the end, the complete response."""

    __slots__ = (
        "_calls",
        "_price",
        "_provider",
        "_text",
        "_thinking",
        "_thought_last",
        "chunks",
        "finish_reason",
        "model_name",
        "response_id",
        "usage",
    )

    def __init__(self, price: ModelPrice | None, provider: str | None = None) -> None:
        self._price = price
        self._provider = provider
        self._text: list[str] = []
        self._thinking: list[list[str]] = []
        """The thinking so far, a list of pieces per part (text between starts a new one)."""
        self._thought_last = False
        self._calls: dict[int, _CallParts] = {}
        self.finish_reason: str | None = None
        self.model_name: str | None = None
        self.response_id: str | None = None
        self.usage: Any = None
        self.chunks = 0

    def feed(self, data: bytes | str) -> list[ModelStreamEvent]:
        """One SSE ``data:`` payload (JSON text); the deltas it carries."""
        try:
            chunk = pydantic_core.from_json(data)
        except ValueError as exc:
            raise ResponseShapeError(f"a stream chunk is not valid JSON ({exc})") from None
        if not isinstance(chunk, dict):
            raise ResponseShapeError("a stream chunk is not a JSON object")
        self.chunks += 1
        # The checks below call the strict readers (_list, _object, _string, which raise
        # on a wrong type) only when a value is not already of the usual type: the same
        # result, without a function call per field per chunk.
        if chunk.get("error") is not None:
            raise ResponseShapeError(
                f"the server reported an error mid-stream: {_error_in_body(chunk)}"
            )
        if self.response_id is None:
            self.response_id = _string(chunk.get("id"), "a chunk's id")
        if self.model_name is None:
            self.model_name = _string(chunk.get("model"), "a chunk's model")
        usage = chunk.get("usage")
        if usage:
            self.usage = usage
        events: list[ModelStreamEvent] = []
        choices = chunk.get("choices")
        if choices.__class__ is not list:
            choices = _list(choices, "a chunk's choices")
        for choice in choices:
            if choice.__class__ is not dict:
                choice = _object(choice, "a chunk's choice")
            delta = choice.get("delta") or {}
            if delta.__class__ is not dict:
                delta = _object(delta, "a chunk's delta")
            if "reasoning_content" in delta or "reasoning" in delta:
                reasoning = _reasoning_field(delta)
                if reasoning is not None:
                    events.append(self._think(reasoning))
            content = delta.get("content")
            if content.__class__ is str:  # the usual delta: text, appended as it comes
                if content:
                    self._text.append(content)
                    self._thought_last = False
                    events.append(TextDelta(content))
            elif isinstance(content, list):
                for part in content:  # in order: thinking chunks and text parts
                    text, thinking = _content([part], "a chunk's delta.content")
                    events.extend(self._think(t) for t in thinking if t)
                    if text:
                        events.append(self._say(text))
            elif content is not None:
                text, _ = _content(content, "a chunk's delta.content")
                if text:
                    events.append(self._say(text))
            calls = delta.get("tool_calls")
            if calls is not None:
                for tc in _list(calls, "a chunk's delta.tool_calls"):
                    events.append(self._call_delta(_object(tc, "a streamed tool call")))
            finish_reason = choice.get("finish_reason")
            if finish_reason is not None and _string(finish_reason, "a chunk's finish_reason"):
                self.finish_reason = finish_reason
        return events

    def _think(self, text: str) -> ThinkingDelta:
        if not self._thought_last:
            self._thinking.append([])
            self._thought_last = True
        self._thinking[-1].append(text)
        return ThinkingDelta(text)

    def _say(self, text: str) -> TextDelta:
        self._text.append(text)
        self._thought_last = False
        return TextDelta(text)

    def _call_delta(self, tc: dict[str, Any]) -> ToolCallDelta:
        function = _object(tc.get("function") or {}, "a streamed tool call's function")
        call_id = _string(tc.get("id"), "a streamed tool call's id") or None
        index = tc.get("index")
        if not isinstance(index, int):
            # No index (some servers send whole calls): a new id starts a new call.
            last = max(self._calls) if self._calls else None
            if last is None or (call_id is not None and call_id != self._calls[last].id):
                index = len(self._calls)
            else:
                index = last
        parts = self._calls.get(index)
        if parts is None:
            parts = self._calls[index] = _CallParts()
        name = _string(function.get("name"), "a streamed tool call's name") or None
        args = _arguments(function.get("arguments"))
        if call_id and parts.id is None:
            parts.id = call_id
        if name and parts.name is None:
            parts.name = name
        if args:
            parts.args.append(args)
        return ToolCallDelta(index=index, id=call_id, name=name, arguments=args)

    @property
    def finished(self) -> bool:
        """Whether a ``finish_reason`` arrived."""
        return self.finish_reason is not None

    def response(self) -> ModelResponse:
        """The complete response from everything fed so far."""
        calls = tuple(
            ToolCall(id=p.id or _new_call_id(), name=p.name or "", arguments="".join(p.args))
            for _, p in sorted(self._calls.items())
        )
        content: str | None = "".join(self._text) if self._text else None
        message = AssistantMessage(
            content=content,
            tool_calls=calls,
            finish_reason=self.finish_reason,
            model_name=self.model_name,
            thinking=_thinking_parts(["".join(p) for p in self._thinking], self._provider),
        )
        warnings: list[str] = []
        return ModelResponse(
            message=message,
            usage=parse_usage(self.usage, self._price, warnings.append),
            finish_reason=self.finish_reason,
            model_name=self.model_name,
            response_id=self.response_id,
            warnings=tuple(warnings),
        )


def error_message(text: str) -> tuple[str, Any]:
    """The server's own message from an error body, and the body (parsed JSON or text)."""
    body: Any = text
    try:
        body = pydantic_core.from_json(text)
    except ValueError:
        return (text.strip()[:500] or "(empty body)"), text
    message: Any = None
    error: Any = None
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict):
            message = error.get("message") or error.get("detail")
        elif isinstance(error, str):
            message = error
        if message is None:
            message = body.get("detail") or body.get("message")
    if message is None:
        return text.strip()[:500], body
    if not isinstance(message, str):
        message = _details(message)
    if isinstance(error, dict):
        message = _upstream(error, message)
    return message, body


def _details(message: Any) -> str:
    """Validation details (FastAPI / pydantic style) as one readable line each."""
    if isinstance(message, dict) and "detail" in message:
        message = message["detail"]
    if isinstance(message, list):
        lines = []
        for item in message:
            if isinstance(item, dict):
                loc = ".".join(str(p) for p in item.get("loc") or ())
                lines.append(
                    f"{loc}: {item.get('msg', item)}" if loc else str(item.get("msg", item))
                )
            else:
                lines.append(str(item))
        return "; ".join(lines)
    return pydantic_core.to_json(message).decode()
