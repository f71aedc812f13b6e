"""examples/agent_team: a planner calling two specialist agents as tools, on one budget."""

from __future__ import annotations

import pytest
from support import load_example, readme_commands, run_json_command

from agentkit import UsageLimitExceeded, UsageLimits
from agentkit.models.base import ModelRequest
from agentkit.testing import ScriptedModel, ScriptedResponse, text, tool_calls
from agentkit.testing.server import (
    RecordedRequest,
    Reply,
    reply_text,
    reply_tool_calls,
)

PLAN = "Day 1: the 1 h 56 TGV, then Vieux Lyon. Day 2: Fourviere hill."

team = load_example("agent_team")

# What each agent says: its first step (a tool call), then its answer once a tool answered.
STEPS: dict[str, tuple[list[tuple[str, dict[str, str]]], str]] = {
    "You plan trips": (
        [
            ("rail_expert", {"prompt": "Trains Paris to Lyon?"}),
            ("local_guide", {"prompt": "Lyon?"}),
        ],
        PLAN,
    ),
    "You know French trains": (
        [("find_trains", {"origin": "Paris", "destination": "Lyon"})],
        "1 h 56.",
    ),
    "You are a local guide": ([("things_to_do", {"city": "Lyon"})], "Vieux Lyon, Fourviere."),
}


def _step(system: str, answered: bool) -> tuple[list[tuple[str, dict[str, str]]], str | None]:
    """The calls and the answer of the agent whose instructions are ``system``."""
    calls, answer = next(v for k, v in STEPS.items() if system.startswith(k))
    return ([], answer) if answered else (calls, None)


def _as_server(request: RecordedRequest) -> Reply:
    messages = request.body["messages"]
    calls, answer = _step(messages[0]["content"], messages[-1]["role"] == "tool")
    return reply_text(answer) if answer else reply_tool_calls(*calls)


def _as_script(request: ModelRequest) -> ScriptedResponse:
    messages = request.messages
    calls, answer = _step(str(messages[0].content), messages[-1].role == "tool")
    return text(answer) if answer else tool_calls(*calls)


def test_the_readme_command_delegates_and_counts_the_whole_team(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The README's command (on a scripted model server answering as each agent): the
    planner asks both specialists, each calls its own tool, their answers are the planner's
    tool results, and the usage printed is the team's: six requests."""
    (command,) = readme_commands("agent_team", "agentkit")
    result, server = run_json_command(command, _as_server, monkeypatch, capsys)
    assert result["output"] == PLAN
    answers = {m["name"]: m["content"] for m in result["messages"] if m["role"] == "tool"}
    assert answers == {"rail_expert": "1 h 56.", "local_guide": "Vieux Lyon, Fourviere."}
    assert result["usage"]["requests"] == len(server.requests) == 6
    tool_results = [
        r.body["messages"][-1]["content"] for r in server.requests if len(r.body["messages"]) == 4
    ]
    assert sorted(tool_results) == [
        "TGV every hour from Paris Gare de Lyon, 1 h 56, from 35 EUR.",
        "Vieux Lyon and its traboules; Fourviere hill; a bouchon dinner",
    ]


def test_the_budget_stops_a_specialist_before_it_overspends() -> None:
    """With a budget of three requests, the planner's and both specialists' first requests
    are sent, and a specialist's next one is refused before it is sent: the run ends with
    ``UsageLimitExceeded`` naming the limit and the team's usage."""
    model = ScriptedModel([_as_script] * 6)
    planner = team.build_team(model, budget=UsageLimits(requests=3))
    with pytest.raises(UsageLimitExceeded) as caught:
        planner.run_sync("Two days in Lyon from Paris?")
    assert len(model.requests) == 3
    assert caught.value.usage.requests == 3
    assert "requests" in str(caught.value.limit)


def test_the_tools_answer_from_their_tables() -> None:
    """``find_trains`` finds a route in either direction; ``things_to_do`` knows its cities;
    both say so for what they do not know."""
    assert team.find_trains("Lyon", "paris").startswith("TGV every hour")
    assert team.find_trains("Lille", "Nice") == "No direct train between Lille and Nice."
    assert team.things_to_do("Marseille").startswith("the Vieux-Port")
    assert team.things_to_do("Brest") == "No guide for Brest."
