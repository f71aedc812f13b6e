"""``PostgresSession``: a conversation kept in PostgreSQL, shared by any number of workers.

Import it as ``from agentkit.sessions import PostgresSession``. It keeps every promise
``SQLiteSession`` keeps, on a server many processes and machines share:

* a turn is one row, stored in one transaction: a run that fails stores nothing;
* writers of one session are serialized (a transaction-scoped advisory lock on the
  session id), so turns are appended whole, in commit order, never over each other;
* a paused turn is kept apart until a run claims it (``claim_paused``): two workers
  resuming the same turn cannot both run its approved calls.

Needs psycopg 3 (``pip install 'psycopg[binary]'``, the ``postgres`` extra), imported
when the first session is used. Each call runs in a worker thread on a connection of its
own (so it works under asyncio and trio, and nothing stays open between calls).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from agentkit._errors import ConfigurationError, UserError
from agentkit._run.history import SessionHistory
from agentkit.sessions._base import ThreadedSession
from agentkit.summary import ContextSummary

__all__ = ["PostgresSession"]

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS agentkit_turns (
    seq BIGSERIAL PRIMARY KEY,
    session_id TEXT NOT NULL,
    messages TEXT NOT NULL,
    stored_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS agentkit_turns_session ON agentkit_turns (session_id, seq);
CREATE TABLE IF NOT EXISTS agentkit_paused (
    session_id TEXT PRIMARY KEY,
    messages TEXT NOT NULL,
    claim TEXT,
    stored_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS agentkit_summaries (
    session_id TEXT PRIMARY KEY,
    summary TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS agentkit_activity (
    session_id TEXT PRIMARY KEY,
    used_at DOUBLE PRECISION NOT NULL
);
"""
_TABLES = ("agentkit_turns", "agentkit_paused", "agentkit_summaries", "agentkit_activity")

_SETUP_LOCK_ID = 0x6167656E746B6974  # "agentkit": one setup at a time per server
_ready: set[str] = set()
_ready_lock = threading.Lock()


class PostgresSession(ThreadedSession):
    """A conversation kept in PostgreSQL (see the module docstring).

    ``url`` is a libpq connection string (``postgresql://user:pass@host:5432/db``);
    ``session_id`` separates conversations. The tables are made on first use.
    """

    def __init__(self, url: str, session_id: str) -> None:
        if not session_id:
            raise UserError("PostgresSession needs a session_id, such as 'user-42'.")
        if not url.startswith(("postgresql://", "postgres://")) and "=" not in url:
            raise UserError(
                f"PostgresSession needs a PostgreSQL URL (postgresql://user@host:5432/db); "
                f"got {url[:20]!r}..."
            )
        self._url = url
        self.session_id = session_id

    def __repr__(self) -> str:  # never the URL: it may hold a password
        return f"PostgresSession(<url>, {self.session_id!r})"

    # -- in the worker thread -------------------------------------------------------------

    def _with_connection(self, fn: Callable[[Any], T]) -> T:
        try:
            import psycopg
        except ModuleNotFoundError:
            raise ConfigurationError(
                "PostgresSession needs psycopg 3, which is not installed: "
                "pip install 'psycopg[binary]' (or the postgres extra)."
            ) from None
        try:
            db = psycopg.connect(self._url, autocommit=True)
        except psycopg.OperationalError as exc:
            detail = str(exc).replace(self._url, "<url>")
            raise ConfigurationError(
                f"Could not connect to the PostgreSQL server of this session: {detail}"
            ) from None
        with db:
            if self._url not in _ready:
                with _ready_lock, db.transaction():
                    db.execute("SELECT pg_advisory_xact_lock(%s)", (_SETUP_LOCK_ID,))
                    db.execute(_SCHEMA)
                _ready.add(self._url)
            return fn(db)

    def _lock(self, db: Any) -> None:
        """Serialize this session's writers until the transaction ends."""
        db.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (self.session_id,))

    def _load(self, db: Any) -> SessionHistory:
        with db.transaction():
            db.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            rows = db.execute(
                "SELECT messages FROM agentkit_turns WHERE session_id = %s ORDER BY seq",
                (self.session_id,),
            ).fetchall()
            paused = db.execute(
                "SELECT messages FROM agentkit_paused WHERE session_id = %s", (self.session_id,)
            ).fetchone()
        return self._history(rows, paused)

    def _save(self, db: Any, data: str, *, paused: bool, resumed: bool) -> None:
        sid = self.session_id
        with db.transaction():
            self._lock(db)
            if paused:
                db.execute(
                    "INSERT INTO agentkit_paused (session_id, messages) VALUES (%s, %s) "
                    "ON CONFLICT (session_id) DO UPDATE SET messages = EXCLUDED.messages, "
                    "claim = NULL, stored_at = now()",
                    (sid, data),
                )
                self._touch(db)
                return
            gone = db.execute("DELETE FROM agentkit_paused WHERE session_id = %s", (sid,))
            if resumed and gone.rowcount == 0:
                raise self._resumed_elsewhere()
            db.execute(
                "INSERT INTO agentkit_turns (session_id, messages) VALUES (%s, %s)", (sid, data)
            )
        self._touch(db)

    def _touch(self, db: Any) -> None:
        db.execute(
            "INSERT INTO agentkit_activity (session_id, used_at) VALUES (%s, %s) "
            "ON CONFLICT (session_id) DO UPDATE SET used_at = EXCLUDED.used_at",
            (self.session_id, time.time()),
        )

    def _claim(self, db: Any, claim: str) -> None:
        with db.transaction():
            taken = db.execute(
                "UPDATE agentkit_paused SET claim = %s WHERE session_id = %s AND claim IS NULL",
                (claim, self.session_id),
            )
            if taken.rowcount == 0:
                raise self._claimed_elsewhere()

    def _release(self, db: Any, claim: str) -> None:
        db.execute(
            "UPDATE agentkit_paused SET claim = NULL WHERE session_id = %s AND claim = %s",
            (self.session_id, claim),
        )

    def _load_summary(self, db: Any) -> ContextSummary | None:
        row = db.execute(
            "SELECT summary FROM agentkit_summaries WHERE session_id = %s", (self.session_id,)
        ).fetchone()
        return None if row is None else ContextSummary.from_json(row[0])

    def _save_summary(self, db: Any, data: str) -> None:
        db.execute(
            "INSERT INTO agentkit_summaries (session_id, summary) VALUES (%s, %s) "
            "ON CONFLICT (session_id) DO UPDATE SET summary = EXCLUDED.summary",
            (self.session_id, data),
        )

    def _clear(self, db: Any) -> None:
        with db.transaction():
            self._lock(db)
            for table in _TABLES:
                db.execute(f"DELETE FROM {table} WHERE session_id = %s", (self.session_id,))

    def _forget_idle(self, db: Any, cutoff: float, keep: set[str]) -> list[str]:
        rows = db.execute(
            "SELECT session_id FROM agentkit_activity WHERE used_at < %s", (cutoff,)
        ).fetchall()
        gone: list[str] = []
        for (sid,) in rows:
            if sid in keep:
                continue
            with db.transaction():  # under the session's writer lock, checked again
                db.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (sid,))
                still = db.execute(
                    "SELECT 1 FROM agentkit_activity WHERE session_id = %s AND used_at < %s",
                    (sid, cutoff),
                ).fetchone()
                if still:
                    for table in _TABLES:
                        db.execute(f"DELETE FROM {table} WHERE session_id = %s", (sid,))
                    gone.append(sid)
        return gone
