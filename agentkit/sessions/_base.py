"""What every SQL session shares: the ``Session`` protocol's async methods, each run on a
database connection in a worker thread (so the event loop never waits on the disk or
the network, under asyncio and trio alike).

A backend (``SQLiteSession``, ``PostgresSession``) gives ``_with_connection(fn)``, which
opens a connection, calls ``fn(db)`` and closes it, and the ``_load``, ``_save``,
``_clear``, ``_claim``, ``_release``, ``_load_summary`` and ``_save_summary`` steps,
each one transaction on ``db``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Sequence
from typing import Any, TypeVar

import anyio.to_thread

from agentkit._errors import SessionConflictError
from agentkit._run.history import SessionHistory
from agentkit.messages import Message, dump_messages, load_messages
from agentkit.summary import ContextSummary

__all__ = ["ThreadedSession"]

T = TypeVar("T")


class ThreadedSession:
    """The async surface of a session over a blocking database driver (see above)."""

    session_id: str

    # -- the protocol ---------------------------------------------------------------------

    async def load(self) -> SessionHistory:
        """The stored turns, in commit order, and the paused turn (if a run paused)."""
        return await self._call(self._load)

    async def save_turn(self, messages: Sequence[Message], *, paused: bool, resumed: bool) -> None:
        """Store one run's turn in one transaction (see ``agentkit.Session``)."""
        data = dump_messages(messages).decode("utf-8")
        await self._call(lambda db: self._save(db, data, paused=paused, resumed=resumed))

    async def clear(self) -> None:
        """Forget the conversation: every turn, the paused turn and the summary."""
        await self._call(self._clear)

    async def claim_paused(self, claim: str) -> None:
        """Claim the paused turn for the run that resumes it; ``SessionConflictError``
        when another run (in any process) claimed it first, or it is gone."""
        await self._call(lambda db: self._claim(db, claim))

    async def release_paused(self, claim: str) -> None:
        """Give the paused turn up again (the run that claimed it failed)."""
        await self._call(lambda db: self._release(db, claim))

    async def load_summary(self) -> ContextSummary | None:
        """The summary stored by a run under ``ContextWindow(policy="compact")``, if any."""
        return await self._call(self._load_summary)

    async def save_summary(self, summary: ContextSummary) -> None:
        """Store ``summary`` in place of the session's summary."""
        data = summary.to_json()
        await self._call(lambda db: self._save_summary(db, data))

    async def forget_idle(self, older_than: float, *, keep: Collection[str] = ()) -> list[str]:
        """Forget every conversation in this session's store (its file or database, not
        only this session) whose last turn was stored more than ``older_than`` seconds
        ago, except those in ``keep``; returns their ids. Conversations last stored
        before this method existed are never forgotten (they have no time)."""
        cutoff = time.time() - older_than
        return await self._call(lambda db: self._forget_idle(db, cutoff, set(keep)))

    async def messages(self) -> list[Message]:
        """The conversation: every stored turn, then the paused turn."""
        history = await self.load()
        return [*history.messages, *history.paused]

    # -- what the backends share ----------------------------------------------------------

    @staticmethod
    def _history(rows: Sequence[tuple[str]], paused: tuple[str] | None) -> SessionHistory:
        """The stored turns' rows (in order) and the paused turn's row, as a history."""
        messages = [m for (data,) in rows for m in load_messages(data)]
        return SessionHistory(messages, load_messages(paused[0]) if paused else [])

    def _resumed_elsewhere(self) -> SessionConflictError:
        """A resumed turn found its paused turn gone: another run resumed or cleared it."""
        return SessionConflictError(
            f"The paused turn of session {self.session_id!r} was resumed (or cleared) by "
            "another run while this one resumed it, so this run's turn was not stored (it "
            "would repeat that turn). Load the session again to see what was stored."
        )

    def _claimed_elsewhere(self) -> SessionConflictError:
        """The paused turn could not be claimed: another run holds it, or it is gone."""
        return SessionConflictError(
            f"The paused turn of session {self.session_id!r} is being resumed by another run "
            "(or was resumed or cleared already), so this run did not start: nothing ran. "
            "Load the session again to see what was stored; session.clear() gives up a "
            "paused turn whose run died."
        )

    # -- what a backend gives --------------------------------------------------------------

    async def _call(self, fn: Callable[[Any], T]) -> T:
        return await anyio.to_thread.run_sync(self._with_connection, fn)

    def _with_connection(self, fn: Callable[[Any], T]) -> T:
        raise NotImplementedError

    def _load(self, db: Any) -> SessionHistory:
        raise NotImplementedError

    def _save(self, db: Any, data: str, *, paused: bool, resumed: bool) -> None:
        raise NotImplementedError

    def _clear(self, db: Any) -> None:
        raise NotImplementedError

    def _claim(self, db: Any, claim: str) -> None:
        raise NotImplementedError

    def _release(self, db: Any, claim: str) -> None:
        raise NotImplementedError

    def _load_summary(self, db: Any) -> ContextSummary | None:
        raise NotImplementedError

    def _save_summary(self, db: Any, data: str) -> None:
        raise NotImplementedError

    def _forget_idle(self, db: Any, cutoff: float, keep: set[str]) -> list[str]:
        raise NotImplementedError
