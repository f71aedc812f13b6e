"""ContextWindow(policy="compact") over real HTTP: a long conversation with tools under a
small window, where every request fits by mistral-common's count and passes its
validator, the oldest turns are replaced by one summary written once per overflow and
reused until the next, the summary is stored with the session and reused by a later
process, its usage is counted, and a failed summary falls back to trimming."""

from __future__ import annotations

import itertools
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import anyio
import pytest
from support import FAST_RETRY, lookup, mistral_count, model_on, tool_history

from agentkit import (
    Agent,
    ContextCompactedEvent,
    ContextSummaryFailedEvent,
    ContextTrimmedEvent,
    ContextWindow,
    Hooks,
    ModelSettings,
    RunInfo,
    TextDeltaEvent,
    UsageLimitExceeded,
    UsageLimits,
    tool,
)
from agentkit.models import OpenAIChatModel
from agentkit.models.profiles import MISTRAL_SMALL_PROFILE
from agentkit.sessions import SQLiteSession
from agentkit.summary import SUMMARY_PREFIX
from agentkit.testing.server import (
    LocalModelServer,
    RecordedRequest,
    Reply,
    reply_error,
    reply_text,
    reply_tool_calls,
)

WINDOW = 6_000
MAX_TOKENS = 500
TURNS = 200
T = TypeVar("T")
INSTRUCTIONS = "Answer from the tool results."


def _is_summary_request(body: dict[str, Any]) -> bool:
    first = body["messages"][0]
    return bool(first["role"] == "system" and first["content"].startswith("You write the memory"))


@dataclass
class Server:
    """The server side of a conversation: a lookup, then an answer, per turn; a summary
    (numbered) to every summary request. It records what each request counted."""

    summaries: list[str] = field(default_factory=list)
    summary_prompts: list[str] = field(default_factory=list)
    counted: list[int] = field(default_factory=list)
    main_bodies: list[dict[str, Any]] = field(default_factory=list)

    def __call__(self, request: RecordedRequest) -> Reply:
        body = request.body
        count = mistral_count(body) + body["max_tokens"]
        if _is_summary_request(body):
            self.summary_prompts.append(body["messages"][1]["content"])
            text = f"Summary {len(self.summaries)}: the user asked about many lorem topics."
            self.summaries.append(text)
            return reply_text(text, usage={"prompt_tokens": 900, "completion_tokens": 20})
        self.counted.append(count)
        self.main_bodies.append(body)
        last = body["messages"][-1]
        if last["role"] == "user":
            topic = last["content"].split(":")[0]
            return reply_tool_calls(("lookup", {"query": topic}))
        return reply_text("Here is what I found about it.")


def _model(server: LocalModelServer, window: int = WINDOW) -> OpenAIChatModel:
    return model_on(server, profile=MISTRAL_SMALL_PROFILE.with_changes(context_window=window))


def _agent(server: LocalModelServer, **window: Any) -> Agent[None, str]:
    return Agent(
        _model(server),
        instructions=INSTRUCTIONS,
        tools=[lookup],
        settings=ModelSettings(max_tokens=MAX_TOKENS),
        hooks=[ContextWindow(policy="compact", **window)],
    )


def _summary_in(body: dict[str, Any]) -> str | None:
    """The summary a request carries (right after the system message), if any."""
    sent = body["messages"]
    assert sent[0] == {"role": "system", "content": INSTRUCTIONS}
    summaries = [
        i
        for i, m in enumerate(sent)
        if m["role"] == "user" and str(m["content"]).startswith(SUMMARY_PREFIX)
    ]
    if not summaries:
        return None
    assert summaries == [1], "one summary, right after the system message"
    assert sent[2]["role"] == "user" and sent[2]["content"].startswith("Question ")
    return str(sent[1]["content"])[len(SUMMARY_PREFIX) :]


class Events(Hooks):
    """Keeps every run event (streamed or not)."""

    def __init__(self) -> None:
        self.events: list[Any] = []

    async def on_event(self, run: RunInfo, event: Any) -> None:
        """Keep ``event``."""
        self.events.append(event)

    def of(self, kind: type[T]) -> list[T]:
        """The events of one kind."""
        return [e for e in self.events if isinstance(e, kind)]


