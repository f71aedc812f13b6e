"""Where ``agentkit serve`` keeps conversations: one ``Session`` per conversation id.

``sessions=`` (``--sessions`` on the command line) picks the store:

* ``None``: in this process's memory (the default for ``create_app``; a restart loses
  them). The oldest idle conversations are evicted past ``max_conversations``.
* a path (``"chats.db"``): a SQLite file (``SQLiteSession``), which survives restarts
  and is shared by the workers of one machine. ``agentkit serve`` uses one beside the
  app by default.
* ``"postgresql://..."``: a PostgreSQL database (``PostgresSession``), shared by workers
  on any number of machines.
* a function ``(conversation_id) -> Session``: any other backend.

Every conversation is then a session, so a turn is stored whole or not at all (a failed
turn is never kept as the conversation), and a turn paused for approval is kept apart
until a run resumes it, on any worker.
"""

from __future__ import annotations

import logging
import os
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import anyio
import anyio.abc

from agentkit._errors import ConfigurationError, SessionConflictError
from agentkit._run.history import Session, SessionHistory
from agentkit.messages import Message, SystemMessage, UserMessage
from agentkit.summary import ContextSummary

__all__ = [
    "DEFAULT_MAX_CONVERSATIONS",
    "Conversations",
    "SessionsOption",
    "redact_url",
    "split_paused",
]

SessionsOption = str | os.PathLike[str] | Callable[[str], Session] | None
"""What ``sessions=`` takes (see the module docstring)."""

DEFAULT_MAX_CONVERSATIONS = 1_000
"""Conversations the in-memory store keeps before evicting the least recently used."""


