"""Load on ``agentkit serve``: many concurrent streamed conversations through uvicorn.

The served app runs as ``agentkit serve`` does, in its own process (so its memory is its
own), with conversations in a SQLite store (the command's default); its agent's model is
a ``LocalModelServer`` in a third process (so neither it nor this load generator takes
the server's CPU within one process) that answers each conversation with a tool call
(``get_weather``), then a streamed text answer. Each batch opens ``--conversations``
streamed conversations at once on one endpoint (``--endpoint``: the page's ``/api/chat``,
``/v1/chat/completions``, ``/ag-ui`` or ``/ai-sdk/chat``) and reads every stream to its
end. Printed per batch: how many completed, the server's resident memory (RSS) after the
batch, and the time to first byte (p50, p99) and to the last (p50, p99)::

    PYTHONPATH=. .venv/bin/python tools/bench/serve_load.py
    PYTHONPATH=. .venv/bin/python tools/bench/serve_load.py --endpoint ag-ui --batches 5

Not a test (times depend on the machine); the exit status is non-zero when a
conversation did not complete or memory grew by more than ``--max-growth`` MB between the
second batch and the last (the first one warms caches and pools up).

This file is also the served app: ``agent`` below reads its model's URL from
``AGENTKIT_BENCH_MODEL_URL``.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
import httpx2

from agentkit import Agent, tool
from agentkit.models import OpenAIChatModel


@tool
def get_weather(city: str) -> str:
    """Get the current weather for a city.

    Args:
        city: City name.
    """
    return f"{city}: 21 C, sunny"


agent: Agent[None, str] = Agent(
    OpenAIChatModel(
        "mistral-small-2506",
        base_url=os.environ.get("AGENTKIT_BENCH_MODEL_URL", "http://127.0.0.1:9/v1"),
        api_key="bench",
    ),
    tools=[get_weather],
    name="weather",
)

ANSWER = "The weather in Paris is sunny, 21 degrees Celsius, with a light breeze. " * 3

ENDPOINTS = {
    "page": ("/api/chat", b'"run_finished"'),
    "openai": ("/v1/chat/completions", b"data: [DONE]"),
    "ag-ui": ("/ag-ui", b'"RUN_FINISHED"'),
    "ai-sdk": ("/ai-sdk/chat", b'"type": "finish"'),
}
"""Each endpoint's path, and what its stream holds once a run completed."""


def _body(endpoint: str, conversation: str) -> dict[str, Any]:
    prompt = "What is the weather in Paris?"
    if endpoint == "page":
        return {"conversation": conversation, "prompt": prompt}
    if endpoint == "openai":
        return {
            "model": "weather",
            "stream": True,
            "messages": [{"role": "user", "content": prompt}],
        }
    if endpoint == "ag-ui":
        message: dict[str, Any] = {"id": "u1", "role": "user", "content": prompt}
        return {"threadId": conversation, "runId": conversation, "messages": [message]}
    message = {"id": "u1", "role": "user", "parts": [{"type": "text", "text": prompt}]}
    return {"id": conversation, "messages": [message], "trigger": "submit-message"}


def _model(request: Any) -> Any:
    from agentkit.testing.server import reply_text, reply_tool_calls

    if request.body["messages"][-1]["role"] == "tool":
        return reply_text(ANSWER)
    return reply_tool_calls(("get_weather", {"city": "Paris"}))


def _model_server() -> None:
    """Serve ``_model`` until stdin closes, after printing the base URL."""
    from agentkit.testing.server import LocalModelServer

    with LocalModelServer(_model, style="mistral") as up:
        print(up.base_url, flush=True)
        sys.stdin.read()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


async def _conversation(
    client: httpx2.AsyncClient, url: str, endpoint: str, times: list[tuple[float, float, bool]]
) -> None:
    path, done_mark = ENDPOINTS[endpoint]
    body = _body(endpoint, f"bench-{secrets.token_hex(8)}")
    started = time.perf_counter()
    first = 0.0
    data = bytearray()
    async with client.stream("POST", url + path, json=body) as response:
        async for piece in response.aiter_bytes():
            if not first:
                first = time.perf_counter() - started
            data += piece
    ok = response.status_code == 200 and done_mark in data and b'"error' not in data
    times.append((first, time.perf_counter() - started, ok))


