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
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

if TYPE_CHECKING:
    from pydantic import TypeAdapter

__all__ = [
    "AssistantMessage",
    "Attachment",
    "AudioPart",
    "ContentPart",
    "DocumentPart",
    "ImagePart",
    "MediaPart",
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
        return cls(url=_data_url(data, media_type))

    @classmethod
    def from_path(cls, path: str | Path) -> ImagePart:
        """An image read from a file, sent as a data URL with the file's media type."""
        p = Path(path)
        data = p.read_bytes()
        media_type = _sniff_image_type(data) or _guess_type(p.name)
        if media_type is None or not media_type.startswith("image/"):
            raise ValueError(f"{p} does not look like an image (PNG, JPEG, GIF or WebP)")
        return cls.from_bytes(data, media_type)


def _data_url(data: bytes, media_type: str) -> str:
    return f"data:{media_type};base64,{base64.b64encode(data).decode('ascii')}"


def _guess_type(name: str) -> str | None:
    """The media type a file name suggests (``mimetypes``, loaded with the first file)."""
    import mimetypes

    return mimetypes.guess_type(name)[0]


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


class DocumentPart(BaseModel):
    """A document (a PDF...): a URL the provider fetches, inline bytes (a ``data:`` URL), or
    the id of a file uploaded to the provider beforehand. Exactly one of ``url`` and
    ``file_id`` is set; ``name`` is the file name the provider is told, if any.

    Sent as ``document_url`` / ``file`` chunks to Mistral and as ``file`` parts to OpenAI
    (which takes inline bytes and file ids, not URLs); a model whose profile lacks
    ``supports_documents`` refuses it before any request.
    """

    model_config = _FROZEN
    type: Literal["document"] = "document"
    url: str | None = None
    file_id: str | None = None
    name: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> DocumentPart:
        if (self.url is None) == (self.file_id is None):
            raise ValueError(
                "a DocumentPart needs exactly one of url= (https or data: URL) and file_id= "
                "(a file uploaded to the provider); use DocumentPart.from_url, from_bytes, "
                "from_path or from_file_id"
            )
        return self

    @classmethod
    def from_url(cls, url: str, *, name: str | None = None) -> DocumentPart:
        """A document the provider fetches itself (https), or an existing data URL."""
        return cls(url=url, name=name)

    @classmethod
    def from_bytes(
        cls, data: bytes, media_type: str | None = None, *, name: str | None = None
    ) -> DocumentPart:
        """A document from raw bytes, sent inline as a data URL; PDF is recognised if
        ``media_type`` is omitted."""
        media_type = media_type or _sniff_document_type(data)
        if media_type is None:
            raise ValueError(
                "could not tell the document type from its bytes (only PDF is recognised); "
                "pass media_type='application/...' explicitly"
            )
        return cls(url=_data_url(data, media_type), name=name)

    @classmethod
    def from_path(cls, path: str | Path) -> DocumentPart:
        """A document read from a file, sent inline, named after the file."""
        p = Path(path)
        data = p.read_bytes()
        media_type = _sniff_document_type(data) or _guess_type(p.name)
        if media_type is None:
            raise ValueError(f"{p}: unknown document type; use DocumentPart.from_bytes(...)")
        return cls.from_bytes(data, media_type, name=p.name)

    @classmethod
    def from_file_id(cls, file_id: str, *, name: str | None = None) -> DocumentPart:
        """A file already uploaded to the provider (Mistral's or OpenAI's files API)."""
        return cls(file_id=file_id, name=name)

    @property
    def media_type(self) -> str | None:
        """The media type of inline bytes (``application/pdf``...), else ``None``."""
        return _data_url_media_type(self.url)

    @property
    def size(self) -> int:
        """Bytes carried inline (0 for a URL the provider fetches or a file id)."""
        if self.url is None or not self.url.startswith("data:"):
            return 0
        return _b64_size(self.url.partition(",")[2])


class AudioPart(BaseModel):
    """An audio clip, inline: base64 ``data`` and its ``format`` (``wav``, ``mp3``...).

    Sent as ``input_audio`` (OpenAI: ``{"data", "format"}``; Mistral: the base64 text); a
    model whose profile lacks ``supports_audio`` refuses it before any request.
    """

    model_config = _FROZEN
    type: Literal["audio"] = "audio"
    data: str
    format: str

    @classmethod
    def from_bytes(cls, data: bytes, format: str | None = None) -> AudioPart:
        """Audio from raw bytes; WAV, MP3, FLAC and Ogg are recognised if ``format`` is
        omitted."""
        format = format or _sniff_audio_format(data)
        if format is None:
            raise ValueError(
                "could not tell the audio format from its bytes (expected WAV, MP3, FLAC or "
                "Ogg); pass format='wav' (or 'mp3', ...) explicitly"
            )
        return cls(data=base64.b64encode(data).decode("ascii"), format=format)

    @classmethod
    def from_path(cls, path: str | Path) -> AudioPart:
        """Audio read from a file; the format from its bytes, else from its suffix."""
        p = Path(path)
        data = p.read_bytes()
        format = _sniff_audio_format(data) or p.suffix.lstrip(".").lower() or None
        if format is None:
            raise ValueError(f"{p}: unknown audio format; use AudioPart.from_bytes(data, format)")
        return cls.from_bytes(data, format)

    @property
    def size(self) -> int:
        """The clip's size in bytes."""
        return _b64_size(self.data)


def _sniff_document_type(data: bytes) -> str | None:
    return "application/pdf" if data.startswith(b"%PDF-") else None


def _sniff_audio_format(data: bytes) -> str | None:
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "wav"
    if data[:3] == b"ID3" or (len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0):
        return "mp3"
    if data[:4] == b"fLaC":
        return "flac"
    if data[:4] == b"OggS":
        return "ogg"
    return None


def _data_url_media_type(url: str | None) -> str | None:
    if url is None or not url.startswith("data:"):
        return None
    return url[5:].partition(",")[0].partition(";")[0] or None


def _b64_size(text: str) -> int:
    """Decoded size of base64 text, without decoding it."""
    length = len(text)
    return length * 3 // 4 - text[-2:].count("=") if length else 0


ContentPart = Annotated[
    TextPart | ImagePart | DocumentPart | AudioPart, Field(discriminator="type")
]
"""A part of a user message: text, an image, a document or an audio clip."""

MediaPart = Annotated[ImagePart | DocumentPart | AudioPart, Field(discriminator="type")]
"""A non-text part: what a tool may return besides text (an image, a document, audio)."""

Attachment = Annotated[DocumentPart | AudioPart, Field(discriminator="type")]
"""A document or an audio clip a tool returned (``ToolMessage.attachments``)."""


class SystemMessage(BaseModel):
    """Instructions for the model."""

    model_config = _FROZEN
    role: Literal["system"] = "system"
    content: str


class UserMessage(BaseModel):
    """What the user said: text, or a list of parts (text, images, documents, audio)."""

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

    ``images`` holds images a tool returned and ``attachments`` its documents and audio;
    tool messages are text-only on the wire, so dialects move them into a user message
    that follows.
    """

    model_config = _FROZEN
    role: Literal["tool"] = "tool"
    tool_call_id: str
    name: str
    content: str
    is_error: bool = False
    images: tuple[ImagePart, ...] = ()
    attachments: tuple[Attachment, ...] = Field(default=(), exclude_if=lambda parts: not parts)


Message = Annotated[
    SystemMessage | UserMessage | AssistantMessage | ToolMessage,
    Field(discriminator="role"),
]


@functools.cache
def _messages_adapter() -> TypeAdapter[list[Message]]:
    from pydantic import TypeAdapter  # pydantic.type_adapter: with the first use, not at import

    return TypeAdapter(list[Message])


def dump_messages(messages: Sequence[Message], *, indent: int | None = None) -> bytes:
    """Serialize a conversation to JSON bytes."""
    return _messages_adapter().dump_json(list(messages), indent=indent)


def load_messages(data: str | bytes | Sequence[Any]) -> list[Message]:
    """Load a conversation from JSON text/bytes or from already-parsed Python data."""
    if isinstance(data, str | bytes):
        return _messages_adapter().validate_json(data)
    return _messages_adapter().validate_python(list(data))
