"""Durable runs on DBOS: crash and resume, durable approvals, a shared queue.

The runs happen in child processes (``tests/durable_app.py``) so that a real
``SIGKILL`` can end one mid-run; the model is a ``LocalModelServer`` in this process, so
its request log survives the kill. Each test runs on embedded SQLite and on a real
PostgreSQL on 127.0.0.1 (``AGENTKIT_TEST_POSTGRES_URL``, set by ``.ci/run``, or a
throwaway cluster this module starts and stops when PostgreSQL's binaries are installed).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from agentkit.testing.server import (
    LocalModelServer,
    RecordedRequest,
    Reply,
    reply_text,
    reply_tool_calls,
)

APP = Path(__file__).with_name("durable_app.py")
ROOT = APP.parent.parent
pytestmark = pytest.mark.slow  # child processes killed mid-run, and a real PostgreSQL


# PostgreSQL: the ``postgres_url`` fixture is in conftest.py.


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh DBOS system database: an SQLite file, or a new database on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'dbos.sqlite'}"
    server: str = request.getfixturevalue("postgres_url")
    return f"{server}/agentkit_{uuid.uuid4().hex[:12]}"


# -- the child processes ----------------------------------------------------------------


def _start(
    mode: str, db: str, base_url: str, workflow_id: str, effects: Path
) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, str(APP), mode, db, base_url, workflow_id, str(effects)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _child(mode: str, db: str, base_url: str, workflow_id: str, effects: Path) -> Any:
    """Run the app to its end; the JSON it printed (``None`` if it was killed)."""
    proc = _start(mode, db, base_url, workflow_id, effects)
    out, err = proc.communicate(timeout=300)
    if proc.returncode == -signal.SIGKILL:
        return None
    assert proc.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1])


def _effects(path: Path) -> Counter[str]:
    return Counter(path.read_text().splitlines()) if path.exists() else Counter()


def _bodies(server: LocalModelServer) -> list[str]:
    return [json.dumps(r.body, sort_keys=True) for r in server.requests]


# -- crash and resume -------------------------------------------------------------------


def test_killed_run_resumes_without_redoing_completed_steps(db_url: str, tmp_path: Path) -> None:
    """A run SIGKILLed in its second tool call resumes in a new process: the first tool
    ran once, the interrupted one twice, the last once; each request was sent once; a
    third start with the same id sends nothing."""
    script = [
        reply_tool_calls(("first", {"n": 1})),
        reply_tool_calls(("second", {"n": 2})),
        reply_tool_calls(("third", {"n": 3})),
        reply_text("All three done."),
    ]
    effects = tmp_path / "effects.txt"
    with LocalModelServer(script, style="mistral") as server:
        assert _child("run", db_url, server.base_url, "crash-1", effects) is None
        assert len(server.requests) == 2
        counts = _effects(effects)
        assert counts["second"] == 1 and counts["third"] == 0

        resumed = _child("run", db_url, server.base_url, "crash-1", effects)
        assert resumed == {"output": "All three done.", "requests": 4}
        counts = _effects(effects)
        firsts = [k for k in counts if k.startswith("first ")]
        assert len(firsts) == 1 and counts[firsts[0]] == 1
        assert firsts[0].startswith("first crash-1:")  # the idempotency key
        assert counts["second"] == 2 and counts["third"] == 1
        assert len(server.requests) == 4
        assert len(set(_bodies(server))) == 4

        again = _child("run", db_url, server.base_url, "crash-1", effects)
        assert again == resumed
        assert len(server.requests) == 4
        assert _effects(effects) == counts


# -- durable approval ---------------------------------------------------------------------


def test_approval_survives_the_worker_being_killed(db_url: str, tmp_path: Path) -> None:
    """A run paused for approval in a worker that is then killed is approved by a new
    process, and finishes there: the approved tool ran once, after the approval."""
    script = [reply_tool_calls(("refund", {"order": 7})), reply_text("Refunded order 7.")]
    effects = tmp_path / "effects.txt"
    with LocalModelServer(script, style="mistral") as server:
        worker = _start("pause", db_url, server.base_url, "approve-1", effects)
        assert worker.stdout is not None
        line = worker.stdout.readline()
        paused = json.loads(line)
        [[_call_id, name, arguments]] = paused["pending"]
        assert (name, json.loads(arguments)) == ("refund", {"order": 7})
        worker.kill()
        worker.communicate(timeout=60)
        assert _effects(effects)["refund 7"] == 0

        done = _child("approve", db_url, server.base_url, "approve-1", effects)
        assert done == {"output": "Refunded order 7.", "requests": 2}
        assert _effects(effects)["refund 7"] == 1
        assert len(server.requests) == 2
        assert server.requests[1].body["messages"][-1]["content"] == "refunded 7"


# -- many workers ----------------------------------------------------------------------------


def test_two_workers_share_a_queue_of_200_runs(postgres_url: str, tmp_path: Path) -> None:
    """Two worker processes on one PostgreSQL share 200 queued runs: every run is done
    exactly once (counted on the model server), and both workers took some."""
    db = f"{postgres_url}/agentkit_queue_{uuid.uuid4().hex[:8]}"

    def answer(request: RecordedRequest) -> Reply:
        prompt = request.body["messages"][-1]["content"]
        return reply_text(f"done: {prompt}")

    effects = tmp_path / "effects.txt"
    count = 200
    with LocalModelServer(answer, style="mistral") as server:
        workers = [_start("worker", db, server.base_url, "w", effects) for _ in range(2)]
        try:
            for w in workers:
                assert w.stdout is not None
                assert json.loads(w.stdout.readline()) == {"ready": True}
            result = _child("enqueue", db, server.base_url, f"queue-x{count}", effects)
        finally:
            for w in workers:
                w.communicate(input="", timeout=120)
        assert result["outputs"] == [f"done: run {i}" for i in range(count)]
        prompts = Counter(r.body["messages"][-1]["content"] for r in server.requests)
        assert prompts == Counter({f"run {i}": 1 for i in range(count)})
        by_worker = Counter(r.body["messages"][0]["content"] for r in server.requests)
        assert len(by_worker) == 2, by_worker  # each worker's system prompt names it


# -- the benchmark ---------------------------------------------------------------------------


def test_durable_bench_smoke() -> None:
    """``tools/bench/durable.py`` runs and prints a row for DBOS's floor, the durable run,
    the plain run, DBOS's floor with the same I/O and that I/O alone on SQLite (no timing
    assertion)."""
    env = {k: v for k, v in os.environ.items() if k != "AGENTKIT_TEST_POSTGRES_URL"}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tools/bench/durable.py"), "--runs", "2", "--rounds", "1"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [line.split("|")[1:3] for line in proc.stdout.splitlines() if "sqlite" in line]
    assert [name.strip() for _, name in rows] == [
        "dbos_floor",
        "agentkit_durable",
        "agentkit_plain",
        "dbos_io_floor",
        "raw_io",
    ]
