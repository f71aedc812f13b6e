"""Instructions per run of a contender, counted by valgrind (callgrind): load-independent.

::

    .venv/bin/python tools/bench/instructions.py \
        --contenders agentkit,agentkit_held,raw_openai,raw_httpx

The bench server runs in its own process (not counted). Each contender runs in a fresh
process under ``valgrind --tool=callgrind``, is warmed up (20 runs of the variant), then
runs ``--runs`` runs inside ``functools.reduce``: callgrind counts only while that C
function is on the stack (``--toggle-collect``), so imports, building and warm-up are
left out. The figure is user-space instructions per run (syscalls' kernel time is not in
it); on a shared machine it moves by well under 1% between runs, where CPU time moves by
10-30%. Each measurement takes about a minute (imports under valgrind are slow).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
VARIANTS = ("text", "structured", "stream")


def _child(name: str, base_url: str, variant: str, runs: int) -> None:
    """In the process under valgrind: warm up, then the counted runs."""
    sys.path.insert(0, str(HERE))
    import contender

    fns = contender.FACTORIES[name](base_url)
    fn = fns[VARIANTS.index(variant)]
    loop = asyncio.new_event_loop()
    warm, go, counted = loop.create_future(), loop.create_future(), loop.create_future()

    async def spin(n: int) -> None:
        for _ in range(n):
            await (fn(time.perf_counter()) if variant == "stream" else fn())  # type: ignore[call-arg]

    async def main() -> None:
        async with contextlib.AsyncExitStack() as stack:
            for held in getattr(fns[0], "hold", ()):
                await stack.enter_async_context(held)
            await spin(20)
            warm.set_result(None)
            await go
            await spin(runs)
            counted.set_result(None)

    task = loop.create_task(main())
    loop.run_until_complete(warm)

    def measured(_a: int, _b: int) -> int:  # callgrind counts while this runs
        go.set_result(None)
        loop.run_until_complete(counted)
        return 0

    functools.reduce(measured, [0, 1])
    loop.run_until_complete(task)
    loop.run_until_complete(loop.shutdown_asyncgens())  # as asyncio.run: closes agentkit's pool
    loop.close()


def callgrind_count(args: list[str], per: int) -> int:
    """Instructions counted while ``functools.reduce`` runs in ``python *args`` under
    callgrind (a fresh process; its output dropped), divided by ``per``."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "callgrind.out")
        subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                "--collect-atstart=no",
                "--toggle-collect=functools_reduce",
                f"--callgrind-out-file={out}",
                sys.executable,
                *args,
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for line in Path(out).read_text().splitlines():
            if line.startswith(("summary:", "totals:")):
                return int(line.split()[1]) // per
    raise RuntimeError("callgrind wrote no totals")


def _count(name: str, base_url: str, variant: str, runs: int) -> int:
    return callgrind_count([__file__, "--child", name, base_url, variant, str(runs)], runs)


def main() -> None:
    """Command-line entry point."""
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _child(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
        return
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--contenders", default="agentkit,agentkit_held,raw_openai,raw_httpx")
    p.add_argument("--runs", type=int, default=30)
    p.add_argument("--jobs", type=int, default=3, help="valgrind processes at once")
    a = p.parse_args()
    sys.path.insert(0, str(HERE))
    from run import Server

    names = a.contenders.split(",")
    server = Server(sys.executable)
    try:
        keys = [(n, v) for n in names for v in VARIANTS]
        with ThreadPoolExecutor(max_workers=a.jobs) as pool:  # counts do not depend on load
            found = pool.map(lambda k: _count(k[0], server.base_url, k[1], a.runs), keys)
            counts = dict(zip(keys, found, strict=True))
    finally:
        server.close()
    print("| instructions per run | " + " | ".join(names) + " |")
    print("|---" * (len(names) + 1) + "|")
    for v in VARIANTS:
        base = counts[(names[0], v)]
        cells = [f"{counts[(n, v)]:,} **{counts[(n, v)] / base:.3f}x**" for n in names]
        print(f"| {v} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