@pytest.mark.slow  # > 3 s: 400 requests, each counted by mistral-common
@pytest.mark.anyio
@pytest.mark.parametrize("streamed", [False, True], ids=["run", "stream"])
async def test_a_200_turn_conversation_is_compacted_once_per_overflow(
    tmp_path: Path, streamed: bool
) -> None:
    """200 turns with tools on a session, a 6,000-token window: every request fits by
    mistral-common's count and passes its validator; the oldest turns are replaced by
    one summary right after the system message, written once per overflow (folding the
    previous one in) and reused by every request until the next; the summarizer's
    requests are counted in the run's usage; result.messages and the session keep all
    800 messages, and the session the last summary."""
    session = SQLiteSession(tmp_path / "chats.db", "long")
    side = Server()
    seen = Events()
    with LocalModelServer(side, style="mistral") as server:
        agent = _agent(server)
        for turn in range(TURNS):
            prompt = f"Question {turn}: what do you know about topic {turn}?"
            before = len(side.summaries)
            if streamed:
                async with agent.run_stream(prompt, session=session, hooks=[seen]) as stream:
                    async for _ in stream:
                        pass
                result = stream.result
            else:
                result = await agent.run(prompt, session=session, hooks=[seen])
            assert result.usage.requests == 2 + len(side.summaries) - before
    compactions = seen.of(ContextCompactedEvent)
    assert len(side.counted) == 2 * TURNS and max(side.counted) <= WINDOW
    assert not seen.of(ContextTrimmedEvent) and not seen.of(ContextSummaryFailedEvent)
    assert 3 <= len(compactions) <= len(side.summaries) <= TURNS // 4
    assert all(e.input_tokens <= e.limit == WINDOW - MAX_TOKENS for e in compactions)
    assert all(e.covered >= e.summarized > 0 for e in compactions)
    assert all(a.covered < b.covered for a, b in itertools.pairwise(compactions))
    # Each summary request folds the summary before it in.
    for previous, prompt in zip(side.summaries, side.summary_prompts[1:], strict=False):
        assert previous in prompt
    # The summary of each compaction is carried by every request from the one it was
    # written for on, until the next: written once per overflow, never per request.
    carried = [_summary_in(body) for body in side.main_bodies]
    first = carried.index(compactions[0].summary)
    assert all(c is None for c in carried[:first]) and None not in carried[first:]
    changes = [c for i, c in enumerate(carried) if i >= first and c != carried[i - 1]]
    assert changes == [e.summary for e in compactions]
    assert len(result.messages) == 1 + 4 * TURNS
    stored = await session.messages()
    questions = [m.content for m in stored if m.role == "user"]
    assert questions == [f"Question {t}: what do you know about topic {t}?" for t in range(TURNS)]
    kept = await session.load_summary()
    assert kept is not None and kept.text == compactions[-1].summary
    assert kept.covers == compactions[-1].covered


_LATER_PROCESS = """
import json, sys
from agentkit import Agent, ContextWindow, ModelSettings, tool
from agentkit.models import OpenAIChatModel
from agentkit.models.profiles import MISTRAL_SMALL_PROFILE
from agentkit.sessions import SQLiteSession

@tool
def lookup(query: str) -> str:
    \"\"\"Look something up.\"\"\"
    return f"Results for {query}: " + "lorem ipsum dolor sit amet, " * 6

base_url, path, window, max_tokens, instructions = sys.argv[1:]
model = OpenAIChatModel(
    "mistral-small-2506", base_url=base_url, api_key="k",
    profile=MISTRAL_SMALL_PROFILE.with_changes(context_window=int(window)),
)
agent = Agent(
    model, instructions=instructions, tools=[lookup],
    settings=ModelSettings(max_tokens=int(max_tokens)),
    hooks=[ContextWindow(policy="compact")],
)
result = agent.run_sync(
    "Question 61: what do you know about topic 61?", session=SQLiteSession(path, "long")
)
print(json.dumps({"requests": result.usage.requests, "messages": len(result.messages)}))
"""


@pytest.mark.slow  # > 3 s: a new Python process loads agentkit and the tokenizer
@pytest.mark.anyio
async def test_a_later_process_reuses_the_summary_stored_with_the_session(
    tmp_path: Path,
) -> None:
    """A run that compacts stores its summary in the SQLite session; a run in a new
    process, on the same file, sends that summary without asking for a new one."""
    path = tmp_path / "chats.db"
    session = SQLiteSession(path, "long")
    await session.save_turn(tool_history(60), paused=False, resumed=False)
    side = Server()
    with LocalModelServer(side, style="mistral") as server:
        agent = _agent(server)
        first = await agent.run("Question 60: what do you know about topic 60?", session=session)
        assert len(side.summaries) >= 1 and first.usage.requests == 2 + len(side.summaries)
        stored = await session.load_summary()
        assert stored is not None and stored.text == side.summaries[-1]
        written = len(side.summaries)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
        args = [server.base_url, str(path), str(WINDOW), str(MAX_TOKENS), INSTRUCTIONS]
        with anyio.fail_after(120):
            out = await anyio.run_process([sys.executable, "-c", _LATER_PROCESS, *args], env=env)
    assert json.loads(out.stdout) == {"requests": 2, "messages": 1 + 4 * 62}
    assert len(side.summaries) == written  # no summary asked for by the later process
    later = side.main_bodies[-2:]
    assert [_summary_in(body) for body in later] == [stored.text, stored.text]
    assert max(side.counted) <= WINDOW


