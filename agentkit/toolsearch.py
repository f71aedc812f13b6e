"""Tool search: with many tools, send the model a search tool instead of every schema.

::

    search = ToolSearch(threshold=20)
    agent = Agent(model, tools=[*my_tools, github, search.tool], hooks=[search])

Above ``threshold`` tools, each request carries only the search tool (``search_tools``), the
tools named in ``always``, and the tools the conversation already uses: those the model
called, and those its searches found. The model searches by words of a tool's name and
description; the matches answer the search (names and descriptions) and join the next
request with their full schemas, so the model calls them as usual. At or below the
threshold every tool is sent and the search tool is not.

Everything is read from the conversation (``request.messages``), so the same ``ToolSearch``
serves any number of runs at once, and a resumed or stored conversation keeps its tools.
Every tool stays callable whatever is sent: a call to a tool the model has not been shown
runs as usual.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterable, Sequence
from typing import Any

from agentkit._errors import UserError
from agentkit.hooks import Hooks, RequestHandler, RunInfo
from agentkit.messages import AssistantMessage, Message, ToolMessage
from agentkit.models.base import ModelRequest, ModelResponse
from agentkit.output import OUTPUT_TOOL_NAME
from agentkit.tools import RunContext, Tool, ToolDefinition

__all__ = ["SEARCH_TOOL_NAME", "ToolSearch"]

SEARCH_TOOL_NAME = "search_tools"
"""The search tool's name, as the model sees it."""

_WORD = re.compile(r"[A-Za-z][a-z]*|[A-Z]+(?![a-z])|\d+")


class ToolSearch(Hooks):
    """Sends a search tool plus the tools in use, not every schema, above ``threshold`` tools.

    Put ``.tool`` among the agent's tools and the ``ToolSearch`` among its hooks.
    ``threshold``: how many tools (the search tool not counted) are still sent whole.
    ``max_results``: how many tools one search finds at most. ``always``: names of tools sent
    in every request anyway (the ones nearly every conversation needs).
    """

    def __init__(
        self, *, threshold: int = 20, max_results: int = 5, always: Iterable[str] = ()
    ) -> None:
        if threshold < 0 or max_results < 1:
            raise UserError(
                f"ToolSearch needs threshold >= 0 and max_results >= 1, got threshold="
                f"{threshold} and max_results={max_results}."
            )
        self.threshold = threshold
        self.max_results = max_results
        self.always = frozenset(always)
        self.tool: Tool[Any] = Tool(self._search_function(), name=SEARCH_TOOL_NAME)
        """The search tool: give it to the agent with its other tools."""

    def __repr__(self) -> str:
        return f"ToolSearch(threshold={self.threshold}, max_results={self.max_results})"

    def _search_function(self) -> Any:
        search = self

        def search_tools(ctx: RunContext[Any], query: str) -> str:
            """Find tools to call by what they do: give a few words (e.g. "create calendar
            event"). The tools found become callable in your next step."""
            defs = getattr(ctx._run, "tool_defs", ()) if ctx._run is not None else ()
            found = search.find(query, defs)
            if not found:
                return json.dumps(
                    {"tools": [], "note": f"No tool matches {query!r}; try other words."}
                )
            listed = [{"name": d.name, "description": d.description} for d in found]
            return json.dumps({"tools": listed, "note": "Call these tools directly now."})

        return search_tools

    def find(self, query: str, definitions: Sequence[ToolDefinition]) -> list[ToolDefinition]:
        """The tools matching ``query`` best (at most ``max_results``, best first): words of
        the query found in a tool's name count three times those found in its description."""
        words = {w for w in _words(query) if len(w) > 1}
        if not words:
            return []
        scored: list[tuple[int, int, ToolDefinition]] = []
        for index, definition in enumerate(definitions):
            if definition.name in (SEARCH_TOOL_NAME, OUTPUT_TOOL_NAME):
                continue
            name = set(_words(definition.name))
            description = set(_words(definition.description or ""))
            score = sum(3 * (w in name) + (w in description) for w in words)
            if query.strip().lower() == definition.name.lower():
                score += 10
            if score:
                scored.append((-score, index, definition))
        scored.sort(key=lambda item: item[:2])
        return [definition for _, _, definition in scored[: self.max_results]]

    async def wrap_model_request(
        self, run: RunInfo, request: ModelRequest, handler: RequestHandler
    ) -> ModelResponse:
        """Send the search tool and the tools in use instead of every tool (above the
        threshold); below it, every tool but the search tool."""
        tools = request.tools
        names = {t.name for t in tools}
        if SEARCH_TOOL_NAME not in names:
            raise UserError(
                "ToolSearch is among the hooks but its tool is not among the agent's tools: "
                "add it, Agent(tools=[..., search.tool], hooks=[search])."
            )
        others = [t for t in tools if t.name not in (SEARCH_TOOL_NAME, OUTPUT_TOOL_NAME)]
        if len(others) <= self.threshold:
            kept = [t for t in tools if t.name != SEARCH_TOOL_NAME]
        else:
            wanted = {*self.always, *_in_use(request.messages), SEARCH_TOOL_NAME, OUTPUT_TOOL_NAME}
            choice = request.tool_choice
            if isinstance(choice, str) and choice in names:
                wanted.add(choice)
            kept = [t for t in tools if t.name in wanted]
        return await handler(dataclasses.replace(request, tools=tuple(kept)))


def _words(text: str) -> list[str]:
    """Lower-case words of ``text``, with ``snake_case``, ``kebab-case`` and ``camelCase``
    names split into their words."""
    return [w.lower() for w in _WORD.findall(text)]


def _in_use(messages: Sequence[Message]) -> set[str]:
    """The tools the conversation uses: called by the model, or found by its searches."""
    used: set[str] = set()
    searches: set[str] = set()
    for message in messages:
        if isinstance(message, AssistantMessage):
            for call in message.tool_calls:
                used.add(call.name)
                if call.name == SEARCH_TOOL_NAME:
                    searches.add(call.id)
        elif isinstance(message, ToolMessage) and message.tool_call_id in searches:
            used.update(_found(message.content))
    return used


def _found(content: str) -> list[str]:
    """The tool names a search answered with (none when the answer is not one)."""
    try:
        answer = json.loads(content)
        return [str(t["name"]) for t in answer["tools"]]
    except (ValueError, TypeError, KeyError):
        return []
