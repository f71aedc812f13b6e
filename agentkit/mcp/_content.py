"""MCP results as agentkit's: a tool's content as the tool message (text, images, audio,
PDFs, structured content as JSON), failures as error results naming the server, resources
as message parts, prompts as messages."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import mcp_types

from agentkit._errors import MCPToolError
from agentkit.hooks import ToolResult
from agentkit.messages import (
    AssistantMessage,
    AudioPart,
    ContentPart,
    DocumentPart,
    ImagePart,
    MediaPart,
    Message,
    TextPart,
    UserMessage,
)
from agentkit.tools import tool_result_content

__all__ = ["MCPPrompt", "prompt_messages", "resource_parts"]


def _leaf(exc: BaseException) -> BaseException:
    """The first real error inside (nested) exception groups."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def _error(text: str, cause: Exception | None = None) -> ToolResult:
    return ToolResult(text, is_error=True, error=cause or MCPToolError(text))


def _result(label: str, name: str, result: mcp_types.CallToolResult) -> ToolResult:
    """An MCP result as the tool message: texts, media (images, audio, embedded PDFs), and
    the structured content as JSON (already checked by the SDK against the tool's
    ``outputSchema``), unless a text block already says the same."""
    texts: list[str] = []
    media: list[MediaPart] = []
    for block in result.content:
        if isinstance(block, mcp_types.TextContent):
            texts.append(block.text)
        elif isinstance(block, mcp_types.ImageContent):
            media.append(ImagePart(url=f"data:{block.mime_type};base64,{block.data}"))
        elif isinstance(block, mcp_types.AudioContent):
            media.append(_audio(block.data, block.mime_type))
        elif isinstance(block, mcp_types.EmbeddedResource):
            for part in resource_parts([block.resource]):
                if isinstance(part, TextPart):
                    texts.append(part.text)
                else:
                    media.append(part)
        elif isinstance(block, mcp_types.ResourceLink):
            texts.append(f"[resource {block.uri}]")
        else:
            texts.append(f"[{block.type} content omitted]")
    structured = result.structured_content
    if structured is not None and not any(_repeats(t, structured) for t in texts):
        texts.append(json.dumps(structured, ensure_ascii=False))
    if media:
        content, parts = tool_result_content([*texts, *media])
    else:
        content, parts = "\n".join(texts), ()
    if result.is_error:
        text = content or f"MCP server {label}: {name} failed without a message."
        return ToolResult.with_media(text, parts, is_error=True, error=MCPToolError(text))
    return ToolResult.with_media(content, parts)


def _audio(data: str, mime_type: str) -> AudioPart:
    """Base64 audio with its media type (``audio/wav``, ``audio/mpeg``...) as an ``AudioPart``."""
    subtype = mime_type.partition("/")[2].partition(";")[0].lower().removeprefix("x-")
    aliases = {"mpeg": "mp3", "mpeg3": "mp3", "wave": "wav", "vnd.wave": "wav"}
    return AudioPart(data=data, format=aliases.get(subtype, subtype))


def _repeats(text: str, value: Any) -> bool:
    """Whether ``text`` says what the structured content ``value`` says: as its JSON, or as
    the value a Python SDK tool returned and the SDK wrapped as ``{"result": value}``."""
    try:
        said = json.loads(text)
    except ValueError:
        said = text
    if isinstance(value, dict) and value.keys() == {"result"}:
        return value["result"] in (said, text)
    return bool(said == value)


