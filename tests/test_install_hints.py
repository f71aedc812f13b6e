"""Install hints in the library name this project, never the unrelated PyPI package."""

from __future__ import annotations

import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "agentkit"


def test_no_hint_installs_the_pypi_package_named_agentkit() -> None:
    """No source file tells a user to ``pip install 'agentkit[...]'`` (someone else's package
    on PyPI); hints install the extra from the clone (``pip install -e '.[extra]'``)."""
    wrong = re.compile(r"pip install\s+['\"]?agentkit\b")
    offenders = [
        f"{path.relative_to(PACKAGE.parent)}:{number}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if wrong.search(line)
    ]
    assert offenders == []
    hinted = [p for p in PACKAGE.rglob("*.py") if "pip install -e '.[" in p.read_text()]
    assert len(hinted) >= 5