@pytest.mark.anyio
async def test_a_failed_summary_falls_back_to_trimming() -> None:
    """When the summarizer fails (its server answers 500), the request is trimmed
    instead (a ContextSummaryFailedEvent naming the error, then a ContextTrimmedEvent)
    and the run goes on; the next overflowing request asks for a summary again."""
    side = Server()
    failures = [0]

    def failing(request: RecordedRequest) -> Reply:
        if _is_summary_request(request.body):
            failures[0] += 1
            return reply_error(400, "summaries are down")
        return side(request)

    seen = Events()
    with LocalModelServer(failing, style="mistral") as server:
        agent = _agent(server)
        result = await agent.run(
            "Question 60: what do you know about topic 60?",
            message_history=tool_history(60),
            hooks=[seen],
        )
    assert result.output == "Here is what I found about it."
    assert failures[0] == 2  # one attempt per request that overflowed
    failed = seen.of(ContextSummaryFailedEvent)
    assert len(failed) == 2 and "summaries are down" in failed[0].error
    assert len(seen.of(ContextTrimmedEvent)) == 2 and not seen.of(ContextCompactedEvent)
    assert all(_summary_in(body) is None for body in side.main_bodies)
    assert max(side.counted) <= WINDOW
    assert len(result.messages) == 1 + 240 + 4


@pytest.mark.anyio
async def test_the_summarizers_requests_count_in_the_runs_budget() -> None:
    """A summary request is checked against the run's budget (its worst case) before it
    is sent: with room for it, the run's usage counts it (three requests, its reported
    tokens); without, it is refused, the request trimmed instead, and the run answers."""
    side = Server()
    history = tool_history(60)
    prompt = "Question 60: what do you know about topic 60?"
    seen = Events()
    with LocalModelServer(side, style="mistral") as server:
        big = _model(server, window=128_000)  # the whole transcript in one summary request
        roomy = await _agent(server, summarizer=big).run(
            prompt, message_history=history, usage_limits=UsageLimits(input_tokens=100_000)
        )
        assert roomy.usage.requests == 3 and len(side.summaries) == 1
        assert roomy.usage.input_tokens >= 900  # the summary request's, as reported
        # Room for two requests to the 6,000-token model, not for the summary's ~40,000.
        tight = await _agent(server, summarizer=big).run(
            prompt,
            message_history=history,
            usage_limits=UsageLimits(input_tokens=13_000),
            hooks=[seen],
        )
    assert tight.usage.requests == 2 and len(side.summaries) == 1
    failed = seen.of(ContextSummaryFailedEvent)
    assert failed and failed[0].error.startswith(UsageLimitExceeded.__name__)
    assert seen.of(ContextTrimmedEvent)


@tool
def fetch_log(name: str) -> str:
    """Fetch a whole log file.

    Args:
        name: The log's name.
    """
    return "A" * 2_500 + "B" * 2_500


@pytest.mark.anyio
@pytest.mark.parametrize("policy", ["trim", "compact"])
async def test_long_tool_results_are_cut_in_the_request_only(policy: Any) -> None:
    """With tool_result_cap, a 5,000-character result is sent as its first and last 100
    characters with a note of how much was cut (the request still valid for Mistral),
    under any policy; a cap for another tool leaves it whole; result.messages keeps it."""
    replies = [reply_tool_calls(("fetch_log", {"name": "app"})), reply_text("It failed.")] * 2
    with LocalModelServer(replies, style="mistral") as server:
        for cap, expected in ((200, 200), ({"other": 100, "fetch_log": 300}, 300)):
            agent = Agent(
                _model(server),
                tools=[fetch_log],
                settings=ModelSettings(max_tokens=MAX_TOKENS),
                hooks=[ContextWindow(policy, tool_result_cap=cap)],
            )
            result = await agent.run("Why did the app fail?")
            sent = server.bodies[-1]["messages"][-1]
            assert sent["role"] == "tool"
            half = expected // 2
            note = f"\n[... {5_000 - expected:,} of 5,000 characters cut here ...]\n"
            assert sent["content"] == "A" * half + note + "B" * half
            mistral_count(server.bodies[-1])  # still valid for Mistral
            assert result.messages[-2].content == "A" * 2_500 + "B" * 2_500
        uncapped = Agent(
            _model(server),
            tools=[fetch_log],
            settings=ModelSettings(max_tokens=MAX_TOKENS),
            hooks=[ContextWindow(policy, tool_result_cap={"other": 100})],
        )
        server.add(*replies[:2])
        await uncapped.run("Why did the app fail?")
        assert len(server.bodies[-1]["messages"][-1]["content"]) == 5_000