def resource_parts(
    contents: Iterable[mcp_types.TextResourceContents | mcp_types.BlobResourceContents],
) -> tuple[ContentPart, ...]:
    """A resource's contents as message parts: text as ``TextPart``, images as ``ImagePart``,
    audio as ``AudioPart``, a PDF as ``DocumentPart`` (named after the URI), a text blob
    (``text/*``, JSON, XML in UTF-8) as its text, other binary data as a ``TextPart`` that
    names it."""
    parts: list[ContentPart] = []
    for item in contents:
        mime = item.mime_type or ""
        if isinstance(item, mcp_types.TextResourceContents):
            parts.append(TextPart(text=item.text))
            continue
        if mime.startswith("image/"):
            parts.append(ImagePart(url=f"data:{mime};base64,{item.blob}"))
            continue
        if mime.startswith("audio/"):
            parts.append(_audio(item.blob, mime))
            continue
        if mime == "application/pdf":
            file_name = str(item.uri).rstrip("/").rpartition("/")[2] or None
            parts.append(DocumentPart(url=f"data:{mime};base64,{item.blob}", name=file_name))
            continue
        data = base64.b64decode(item.blob)
        if mime.startswith("text/") or mime in _TEXT_TYPES:
            try:
                parts.append(TextPart(text=data.decode("utf-8")))
                continue
            except UnicodeDecodeError:
                pass
        parts.append(TextPart(text=f"[resource {item.uri}: {mime or 'binary'}, {len(data)} bytes]"))
    return tuple(parts)


_TEXT_TYPES = frozenset({"application/json", "application/xml", "application/yaml"})


@dataclass(frozen=True)
class MCPPrompt:
    """A server's prompt, filled in: its ``messages`` start a conversation
    (``agent.run(prompt.prompt, message_history=prompt.history)``), its ``text`` serves as
    instructions (``Agent(..., instructions=prompt.text)``)."""

    name: str
    description: str | None
    messages: tuple[Message, ...]

    @property
    def prompt(self) -> UserMessage | None:
        """The last message when it is the user's: what a run starting from this prompt
        answers (``None`` when the prompt ends with the assistant's message)."""
        last = self.messages[-1] if self.messages else None
        return last if isinstance(last, UserMessage) else None

    @property
    def history(self) -> tuple[Message, ...]:
        """The messages before ``prompt`` (all of them when there is no ``prompt``)."""
        return self.messages[:-1] if self.prompt is not None else self.messages

    @property
    def text(self) -> str:
        """The prompt's text parts, one paragraph each (images left out)."""
        chunks: list[str] = []
        for message in self.messages:
            content = message.content
            if isinstance(content, str):
                chunks.append(content)
            elif content:
                chunks.extend(p.text for p in content if isinstance(p, TextPart))
        return "\n\n".join(c for c in chunks if c)


def prompt_messages(messages: Iterable[mcp_types.PromptMessage]) -> tuple[Message, ...]:
    """A prompt's messages as agentkit messages: user messages with text, images and
    resources; assistant messages with their text (an image there is named, not shown)."""
    found: list[Message] = []
    for message in messages:
        block = message.content
        if isinstance(block, mcp_types.TextContent):
            parts: tuple[ContentPart, ...] = (TextPart(text=block.text),)
        elif isinstance(block, mcp_types.ImageContent):
            parts = (ImagePart(url=f"data:{block.mime_type};base64,{block.data}"),)
        elif isinstance(block, mcp_types.AudioContent):
            parts = (_audio(block.data, block.mime_type),)
        elif isinstance(block, mcp_types.EmbeddedResource):
            parts = resource_parts([block.resource])
        elif isinstance(block, mcp_types.ResourceLink):
            parts = (TextPart(text=f"[resource {block.uri}]"),)
        else:
            parts = (TextPart(text=f"[{block.type} content omitted]"),)
        if message.role == "user":
            if all(isinstance(p, TextPart) for p in parts):
                text = "\n".join(p.text for p in parts if isinstance(p, TextPart))
                found.append(UserMessage(content=text))
            else:
                found.append(UserMessage(content=parts))
        else:
            text = "\n".join(
                p.text if isinstance(p, TextPart) else f"[{p.type} omitted]" for p in parts
            )
            found.append(AssistantMessage(content=text))
    return tuple(found)
