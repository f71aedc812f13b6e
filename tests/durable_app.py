"""A durable agentkit app run as a child process by tests/test_durable.py.

``python tests/durable_app.py MODE DB_URL BASE_URL WORKFLOW_ID EFFECTS`` launches DBOS
on ``DB_URL``, builds a durable agent whose model is the test's ``LocalModelServer`` at
``BASE_URL`` and whose tools append a line to ``EFFECTS`` each time they run (the side
effects the test counts), then does ``MODE``:

- ``run``: run ``WORKFLOW_ID`` (start, resume or read back) and print its result as JSON.
  Tool ``second`` SIGKILLs this process on its first attempt.
- ``pause``: start ``WORKFLOW_ID`` (its tool ``refund`` needs approval), print the calls
  it waits for, then wait to be killed.
- ``approve``: approve every call ``WORKFLOW_ID`` waits for and print its result.
- ``worker``: take runs from the queue until stdin closes.
- ``enqueue``: put ``WORKFLOW_ID`` (a count) runs on the queue, print their outputs.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

from dbos import DBOS

from agentkit import Agent, RunContext, tool
from agentkit.durable import DurableAgent
from agentkit.models import OpenAIChatModel


def effect(path: Path, line: str) -> int:
    """Append ``line`` to the effects file; how many times it was there before."""
    before = path.read_text().splitlines().count(line) if path.exists() else 0
    with path.open("a") as f:
        f.write(line + "\n")
        f.flush()
        os.fsync(f.fileno())
    return before


def build(
    db_url: str, base_url: str, effects: Path, instructions: str | None = None
) -> DurableAgent[Any, str]:
    """DBOS configured, the durable agent registered (DBOS not launched yet)."""
    DBOS(config={"name": "agentkit-durable-test", "system_database_url": db_url})

    @tool
    def first(ctx: RunContext[Any], n: int) -> str:
        """Do the first thing.

        Args:
            n: A number.
        """
        effect(effects, f"first {ctx.idempotency_key}")
        return f"first done {n}"

    @tool
    def second(n: int) -> str:
        """Do the second thing.

        Args:
            n: A number.
        """
        if effect(effects, "second") == 0:
            os.kill(os.getpid(), signal.SIGKILL)
        return f"second done {n}"

    @tool
    def third(n: int) -> str:
        """Do the third thing.

        Args:
            n: A number.
        """
        effect(effects, "third")
        return f"third done {n}"

    @tool(needs_approval=True)
    def refund(order: int) -> str:
        """Refund an order.

        Args:
            order: The order number.
        """
        effect(effects, f"refund {order}")
        return f"refunded {order}"

    model = OpenAIChatModel("mistral-small-2506", base_url=base_url, api_key="test")
    agent = Agent(
        model, instructions=instructions, tools=[first, second, third, refund], name="durable-test"
    )
    return DurableAgent(agent, name="durable-test")


def emit(**data: Any) -> None:
    """One JSON line on stdout for the test to read."""
    print(json.dumps(data), flush=True)


async def main(mode: str, db_url: str, base_url: str, workflow_id: str, effects: Path) -> None:
    worker = f"worker {os.getpid()}" if mode == "worker" else None
    durable = build(db_url, base_url, effects, instructions=worker)
    if mode == "enqueue":
        DBOS.listen_queues([])  # this process only enqueues: the workers run the runs
    DBOS.launch()
    try:
        if mode == "run":
            result = await durable.run("Do the three things.", workflow_id=workflow_id)
            emit(output=result.output, requests=result.usage.requests)
        elif mode == "pause":
            await durable.start("Refund order 7.", workflow_id=workflow_id)
            pending = await durable.pending(workflow_id, wait_seconds=60)
            emit(pending=[[r.tool_call_id, r.tool_name, r.arguments] for r in pending])
            await asyncio.Event().wait()  # until killed
        elif mode == "approve":
            pending = await durable.pending(workflow_id, wait_seconds=60)
            await durable.approve(workflow_id, {r: True for r in pending})
            result = await durable.result(workflow_id)
            emit(output=result.output, requests=result.usage.requests)
        elif mode == "worker":
            await durable.register_queue("agentkit-test", worker_concurrency=8)
            emit(ready=True)
            await asyncio.to_thread(sys.stdin.read)  # until the test closes stdin
        elif mode == "enqueue":
            count = int(workflow_id.rsplit("x", 1)[1])
            ids = [
                await durable.enqueue(
                    f"run {i}", workflow_id=f"{workflow_id}-{i}", queue="agentkit-test"
                )
                for i in range(count)
            ]
            outputs = [(await durable.result(i)).output for i in ids]
            emit(outputs=outputs)
        else:
            raise SystemExit(f"unknown mode {mode!r}")
    finally:
        DBOS.destroy()


if __name__ == "__main__":
    mode_, db_, base_, id_, effects_ = sys.argv[1:6]
    asyncio.run(main(mode_, db_, base_, id_, Path(effects_)))
