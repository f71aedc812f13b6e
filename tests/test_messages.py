"""Messages: typed parts, images from URL/bytes/path, and the JSON round trip."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from pydantic import ValidationError

from agentkit.messages import (
    AssistantMessage,
    ImagePart,
    SystemMessage,
    TextPart,
    ToolCall,
    ToolMessage,
    UserMessage,
    dump_messages,
    load_messages,
)

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 16


def _conversation() -> list[object]:
    return [
        SystemMessage(content="You are helpful."),
        UserMessage(content=(TextPart(text="What is this?"), ImagePart.from_bytes(PNG))),
        AssistantMessage(
            content="",
            tool_calls=(ToolCall(id="call_1", name="look", arguments='{"x": 1}'),),
            finish_reason="tool_calls",
            model_name="m",
        ),
        ToolMessage(tool_call_id="call_1", name="look", content="a cat", is_error=False),
        AssistantMessage(content="A cat.", finish_reason="stop"),
    ]


def test_conversation_round_trips_through_json() -> None:
    """A conversation with every message kind dumps to JSON and loads back equal."""
    messages = _conversation()
    data = dump_messages(messages)  # type: ignore[arg-type]
    assert load_messages(data) == messages
    assert load_messages(data.decode()) == messages


def test_load_rejects_unknown_role_with_the_field_named() -> None:
    """Loading a message with an unknown role fails and says which tag was wrong."""
    with pytest.raises(ValidationError) as info:
        load_messages('[{"role": "robot", "content": "hi"}]')
    assert "robot" in str(info.value)


def test_image_from_bytes_sniffs_media_type() -> None:
    """Image bytes become a data URL with the media type read from the bytes."""
    assert ImagePart.from_bytes(PNG).url.startswith("data:image/png;base64,")
    assert ImagePart.from_bytes(JPEG).url.startswith("data:image/jpeg;base64,")
    url = ImagePart.from_bytes(PNG).url
    assert base64.b64decode(url.split(",", 1)[1]) == PNG


def test_image_from_unknown_bytes_asks_for_media_type() -> None:
    """Bytes that are no known image format fail with advice to pass media_type."""
    with pytest.raises(ValueError, match="pass media_type"):
        ImagePart.from_bytes(b"hello")


def test_image_from_path(tmp_path: Path) -> None:
    """A file path becomes a data URL with the file's media type."""
    path = tmp_path / "photo.jpg"
    path.write_bytes(JPEG)
    assert ImagePart.from_path(path).url.startswith("data:image/jpeg;base64,")
    bad = tmp_path / "notes.txt"
    bad.write_text("hi")
    with pytest.raises(ValueError, match="does not look like an image"):
        ImagePart.from_path(bad)


def test_messages_are_immutable() -> None:
    """Stored messages cannot be changed in place (the conversation is a record)."""
    msg = UserMessage(content="hi")
    with pytest.raises(ValidationError):
        msg.content = "changed"
