"""The OpenAI chat-completions dialect of ``agentkit serve``: requests in, answers out.

A request's messages become the run's history and prompt: system (and developer)
messages add to the agent's instructions, user and assistant messages are the
conversation, and the last message is the prompt (it must be a user message). The
agent runs its own tools inside; the answer is its final output (text, or JSON for a
structured output) and ``usage`` is the run's total. The model's thinking is never
part of the answer (nor sent as ``reasoning_content``: it stays the agent's); thinking
chunks a client sends back in assistant content are ignored.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pydantic_core

from agentkit.messages import (
    AssistantMessage,
    AudioPart,
    ContentPart,
    DocumentPart,
    ImagePart,
    Message,
    SystemMessage,
    TextPart,
    UserMessage,
)
from agentkit.models.base import ModelSettings
from agentkit.usage import Usage

__all__ = [
    "DONE",
    "MAX_DEPTH",
    "ClientError",
    "ParsedChat",
    "check_json",
    "chunk",
    "completion",
    "completion_id",
    "error_body",
    "output_text",
    "parse_chat",
    "response_format_refusal",
    "sse",
    "usage_json",
    "with_instructions",
]


class ClientError(Exception):
    """A request the client must fix: answered with an OpenAI-shaped error body."""

    def __init__(
        self,
        message: str,
        *,
        status: int = 400,
        param: str | None = None,
        type_: str = "invalid_request_error",
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.param = param
        self.type = type_
        self.code = code

    def body(self) -> dict[str, Any]:
        """The ``{"error": {...}}`` body OpenAI clients understand."""
        return error_body(self.message, type_=self.type, param=self.param, code=self.code)


def error_body(
    message: str,
    *,
    type_: str = "invalid_request_error",
    param: str | None = None,
    code: str | None = None,
) -> dict[str, Any]:
    """An OpenAI-shaped error body."""
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


MAX_DEPTH = 64
"""Deepest nesting of arrays and objects a request body may have."""


def check_json(value: Any, where: str = "body", depth: int = 0) -> None:
    """Refuse (``ClientError``) what parses as JSON but cannot be processed: nesting past
    ``MAX_DEPTH`` and strings holding lone surrogates (``"\\ud800"`` is valid JSON, but
    no UTF-8 text; it would fail later, mid-run)."""
    if depth > MAX_DEPTH:
        raise ClientError(
            f"The request body is nested more than {MAX_DEPTH} levels deep; flatten it.",
            param=where,
        )
    if isinstance(value, str):
        _check_text(value, where)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key, where)
            check_json(item, f"{where}.{key}" if where != "body" else key, depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_json(item, f"{where}[{index}]", depth + 1)


def _check_text(text: str, where: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ClientError(
            f"{where} holds a lone UTF-16 surrogate ({text[exc.start]!r} at character "
            f"{exc.start}), which is not text: send valid Unicode.",
            param=where,
        ) from None


@dataclass(frozen=True, slots=True)
class ParsedChat:
    """What a chat-completions request asks the agent: history, prompt, extra instructions."""

    history: list[Message]
    prompt: UserMessage
    instructions: str | None
    """The client's system messages, joined (added to the agent's, never instead)."""
    stream: bool
    include_usage: bool
    settings: ModelSettings | None = None
    """The sampling parameters the client set (``max_tokens``, ``temperature``, ...)."""


_ROLES = ("system", "developer", "user", "assistant")


def parse_chat(body: Any) -> ParsedChat:
    """Read a chat-completions body; ``ClientError`` says what is wrong with it."""
    if not isinstance(body, dict):
        raise ClientError("The request body must be a JSON object with a 'messages' list.")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ClientError(
            "'messages' must be a non-empty list of {role, content} objects.", param="messages"
        )
    if body.get("tools") or body.get("functions"):
        raise ClientError(
            "This endpoint serves an agentkit agent that runs its own tools; it does not take "
            "'tools' from the client. Send the conversation only.",
            param="tools",
        )
    if body.get("tool_choice") not in (None, "auto"):
        raise ClientError(
            "This endpoint serves an agentkit agent that chooses its own tools; "
            "'tool_choice' cannot be set by the client.",
            param="tool_choice",
        )
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise ClientError("'stream' must be true or false.", param="stream")
    options = body.get("stream_options") or {}
    if not isinstance(options, dict):
        raise ClientError("'stream_options' must be an object.", param="stream_options")
    include_usage = options.get("include_usage", False)
    if not isinstance(include_usage, bool):
        raise ClientError(
            "'stream_options.include_usage' must be true or false.",
            param="stream_options.include_usage",
        )
    _refuse_unsupported(body)
    instructions: list[str] = []
    conversation: list[Message] = []
    for index, item in enumerate(messages):
        param = f"messages[{index}]"
        if not isinstance(item, dict):
            raise ClientError(f"{param} must be an object with 'role' and 'content'.", param=param)
        role = item.get("role")
        if role not in _ROLES:
            raise ClientError(
                f"{param} has role {role!r}, which this endpoint does not take. Send "
                "'system', 'developer', 'user' or 'assistant' messages: the agent runs its "
                "tools itself, so 'tool' messages have no place here.",
                param=f"{param}.role",
            )
        if role in ("system", "developer"):
            instructions.append(_text(item.get("content"), f"{param}.content"))
        elif role == "user":
            conversation.append(UserMessage(content=_user_content(item.get("content"), param)))
        else:
            if item.get("tool_calls") or item.get("function_call"):
                raise ClientError(
                    f"{param} is an assistant message with tool calls; this endpoint takes the "
                    "conversation's text turns only (the agent runs its tools itself).",
                    param=f"{param}.tool_calls",
                )
            content = item.get("content")
            text = "" if content is None else _text(content, f"{param}.content")
            conversation.append(AssistantMessage(content=text))
    if not any(isinstance(m, UserMessage) for m in conversation):
        raise ClientError("'messages' has no user message: add one to ask the agent something.")
    last = conversation[-1]
    if not isinstance(last, UserMessage):
        raise ClientError(
            "The last message must be the user's (the question the agent answers); it is an "
            f"{last.role} message.",
            param="messages",
        )
    return ParsedChat(
        history=conversation[:-1],
        prompt=last,
        instructions="\n\n".join(filter(None, instructions)) or None,
        stream=stream,
        include_usage=include_usage,
        settings=_settings(body),
    )


def _refuse_unsupported(body: dict[str, Any]) -> None:
    """Parameters this endpoint cannot honour are refused, never silently ignored."""
    n = body.get("n", 1)
    if n is not None and (not isinstance(n, int) or isinstance(n, bool) or n != 1):
        raise ClientError(
            f"'n' is {n!r}, but an agent's run gives one answer: send n=1 (or leave it out) "
            "and make several requests for several answers.",
            param="n",
        )
    if body.get("logprobs") or body.get("top_logprobs"):
        raise ClientError(
            "'logprobs' cannot be given: the answer is an agent's output, possibly after "
            "several model requests, not one sampled completion. Leave it out.",
            param="logprobs",
        )
    modalities = body.get("modalities")
    if modalities is not None and modalities != ["text"]:
        raise ClientError("This endpoint answers text only.", param="modalities")


def response_format_refusal(body: Any, structured_output: bool) -> ClientError | None:
    """Why ``response_format`` does not fit the agent (whose output type decides the
    format), or None: ``text`` fits a text agent, ``json_object`` and ``json_schema``
    an agent with a structured output (whose own schema is what it answers with)."""
    fmt = body.get("response_format") if isinstance(body, dict) else None
    if fmt is None:
        return None
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind not in ("text", "json_object", "json_schema"):
        return ClientError(
            "'response_format' must be an object whose 'type' is 'text', 'json_object' or "
            "'json_schema'.",
            param="response_format",
        )
    if kind == "text" and structured_output:
        return ClientError(
            "This agent answers with a structured output (JSON), so 'response_format' "
            "'text' cannot be honoured: leave it out, or use 'json_object'.",
            param="response_format",
        )
    if kind != "text" and not structured_output:
        return ClientError(
            f"This agent answers with text, so 'response_format' {kind!r} cannot be "
            "honoured: the agent's output type decides the format. Leave it out.",
            param="response_format",
        )
    return None


def _settings(body: dict[str, Any]) -> ModelSettings | None:
    """The sampling parameters the client set, checked (per model request of the run)."""
    values: dict[str, Any] = {}
    for name, field in (("max_completion_tokens", "max_tokens"), ("max_tokens", "max_tokens")):
        value = body.get(name)
        if value is None or field in values:
            continue
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ClientError(f"'{name}' must be a positive integer.", param=name)
        values[field] = value
    for name, low, high in (("temperature", 0.0, 2.0), ("top_p", 0.0, 1.0)):
        value = body.get(name)
        if value is None:
            continue
        if (
            not isinstance(value, int | float)
            or isinstance(value, bool)
            or not (low <= value <= high)
        ):
            raise ClientError(f"'{name}' must be a number from {low:g} to {high:g}.", param=name)
        values[name] = float(value)
    seed = body.get("seed")
    if seed is not None:
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise ClientError("'seed' must be an integer.", param="seed")
        values["seed"] = seed
    stop = body.get("stop")
    if stop is not None:
        stops = [stop] if isinstance(stop, str) else stop
        if not isinstance(stops, list) or not all(isinstance(x, str) for x in stops):
            raise ClientError("'stop' must be a string or a list of strings.", param="stop")
        values["stop"] = tuple(stops)
    return ModelSettings(**values) if values else None


def _text(content: Any, param: str) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        pieces: list[str] = []
        for part in content:
            if isinstance(part, dict) and part.get("type") == "thinking":
                continue  # a client's copy of the model's thinking: not conversation text
            if not (isinstance(part, dict) and part.get("type") == "text"):
                raise ClientError(f"{param} may hold only text parts here.", param=param)
            pieces.append(str(part.get("text", "")))
        return "".join(pieces)
    raise ClientError(f"{param} must be a string or a list of content parts.", param=param)


def _user_content(content: Any, param: str) -> str | tuple[ContentPart, ...]:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise ClientError(
            f"{param}.content must be a string or a list of content parts.",
            param=f"{param}.content",
        )
    parts: list[ContentPart] = []
    for index, part in enumerate(content):
        where = f"{param}.content[{index}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and isinstance(part.get("text"), str):
            parts.append(TextPart(text=part["text"]))
        elif kind == "image_url" and isinstance(part.get("image_url"), dict):
            url = part["image_url"].get("url")
            if not isinstance(url, str):
                raise ClientError(f"{where}.image_url.url must be a string.", param=where)
            parts.append(ImagePart(url=url))
        elif kind == "file" and isinstance(part.get("file"), dict):
            parts.append(_file_part(part["file"], where))
        elif kind == "input_audio" and isinstance(part.get("input_audio"), dict):
            audio = part["input_audio"]
            data, format = audio.get("data"), audio.get("format")
            if not isinstance(data, str) or not data or not isinstance(format, str):
                raise ClientError(
                    f"{where}.input_audio needs 'data' (base64) and 'format' ('wav', 'mp3').",
                    param=where,
                )
            parts.append(AudioPart(data=data, format=format))
        else:
            raise ClientError(
                f"{where} must be a text, image_url, file or input_audio part.", param=where
            )
    return tuple(parts)


def _file_part(file: dict[str, Any], where: str) -> DocumentPart:
    """A ``file`` part (``file_data`` as a data URL, or ``file_id``) as a ``DocumentPart``."""
    data, file_id, name = file.get("file_data"), file.get("file_id"), file.get("filename")
    if name is not None and not isinstance(name, str):
        raise ClientError(f"{where}.file.filename must be a string.", param=where)
    if isinstance(file_id, str) and file_id and data is None:
        return DocumentPart(file_id=file_id, name=name)
    if isinstance(data, str) and data.startswith("data:") and file_id is None:
        return DocumentPart(url=data, name=name)
    raise ClientError(
        f"{where}.file needs either 'file_data' (a data: URL, such as "
        "'data:application/pdf;base64,...') or 'file_id', not both.",
        param=where,
    )


def with_instructions(
    system: SystemMessage | None, extra: str | None, history: Sequence[Message]
) -> list[Message]:
    """The run's history: the agent's system message (with the client's instructions added
    after it) first, then the client's conversation."""
    text = "\n\n".join(filter(None, [system.content if system else None, extra]))
    head: list[Message] = [SystemMessage(content=text)] if text else []
    return [*head, *history]


