"""Smoke test of the benchmark harness in tools/bench (a few runs; no assertions on time)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # runs the benchmark harness in subprocesses

ROOT = Path(__file__).resolve().parent.parent
RUN = ROOT / "tools" / "bench" / "run.py"

SEQUENTIAL = [
    "text_cpu_us",
    "text_wall_us",
    "structured_cpu_us",
    "structured_wall_us",
    "stream_cpu_us",
    "stream_wall_us",
    "stream_ttft_us",
]
FIGURES = [
    *SEQUENTIAL,
    "conc_runs_per_s",
    "conc_cpu_us",
    "peak_rss_mb",
    "rss_per_inflight_kb",
    "import_ms",
    "import_cpu_ms",
    "cold_start_ms",
    "cold_start_cpu_ms",
]
ALWAYS = ["raw_openai", "raw_httpx", "agentkit", "agentkit_held", "agentkit_traced"]
"""Contenders whose dependencies are the project's own, so they must always run."""


def test_bench_smoke_runs_every_available_contender(tmp_path: Path) -> None:
    """`run.py --smoke` finishes, prints the table, and writes every figure for each contender."""
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, str(RUN), "--smoke", "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "| figure |" in proc.stdout

    doc = json.loads(out.read_text())
    assert doc["meta"]["baseline"] == "raw_openai"
    assert doc["meta"]["machine"]["nproc"] >= 1
    assert doc["meta"]["params"]["smoke"] is True
    contenders = doc["contenders"]
    assert set(contenders) == {
        "raw_openai",
        "raw_httpx",
        "agentkit",
        "agentkit_held",
        "agentkit_traced",
        "pydantic_ai",
        "openai_agents",
    }
    for name in ALWAYS:
        assert contenders[name]["available"], contenders[name].get("skipped")

    for name, entry in contenders.items():
        if not entry["available"]:
            assert entry["skipped"], f"{name} skipped without a reason"
            continue
        assert len(entry["rounds"]) == 1, name
        figures = entry["figures"]
        for fig in FIGURES:
            f = figures[fig]
            assert f["min"] <= f["median"] <= f["max"], (name, fig)
            if fig in ("rss_per_inflight_kb", "import_ms", "import_cpu_ms"):
                continue  # 0 with few runs in flight; net import times are noisy under load
            assert f["median"] > 0, (name, fig, f)
            assert "ratio" in f, (name, fig)
        if name == "raw_openai":
            assert figures["text_cpu_us"]["ratio"]["median"] == 1.0
        if name.startswith("agentkit"):  # runs on one event loop share one connection
            assert figures["text_connections_per_run"]["median"] == 0, name
        assert name in proc.stdout.splitlines()[0], "table header lacks the contender"


def test_bench_mcp_smoke_runs_the_mcp_pair(tmp_path: Path) -> None:
    """`run.py --mcp --smoke` runs mcp_raw and mcp_agentkit on mcp-server-time and writes
    their text CPU per run, agentkit's as a ratio to mcp_raw (no assertions on time)."""
    out = tmp_path / "mcp.json"
    proc = subprocess.run(
        [sys.executable, str(RUN), "--mcp", "--smoke", "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads(out.read_text())
    assert doc["meta"]["baseline"] == "mcp_raw"
    contenders = doc["contenders"]
    assert set(contenders) == {"mcp_raw", "mcp_agentkit"}
    for name in ("mcp_raw", "mcp_agentkit"):
        assert contenders[name]["available"], contenders[name].get("skipped")
        assert contenders[name]["figures"]["text_cpu_us"]["median"] > 0
    assert "ratio" in contenders["mcp_agentkit"]["figures"]["text_cpu_us"]
    assert "| CPU per run, text (us) |" in proc.stdout
    assert "structured" not in proc.stdout  # figures the pair does not measure are left out
