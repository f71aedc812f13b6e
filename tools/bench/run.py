"""agentkit benchmark: agentkit vs hand-written loops and peer frameworks, side by side.

Run from the repository root::

    .venv/bin/python tools/bench/run.py                       # full run, ~10 minutes
    .venv/bin/python tools/bench/run.py --smoke               # a few runs, < 1 minute
    .venv/bin/python tools/bench/run.py --peers-python ../bench-peers-venv/bin/python
    .venv/bin/python tools/bench/run.py --profile agentkit    # pyinstrument profile
    .venv/bin/python tools/bench/run.py --mcp                 # the MCP pair only

One local OpenAI-compatible server (``server.py``) runs in its own process. Every contender
(``contender.py``) runs in its own fresh process per round, contenders alternating within a
round (A B C A B C ..., the order rotated each round), all on identical work: one tool-call
turn then a final answer (two requests), as text, structured output, and streamed text.

Figures per contender and round: CPU and wall microseconds per run (sequential, after a
warm-up), time to the first streamed text delta, runs per second and peak RSS with N runs in
flight, ``import`` time net of a bare interpreter start, and cold start (process spawn to the
first run done). Reported as the median over rounds with the min-max spread, and as the
ratio to ``raw_openai`` paired within each round. Prints a markdown table; writes JSON to
``tools/bench/results/bench-<time>.json`` or ``--out``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
CONTENDER = HERE / "contender.py"
SERVER = HERE / "server.py"
BASELINE = "raw_openai"
ALL = [
    "raw_openai",
    "raw_httpx",
    "agentkit",
    "agentkit_held",
    "agentkit_traced",
    "pydantic_ai",
    "openai_agents",
]
"""``agentkit`` runs as most programs write it (``await agent.run(...)``, no ``async
with``); ``agentkit_held`` holds its agents open with ``async with agent:`` around the runs."""
MCP = ["mcp_raw", "mcp_agentkit"]
"""The MCP pair (``--mcp``): get_current_time on mcp-server-time over stdio, text runs only,
ratios against ``mcp_raw``."""
PEERS = {"pydantic_ai", "openai_agents"}

IMPORTS: dict[str, str] = {
    "raw_openai": "from openai import AsyncOpenAI",
    "raw_httpx": "import httpx2",
    "agentkit": "from agentkit import Agent; from agentkit.models import OpenAIChatModel",
    "agentkit_held": "from agentkit import Agent; from agentkit.models import OpenAIChatModel",
    "agentkit_traced": "from agentkit import Agent; from agentkit.models import OpenAIChatModel; "
    "from agentkit.tracing import Tracing; from opentelemetry.sdk.trace import TracerProvider",
    "pydantic_ai": "from pydantic_ai import Agent",
    "openai_agents": "from agents import Agent, Runner",
    "mcp_raw": "import httpx2; from mcp import ClientSession; from mcp.client.stdio import "
    "stdio_client; import mcp_server_time",
    "mcp_agentkit": "from agentkit import Agent; from agentkit.models import OpenAIChatModel; "
    "from agentkit.mcp import MCPServer; import mcp_server_time",
}
"""The import statement each contender's user writes; ``import`` time measures exactly this."""

# name, unit, lower_is_better, label
FIGURES: list[tuple[str, str, bool, str]] = [
    ("text_cpu_us", "us", True, "CPU per run, text"),
    ("structured_cpu_us", "us", True, "CPU per run, structured"),
    ("stream_cpu_us", "us", True, "CPU per run, streamed"),
    ("text_wall_us", "us", True, "wall per run, text"),
    ("structured_wall_us", "us", True, "wall per run, structured"),
    ("stream_wall_us", "us", True, "wall per run, streamed"),
    ("stream_ttft_us", "us", True, "time to first text delta"),
    ("conc_runs_per_s", "runs/s", False, "runs/s, N in flight"),
    ("conc_cpu_us", "us", True, "CPU per run, N in flight"),
    ("text_connections_per_run", "conns", True, "connections per run, sequential text"),
    ("conc_connections", "conns", True, "connections opened, N in flight"),
    ("peak_rss_mb", "MB", True, "peak RSS, N in flight"),
    ("rss_per_inflight_kb", "KB", True, "RSS per in-flight run"),
    ("import_ms", "ms", True, "import wall, net of interpreter"),
    ("import_cpu_ms", "ms", True, "import CPU, net of interpreter"),
    ("cold_start_ms", "ms", True, "cold start wall to first run done"),
    ("cold_start_cpu_ms", "ms", True, "cold start CPU to first run done"),
]

