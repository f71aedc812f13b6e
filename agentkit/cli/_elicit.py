"""``agentkit chat`` answers an MCP server's elicitation in the terminal.

The server's message is shown; the user says y/n to answer; then each field of the form is
asked for in turn (its title, description, choices and default shown), checked against its
type and asked again until it fits. A URL elicitation asks whether the user opened the URL.
Ctrl-C or Ctrl-D while asked cancels the elicitation (the tool learns so); the turn goes on.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import anyio.to_thread

from agentkit.cli._render import Renderer

if TYPE_CHECKING:
    from agentkit.mcp import Elicitation, ElicitationHandler, ElicitationReply

__all__ = ["ask_in_terminal", "terminal_elicitation"]

_YES = ("y", "yes")


def ask_in_terminal(tools: Iterable[Any], read: Callable[[str], str], renderer: Renderer) -> None:
    """Give every MCP server among ``tools`` that has no elicitation handler one that asks
    the user with ``read`` (MCP servers are only looked for once ``agentkit.mcp`` is
    loaded: a tools file that made one imported it)."""
    if "agentkit.mcp" not in sys.modules:
        return
    from agentkit.mcp import MCPServer

    handler = terminal_elicitation(read, renderer)
    for item in tools:
        if isinstance(item, MCPServer) and item.elicitation_handler is None:
            item.elicitation_handler = handler


def terminal_elicitation(read: Callable[[str], str], renderer: Renderer) -> ElicitationHandler:
    """An elicitation handler asking with ``read`` (``input``) in a worker thread, so the
    event loop goes on while the user types."""

    async def ask(request: Elicitation) -> ElicitationReply:
        reply: ElicitationReply = await anyio.to_thread.run_sync(_ask, read, renderer, request)
        return reply

    return ask


def _ask(read: Callable[[str], str], renderer: Renderer, request: Elicitation) -> ElicitationReply:
    renderer.waiting(None)  # no spinner over the question while the user types
    try:
        return _questions(read, renderer, request)
    finally:
        renderer.waiting(f"MCP server {request.server}")


def _questions(
    read: Callable[[str], str], renderer: Renderer, request: Elicitation
) -> ElicitationReply:
    from agentkit.mcp import ElicitationReply

    renderer.info(f"\nMCP server {request.server} asks: {request.message}")
    try:
        if request.mode == "url":
            opened = read(f"Open {request.url} in a browser, then say y when done [y/n] ")
            accepted = opened.strip().lower() in _YES
            return ElicitationReply.accept() if accepted else ElicitationReply.decline()
        if read("answer? [y/n] ").strip().lower() not in _YES:
            return ElicitationReply.decline()
        content: dict[str, Any] = {}
        for name, schema in request.fields.items():
            value = _field(read, renderer, name, schema, name in request.required)
            if value is not None:
                content[name] = value
        return ElicitationReply.accept(content)
    except (EOFError, KeyboardInterrupt):
        renderer.info("(cancelled)")
        return ElicitationReply.cancel()


def _field(
    read: Callable[[str], str],
    renderer: Renderer,
    name: str,
    schema: dict[str, Any],
    required: bool,
) -> Any:
    """Ask for one field until the answer fits (``None``: an optional field left empty)."""
    label = schema.get("title") or name
    if schema.get("description"):
        label = f"{label} ({schema['description']})"
    choices = _choices(schema)
    hints = [f"one of {', '.join(choices)}"] if choices else []
    kind = schema.get("type", "string")
    if kind == "boolean":
        hints.append("y/n")
    elif kind == "array":
        hints.append("comma-separated")
    if "default" in schema:
        hints.append(f"default {schema['default']}")
    elif not required:
        hints.append("optional")
    hint = f" [{'; '.join(hints)}]" if hints else ""
    while True:
        raw = read(f"  {label}{hint}: ").strip()
        if not raw:
            if "default" in schema:
                return schema["default"]
            if not required:
                return None
            renderer.info("  an answer is required")
            continue
        try:
            return _convert(raw, kind, choices, schema)
        except ValueError as exc:
            renderer.info(f"  {exc}")


def _choices(schema: dict[str, Any]) -> list[str]:
    """The allowed values of a field (``enum``, or ``oneOf``/``anyOf`` of ``const``)."""
    items = schema.get("items") if schema.get("type") == "array" else None
    source = items if isinstance(items, dict) else schema
    if "enum" in source:
        return [str(v) for v in source["enum"]]
    options = source.get("oneOf") or source.get("anyOf") or []
    return [str(o["const"]) for o in options if isinstance(o, dict) and "const" in o]


def _convert(raw: str, kind: str, choices: list[str], schema: dict[str, Any]) -> Any:
    if kind == "boolean":
        if raw.lower() in ("y", "yes", "true"):
            return True
        if raw.lower() in ("n", "no", "false"):
            return False
        raise ValueError("answer y or n")
    if kind in ("integer", "number"):
        try:
            number = int(raw) if kind == "integer" else float(raw)
        except ValueError:
            wanted = "an integer" if kind == "integer" else "a number"
            raise ValueError(f"{raw!r} is not {wanted}") from None
        low, high = schema.get("minimum"), schema.get("maximum")
        if (low is not None and number < low) or (high is not None and number > high):
            raise ValueError(f"give a value from {low} to {high}")
        return number
    if kind == "array":
        values = [v.strip() for v in raw.split(",") if v.strip()]
        wrong = [v for v in values if choices and v not in choices]
        if wrong:
            raise ValueError(f"{', '.join(wrong)}: not among the choices")
        return values
    if choices and raw not in choices:
        raise ValueError(f"{raw!r} is not one of {', '.join(choices)}")
    return raw