class Conversations:
    """The server's conversations, by id (see the module docstring)."""

    def __init__(
        self,
        sessions: SessionsOption = None,
        *,
        max_conversations: int | None = None,
        forget_after: float | None = None,
    ) -> None:
        if forget_after is not None and forget_after <= 0:
            raise ConfigurationError(
                f"forget_after must be a positive number of seconds, not {forget_after!r}."
            )
        self.forget_after = forget_after
        self.busy: set[str] = set()
        """Conversations a turn is running in (never evicted)."""
        self._memory: OrderedDict[str, _MemorySession] | None = None
        self._limit = max_conversations or DEFAULT_MAX_CONVERSATIONS
        self._make: Callable[[str], Session]
        if sessions is None:
            self._memory = OrderedDict()
            self._make = self._in_memory
        elif callable(sessions):
            self._make = sessions
        elif str(sessions).startswith(("postgresql://", "postgres://")):
            from agentkit.sessions import PostgresSession

            url = str(sessions)
            self._make = lambda cid: PostgresSession(url, cid)
        else:
            from agentkit.sessions import SQLiteSession

            path = Path(sessions)
            if path.is_dir():
                raise ConfigurationError(
                    f"--sessions {str(path)!r} is a folder; give a file path for the SQLite "
                    "database (it is created), or a postgresql:// URL."
                )
            self._make = lambda cid: SQLiteSession(path, cid)

    async def forget_idle(self) -> list[str]:
        """Forget the conversations idle for ``forget_after`` seconds, never one a turn
        runs in here; returns their ids (a custom store forgets nothing)."""
        if self.forget_after is None:
            return []
        if self._memory is not None:
            cutoff = time.monotonic() - self.forget_after
            gone = [
                cid
                for cid, s in self._memory.items()
                if s.used_at < cutoff and cid not in self.busy
            ]
            for cid in gone:
                del self._memory[cid]
            return gone
        probe = self.session("agentkit-eviction")
        forget = getattr(probe, "forget_idle", None)
        if forget is None:
            return []
        forgotten: list[str] = await forget(self.forget_after, keep=set(self.busy))
        return forgotten

    async def forget_idle_forever(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """``forget_idle`` now (started once that is done), then every tenth of
        ``forget_after`` (at most hourly)."""
        assert self.forget_after is not None
        while True:
            try:
                await self.forget_idle()
            except Exception:  # a store that is down must not stop the server
                logging.getLogger("agentkit.serve").exception("forgetting idle conversations")
            task_status.started()
            task_status = anyio.TASK_STATUS_IGNORED
            await anyio.sleep(min(self.forget_after / 10, 3600.0))

    def session(self, conversation: str) -> Session:
        """The session holding ``conversation`` (made empty on first use)."""
        return self._make(conversation)

    async def messages(self, conversation: str) -> list[Message]:
        """The conversation so far: its stored turns, then its paused turn."""
        history = await self.session(conversation).load()
        return [*history.messages, *history.paused]

    async def start_paused(self, conversation: str, messages: Sequence[Message]) -> None:
        """Store a conversation that paused in a run made without a session (the OpenAI
        API's): what came before its last prompt as a turn, the rest as the paused turn."""
        before, paused = split_paused(messages)
        session = self.session(conversation)
        if before:
            await session.save_turn(before, paused=False, resumed=False)
        await session.save_turn(paused, paused=True, resumed=False)

    def _in_memory(self, conversation: str) -> Session:
        assert self._memory is not None
        session = self._memory.get(conversation)
        if session is None:
            session = self._memory[conversation] = _MemorySession()
        self._memory.move_to_end(conversation)
        for cid in list(self._memory):  # least recently used first
            if len(self._memory) <= self._limit:
                break
            if cid not in self.busy and cid != conversation:  # never one in use
                del self._memory[cid]
        return session


def split_paused(messages: Sequence[Message]) -> tuple[list[Message], list[Message]]:
    """A paused run's messages as (the turns before it, its paused turn), without system
    messages (a session keeps the conversation; the agent brings its instructions)."""
    kept: list[Message] = [m for m in messages if not isinstance(m, SystemMessage)]
    last = max((i for i, m in enumerate(kept) if isinstance(m, UserMessage)), default=0)
    return kept[:last], kept[last:]


class _MemorySession:
    """A session in this process's memory, with the same promises as ``SQLiteSession``
    within the process (whole turns, a claimed paused turn, a compacting window's
    summary)."""

    def __init__(self) -> None:
        self.turns: list[list[Message]] = []
        self.paused: list[Message] = []
        self.claim: str | None = None
        self.used_at = time.monotonic()
        self.summary: ContextSummary | None = None

    async def load_summary(self) -> ContextSummary | None:
        return self.summary

    async def save_summary(self, summary: ContextSummary) -> None:
        self.summary = summary

    async def load(self) -> SessionHistory:
        return SessionHistory([m for t in self.turns for m in t], list(self.paused))

    async def save_turn(self, messages: Sequence[Message], *, paused: bool, resumed: bool) -> None:
        self.used_at = time.monotonic()
        if paused:
            self.paused, self.claim = list(messages), None
            return
        if resumed and not self.paused:
            raise SessionConflictError(
                "The paused turn of this conversation was resumed by another run meanwhile; "
                "this run's turn was not stored. Reload the conversation."
            )
        self.turns.append(list(messages))
        self.paused, self.claim = [], None

    async def clear(self) -> None:
        self.turns, self.paused, self.claim, self.summary = [], [], None, None

    async def claim_paused(self, claim: str) -> None:
        if not self.paused or self.claim is not None:
            raise SessionConflictError(
                "The paused turn of this conversation is being resumed by another run (or "
                "was resumed already); nothing ran. Reload the conversation."
            )
        self.claim = claim

    async def release_paused(self, claim: str) -> None:
        if self.claim == claim:
            self.claim = None


def redact_url(value: Any) -> str:
    """``sessions=`` for a log line, without a password in a URL."""
    text = str(value)
    if "://" in text and "@" in text:
        scheme, rest = text.split("://", 1)
        return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"
    return text
