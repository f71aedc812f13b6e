"""The fenced code blocks of the README and of the documentation site (``docs/``).

The tests that run the examples find their block here by a marker, a piece of text the
block holds: the first block in reading order (the README, then the site's pages as
``pages()`` lists them) that contains it. ``tests/test_docs.py`` checks that every
Python block of the site is run by a test this way or says why it cannot run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"
_FENCE = re.compile(r"^```(\w*)\n(.*?)^```", flags=re.DOTALL | re.MULTILINE)


@dataclass(frozen=True)
class Block:
    """One fenced block: where it is, its language, its text and the comment above it."""

    path: Path
    line: int
    kind: str
    text: str
    comment: str | None

    @property
    def where(self) -> str:
        """``path:line``, relative to the repository."""
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def pages() -> list[Path]:
    """The README, then the site's pages: the home page, getting started, the guides, the rest."""
    first = [DOCS / "index.md", DOCS / "getting-started.md"]
    guides = sorted((DOCS / "guides").glob("*.md"))
    rest = sorted(p for p in DOCS.rglob("*.md") if p not in first and p not in guides)
    return [README, *[p for p in first if p.exists()], *guides, *rest]


def blocks_of(path: Path, kind: str | None = "python") -> list[Block]:
    """The fenced blocks of one file (of one language, or all with ``kind=None``)."""
    body = path.read_text()
    found = []
    for match in _FENCE.finditer(body):
        if kind is not None and match.group(1) != kind:
            continue
        before = body[: match.start()].rstrip()
        comment = None
        if before.endswith("-->") and "<!--" in before:
            comment = before[before.rindex("<!--") + 4 : -3].strip()
        found.append(
            Block(
                path=path,
                line=body.count("\n", 0, match.start()) + 1,
                kind=match.group(1),
                text=match.group(2),
                comment=comment,
            )
        )
    return found


def blocks(kind: str = "python") -> list[Block]:
    """Every block of one language, in reading order."""
    return [b for path in pages() for b in blocks_of(path, kind)]


def find(marker: str, kind: str = "python") -> Block:
    """The first block, in reading order, that contains ``marker``."""
    for candidate in blocks(kind):
        if marker in candidate.text:
            return candidate
    raise LookupError(f"no {kind} block of the README or docs/ contains {marker!r}")


def block(marker: str, kind: str = "python") -> str:
    """The text of the first block, in reading order, that contains ``marker``."""
    return find(marker, kind).text
