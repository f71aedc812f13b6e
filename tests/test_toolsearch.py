"""Tool search: above its threshold a run sends the search tool and the tools in use, the
tools a search finds join the next request and are called as usual."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from pydantic import BaseModel

from agentkit import Agent, Tool, ToolSearch, UserError
from agentkit.messages import AssistantMessage, Message, ToolCall, ToolMessage, UserMessage
from agentkit.testing import ScriptedModel, output_call, tool_calls

pytestmark = pytest.mark.anyio

BENCH = Path(__file__).resolve().parent.parent / "tools" / "bench" / "tool_search.py"
EVENT = {"title": "Team lunch", "body": "Friday 12:30", "tags": ["team"]}


def _bench() -> ModuleType:
    """tools/bench/tool_search.py, loaded from its file (tools/ is not a package)."""
    spec = importlib.util.spec_from_file_location("tool_search_bench", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _many(count: int = 100) -> list[Tool[Any]]:
    tools: list[Tool[Any]] = _bench().many_tools(count)
    return tools


def _names(model: ScriptedModel, turn: int) -> list[str]:
    return [t.name for t in model.requests[turn].tools]


async def test_a_tool_found_by_search_joins_the_request_and_is_called() -> None:
    """With 100 tools the first request carries only the search tool; the search answers
    with matching tools, which the next request carries with their full schemas; the model
    calls one and the tool runs with its arguments."""
    tools = _many()
    search = ToolSearch(threshold=20)
    model = ScriptedModel(
        [
            tool_calls(("search_tools", {"query": "create calendar event"})),
            tool_calls(("create_calendar_event", EVENT)),
            "Done.",
        ]
    )
    result = await Agent(model, tools=[*tools, search.tool], hooks=[search]).run("lunch?")
    assert result.output == "Done."
    assert _names(model, 0) == ["search_tools"]

    [answer] = [m for m in model.requests[1].messages if isinstance(m, ToolMessage)]
    found = [t["name"] for t in json.loads(answer.content)["tools"]]
    assert found[0] == "create_calendar_event" and len(found) == 5
    assert set(_names(model, 1)) == {"search_tools", *found}
    [sent] = [t for t in model.requests[1].tools if t.name == "create_calendar_event"]
    [full] = [t.definition for t in tools if t.name == "create_calendar_event"]
    assert sent == full

    last = [m for m in model.requests[2].messages if isinstance(m, ToolMessage)][-1]
    assert (last.name, last.content) == ("create_calendar_event", "created 'Team lunch' (1 tags)")
    assert "create_calendar_event" in _names(model, 2)


async def test_at_or_below_the_threshold_every_tool_is_sent_and_no_search_tool() -> None:
    """With no more tools than the threshold the request is as without tool search."""
    tools = _many(20)
    search = ToolSearch(threshold=20)
    model = ScriptedModel(["Hi."])
    await Agent(model, tools=[*tools, search.tool], hooks=[search]).run("hi")
    assert _names(model, 0) == [t.name for t in tools]


async def test_tools_used_before_and_always_tools_are_sent_from_the_start() -> None:
    """A conversation that already called a tool keeps it in every request, and so do the
    tools named in ``always``; a second run of the same ToolSearch starts afresh."""
    tools = _many()
    search = ToolSearch(always=["list_ticket"])
    model = ScriptedModel(["Sent.", "Hi."])
    agent = Agent(model, tools=[*tools, search.tool], hooks=[search])
    call = ToolCall(id="c1", name="get_invoice", arguments='{"id": "7"}')
    history: list[Message] = [
        UserMessage(content="Invoice 7?"),
        AssistantMessage(content="", tool_calls=(call,)),
        ToolMessage(tool_call_id="c1", name="get_invoice", content="record 7"),
        AssistantMessage(content="Invoice 7 is paid."),
    ]
    await agent.run("Thanks", message_history=history)
    await agent.run("hello")
    assert set(_names(model, 0)) == {"search_tools", "get_invoice", "list_ticket"}
    assert set(_names(model, 1)) == {"search_tools", "list_ticket"}


def test_search_ranks_name_words_first_and_says_when_nothing_matches() -> None:
    """Words in a tool's name weigh more than words in its description; split names
    (snake_case, camelCase) match; a query matching nothing finds nothing."""
    definitions = [t.definition for t in _many()]
    search = ToolSearch(max_results=3)
    assert search.find("delete invoice", definitions)[0].name == "delete_invoice"
    assert search.find("pullRequest get", definitions)[0].name == "get_pull_request"
    assert search.find("zebra", definitions) == []
    assert len(search.find("record", definitions)) == 3


async def test_the_hook_without_its_tool_is_a_clear_error() -> None:
    """ToolSearch among the hooks but its tool not among the tools: the run says to add it."""
    search = ToolSearch()
    agent = Agent(ScriptedModel(["never"]), tools=_many(3), hooks=[search])
    with pytest.raises(UserError, match=r"tools=\[\.\.\., search\.tool\]"):
        await agent.run("hi")


def test_the_measurement_shows_fewer_input_tokens_with_tool_search() -> None:
    """tools/bench/tool_search.py counts each request: with 100 tools, tool search sends one
    schema and then six, and its requests are smaller than those that send every schema."""
    figures = _bench().measure(100)
    assert figures["without"]["schemas"] == [100, 100]
    assert figures["with"]["schemas"] == [1, 6, 6]
    assert max(figures["with"]["tokens"]) < min(figures["without"]["tokens"])


async def test_the_final_result_tool_of_a_structured_output_is_always_sent() -> None:
    """With a structured output in tool mode, the final-result tool goes with the search
    tool, so the run can end without searching for it."""

    class Answer(BaseModel):
        text: str

    tools = _many()
    search = ToolSearch()
    model = ScriptedModel([output_call({"text": "Hello."})])
    agent = Agent(
        model,
        tools=[*tools, search.tool],
        hooks=[search],
        output_type=Answer,
        output_mode="tool",
    )
    result = await agent.run("hi")
    assert result.output == Answer(text="Hello.")
    assert _names(model, 0) == ["search_tools", "final_result"]
