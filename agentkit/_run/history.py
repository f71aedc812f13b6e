"""A run's history: loaded from a session (its paused turn claimed), checked, repaired,
and its turn stored.

The session protocol is small (``Session``): ``load()`` gives the stored turns and the
paused turn (if a run paused for approvals), ``save_turn()`` stores one run's turn
atomically, ``clear()`` forgets everything; ``claim_paused()`` and ``release_paused()``
are optional. ``agentkit.sessions.SQLiteSession`` is the built-in backend.

``check_history`` makes a history sendable before the first request, for fresh and
resumed runs alike: tool calls left without answers at its end (a crash or a cancel
mid-tool) are answered "interrupted", unless the run paused there for approvals;
anything else malformed raises ``HistoryError`` naming the message and what is wrong.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import anyio

from agentkit._errors import AgentkitError, HistoryError, SessionStoreError, UserError
from agentkit.approval._resume import pending_tail
from agentkit.events import HistoryRepairedEvent, RunResult
from agentkit.messages import AssistantMessage, Message, SystemMessage, ToolMessage

__all__ = [
    "INTERRUPTED",
    "Session",
    "SessionHistory",
    "SessionTurn",
    "check_history",
    "open_session",
    "session_cache_key",
]

INTERRUPTED = "Interrupted: this tool call did not finish (the run stopped before it did)."
"""The answer given to a tool call a saved history left without one."""


@dataclass(frozen=True, slots=True)
class SessionHistory:
    """What a session holds: its stored turns, in commit order, and the turn of a run
    paused for approvals (empty when none is paused)."""

    messages: list[Message] = field(default_factory=list)
    paused: list[Message] = field(default_factory=list)


@runtime_checkable
class Session(Protocol):
    """Where a conversation is kept between runs (see ``agentkit.sessions``).

    Two more methods are optional: a run that resumes the paused turn first calls
    ``await session.claim_paused(claim)`` (``claim`` a unique string), before anything
    runs, which raises ``SessionConflictError`` when another run holds the turn; when
    that run fails or is cancelled it calls ``await session.release_paused(claim)``; a
    stored turn ends the claim with the paused turn. ``SQLiteSession`` has both. A
    backend without them resumes unclaimed: two runs may then both run approved calls.
    ``load_summary()`` and ``save_summary(summary)``, optional too, keep the summary of
    ``ContextWindow(policy="compact")`` (see ``agentkit.sessions``).
    """

    async def load(self) -> SessionHistory:
        """The stored turns and the paused turn."""
        ...

    async def save_turn(self, messages: Sequence[Message], *, paused: bool, resumed: bool) -> None:
        """Store one run's turn in one transaction. ``paused``: it is the paused turn
        (replacing any). Otherwise it goes after every stored turn, and, when ``resumed``,
        the paused turn it continues is removed (an error if another run removed it)."""
        ...

    async def clear(self) -> None:
        """Forget the conversation."""
        ...


@dataclass(slots=True)
class SessionTurn:
    """One run on a session: where its turn starts in the run's messages, and its claim
    on the paused turn it resumes."""

    session: Session
    stored: int
    """How many stored messages the run loaded (its turn is what follows them)."""
    resumed: bool
    claim: str | None = None

    async def claim_paused(self) -> None:
        """Claim the paused turn this run resumes, before anything runs (see ``Session``)."""
        claim = getattr(self.session, "claim_paused", None)
        if self.resumed and claim is not None:
            token = uuid.uuid4().hex
            await claim(token)
            self.claim = token

    async def release(self) -> None:
        """Give the claimed paused turn up (the run failed or was cancelled)."""
        token, self.claim = self.claim, None
        release = getattr(self.session, "release_paused", None)
        if token is not None and release is not None:
            with anyio.CancelScope(shield=True):
                await release(token)

    async def save(self, result: RunResult[object], offset: int) -> None:
        """Store the run's turn: its messages after the stored ones (``offset`` is the
        number of messages the run put before the history: its system message). A
        failure of the storage is a ``SessionStoreError`` carrying the conversation."""
        start = offset + self.stored
        turn = [m for m in result.messages[start:] if not isinstance(m, SystemMessage)]
        try:
            await self.session.save_turn(turn, paused=result.is_paused, resumed=self.resumed)
        except AgentkitError as exc:
            exc.messages = list(result.messages)
            raise
        except Exception as exc:
            raise SessionStoreError(
                f"The session {self.session!r} could not store this run's turn "
                f"({type(exc).__name__}: {exc}). Nothing was stored; the whole conversation, "
                "tool results included, is in this error's .messages: store it again, or "
                "run on from it with message_history=.",
                messages=list(result.messages),
            ) from exc
        self.claim = None


async def open_session(
    session: Session, message_history: Sequence[Message] | None
) -> tuple[list[Message], SessionTurn]:
    """The history of a run on ``session``, and how its turn will be stored."""
    if message_history is not None:
        raise UserError(
            "run() got both session= and message_history=: the session is the history. "
            "Pass one of them."
        )
    if not isinstance(session, Session):
        raise UserError(
            f"session= takes a session (load, save_turn, clear), got {session!r}; use "
            "agentkit.sessions.SQLiteSession(path, session_id)."
        )
    loaded = await session.load()
    history = [*loaded.messages, *loaded.paused]
    return history, SessionTurn(session, len(loaded.messages), bool(loaded.paused))


def session_cache_key(session: Session) -> str | None:
    """A stable ``prompt_cache_key`` for the runs on ``session``, made from its
    ``session_id`` (hashed: the id, maybe a user's name, is not sent); ``None`` for a
    session without one."""
    session_id = getattr(session, "session_id", None)
    if not isinstance(session_id, str) or not session_id:
        return None
    import hashlib  # imported on first use: import agentkit stays light

    return "agentkit-" + hashlib.blake2b(session_id.encode(), digest_size=12).hexdigest()


def check_history(
    history: list[Message], waits_for_approval: Callable[[str], bool], *, resuming: bool
) -> tuple[list[Message], HistoryRepairedEvent | None]:
    """``history`` made sendable, and a note of the repair (``None`` when none was needed).

    Everything before a paused turn is checked the same whether the run resumes or not.
    Tool calls left unanswered at the end are answered "interrupted", unless the run
    resumes them (``resuming``: ``approvals=`` was given) or one of them waits for
    approval: a tool for which ``waits_for_approval(name)``, or an agent used as a tool
    whose own run paused (the run then refuses a new prompt with ``ApprovalError``).
    Anything else malformed raises ``HistoryError``.
    """
    tail = pending_tail(history)
    end = len(history) if tail is None else tail[0]
    _check(history, end)
    if tail is None or resuming:
        return history, None
    start, message, answers = tail
    given = {a.tool_call_id: a for a in answers}
    missing = [c for c in message.tool_calls if c.id not in given]
    paused = {run.tool_call_id for run in message.paused_runs}
    if any(c.id in paused or waits_for_approval(c.name) for c in missing):
        return history, None  # a paused run: only approvals= resume it
    repaired = [
        given.get(c.id)
        or ToolMessage(tool_call_id=c.id, name=c.name, content=INTERRUPTED, is_error=True)
        for c in message.tool_calls
    ]
    note = (
        f"message {start} ended the history with {len(missing)} tool call(s) without "
        f"answers ({', '.join(c.id for c in missing)}): answered as interrupted"
    )
    return [*history[: start + 1], *repaired], HistoryRepairedEvent(notes=(note,))


def _check(history: list[Message], end: int) -> None:
    """Raise ``HistoryError`` at the first message of ``history[:end]`` out of order."""
    open_calls: list[tuple[str, str]] = []
    opened_at = -1
    for index, message in enumerate(history[:end]):
        if isinstance(message, ToolMessage):
            if not open_calls:
                raise HistoryError(
                    f"message_history[{index}] is a tool message (for call "
                    f"{message.tool_call_id!r}) that follows no assistant tool call. Every "
                    "tool message answers a call of the assistant message before it.",
                    index=index,
                )
            call_id, name = open_calls.pop(0)
            if message.tool_call_id != call_id:
                raise HistoryError(
                    f"message_history[{index}] answers tool call {message.tool_call_id!r}, "
                    f"but the next call waiting for an answer (of message {opened_at}) is "
                    f"{call_id!r} ({name}). Tool messages answer the calls in call order.",
                    index=index,
                )
            continue
        if open_calls:
            ids = ", ".join(repr(c) for c, _ in open_calls)
            raise HistoryError(
                f"message_history[{index}] ({message.role}) comes before the answers to tool "
                f"calls {ids} of message {opened_at}. Each call is answered by one tool "
                "message right after its assistant message.",
                index=index,
            )
        if isinstance(message, AssistantMessage) and message.tool_calls:
            open_calls = [(c.id, c.name) for c in message.tool_calls]
            opened_at = index
    if open_calls:
        raise HistoryError(
            f"message_history[{opened_at}] has tool calls without answers, followed by "
            "other messages.",
            index=opened_at,
        )
