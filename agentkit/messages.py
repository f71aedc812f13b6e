"""The typed conversation: system, user, assistant and tool messages.

Messages are provider-neutral pydantic models. They keep exactly what the model
said (tool-call ids included, even ids a dialect rewrites on the wire), so a
conversation made on one server can continue on another. A list of messages
dumps to JSON and loads back equal::

    data = dump_messages(result.messages)
    assert load_messages(data) == result.messages
"""

from __future__ import annotations

import base64
import functools
import mimetypes
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

__all__ = [
    "AssistantMessage",
    "ContentPart",
    "ImagePart",
    "Message",
    "PausedCall",
    "PausedRun",
    "SystemMessage",
    "TextPart",
    "ThinkingPart",
    "ToolCall",
    "ToolMessage",
    "UserMessage",
    "dump_messages",
    "load_messages",
]

_FROZEN = ConfigDict(frozen=True, extra="forbid", defer_build=True)
"""Frozen, strict about unknown fields; validators built on first use (fast import)."""


class TextPart(BaseModel):
    """A piece of text in a user message."""

    model_config = _FROZEN
    type: Literal["text"] = "text"
    text: str


class ImagePart(BaseModel):
    """An image, as an ``https://`` URL or a ``data:image/...;base64,...`` URL."""

    model_config = _FROZEN
    type: Literal["image"] = "image"
    url: str
    detail: Literal["auto", "low", "high"] | None = None

    @classmethod
    def from_url(cls, url: str) -> ImagePart:
        """An image the model fetches itself (https) or an existing data URL."""
        return cls(url=url)

    @classmethod
    def from_bytes(cls, data: bytes, media_type: str | None = None) -> ImagePart:
        """An image from raw bytes, sent as a data URL; the media type is sniffed if omitted."""
        media_type = media_type or _sniff_image_type(data)
        if media_type is None:
            raise ValueError(
                "could not tell the image type from its bytes (expected PNG, JPEG, GIF or WebP); "
                "pass media_type='image/...' explicitly"
            )
        encoded = base64.b64encode(data).decode("ascii")
        return cls(url=f"data:{media_type};base64,{encoded}")

    @classmethod
    def from_path(cls, path: str | Path) -> ImagePart:
        """An image read from a file, sent as a data URL with the file's media type."""
        p = Path(path)
        data = p.read_bytes()
        media_type = _sniff_image_type(data) or mimetypes.guess_type(p.name)[0]
        if media_type is None or not media_type.startswith("image/"):
            raise ValueError(f"{p} does not look like an image (PNG, JPEG, GIF or WebP)")
        return cls.from_bytes(data, media_type)


def _sniff_image_type(data: bytes) -> str | None:
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


class ThinkingPart(BaseModel):
    """A reasoning model's thinking before (or between) its answer and tool calls.

    Kept in ``AssistantMessage.thinking`` (and in ``AssistantMessage.parts``), in
    dumps, sessions and durable steps. Never part of a run's output: text and structured
    output read only the answer, and tools never see it. It is sent back to a server
    whose profile takes thinking in history (``ModelProfile.send_thinking``) when it
    came from that profile's provider, in that server's own format; any other server
    gets the conversation without it (never as answer text).
    """

    model_config = _FROZEN
    type: Literal["thinking"] = "thinking"
    text: str
    signature: str | None = Field(default=None, exclude_if=lambda value: value is None)
    """An opaque token some providers attach to thinking (sent back with it as is)."""
    provider: str | None = Field(default=None, exclude_if=lambda value: value is None)
    """The provider that made it (its profile's ``provider``, e.g. ``mistral_ai``);
    ``None``: unknown, sent back to any server that takes thinking."""


ContentPart = Annotated[TextPart | ImagePart, Field(discriminator="type")]


class SystemMessage(BaseModel):
    """Instructions for the model."""

    model_config = _FROZEN
    role: Literal["system"] = "system"
    content: str


