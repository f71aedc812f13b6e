"""Streamed structured output vs the same bytes streamed as text, over a size sweep.

Run from the repository root::

    .venv/bin/python tools/bench/stream_sweep.py            # 4, 8, 16, 32 KB; 5 rounds
    .venv/bin/python tools/bench/stream_sweep.py --sizes 4,32,200 --rounds 3

One agent answers with a JSON object of the given size (``Notes(title, body)``), streamed
in 8-character deltas by ``agentkit.testing.LocalModelServer`` (in this process, on its
own threads). The figure is the CPU of the thread running the event loop
(``time.thread_time()``, so the server's threads are not counted) per run: structured
(``output_type=Notes``, partial outputs validated as they stream) and text (the same
bytes, ``output_type=str``). Each round runs both at every size, alternating; the table
gives medians over rounds, the ratio structured/text per size, and the CPU per KB of
structured output relative to the smallest size (a linear cost keeps it near 1).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import anyio
from pydantic import BaseModel

from agentkit import Agent
from agentkit.models import OpenAIChatModel
from agentkit.testing.server import LocalModelServer, Reply, reply_json


class Notes(BaseModel):
    """The structured output: a title and a long body."""

    title: str
    body: str


def _reply(size: int) -> Reply:
    return reply_json({"title": "notes", "body": "x" * (size - 30)})


async def _measure(base_url: str, structured: bool, runs: int) -> float:
    model = OpenAIChatModel("local-model", base_url=base_url, api_key="k")
    agent: Agent[None, object] = Agent(
        model,
        output_type=Notes if structured else str,
        output_mode="native" if structured else None,
    )
    async with agent:
        c0 = time.thread_time()
        for _ in range(runs):
            async with agent.run_stream("go") as stream:
                async for _event in stream:
                    pass
        return (time.thread_time() - c0) / runs


def main() -> int:
    """Command-line entry point."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="4,8,16,32", help="KB, comma-separated")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--runs", type=int, default=3, help="runs per size, variant and round")
    a = p.parse_args()
    sizes = [int(float(s) * 1024) for s in a.sizes.split(",")]
    cpu: dict[tuple[int, bool], list[float]] = {}
    for _ in range(a.rounds):
        for size in sizes:
            for structured in (True, False):
                with LocalModelServer(lambda _r, size=size: _reply(size)) as server:
                    t = anyio.run(_measure, server.base_url, structured, a.runs)
                cpu.setdefault((size, structured), []).append(t)
    med = {k: statistics.median(v) for k, v in cpu.items()}
    base = med[(sizes[0], True)] / sizes[0]
    print(
        "| size | structured CPU/run (ms) | text CPU/run (ms) | structured/text | "
        f"structured CPU per KB vs {sizes[0] // 1024} KB |"
    )
    print("|---|---|---|---|---|")
    for size in sizes:
        s, t = med[(size, True)], med[(size, False)]
        print(
            f"| {size // 1024} KB | {s * 1e3:.1f} | {t * 1e3:.1f} | {s / t:.2f}x | "
            f"{(s / size) / base:.2f}x |"
        )
    print(
        json.dumps({f"{k[0]}:{'structured' if k[1] else 'text'}": v for k, v in cpu.items()}),
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
