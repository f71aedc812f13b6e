"""Where a contender's CPU goes: py-spy samples grouped by package and by function.

``run.py --profile NAME`` records ``contender.py NAME --profile spin`` with
``py-spy record -f raw`` (samples of running threads only, so awaiting the server is not
counted), then this module keeps the samples taken inside one variant's loop
(``_spin_text``, ``_spin_structured`` or ``_spin_stream``) and reports, as percentages of
those samples: time by package (inclusive of what the package calls is misleading across
layers, so packages are by *self* time), and the top functions by self and by inclusive time.

Also usable alone: ``python tools/bench/hotspots.py RAW_FILE [--marker _spin_text]``.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

_FRAME = re.compile(r"^(?P<func>.*) \((?P<path>.*?)(?::(?P<line>\d+))?\)$")
MARKERS = ("_spin_text", "_spin_structured", "_spin_stream")


def package_of(path: str) -> str:
    """A short package label for a source path."""
    if "/site-packages/" in path:
        rest = path.split("/site-packages/", 1)[1]
        top = rest.split("/", 1)[0]
        return top.removesuffix(".py")
    if "/agentkit/" in path:
        return "agentkit"
    if path.endswith("contender.py"):
        return "bench-contender"
    m = re.search(r"/lib/python3\.\d+/(.+)", path)
    if m:
        top = m.group(1).split("/", 1)[0].removesuffix(".py")
        return "asyncio" if top == "asyncio" else f"stdlib:{top}"
    return path or "?"


def short(frame: str) -> tuple[str, str]:
    """``(function label, package)`` of a py-spy raw frame ``func (path:line)``."""
    m = _FRAME.match(frame)
    if not m:
        return frame, "?"
    path = m.group("path")
    pkg = package_of(path)
    name = path.rsplit("/", 1)[-1]
    if "/site-packages/" in path:
        name = path.split("/site-packages/", 1)[1]
    elif "/agentkit/" in path:
        name = "agentkit/" + path.split("/agentkit/", 1)[1]
    elif "/lib/python3" in path:
        name = path.split("/lib/", 1)[1].split("/", 1)[1]
    return f"{m.group('func')} ({name})", pkg


def load(raw: Path, marker: str) -> list[tuple[list[str], int]]:
    """The stacks (root first) that pass through ``marker``, cut to start below it."""
    out: list[tuple[list[str], int]] = []
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        idx = next((i for i, f in enumerate(frames) if f.startswith(marker + " ")), None)
        if idx is None:
            continue
        out.append((frames[idx + 1 :], int(count)))
    return out


def analyze(raw: Path, marker: str, top: int = 25) -> str:
    """A markdown report of one variant's samples."""
    stacks = load(raw, marker)
    total = sum(c for _, c in stacks)
    if not total:
        return f"### {marker}\n\nno samples\n"
    by_pkg: Counter[str] = Counter()
    self_t: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    for frames, c in stacks:
        if not frames:
            by_pkg["bench-contender"] += c
            continue
        labels = [short(f) for f in frames]
        leaf, pkg = labels[-1]
        by_pkg[pkg] += c
        self_t[leaf] += c
        for lab in {lab for lab, _ in labels}:
            incl[lab] += c
    lines = [f"### {marker.removeprefix('_spin_')} ({total} samples)", ""]
    lines += ["Self time by package:", "", "| package | % |", "|---|---|"]
    lines += [f"| {p} | {100 * c / total:.1f} |" for p, c in by_pkg.most_common(15)]
    lines += ["", f"Top {top} functions by inclusive time:", "", "| function | % |", "|---|---|"]
    lines += [f"| `{f}` | {100 * c / total:.1f} |" for f, c in incl.most_common(top)]
    lines += ["", f"Top {top} functions by self time:", "", "| function | % |", "|---|---|"]
    lines += [f"| `{f}` | {100 * c / total:.1f} |" for f, c in self_t.most_common(top)]
    return "\n".join(lines) + "\n"


def report(raw: Path, top: int = 25) -> str:
    """The report for every variant found in ``raw``."""
    return "\n".join(analyze(raw, m, top) for m in MARKERS)


def main() -> None:
    """Command-line entry point."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("raw", type=Path)
    p.add_argument("--marker", choices=MARKERS, default=None)
    p.add_argument("--top", type=int, default=25)
    a = p.parse_args()
    print(analyze(a.raw, a.marker, a.top) if a.marker else report(a.raw, a.top))


if __name__ == "__main__":
    main()
