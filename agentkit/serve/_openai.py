"""The OpenAI chat-completions dialect of ``agentkit serve``: requests in, answers out.

A request's messages become the run's history and prompt: system (and developer)
messages add to the agent's instructions, user and assistant messages are the
conversation, and the last message is the prompt (it must be a user message). The
agent runs its own tools inside; the answer is its final output (text, or JSON for a
structured output) and ``usage`` is the run's total.
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
    ContentPart,
    ImagePart,
    Message,
    SystemMessage,
    TextPart,
    UserMessage,
)
from agentkit.usage import Usage

__all__ = [
    "DONE",
    "ClientError",
    "ParsedChat",
    "chunk",
    "completion",
    "completion_id",
    "error_body",
    "output_text",
    "parse_chat",
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


@dataclass(frozen=True, slots=True)
class ParsedChat:
    """What a chat-completions request asks the agent: history, prompt, extra instructions."""

    history: list[Message]
    prompt: UserMessage
    instructions: str | None
    """The client's system messages, joined (added to the agent's, never instead)."""
    stream: bool
    include_usage: bool


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
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise ClientError("'stream' must be true or false.", param="stream")
    options = body.get("stream_options") or {}
    include_usage = bool(isinstance(options, dict) and options.get("include_usage"))
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
    )


def _text(content: Any, param: str) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        pieces: list[str] = []
        for part in content:
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
        else:
            raise ClientError(f"{where} must be a text or image_url part.", param=where)
    return tuple(parts)


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