class UserMessage(BaseModel):
    """What the user said: text, or a list of text and image parts."""

    model_config = _FROZEN
    role: Literal["user"] = "user"
    content: str | tuple[ContentPart, ...]


class ToolCall(BaseModel):
    """One function call the model asked for.

    ``arguments`` is the JSON text exactly as the model produced it (it may be
    invalid JSON; the loop reports that back to the model). ``id`` is the id the
    model gave; dialects map it on the wire but never change it here.
    """

    model_config = _FROZEN
    id: str
    name: str
    arguments: str


class PausedCall(BaseModel):
    """A call of a paused agent-as-tool run that waits for approval (the fields of its
    ``agentkit.ApprovalRequest``, relative to that run)."""

    model_config = _FROZEN
    tool_call_id: str
    tool_name: str
    arguments: str
    via: tuple[str, ...] = ()
    agent: str | None = None


class PausedRun(BaseModel):
    """The paused run of an agent used as a tool (``Agent.as_tool``): the conversation
    it resumes from and the calls it waits on. Kept on the assistant message whose call
    ``tool_call_id`` started it, until that call is answered; never sent to a model."""

    model_config = _FROZEN
    tool_call_id: str
    agent: str
    messages: tuple[Message, ...]
    waiting: tuple[PausedCall, ...]
    tool_name: str = ""
    """The name of the parent's call that started it (checked when it resumes)."""
    arguments: str = ""
    """That call's validated arguments as canonical JSON (checked when it resumes)."""


class AssistantMessage(BaseModel):
    """What the model answered: text, tool calls, or both, and the thinking before them.

    ``thinking`` holds a reasoning model's thinking (``ThinkingPart``), in the order it
    came; ``parts`` gives the whole answer as one sequence (thinking, text, tool calls).

    ``paused_runs`` is set only on the last message of a paused conversation whose
    calls include an agent used as a tool that paused for approvals (see
    ``agentkit.approval``); it is agentkit's state, never sent to a model.
    """

    model_config = _FROZEN
    role: Literal["assistant"] = "assistant"
    content: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    finish_reason: str | None = None
    model_name: str | None = None
    paused_runs: tuple[PausedRun, ...] = Field(default=(), exclude_if=lambda runs: not runs)
    thinking: tuple[ThinkingPart, ...] = Field(default=(), exclude_if=lambda parts: not parts)

    @property
    def parts(self) -> tuple[ThinkingPart | TextPart | ToolCall, ...]:
        """The answer as parts, in order: its thinking, its text (if any), its tool calls."""
        text = (TextPart(text=self.content),) if self.content else ()
        return (*self.thinking, *text, *self.tool_calls)


class ToolMessage(BaseModel):
    """The answer to one tool call. ``is_error`` marks failures reported to the model.

    ``images`` holds images a tool returned; tool messages are text-only on the
    wire, so dialects move them into a user message that follows.
    """

    model_config = _FROZEN
    role: Literal["tool"] = "tool"
    tool_call_id: str
    name: str
    content: str
    is_error: bool = False
    images: tuple[ImagePart, ...] = ()


Message = Annotated[
    SystemMessage | UserMessage | AssistantMessage | ToolMessage,
    Field(discriminator="role"),
]


@functools.cache
def _messages_adapter() -> TypeAdapter[list[Message]]:
    return TypeAdapter(list[Message])


def dump_messages(messages: Sequence[Message], *, indent: int | None = None) -> bytes:
    """Serialize a conversation to JSON bytes."""
    return _messages_adapter().dump_json(list(messages), indent=indent)


def load_messages(data: str | bytes | Sequence[Any]) -> list[Message]:
    """Load a conversation from JSON text/bytes or from already-parsed Python data."""
    if isinstance(data, str | bytes):
        return _messages_adapter().validate_json(data)
    return _messages_adapter().validate_python(list(data))