def output_text(output: Any) -> str:
    """The final output as the answer's content: text as it is, anything else as JSON."""
    if isinstance(output, str):
        return output
    return pydantic_core.to_json(output, fallback=str).decode()


def usage_json(usage: Usage) -> dict[str, Any]:
    """The run's total usage in OpenAI's shape."""
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cached_tokens},
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
    }


def completion_id() -> str:
    """A fresh ``chatcmpl-...`` id."""
    return f"chatcmpl-{secrets.token_hex(12)}"


def completion(model: str, content: str, usage: Usage, *, id_: str) -> dict[str, Any]:
    """A whole ``chat.completion`` object."""
    return {
        "id": id_,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": usage_json(usage),
    }


def chunk(
    model: str,
    *,
    id_: str,
    delta: dict[str, Any] | None = None,
    finish_reason: str | None = None,
    usage: Usage | None = None,
    no_choices: bool = False,
) -> bytes:
    """One server-sent ``chat.completion.chunk`` event, encoded."""
    data: dict[str, Any] = {
        "id": id_,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": []
        if no_choices
        else [{"index": 0, "delta": delta or {}, "finish_reason": finish_reason}],
    }
    if usage is not None:
        data["usage"] = usage_json(usage)
    return sse(data)


def sse(data: Any) -> bytes:
    """A ``data: ...`` server-sent event."""
    return b"data: " + json.dumps(data, ensure_ascii=False).encode() + b"\n\n"


DONE = b"data: [DONE]\n\n"
"""The last event of an OpenAI stream."""