PACKAGES = [
    "openai",
    "httpx2",
    "pydantic",
    "pydantic-core",
    "anyio",
    "agentkit-loop",
    "pydantic-ai-slim",
    "openai-agents",
]


def machine_info() -> dict[str, Any]:
    """nproc, CPU model, OS and Python: what the figures were measured on."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def package_versions(python: str) -> dict[str, str]:
    """Installed versions of the packages that matter, as seen by ``python``."""
    code = (
        "import importlib.metadata as m, json\n"
        "out = {}\n"
        f"for p in {PACKAGES!r}:\n"
        "    try: out[p] = m.version(p)\n"
        "    except m.PackageNotFoundError: pass\n"
        "print(json.dumps(out))\n"
    )
    r = subprocess.run([python, "-c", code], capture_output=True, text=True, cwd=ROOT)
    return dict(json.loads(r.stdout)) if r.returncode == 0 else {}


def available(name: str, python: str) -> str | None:
    """``None`` when the contender's import works under ``python``, else why not."""
    r = subprocess.run(
        [python, "-c", IMPORTS[name]], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    if r.returncode == 0:
        return None
    lines = [ln for ln in r.stderr.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else f"exit code {r.returncode}"


def _time_cmd(cmd: list[str]) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of one child process."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)


def import_ms(name: str, python: str, reps: int) -> tuple[float, float]:
    """``python -c <import>`` minus ``python -c pass``, medians over ``reps``: (wall, CPU) ms."""
    bare: list[tuple[float, float]] = []
    full: list[tuple[float, float]] = []
    for _ in range(reps):
        bare.append(_time_cmd([python, "-c", "pass"]))
        full.append(_time_cmd([python, "-c", IMPORTS[name]]))
    wall = statistics.median(w for w, _ in full) - statistics.median(w for w, _ in bare)
    cpu = statistics.median(c for _, c in full) - statistics.median(c for _, c in bare)
    return wall * 1e3, cpu * 1e3


class Server:
    """The bench server in its own process."""

    def __init__(self, python: str, cpu: int | None = None) -> None:
        self.proc = subprocess.Popen(
            [python, str(SERVER), "--port", "0"],
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            preexec_fn=None if cpu is None else partial(os.sched_setaffinity, 0, {cpu}),
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("PORT "):
            self.proc.kill()
            self.proc.wait()
            self.proc.stdout.close()
            raise RuntimeError(f"bench server did not start: {line!r}")
        self.base_url = f"http://127.0.0.1:{int(line.split()[1])}/v1"

    def cpu_seconds(self) -> float:
        """User+system CPU the server process has used so far."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def close(self) -> None:
        """Stop the server, wait for it and close its stdout pipe."""
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def run_contender(name: str, python: str, server: Server, a: argparse.Namespace) -> dict[str, Any]:
    """One fresh contender process; returns its figures plus cold start."""
    cmd = [
        python,
        str(CONTENDER),
        name,
        "--base-url",
        server.base_url,
        "--warmup",
        str(a.warmup),
        "--runs",
        str(a.runs),
        "--inflight",
        str(a.inflight),
        "--conc-runs",
        str(a.conc_runs),
    ]
    env = dict(os.environ, OPENAI_AGENTS_DISABLE_TRACING="1")
    s0 = server.cpu_seconds()
    t_spawn = time.monotonic()
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env, timeout=a.timeout)
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("RESULT ")]
    if r.returncode != 0 or not lines:
        raise RuntimeError(f"{name} failed (exit {r.returncode}):\n{r.stderr[-3000:]}")
    out: dict[str, Any] = json.loads(lines[-1][7:])
    out["cold_start_ms"] = (out.pop("first_run_done_monotonic") - t_spawn) * 1e3
    out["server_cpu_s"] = server.cpu_seconds() - s0
    return out


def summarize(values: list[float]) -> dict[str, float]:
    """Median and min-max spread."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def aggregate(results: dict[str, Any], baseline: str = BASELINE) -> None:
    """Fill ``figures`` for every available contender: medians, spreads, paired ratios."""
    base_rounds = results.get(baseline, {}).get("rounds", [])
    for entry in results.values():
        if not entry["available"]:
            continue
        rounds = entry["rounds"]
        figures: dict[str, Any] = {}
        for fig, unit, lower, label in FIGURES:
            vals = [r[fig] for r in rounds if fig in r]
            if not vals:
                continue
            f: dict[str, Any] = {"unit": unit, "lower_is_better": lower, "label": label}
            f.update(summarize(vals))
            ratios = [
                r[fig] / b[fig]
                for r, b in zip(rounds, base_rounds, strict=False)
                if fig in r and b.get(fig)
            ]
            if ratios:
                f["ratio"] = summarize(ratios)
            figures[fig] = f
        entry["figures"] = figures


def _fmt(x: float) -> str:
    if x >= 100:
        return f"{x:,.0f}"
    if x >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def table(results: dict[str, Any], inflight: int, baseline: str = BASELINE) -> str:
    """Markdown: one row per figure, one column per contender; median [min-max] and ratio."""
    names = [n for n in results if results[n]["available"]]
    head = "| figure | " + " | ".join(names) + " |"
    sep = "|---|" + "---|" * len(names)
    rows = [head, sep]
    for fig, unit, _lower, label in FIGURES:
        cells = []
        for n in names:
            f = results[n]["figures"].get(fig)
            if f is None:
                cells.append("-")
                continue
            cell = f"{_fmt(f['median'])} [{_fmt(f['min'])}-{_fmt(f['max'])}]"
            if "ratio" in f and n != baseline:
                cell += f" **{f['ratio']['median']:.2f}x**"
            cells.append(cell)
        if all(c == "-" for c in cells):
            continue  # a figure no contender has (the MCP pair measures text runs only)
        rows.append(
            f"| {label.replace('N in flight', f'{inflight} in flight')} ({unit}) | "
            + " | ".join(cells)
            + " |"
        )
    skipped = [
        f"- {n}: skipped ({results[n]['skipped']})" for n in results if not results[n]["available"]
    ]
    note = (
        f"\nCells: median over rounds [min-max], **ratio to {baseline}** "
        "(median of per-round ratios).\n"
    )
    return "\n".join(rows) + "\n" + note + ("\n".join(skipped) + "\n" if skipped else "")


def profile(name: str, python: str, a: argparse.Namespace) -> None:
    """Profile one contender's sequential runs; py-spy when found, else pyinstrument."""
    out_dir = Path(a.out).parent if a.out else HERE / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    pyspy = shutil.which("py-spy", path=str(Path(python).parent)) or shutil.which("py-spy")
    # Server and contender on different cores: otherwise every send() hands the core to
    # the server and the sampler counts the contender, preempted inside write(), as busy.
    pin = (os.cpu_count() or 1) >= 2
    server = Server(sys.executable, cpu=1 if pin else None)
    affinity = partial(os.sched_setaffinity, 0, {0}) if pin else None
    try:
        cmd = [python, str(CONTENDER), name, "--base-url", server.base_url]
        cmd += ["--warmup", str(a.warmup), "--runs", str(a.runs)]
        if pyspy is None:
            cmd += ["--profile", "pyinstrument", "--profile-out", str(out_dir / f"profile-{name}")]
            subprocess.run(cmd, check=True, cwd=ROOT, preexec_fn=affinity)
            return
        raw = out_dir / f"profile-{name}.raw.txt"
        spy = [pyspy, "record", "--rate", "250", "--nonblocking", "--full-filenames"]
        spy += ["--format", "raw", "--output", str(raw)]
        spy_cmd = [*spy, "--", *cmd, "--profile", "spin"]
        subprocess.run(spy_cmd, check=True, cwd=ROOT, preexec_fn=affinity)
    finally:
        server.close()
    sys.path.insert(0, str(HERE))
    from hotspots import report  # tools/bench/hotspots.py

    md = out_dir / f"profile-{name}.md"
    text = f"## py-spy profile of {name} ({a.runs} sequential runs per variant)\n\n" + report(raw)
    md.write_text(text)
    print(text)
    print(f"[bench] wrote {md}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    p = argparse.ArgumentParser(
        description="Benchmark agentkit against hand-written loops and peer frameworks.",
        epilog="Exact full command: .venv/bin/python tools/bench/run.py "
        "--peers-python ../bench-peers-venv/bin/python",
    )
    p.add_argument("--smoke", action="store_true", help="a few runs of everything, < 1 minute")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--runs", type=int, default=200, help="sequential runs per variant")
    p.add_argument("--inflight", type=int, default=200)
    p.add_argument("--conc-runs", type=int, default=1000, help="runs measured with N in flight")
    p.add_argument("--import-reps", type=int, default=5)
    p.add_argument("--contenders", default=",".join(ALL), help="comma-separated subset")
    p.add_argument("--python", default=sys.executable, help="python for non-peer contenders")
    p.add_argument(
        "--peers-python",
        default=os.environ.get("BENCH_PEERS_PYTHON", sys.executable),
        help="python whose environment holds pydantic-ai / openai-agents (default: this one)",
    )
    p.add_argument("--timeout", type=float, default=600, help="seconds per contender process")
    p.add_argument("--out", default=None, help="JSON output path")
    p.add_argument("--profile", default=None, metavar="CONTENDER", help="profile one contender")
    p.add_argument(
        "--mcp",
        action="store_true",
        help=f"run the MCP pair {MCP} (text runs; baseline mcp_raw) instead of the others",
    )
    p.add_argument(
        "--baseline",
        default=BASELINE,
        choices=ALL + MCP,
        help=f"the contender ratios are computed against (default {BASELINE})",
    )
    a = p.parse_args(argv)
    if a.smoke:
        a.rounds, a.warmup, a.runs, a.inflight, a.conc_runs, a.import_reps = 1, 2, 5, 10, 20, 1
    if a.mcp:
        a.contenders, a.baseline = ",".join(MCP), MCP[0]
    names = [n.strip() for n in a.contenders.split(",") if n.strip()]
    unknown = sorted(set(names) - set(ALL) - set(MCP))
    if unknown:
        p.error(f"unknown contender(s) {unknown}; choose from {ALL + MCP}")
    pythons = {n: (a.peers_python if n in PEERS else a.python) for n in names}

    if a.profile:
        if a.profile not in ALL + MCP:
            p.error(f"unknown contender {a.profile!r}; choose from {ALL + MCP}")
        profile(a.profile, a.peers_python if a.profile in PEERS else a.python, a)
        return 0

    results: dict[str, Any] = {}
    for n in names:
        why = available(n, pythons[n])
        results[n] = {"available": why is None, "python": pythons[n], "rounds": []}
        if why is not None:
            results[n]["skipped"] = why
            print(f"[bench] {n}: skipped: {why}", file=sys.stderr)
    ready = [n for n in names if results[n]["available"]]

    server = Server(sys.executable)
    try:
        for rnd in range(a.rounds):
            order = ready[rnd % len(ready) :] + ready[: rnd % len(ready)] if ready else []
            for n in order:
                t0 = time.perf_counter()
                fig = run_contender(n, pythons[n], server, a)
                fig["import_ms"], fig["import_cpu_ms"] = import_ms(n, pythons[n], a.import_reps)
                fig["round"] = rnd
                results[n]["rounds"].append(fig)
                print(
                    f"[bench] round {rnd + 1}/{a.rounds} {n}: "
                    f"text {fig['text_cpu_us']:.0f} us cpu, "
                    f"{fig.get('conc_runs_per_s', 0):.0f} runs/s "
                    f"({time.perf_counter() - t0:.1f} s)",
                    file=sys.stderr,
                )
    finally:
        server.close()
    # rounds must pair up with the baseline's by index
    aggregate(results, a.baseline)

    doc = {
        "meta": {
            "when": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "command": " ".join([Path(sys.executable).name, *sys.argv]),
            "machine": machine_info(),
            "versions": {
                "main": package_versions(a.python),
                "peers": package_versions(a.peers_python),
            },
            "params": {
                k: getattr(a, k)
                for k in (
                    "smoke",
                    "rounds",
                    "warmup",
                    "runs",
                    "inflight",
                    "conc_runs",
                    "import_reps",
                )
            },
            "baseline": a.baseline,
            "figures": {
                f: {"unit": u, "lower_is_better": lo, "label": lb} for f, u, lo, lb in FIGURES
            },
        },
        "contenders": results,
    }
    out = (
        Path(a.out) if a.out else HERE / "results" / f"bench-{time.strftime('%Y%m%d-%H%M%S')}.json"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2))
    md = table(results, a.inflight, a.baseline)
    print(md)
    print(f"[bench] wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
