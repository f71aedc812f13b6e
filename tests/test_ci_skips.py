"""tests/conftest.py under ``CI=true``: a skip is a failure, so a missing component shows."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CONFTEST = Path(__file__).with_name("conftest.py")

SKIPPING = {
    "test_skips.py": """
import pytest

def test_skips():
    pytest.skip("no widget installed")

def test_skipif_marker():
    pass

test_skipif_marker = pytest.mark.skipif(True, reason="no gadget")(test_skipif_marker)

@pytest.mark.xfail(reason="known bug", strict=True)
def test_expected_failure():
    assert False

def test_passes():
    pass
""",
    "test_module_skip.py": """
import pytest

pytest.importorskip("agentkit_no_such_module")

def test_never_collected():
    pass
""",
}


def _run(tmp_path: Path, ci: str | None) -> subprocess.CompletedProcess[str]:
    shutil.copy(CONFTEST, tmp_path / "conftest.py")
    for name, source in SKIPPING.items():
        (tmp_path / name).write_text(source)
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "PYTEST_ADDOPTS")}
    if ci is not None:
        env["CI"] = ci
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"  # the conftest alone, and a fast start
    args = ["-q", "-rA", "-p", "no:cacheprovider", "--continue-on-collection-errors"]
    return subprocess.run(
        [sys.executable, "-m", "pytest", *args, str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("ci", [None, "false"])
def test_outside_ci_a_skip_is_a_skip(tmp_path: Path, ci: str | None) -> None:
    """Without ``CI=true``, skipped tests and modules are reported as skipped and pass."""
    proc = _run(tmp_path, ci)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 passed, 3 skipped, 1 xfailed" in proc.stdout, proc.stdout


def test_under_ci_a_skip_fails_and_names_its_reason(tmp_path: Path) -> None:
    """Under ``CI=true``, a skip in a test fails, one in a marker or module is an error, each
    naming the skip's reason, and an expected failure stays expected."""
    proc = _run(tmp_path, "true")
    out = proc.stdout
    assert proc.returncode == 1, out + proc.stderr
    assert "1 failed, 1 passed, 1 xfailed, 2 errors" in out, out
    assert "skipped under CI=true (no widget installed)" in out
    assert "skipped under CI=true (no gadget)" in out
    assert "skipped under CI=true (could not import 'agentkit_no_such_module'" in out
