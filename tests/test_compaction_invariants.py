"""ContextWindow(policy="compact") over random histories, windows and profiles: what is
sent fits, passes mistral-common's validator and agentkit's own history check (no tool
message without its call, none missing), keeps the system message and the current
turn, puts one summary right after the system message in front of whole turns only, and
a request sent again reuses the summary instead of asking for another."""

from __future__ import annotations

import json
from typing import Any

import anyio
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from support import lookup

from agentkit import (
    AssistantMessage,
    ContextSummary,
    ContextSummaryFailedEvent,
    ContextWindow,
    ContextWindowExceededError,
    Message,
    ModelSettings,
    SystemMessage,
    ToolCall,
    ToolMessage,
    UserMessage,
    count_tokens,
)
from agentkit._run.history import check_history
from agentkit.hooks import RunInfo
from agentkit.models import ModelRequest, ModelResponse, OpenAIChatModel
from agentkit.models.base import ModelProfile
from agentkit.models.dialect import convert_messages, encode_tools
from agentkit.models.profiles import GENERIC_PROFILE, MISTRAL_SMALL_PROFILE, OPENAI_PROFILE
from agentkit.summary import SUMMARY_PREFIX
from agentkit.testing import ScriptedModel
from agentkit.testing.replay import check_mistral_request
from agentkit.usage import Usage

SYSTEM = SystemMessage(content="Answer from the tool results.")
WORDS = "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod".split()


@st.composite
def text(draw: st.DrawFn, most: int) -> str:
    """Some words (accented and CJK ones too), up to ``most`` of them."""
    words = st.sampled_from([*WORDS, "résumé", "東京", "naïve", "🙂"])
    return " ".join(draw(st.lists(words, min_size=1, max_size=most)))


@st.composite
def turn(draw: st.DrawFn, index: int, *, current: bool = False) -> list[Message]:
    """One turn: a user message, zero to three steps of one to three tool calls (each
    answered), then an answer (a current turn may end after a step, or at the prompt)."""
    messages: list[Message] = [UserMessage(content=f"Q{index}: " + draw(text(30)))]
    for step in range(draw(st.integers(0, 3))):
        calls = tuple(
            ToolCall(
                id=f"c{index:04d}{step}{n}xx"[:9].ljust(9, "x"),
                name="lookup",
                arguments=json.dumps({"query": draw(text(5))}),
            )
            for n in range(draw(st.integers(1, 3)))
        )
        messages.append(
            AssistantMessage(content=draw(st.sampled_from(["", "Let me look."])), tool_calls=calls)
        )
        messages += [
            ToolMessage(tool_call_id=c.id, name="lookup", content=draw(text(120))) for c in calls
        ]
    if not current:
        messages.append(AssistantMessage(content=draw(text(40))))
    return messages


PROFILES = {
    "mistral": MISTRAL_SMALL_PROFILE,
    "openai": OPENAI_PROFILE,
    "generic": GENERIC_PROFILE,
}


def _summaries(request: ModelRequest) -> Any:
    """The scripted summarizer: a summary naming how long its prompt was."""
    prompt = str(request.messages[-1].content)
    return f"Summary of {len(prompt)} characters: " + "the user asked; the tool answered. " * 3


class SummaryStore:
    """A session's summary storage, in memory (``load_summary``/``save_summary``)."""

    def __init__(self) -> None:
        self.summary: ContextSummary | None = None

    async def load_summary(self) -> ContextSummary | None:
        """The stored summary."""
        return self.summary

    async def save_summary(self, summary: ContextSummary) -> None:
        """Keep ``summary``."""
        self.summary = summary


def _send(hook: ContextWindow, run: RunInfo, request: ModelRequest) -> ModelRequest:
    sent: list[ModelRequest] = []

    async def handler(fitted: ModelRequest) -> ModelResponse:
        sent.append(fitted)
        return ModelResponse(message=AssistantMessage(content="ok"), usage=Usage())

    anyio.run(hook.wrap_model_request, run, request, handler)
    return sent[0]


