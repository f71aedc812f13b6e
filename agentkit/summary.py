"""Summaries for ``ContextWindow(policy="compact")``: what one is, how it is written, how
it is recognised again, and how long tool results are cut in a request.

A ``ContextSummary`` stands for the first ``covers`` messages of a conversation (its
system messages left aside), named by their ``digest``: it is used only in front of
exactly those messages, so a summary kept by a hook, or stored with a session, can
never be put in front of another conversation, or of a history that changed.

``write_summary`` asks the summarizer (a ``Model``, a model name, or an ``Agent``) for a
summary of some messages, folding an earlier summary in. Its requests are part of the
run: a model's are checked against the run's budget before they are sent and counted in
its usage (as MCP sampling requests are); an agent runs as an agent used as a tool does,
its ledger chained to the run's. A transcript longer than the summarizer's window is
summarized in parts, each folded into the next.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from agentkit.hooks import RunInfo, ToolResult
from agentkit.limits import Ledger
from agentkit.messages import (
    AssistantMessage,
    Message,
    SystemMessage,
    TextPart,
    ToolMessage,
    UserMessage,
    dump_messages,
)
from agentkit.models.base import Model, ModelRequest, ModelSettings, complete
from agentkit.tools import RunContext, Tool

__all__ = [
    "SUMMARY_INSTRUCTIONS",
    "SUMMARY_PREFIX",
    "ContextSummary",
    "Digests",
    "Summarizer",
    "cap_text",
    "summary_message",
    "write_summary",
]

SUMMARY_PREFIX = (
    "[A summary of the earlier part of this conversation, whose messages are not shown]\n"
)
"""What the summary message sent in place of the summarized messages begins with."""

SUMMARY_INSTRUCTIONS = """\
You write the memory of an AI assistant. You are given the earlier part of a \
conversation between a user and the assistant (who calls tools), and maybe the summary \
of what came before it. Write one summary that replaces them all, so that the assistant \
can go on without them. Keep: what the user wants, asked and prefers; the facts, names, \
numbers, identifiers and decisions learned (from tool results too); what was done, and \
what is still open. Leave out greetings and repetition. Write short plain sentences or \
bullet points, in the language of the conversation, at most about {words} words. Write \
only the summary."""
"""The summarizer's instructions (``{words}``: about how long the summary may be)."""

_RECENT = 256
"""Message digests kept per ``Digests`` (emptied when full)."""


@dataclass(frozen=True, slots=True)
class ContextSummary:
    """A summary of a conversation's first ``covers`` messages (its system messages
    left aside), whose digest is ``digest``; ``text`` is what the summarizer wrote."""

    text: str
    covers: int
    digest: str

    def to_json(self) -> str:
        """The summary as JSON text (how sessions store it)."""
        return json.dumps({"text": self.text, "covers": self.covers, "digest": self.digest})

    @classmethod
    def from_json(cls, data: str | bytes) -> ContextSummary:
        """A summary stored with ``to_json``."""
        value = json.loads(data)
        return cls(str(value["text"]), int(value["covers"]), str(value["digest"]))


def summary_message(summary: ContextSummary) -> UserMessage:
    """The user message sent in place of the messages ``summary`` covers."""
    return UserMessage(content=SUMMARY_PREFIX + summary.text)


class Digests:
    """Digests of conversation prefixes, from a digest of each message (cached)."""

    __slots__ = ("cache",)

    def __init__(self) -> None:
        self.cache: dict[Any, bytes] = {}

    def message(self, message: Message) -> bytes:
        """The SHA-256 of one message's JSON form."""
        try:
            return self.cache[message]
        except (KeyError, TypeError):
            pass
        digest = hashlib.sha256(dump_messages([message])).digest()
        if len(self.cache) >= _RECENT * 64:
            self.cache.clear()
        try:
            self.cache[message] = digest
        except TypeError:  # unhashable content: not cached
            pass
        return digest

    @staticmethod
    def running() -> Any:
        """A hash to ``update`` with message digests, one by one (``of`` in steps)."""
        return hashlib.sha256()

    def of(self, messages: Sequence[Message]) -> str:
        """The digest of ``messages`` in order (hex)."""
        whole = self.running()
        for message in messages:
            whole.update(self.message(message))
        digest: str = whole.hexdigest()
        return digest


def cap_text(text: str, cap: int) -> str:
    """``text`` if it is at most ``cap`` characters, else its first and last ``cap // 2``
    characters with a note between them saying how much was cut."""
    if len(text) <= cap:
        return text
    head = cap // 2
    tail = cap - head
    cut = len(text) - cap
    note = f"\n[... {cut:,} of {len(text):,} characters cut here ...]\n"
    return text[:head] + note + (text[-tail:] if tail else "")


def _transcript_line(message: Message) -> str:
    if isinstance(message, SystemMessage):
        return f"[instructions]\n{message.content}"
    if isinstance(message, UserMessage):
        if isinstance(message.content, str):
            return f"[user]\n{message.content}"
        parts = [p.text if isinstance(p, TextPart) else "(an image)" for p in message.content]
        return "[user]\n" + "\n".join(parts)
    if isinstance(message, AssistantMessage):
        lines = [message.content] if message.content else []
        lines += [f"(calls {c.name} with {c.arguments}, id {c.id})" for c in message.tool_calls]
        return "[assistant]\n" + "\n".join(lines)
    assert isinstance(message, ToolMessage)
    kind = "error" if message.is_error else "result"
    return f"[{kind} of {message.name}, call id {message.tool_call_id}]\n{message.content}"


