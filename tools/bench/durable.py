"""Durable-run benchmark: what DBOS steps cost an agentkit run, against DBOS's own floor.

Run from the repository root::

    .venv/bin/python tools/bench/durable.py                  # SQLite, and Postgres if it can
    .venv/bin/python tools/bench/durable.py --runs 50 --postgres postgresql://u@127.0.0.1:5432

Every run does the same work: one tool-call turn, then a final answer (two model requests
and one tool call: three steps), against the benchmark's model server (``server.py``, its
own process, so its CPU is not counted). Rows, per backend:

- ``dbos_floor``: a DBOS workflow of three empty steps (what DBOS itself costs);
- ``agentkit_durable``: ``DurableAgent.run`` with a fresh workflow id;
- ``agentkit_plain``: the same ``Agent.run``, not durable (what the run costs without DBOS);
- ``dbos_io_floor``: a DBOS workflow of three steps doing the run's I/O by hand (two
  ``POST /chat/completions`` on a shared ``httpx2.AsyncClient``, one plain function): what
  DBOS costs when its steps wait on a socket, as an agent's do;
- ``raw_io``: that I/O without DBOS (the hand-written agent ``dbos_io_floor`` makes durable).

``agentkit_durable - dbos_floor - agentkit_plain`` is what durability adds beyond the
floor; ``dbos_io_floor - dbos_floor - raw_io`` is the part of that DBOS adds for any
caller whose steps do I/O (thread hand-offs while the loop waits), agentkit or not.

CPU (user + system of this process, DBOS's threads included) and wall microseconds per
run, sequential, after a warm-up; the median of ``--rounds`` rounds. Postgres comes from
``--postgres``, ``AGENTKIT_TEST_POSTGRES_URL``, or is skipped (the row says so).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT))


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _measure(run: Callable[[int], Awaitable[Any]], runs: int) -> tuple[float, float]:
    """CPU and wall microseconds per run over ``runs`` sequential runs."""
    cpu, wall = _cpu(), time.perf_counter()
    for i in range(runs):
        await run(i)
    return (_cpu() - cpu) / runs * 1e6, (time.perf_counter() - wall) / runs * 1e6


async def _bench_backend(db_url: str, base_url: str, runs: int, rounds: int) -> dict[str, Any]:
    from dbos import DBOS, SetWorkflowID

    from agentkit import Agent, tool
    from agentkit.durable import DurableAgent
    from agentkit.models import OpenAIChatModel

    DBOS(config={"name": "agentkit-bench", "system_database_url": db_url})

    async def empty() -> None:
        return None

    @DBOS.workflow(name="bench.floor")
    async def floor() -> None:
        for _ in range(3):
            await DBOS.run_step_async({"name": "empty"}, empty)

    @tool
    def get_weather(city: str) -> str:
        """Get the weather.

        Args:
            city: The city.
        """
        return f"{city}: sunny, 21 C"

    import httpx2

    http = httpx2.AsyncClient()
    url = f"{base_url}/chat/completions"
    first = {"model": "mistral-small-2506", "messages": [{"role": "user", "content": "Hi"}]}
    second = {
        **first,
        "messages": [*first["messages"], {"role": "tool", "tool_call_id": "c", "content": "x"}],
    }

    async def post(body: dict[str, Any]) -> Any:
        response = await http.post(url, json=body, headers={"Authorization": "Bearer bench"})
        return response.json()

    def raw_tool(city: str) -> str:
        return f"{city}: sunny, 21 C"

    async def raw_turns() -> None:
        await post(first)
        raw_tool("Paris")
        await post(second)

    @DBOS.workflow(name="bench.io_floor")
    async def io_floor() -> None:
        await DBOS.run_step_async({"name": "request"}, post, first)
        await DBOS.run_step_async({"name": "tool"}, raw_tool, "Paris")
        await DBOS.run_step_async({"name": "request"}, post, second)

    model = OpenAIChatModel("mistral-small-2506", base_url=base_url, api_key="bench")
    agent = Agent(model, tools=[get_weather])
    durable = DurableAgent(agent, name="bench")
    DBOS.launch()
    prefix = uuid.uuid4().hex[:8]

    rows: dict[str, list[tuple[float, float]]] = {
        "dbos_floor": [],
        "agentkit_durable": [],
        "agentkit_plain": [],
        "dbos_io_floor": [],
        "raw_io": [],
    }
    try:
        async with agent:  # one connection pool for every run, as a long-lived program
            for r in range(rounds + 1):  # round 0 is the warm-up
                tag = f"{prefix}-{r}"

                async def durable_run(i: int, tag: str = tag) -> None:
                    await durable.run("Weather in Paris?", workflow_id=f"run-{tag}-{i}")

                async def plain_run(i: int) -> None:
                    await agent.run("Weather in Paris?")

                async def floor_round(i: int, tag: str = tag) -> None:
                    with SetWorkflowID(f"floor-{tag}-{i}"):
                        handle = await DBOS.start_workflow_async(floor)
                    await handle.get_result()

                async def io_floor_round(i: int, tag: str = tag) -> None:
                    with SetWorkflowID(f"io-{tag}-{i}"):
                        handle = await DBOS.start_workflow_async(io_floor)
                    await handle.get_result()

                async def raw_round(i: int) -> None:
                    await raw_turns()

                measured = {
                    "dbos_floor": await _measure(floor_round, runs),
                    "agentkit_durable": await _measure(durable_run, runs),
                    "agentkit_plain": await _measure(plain_run, runs),
                    "dbos_io_floor": await _measure(io_floor_round, runs),
                    "raw_io": await _measure(raw_round, runs),
                }
                if r > 0:
                    for name, value in measured.items():
                        rows[name].append(value)
    finally:
        await http.aclose()
        DBOS.destroy(destroy_registry=True)
    return {
        name: {
            "cpu_us": statistics.median(v[0] for v in values),
            "wall_us": statistics.median(v[1] for v in values),
        }
        for name, values in rows.items()
    }


def _start_server() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "server.py"), "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().split()
    return proc, f"http://127.0.0.1:{line[1]}/v1"


def _backend_in_child(db_url: str, base_url: str, runs: int, rounds: int) -> dict[str, Any]:
    """Each backend in a fresh process (DBOS is one per process)."""
    code = (
        "import asyncio, json, sys; sys.path.insert(0, sys.argv[1]); "
        "from tools.bench.durable import _bench_backend; "
        "print(json.dumps(asyncio.run(_bench_backend(sys.argv[2], sys.argv[3], "
        "int(sys.argv[4]), int(sys.argv[5])))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(ROOT), db_url, base_url, str(runs), str(rounds)],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    ).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=30, help="runs per round and row")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--postgres", default=os.environ.get("AGENTKIT_TEST_POSTGRES_URL"))
    args = parser.parse_args()
    server, base_url = _start_server()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            backends = {"sqlite": f"sqlite:///{tmp}/bench.sqlite"}
            if args.postgres:
                backends["postgres"] = f"{args.postgres.rstrip('/')}/agentkit_bench_{os.getpid()}"
            print("| backend | row | CPU us/run | wall us/run | CPU x floor |")
            print("|---|---|---:|---:|---:|")
            for backend, url in backends.items():
                rows = _backend_in_child(url, base_url, args.runs, args.rounds)
                floor = rows["dbos_floor"]["cpu_us"]
                for name, row in rows.items():
                    ratio = row["cpu_us"] / floor
                    print(
                        f"| {backend} | {name} | {row['cpu_us']:.0f} | {row['wall_us']:.0f} "
                        f"| {ratio:.2f} |"
                    )
            if not args.postgres:
                print("| postgres | (skipped: pass --postgres or AGENTKIT_TEST_POSTGRES_URL) |||")
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