async def _batch(url: str, endpoint: str, n: int) -> list[tuple[float, float, bool]]:
    times: list[tuple[float, float, bool]] = []
    limits = httpx2.Limits(max_connections=n + 10, max_keepalive_connections=n + 10)
    timeout = httpx2.Timeout(300.0)
    async with httpx2.AsyncClient(limits=limits, timeout=timeout) as client:
        async with anyio.create_task_group() as tg:
            for _ in range(n):
                tg.start_soon(_conversation, client, url, endpoint, times)
    return times


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main(argv: list[str] | None = None) -> int:
    """Run the batches and print the table; non-zero when something did not hold."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--endpoint", choices=sorted(ENDPOINTS), default="page")
    parser.add_argument("--conversations", type=int, default=200)
    parser.add_argument("--batches", type=int, default=3)
    parser.add_argument("--max-growth", type=float, default=10.0, help="MB, batch 2 to last")
    parser.add_argument("--model-server", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.model_server:
        _model_server()
        return 0

    port = _free_port()
    model = subprocess.Popen(
        [sys.executable, __file__, "--model-server"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert model.stdout is not None and model.stdin is not None
    base_url = model.stdout.readline().strip()
    with tempfile.TemporaryDirectory() as folder, model:
        env = {**os.environ, "AGENTKIT_BENCH_MODEL_URL": base_url}
        command = [sys.executable, "-m", "agentkit.cli", "serve", f"{__file__}:agent"]
        command += ["--port", str(port), "--sessions", str(Path(folder) / "chats.db")]
        server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx2.get(url + "/v1/models", timeout=2).status_code == 200:
                        break
                except httpx2.TransportError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise RuntimeError("the served app did not start") from None
                    time.sleep(0.1)
            rows = [("start", 0, 0, _rss_mb(server.pid), 0.0, 0.0, 0.0, 0.0)]
            for batch in range(1, args.batches + 1):
                times = anyio.run(_batch, url, args.endpoint, args.conversations)
                time.sleep(0.5)  # let the server finish closing the streams
                firsts = [t[0] for t in times]
                lasts = [t[1] for t in times]
                rows.append(
                    (
                        f"batch {batch}",
                        sum(ok for _, _, ok in times),
                        len(times),
                        _rss_mb(server.pid),
                        _percentile(firsts, 50),
                        _percentile(firsts, 99),
                        _percentile(lasts, 50),
                        _percentile(lasts, 99),
                    )
                )
        finally:
            server.terminate()
            server.wait(timeout=30)
            model.stdin.close()
            model.wait(timeout=30)
    print(
        f"agentkit serve, {args.conversations} concurrent streamed conversations per batch, "
        f"{args.endpoint} ({ENDPOINTS[args.endpoint][0]}), SQLite store, "
        f"LocalModelServer in its own process (a tool call, then {len(ANSWER)} characters "
        "streamed)"
    )
    print(f"{'':8} {'done':>9} {'RSS MB':>8} {'TTFB p50':>9} {'p99':>7} {'end p50':>8} {'p99':>7}")
    for name, ok, n, rss, f50, f99, l50, l99 in rows:
        done = f"{ok}/{n}" if n else ""
        timing = f"{f50 * 1000:7.0f}ms {f99 * 1000:5.0f}ms {l50 * 1000:6.0f}ms {l99 * 1000:5.0f}ms"
        print(f"{name:8} {done:>9} {rss:8.1f} {timing if n else ''}")
    growth = rows[-1][3] - rows[min(2, len(rows) - 1)][3]
    print(f"RSS growth from batch 2 to the last: {growth:+.1f} MB (limit {args.max_growth} MB)")
    print(json.dumps({"endpoint": args.endpoint, "rows": rows}))
    complete = all(ok == n for _, ok, n, *_ in rows[1:])
    return 0 if complete and growth <= args.max_growth else 1


if __name__ == "__main__":
    sys.exit(main())