@pytest.mark.slow  # > 3 s: 60 histories of up to 25 turns, counted by the Tekken tokenizer
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_random_histories_and_windows_keep_the_invariants(data: st.DataObject) -> None:
    """Whatever the history, window and profile, the compacted request keeps every
    invariant, and sending it again asks the summarizer nothing more."""
    name = data.draw(st.sampled_from(sorted(PROFILES)), label="profile")
    profile: ModelProfile = PROFILES[name]
    turns = data.draw(st.integers(0, 24), label="turns")
    history: list[Message] = [SYSTEM]
    for i in range(turns):
        history += data.draw(turn(i))
    current = len(history)
    history += data.draw(turn(turns, current=True))
    window = data.draw(st.integers(1_200, 12_000), label="window")
    max_tokens = data.draw(st.integers(16, 600), label="max_tokens")
    model = OpenAIChatModel(
        "any-model",
        base_url="http://127.0.0.1:9/v1",
        api_key="k",
        profile=profile.with_changes(context_window=window),
    )
    summarizer = ScriptedModel([_summaries] * 200)
    hook = ContextWindow(
        policy="compact",
        summarizer=summarizer,
        compact_to=data.draw(st.floats(0.2, 0.9), label="compact_to"),
        summary_tokens=data.draw(st.integers(16, 300), label="summary_tokens"),
    )
    store = SummaryStore()
    run = RunInfo(
        agent_name="a",
        model=model,
        deps=None,
        messages=history,
        new_message_index=current,
        session=store,
    )
    tools = (lookup.definition,)
    request = ModelRequest(
        messages=list(history), tools=tools, settings=ModelSettings(max_tokens=max_tokens)
    )
    alone = count_tokens([SYSTEM, *history[current:]], tools, model=model)
    try:
        sent = _send(hook, run, request)
    except ContextWindowExceededError:
        assert alone + max_tokens > window  # only a current turn too long is refused
        event("refused: the current turn alone is too long")
        return
    messages = list(sent.messages)
    assert count_tokens(messages, tools, model=model) + max_tokens <= window
    assert messages[0] == SYSTEM
    check_history(messages, lambda name: False, resuming=False)  # raises on a broken order
    assert check_history(messages, lambda name: False, resuming=False)[1] is None
    body = {
        "messages": convert_messages(messages, MISTRAL_SMALL_PROFILE),
        "tools": encode_tools(tools, MISTRAL_SMALL_PROFILE),
    }
    check_mistral_request(body)
    summarized = [
        i
        for i, m in enumerate(messages)
        if isinstance(m, UserMessage) and str(m.content).startswith(SUMMARY_PREFIX)
    ]
    assert summarized in ([], [1])
    rest = messages[1 + len(summarized) :]
    start = len(history) - len(rest)
    assert history[start:] == rest and start <= current  # a suffix: the current turn whole
    assert isinstance(history[start], UserMessage)  # whole turns only
    asked = len(summarizer.requests)
    failed = [e for e in run.reported if isinstance(e, ContextSummaryFailedEvent)]
    assert (asked > 0) == bool(summarized or failed)  # a summary too long is reported
    run.reported.clear()
    event("summarized" if summarized else "sent whole" if rest == history[1:] else "trimmed")
    again = _send(hook, run, request)
    assert list(again.messages) == messages and len(summarizer.requests) == asked
    assert not any(isinstance(e, ContextSummaryFailedEvent) for e in run.reported)
    # A new hook (a later process) reuses the summary stored with the session.
    fresh = ScriptedModel([_summaries] * 200)
    later = ContextWindow(
        policy="compact",
        summarizer=fresh,
        compact_to=hook.compact_to,
        summary_tokens=hook.summary_tokens,
    )
    assert list(_send(later, run, request).messages) == messages and fresh.requests == []
    assert (store.summary is not None) == (asked > 0)