@pytest.mark.anyio
async def test_an_agent_can_write_the_summary_and_its_usage_counts() -> None:
    """An Agent as the summarizer gets the transcript as its prompt, its answer is the
    summary sent, and its requests and tokens count in the run's usage."""
    from agentkit.testing import ScriptedModel, text

    writer_model = ScriptedModel([text("The agent's summary.", input_tokens=1_000)])
    writer = Agent(writer_model, instructions="Summarize faithfully.")
    side = Server()
    with LocalModelServer(side, style="mistral") as server:
        agent = _agent(server, summarizer=writer)
        result = await agent.run(
            "Question 60: what do you know about topic 60?", message_history=tool_history(60)
        )
    prompt = writer_model.requests[0].messages[-1].content
    assert isinstance(prompt, str) and "Question 0: what do you know" in prompt
    assert "Question 60" not in prompt  # the current turn is never summarized
    assert [_summary_in(body) for body in side.main_bodies] == ["The agent's summary."] * 2
    assert result.usage.requests == 3 and result.usage.input_tokens >= 1_000
    assert side.summaries == []


def test_bad_settings_are_refused_with_what_to_do() -> None:
    """A summarizer without the compact policy, a policy or share out of range, or a
    tool-result cap that is not characters raise ValueError saying what is expected."""
    with pytest.raises(ValueError, match="policy='compact' only"):
        ContextWindow(summarizer="mistral:mistral-small-latest")
    with pytest.raises(ValueError, match="'trim', 'error' or 'compact'"):
        ContextWindow("summarize")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="compact_to"):
        ContextWindow("compact", compact_to=1.5)
    with pytest.raises(ValueError, match="tool_result_cap takes characters"):
        ContextWindow(tool_result_cap={"search": 10})
    assert "summarizer=None" in repr(ContextWindow("compact"))


@pytest.mark.anyio
async def test_a_fallback_chain_gets_the_summary_then_each_model_its_window() -> None:
    """Under a FallbackModel, the summary is written for the chain's largest window; when
    the 6,000-token primary fails, the 4,000-token backup gets the request trimmed to its
    own window, the summary still first after the system message, valid for Mistral."""
    from agentkit.models import FallbackModel

    side = Server()

    def answer(request: RecordedRequest) -> Reply:
        if request.body["model"] == "primary" and not _is_summary_request(request.body):
            return reply_error(500, "primary is down")
        return side(request)

    seen = Events()
    with LocalModelServer(answer, style="mistral") as server:
        primary = model_on(
            server,
            "primary",
            profile=MISTRAL_SMALL_PROFILE.with_changes(context_window=WINDOW),
            retry=FAST_RETRY,
        )
        backup = model_on(
            server, "backup", profile=MISTRAL_SMALL_PROFILE.with_changes(context_window=4_000)
        )
        agent = Agent(
            FallbackModel(primary, backup),
            instructions=INSTRUCTIONS,
            tools=[lookup],
            settings=ModelSettings(max_tokens=MAX_TOKENS),
            hooks=[ContextWindow(policy="compact", summarizer=_model(server, 128_000)), seen],
        )
        result = await agent.run(
            "Question 45: what do you know about topic 45?", message_history=tool_history(45)
        )
    assert result.output == "Here is what I found about it."
    assert len(seen.of(ContextCompactedEvent)) == 1 and len(side.summaries) == 1
    assert [b["model"] for b in side.main_bodies] == ["backup", "backup"]
    assert max(side.counted) <= 4_000
    assert all(_summary_in(b) == side.summaries[-1] for b in side.main_bodies)


@pytest.mark.anyio
@pytest.mark.parametrize("streamed", [False, True], ids=["run", "stream"])
async def test_the_web_servers_memory_sessions_keep_the_summary_too(streamed: bool) -> None:
    """A conversation of `agentkit serve`'s in-memory store keeps the summary a
    compacting run wrote (streamed or not), so the next run (with a new hook) sends it
    without asking."""
    from agentkit.serve._store import Conversations

    session = Conversations().session("c1")
    await session.save_turn(tool_history(60), paused=False, resumed=False)
    side = Server()
    with LocalModelServer(side, style="mistral") as server:
        big = _model(server, window=128_000)
        for prompt in ("Question 60: and topic 60?", "Question 61: and topic 61?"):
            agent = _agent(server, summarizer=big)
            if streamed:
                async with agent.run_stream(prompt, session=session) as stream:
                    deltas = [e async for e in stream if isinstance(e, TextDeltaEvent)]
                assert deltas  # the answer streamed through the compacting hook
            else:
                await agent.run(prompt, session=session)
            assert len(side.summaries) == 1
    assert [_summary_in(b) for b in side.main_bodies] == [side.summaries[0]] * 4
    stored = (await session.load()).messages
    assert [m.role for m in stored[-8:]] == ["user", "assistant", "tool", "assistant"] * 2
