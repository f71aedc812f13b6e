"""Sessions: conversations that outlive a process, and never lose a turn.

::

    session = SQLiteSession("chats.db", "user-42")
    await agent.run("My name is Ada.", session=session)
    result = await agent.run("What is my name?", session=session)  # sees the first turn

A run on a session loads the session's history first; when it ends, it stores the
messages it added (its *turn*) in one transaction. A run that fails or is cancelled
stores nothing. A run paused for approvals stores its turn as the session's *paused
turn*; ``agent.run(approvals={...}, session=session)`` resumes it, and stores the whole
turn when it ends.

**Concurrent runs** (tasks, threads or processes) on one session never lose or
interleave a turn: each turn is one row, appended under SQLite's write lock (``BEGIN
IMMEDIATE``, WAL mode, a busy timeout), so turns are stored whole, in commit order. A
run that started from an older history stores its turn after the newer ones, never over
them.

**Instructions are the agent's.** A session stores the conversation without system
messages; each run starts with the agent's current instructions.

**PostgreSQL**: ``PostgresSession(url, session_id)`` keeps the same promises on a server
that many workers share (``agentkit.sessions._postgres``; needs psycopg 3).

**Another backend** is any object with three async methods (``agentkit.Session``)::

    class DictSession:  # Redis or Postgres: the same three methods over their storage
        def __init__(self):
            self.turns, self.paused = [], []

        async def load(self):
            return SessionHistory([m for t in self.turns for m in t], list(self.paused))

        async def save_turn(self, messages, *, paused, resumed):
            if paused:
                self.paused = list(messages)
            else:
                self.turns.append(list(messages))
                self.paused = []

        async def clear(self):
            self.turns, self.paused = [], []

Make ``save_turn`` one transaction (a Redis ``MULTI``, a Postgres ``BEGIN``), and append,
never rewrite, the stored turns.

**Summaries.** A run under ``ContextWindow(policy="compact")`` stores the summary it
writes with its session, so that later runs (in any process) reuse it instead of
summarizing again, when the session has two more async methods: ``load_summary()``
returns the stored ``ContextSummary`` (or ``None``) and ``save_summary(summary)`` stores
one in place of any (``summary.to_json()`` and ``ContextSummary.from_json()`` give its
JSON form). A summary names the messages it covers by their digest, so one that no
longer matches the history (after ``pop_turn``) is simply not used. ``SQLiteSession``
has both; ``clear()`` forgets the summary too.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from agentkit._errors import UserError
from agentkit._run.history import Session, SessionHistory
from agentkit.messages import Message, UserMessage, dump_messages, load_messages
from agentkit.sessions._base import ThreadedSession
from agentkit.summary import ContextSummary

if TYPE_CHECKING:
    from agentkit.sessions._postgres import PostgresSession

__all__ = ["BUSY_TIMEOUT", "PostgresSession", "SQLiteSession", "Session", "SessionHistory"]


def __getattr__(name: str) -> Any:
    """``PostgresSession`` (``agentkit.sessions._postgres``), imported when first asked for."""
    if name == "PostgresSession":
        from agentkit.sessions._postgres import PostgresSession

        return PostgresSession
    raise AttributeError(f"module 'agentkit.sessions' has no attribute {name!r}")


T = TypeVar("T")


_SCHEMA = """
CREATE TABLE IF NOT EXISTS agentkit_turns (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL,
    messages TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS agentkit_turns_session ON agentkit_turns (session_id, seq);
CREATE TABLE IF NOT EXISTS agentkit_paused (
    session_id TEXT PRIMARY KEY,
    messages TEXT NOT NULL,
    claim TEXT
);
CREATE TABLE IF NOT EXISTS agentkit_summaries (
    session_id TEXT PRIMARY KEY,
    summary TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS agentkit_activity (
    session_id TEXT PRIMARY KEY,
    used_at REAL NOT NULL
);
"""

BUSY_TIMEOUT = 30.0
"""Seconds a write waits for another writer's lock before failing."""

_SETUP_LOCK = threading.Lock()


def _set_up(db: sqlite3.Connection) -> None:
    """WAL mode and the tables, retried while another connection holds a lock.

    Switching to WAL upgrades a read lock to an exclusive one, and SQLite answers
    ``database is locked`` at once there (its busy handler is skipped to avoid a
    deadlock), so the busy timeout alone does not cover first use from many
    connections (threads or processes) at once.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT
    pause = 0.001
    while True:
        try:
            if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)
            columns = {row[1] for row in db.execute("PRAGMA table_info(agentkit_paused)")}
            if "claim" not in columns:  # a file from before claims
                db.execute("ALTER TABLE agentkit_paused ADD COLUMN claim TEXT")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.05)


class SQLiteSession(ThreadedSession):
    """A conversation kept in a SQLite file (the standard library's ``sqlite3``).

    ``path`` is any file path (its folder is created); ``session_id`` separates
    conversations in one file. Every call runs in a worker thread, on its own
    connection, so the event loop never waits on the disk and nothing stays open.
    """

    def __init__(self, path: str | os.PathLike[str], session_id: str) -> None:
        if not session_id:
            raise UserError("SQLiteSession needs a session_id, such as 'user-42'.")
        self.path = Path(path)
        if str(path) == ":memory:":
            raise UserError(
                "SQLiteSession keeps conversations in a file; ':memory:' would forget each "
                "one at once. Give a file path (a temporary file in tests)."
            )
        self.session_id = session_id
        self._ready = False

    def __repr__(self) -> str:
        return f"SQLiteSession({str(self.path)!r}, {self.session_id!r})"

    # -- more ------------------------------------------------------------------------------

    async def pop_turn(self) -> list[Message]:
        """Remove the last turn (the last user message and everything after it) and
        return it; an empty list when the session has no user message."""
        return await self._call(self._pop)

    # -- in the worker thread -------------------------------------------------------------

    def _with_connection(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if not self._ready:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(sqlite3.connect(self.path, timeout=BUSY_TIMEOUT, isolation_level=None)) as db:
            if not self._ready:
                with _SETUP_LOCK:  # one thread sets a file up; the rest find it ready
                    _set_up(db)
                self._ready = True
            return fn(db)

    def _load(self, db: sqlite3.Connection) -> SessionHistory:
        db.execute("BEGIN")  # one snapshot for both tables
        try:
            rows = db.execute(
                "SELECT messages FROM agentkit_turns WHERE session_id = ? ORDER BY seq",
                (self.session_id,),
            ).fetchall()
            paused = db.execute(
                "SELECT messages FROM agentkit_paused WHERE session_id = ?", (self.session_id,)
            ).fetchone()
        finally:
            db.execute("COMMIT")
        return self._history(rows, paused)

    def _save(self, db: sqlite3.Connection, data: str, *, paused: bool, resumed: bool) -> None:
        sid = self.session_id
        db.execute("BEGIN IMMEDIATE")  # the write lock: turns are appended one at a time
        try:
            if paused:
                db.execute(
                    "INSERT OR REPLACE INTO agentkit_paused (session_id, messages) VALUES (?, ?)",
                    (sid, data),
                )
            else:
                gone = db.execute("DELETE FROM agentkit_paused WHERE session_id = ?", (sid,))
                if resumed and gone.rowcount == 0:
                    raise self._resumed_elsewhere()
                db.execute(
                    "INSERT INTO agentkit_turns (session_id, messages) VALUES (?, ?)", (sid, data)
                )
            db.execute(
                "INSERT OR REPLACE INTO agentkit_activity (session_id, used_at) VALUES (?, ?)",
                (sid, time.time()),
            )
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def _claim(self, db: sqlite3.Connection, claim: str) -> None:
        sid = self.session_id
        db.execute("BEGIN IMMEDIATE")
        try:
            taken = db.execute(
                "UPDATE agentkit_paused SET claim = ? WHERE session_id = ? AND claim IS NULL",
                (claim, sid),
            )
            if taken.rowcount == 0:
                raise self._claimed_elsewhere()
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def _release(self, db: sqlite3.Connection, claim: str) -> None:
        db.execute(
            "UPDATE agentkit_paused SET claim = NULL WHERE session_id = ? AND claim = ?",
            (self.session_id, claim),
        )

    def _load_summary(self, db: sqlite3.Connection) -> ContextSummary | None:
        row = db.execute(
            "SELECT summary FROM agentkit_summaries WHERE session_id = ?", (self.session_id,)
        ).fetchone()
        return None if row is None else ContextSummary.from_json(row[0])

    def _save_summary(self, db: sqlite3.Connection, data: str) -> None:
        db.execute(
            "INSERT OR REPLACE INTO agentkit_summaries (session_id, summary) VALUES (?, ?)",
            (self.session_id, data),
        )

    def _clear(self, db: sqlite3.Connection) -> None:
        db.execute("BEGIN IMMEDIATE")
        _delete(db, self.session_id)
        db.execute("COMMIT")

    def _forget_idle(self, db: sqlite3.Connection, cutoff: float, keep: set[str]) -> list[str]:
        db.execute("BEGIN IMMEDIATE")
        try:
            rows = db.execute(
                "SELECT session_id FROM agentkit_activity WHERE used_at < ?", (cutoff,)
            ).fetchall()
            gone = [sid for (sid,) in rows if sid not in keep]
            for sid in gone:
                _delete(db, sid)
        finally:
            db.execute("COMMIT")
        return gone

    def _pop(self, db: sqlite3.Connection) -> list[Message]:
        sid = self.session_id
        db.execute("BEGIN IMMEDIATE")
        try:
            popped: list[Message] = []
            paused = db.execute(
                "SELECT messages FROM agentkit_paused WHERE session_id = ?", (sid,)
            ).fetchone()
            if paused is not None:
                db.execute("DELETE FROM agentkit_paused WHERE session_id = ?", (sid,))
                popped = load_messages(paused[0])
                if any(isinstance(m, UserMessage) for m in popped):
                    return popped
            rows = db.execute(
                "SELECT seq, messages FROM agentkit_turns WHERE session_id = ? ORDER BY seq DESC",
                (sid,),
            )
            for seq, data in rows.fetchall():
                turn = load_messages(data)
                users = [i for i, m in enumerate(turn) if isinstance(m, UserMessage)]
                db.execute("DELETE FROM agentkit_turns WHERE seq = ?", (seq,))
                if users:
                    keep, popped = turn[: users[-1]], [*turn[users[-1] :], *popped]
                    if keep:
                        db.execute(
                            "INSERT INTO agentkit_turns (seq, session_id, messages) "
                            "VALUES (?, ?, ?)",
                            (seq, sid, dump_messages(keep).decode("utf-8")),
                        )
                    return popped
                popped = [*turn, *popped]
            return popped
        finally:
            db.execute("COMMIT")


def _delete(db: sqlite3.Connection, session_id: str) -> None:
    """Every row of one session (inside the caller's transaction)."""
    for table in _TABLES:
        db.execute(f"DELETE FROM {table} WHERE session_id = ?", (session_id,))


_TABLES = ("agentkit_turns", "agentkit_paused", "agentkit_summaries", "agentkit_activity")
