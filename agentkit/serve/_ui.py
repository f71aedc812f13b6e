"""What the front-end protocols of ``agentkit serve`` share (AG-UI in ``_agui``, the
Vercel AI SDK's UI message stream in ``_aisdk``).

Each protocol reads its request into a ``UITurn`` (the conversation, the new prompt or
the decisions on a paused run, and a ``UIStream`` that writes the run's events in the
protocol's own shape); the app runs the turn once, with ``agent.run_stream`` on the
conversation's session, and hands every run event to that stream. The conversation
lives in the server's session store: a client's copy of the earlier messages only
starts a conversation the store does not have (``seed``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from agentkit.approval import ApprovalRequest, Decision
from agentkit.events import RunResult
from agentkit.messages import ContentPart, ImagePart, Message
from agentkit.serve._openai import ClientError

__all__ = [
    "UIStream",
    "UITurn",
    "approval_schema",
    "conversation_id",
    "image",
    "json_or_text",
    "waiting_json",
]


class UIStream(Protocol):
    """One turn's answer in a front-end protocol: each method returns encoded events."""

    headers: Sequence[tuple[bytes, bytes]]
    """Extra response headers (besides the event-stream content type)."""

    def start(self) -> list[bytes]:
        """The events opening the answer."""
        ...

    def event(self, event: object) -> list[bytes]:
        """The events for one run event (most give none)."""
        ...

    def finished(self, result: RunResult[Any]) -> list[bytes]:
        """The events closing a run that ended (with an output, or paused for approval)."""
        ...

    def failed(self, message: str, code: str) -> list[bytes]:
        """The events closing a run that failed."""
        ...


@dataclass
class UITurn:
    """A turn a front-end asked for."""

    conversation: str
    prompt: str | tuple[ContentPart, ...] | None
    """The new user message; ``None`` when the turn decides a paused run."""
    approvals: dict[str, Decision] | None
    """Decisions on the calls a paused run waits for, by approval key."""
    stream: UIStream
    seed: list[Message] = field(default_factory=list)
    """The client's earlier messages: the conversation's start if the store has none."""


def conversation_id(value: Any, param: str) -> str:
    """A conversation id from the request (8 to 100 characters, like the page's)."""
    if not isinstance(value, str) or not 8 <= len(value) <= 100 or not value.isprintable():
        raise ClientError(
            f"'{param}' must be an id string of 8 to 100 printable characters; it names "
            "the conversation in this server's store.",
            param=param,
        )
    return value


def image(url: Any, media_type: Any, where: str) -> ImagePart:
    """An image part from a URL (``https://`` or ``data:image/...``) the client sent."""
    if not isinstance(url, str) or not url.startswith(("https://", "http://", "data:image/")):
        raise ClientError(
            f"{where} must be an image given by an https:// or data:image/ URL.", param=where
        )
    if isinstance(media_type, str) and not media_type.startswith("image/"):
        raise ClientError(
            f"{where} is a {media_type!r} file; this endpoint takes images and text only.",
            param=where,
        )
    return ImagePart(url=url)


def json_or_text(text: str) -> Any:
    """Tool arguments or a result as a JSON value when they are JSON, else the text."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def approval_schema() -> dict[str, Any]:
    """The JSON schema of a decision on a waiting tool call."""
    return {
        "type": "object",
        "properties": {
            "approved": {"type": "boolean", "description": "Run the call (true) or not."},
            "reason": {"type": "string", "description": "Why not: the model is told."},
        },
        "required": ["approved"],
    }


def waiting_json(request: ApprovalRequest) -> dict[str, Any]:
    """A waiting call as the protocols describe it (``id`` is its approval key)."""
    return {
        "id": request.key,
        "toolCallId": request.tool_call_id,
        "toolName": request.tool_name,
        "arguments": json_or_text(request.arguments),
        "agent": request.agent,
    }