def _utf8_cap(text: str, limit: int) -> str:
    """``text`` cut (head and tail) to at most about ``limit`` UTF-8 bytes."""
    if len(text.encode("utf-8")) <= limit:
        return text
    return cap_text(text, max(limit // 4, 64))


def _chunks(lines: list[str], budget: int) -> list[str]:
    """``lines`` joined into parts of at most about ``budget`` UTF-8 bytes each."""
    chunks: list[str] = []
    current: list[str] = []
    size = 0
    for line in lines:
        length = len(line.encode("utf-8")) + 2
        if current and size + length > budget:
            chunks.append("\n\n".join(current))
            current, size = [], 0
        current.append(line)
        size += length
    if current:
        chunks.append("\n\n".join(current))
    return chunks


@runtime_checkable
class _AgentLike(Protocol):
    """An ``Agent`` (the run core cannot import it): what makes it usable as a tool."""

    def as_tool(self, *, name: str | None = ..., description: str | None = ...) -> Tool[Any]:
        """The agent as a tool taking ``prompt``."""
        ...


Summarizer = Any
"""A ``Model``, a model name (``"mistral:mistral-small-latest"``) or an ``Agent``;
``None`` means the run's own model."""


def _budget_of(model: Model | None, max_tokens: int, instructions: str) -> int | None:
    """The UTF-8 bytes of transcript one request to ``model`` may carry (a token is at
    least a byte), or ``None`` when its window is not known."""
    window = None if model is None else model.profile.context_window
    if window is None:
        return None
    return max(window - 2 * max_tokens - len(instructions.encode("utf-8")) - 512, 1_024)


def _prompt(previous: str | None, transcript: str) -> str:
    if previous is None:
        return f"The conversation so far:\n\n{transcript}"
    return (
        f"The summary of the conversation so far:\n\n{previous}\n\nThe messages that "
        f"followed it:\n\n{transcript}"
    )


async def write_summary(
    run: RunInfo,
    summarizer: Model | _AgentLike,
    previous: str | None,
    messages: Sequence[Message],
    *,
    max_tokens: int,
    caps: Mapping[str, int] | None = None,
) -> str:
    """A summary of ``messages`` (folding ``previous`` in) written by ``summarizer`` as
    part of ``run`` (its budget checked, its usage counted); ``ValueError`` when the
    summarizer answers with no text."""
    instructions = SUMMARY_INSTRUCTIONS.format(words=max(max_tokens * 2 // 3, 50))
    if isinstance(summarizer, _AgentLike):
        spec = getattr(summarizer, "model_spec", None)
        budget = _budget_of(spec if isinstance(spec, Model) else run.model, max_tokens, "")
    else:
        budget = _budget_of(summarizer, max_tokens, instructions)
    lines = []
    for message in messages:
        line = _transcript_line(message)
        if isinstance(message, ToolMessage) and caps:
            cap = caps.get(message.name, caps.get("*"))
            if cap is not None:
                line = cap_text(line, cap)
        if budget is not None:
            line = _utf8_cap(line, budget // 2)
        lines.append(line)
    chunks = [""] if not lines else _chunks(lines, budget) if budget else ["\n\n".join(lines)]
    summary = previous
    for chunk in chunks:
        prompt = _prompt(summary, chunk)
        if isinstance(summarizer, _AgentLike):
            text = await _ask_agent(run, summarizer, f"{instructions}\n\n{prompt}")
        else:
            text = await _ask_model(run, summarizer, instructions, prompt, max_tokens)
        if not text.strip():
            raise ValueError("the summarizer answered with no text")
        summary = text.strip()
    assert summary is not None
    return summary


async def _ask_model(
    run: RunInfo, model: Model, instructions: str, prompt: str, max_tokens: int
) -> str:
    """One summary request to ``model`` as a request of ``run``: checked against its
    budget with ``model``'s worst case first, and counted in its usage."""
    request = ModelRequest(
        messages=[SystemMessage(content=instructions), UserMessage(content=prompt)],
        settings=ModelSettings(max_tokens=max_tokens),
    )
    ledger = Ledger(parent=_run_ledger(run))
    if ledger.limited:
        ledger.check_prices(model)
        request, ledger.sent = ledger.admit(model, request, run)
    if model is run.model:
        response = await complete(model, request)
    else:
        async with model:  # a model of its own: its connections closed after the summary
            response = await complete(model, request)
    ledger.record(response.usage)
    if response.finish_reason in ("length", "model_length"):
        raise ValueError(f"the summary was cut off at max_tokens={max_tokens}")
    return response.message.content or ""


async def _ask_agent(run: RunInfo, agent: _AgentLike, prompt: str) -> str:
    """The agent's answer to ``prompt``, run as part of ``run`` (as an agent used as a
    tool: its ledger chained to the run's, with the run's deps)."""
    ctx: RunContext[Any] = RunContext(
        deps=run.deps, usage=run.usage, messages=run.messages, turn=run.turn, model=run.model
    )
    ctx._run = run
    output = await agent.as_tool(name="summarize").function(ctx, prompt)
    if isinstance(output, ToolResult):
        raise ValueError(f"the summarizer agent did not answer: {output.content}")
    return output if isinstance(output, str) else json.dumps(output, default=str)


def _run_ledger(run: RunInfo) -> Ledger:
    """The ledger of ``run`` (a run of the run core has one); for a ``RunInfo`` made by
    hand, one that adds to its ``usage``."""
    ledger = getattr(run, "ledger", None)
    return ledger if isinstance(ledger, Ledger) else Ledger(usage=run.usage)
