"""Elicitation: a server asks the user for input in the middle of a call.

The server sends ``elicitation/create`` (a message and a flat form schema, or a URL to open);
agentkit hands it to the server's ``elicitation_handler`` as an ``Elicitation`` and answers
with the ``ElicitationReply`` it returns. Without a handler every elicitation is declined,
so the tool that asked learns the user did not answer and goes on (or fails) as it sees fit.
A handler that fails, or accepts with content that does not match the form, answers the
server with an error naming the problem.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import mcp_types

__all__ = ["Elicitation", "ElicitationHandler", "ElicitationReply", "elicitor"]


@dataclass(frozen=True)
class Elicitation:
    """What an MCP server asks the user: ``message``, and either a form (``schema``: a JSON
    schema object of flat properties, ``mode="form"``) or a ``url`` to open (``mode="url"``)."""

    server: str
    """How errors name the server that asks."""
    message: str
    mode: Literal["form", "url"] = "form"
    schema: dict[str, Any] = field(default_factory=dict)
    url: str | None = None

    @property
    def fields(self) -> dict[str, dict[str, Any]]:
        """The form's properties (name -> JSON schema), in the server's order."""
        properties = self.schema.get("properties", {})
        return dict(properties) if isinstance(properties, dict) else {}

    @property
    def required(self) -> tuple[str, ...]:
        """The names of the form's properties the server requires."""
        return tuple(self.schema.get("required", ()))


@dataclass(frozen=True)
class ElicitationReply:
    """The user's answer: ``accept`` (with the form's ``content``), ``decline`` or ``cancel``."""

    action: Literal["accept", "decline", "cancel"]
    content: dict[str, Any] | None = None

    @classmethod
    def accept(cls, content: dict[str, Any] | None = None) -> ElicitationReply:
        """The user answered (``content``: the form's values; none for a URL)."""
        return cls("accept", dict(content) if content is not None else None)

    @classmethod
    def decline(cls) -> ElicitationReply:
        """The user said no."""
        return cls("decline")

    @classmethod
    def cancel(cls) -> ElicitationReply:
        """The user dismissed the question without choosing."""
        return cls("cancel")


ElicitationHandler = Callable[[Elicitation], Awaitable[ElicitationReply] | ElicitationReply]
"""Asks the user (a terminal, a web form, a test's script); async or not."""


def elicitor(label: str, handler: Callable[[], ElicitationHandler | None]) -> Any:
    """The SDK's elicitation callback for MCP server ``label``: asks ``handler()`` (read at
    each request, so a handler set later counts), declines when there is none."""

    async def elicit(
        context: Any, params: mcp_types.ElicitRequestParams
    ) -> mcp_types.ElicitResult | mcp_types.ErrorData:
        current = handler()
        if current is None:
            return mcp_types.ElicitResult(action="decline")
        if isinstance(params, mcp_types.ElicitRequestURLParams):
            request = Elicitation(label, params.message, mode="url", url=params.url)
        else:
            schema = dict(params.requested_schema)
            request = Elicitation(label, params.message, schema=schema)
        try:
            reply = current(request)
            if inspect.isawaitable(reply):
                reply = await reply
            if not isinstance(reply, ElicitationReply):
                raise TypeError(f"the handler returned {reply!r}, not an ElicitationReply")
            content = reply.content if reply.action == "accept" else None
            if request.mode == "form" and content is not None:
                _check(request.schema, content)
            return mcp_types.ElicitResult(action=reply.action, content=content)
        except Exception as exc:  # the server gets an error answer; cancellation propagates
            return mcp_types.ErrorData(
                code=mcp_types.INTERNAL_ERROR,
                message=f"The client could not answer the elicitation of MCP server {label}: "
                f"{type(exc).__name__}: {exc}",
            )

    return elicit


def _check(schema: dict[str, Any], content: dict[str, Any]) -> None:
    """Raise ``ValueError`` naming each field of ``content`` that does not fit ``schema``."""
    from jsonschema.validators import validator_for  # type: ignore[import-untyped]

    validator = validator_for(schema)(schema)
    errors = [
        f"{'.'.join(str(p) for p in e.absolute_path) or '(form)'}: {e.message}"
        for e in validator.iter_errors(content)
    ]
    if errors:
        raise ValueError("the answer does not fit the form: " + "; ".join(errors))
