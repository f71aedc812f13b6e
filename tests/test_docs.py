"""The documentation: every Python block of ``docs/`` and the README is run by a test or says
why not, every page is in the navigation, and every example is on the examples page.

A block is run by a test when the comment right above it names the test
(``<!-- run by tests/test_readme.py::test_quickstart_runs_as_written -->``) and that test
finds exactly this block: one of the strings it holds is a marker whose first block, in
``doc_blocks``' reading order, is this one. A block that cannot run says so, with the reason
(``<!-- not runnable: a pytest test, shown as it sits in a test file -->``). The site
itself is built by ``.ci/run`` (``mkdocs build --strict``).
"""

from __future__ import annotations

import ast
import functools
import re
from pathlib import Path

import doc_blocks
import pytest

ROOT = doc_blocks.ROOT
DOCS = doc_blocks.DOCS
RUN_BY = "run by "
NOT_RUNNABLE = "not runnable:"
PYTHON_ALIASES = {"py", "python3", "pycon", "ipython"}


def _site_blocks() -> list[doc_blocks.Block]:
    return [
        b
        for path in [doc_blocks.README, *sorted(DOCS.rglob("*.md"))]
        for b in doc_blocks.blocks_of(path, kind=None)
        if b.kind == "python" or b.kind in PYTHON_ALIASES
    ]


def _markers(function: ast.AST) -> frozenset[str]:
    """The strings a test looks blocks up by: ``"marker" in block``, ``_block("marker")``,
    ``_run("marker", ...)``, and the markers of a ``for marker in (...)`` loop."""
    found: set[str] = set()
    for node in ast.walk(function):
        if isinstance(node, ast.Compare) and isinstance(node.ops[0], ast.In):
            found.add(getattr(node.left, "value", None) or "")
        elif isinstance(node, ast.Call):
            name = str(getattr(node.func, "id", None) or getattr(node.func, "attr", ""))
            if "block" in name or name == "_run":
                found.update(getattr(arg, "value", None) or "" for arg in node.args)
        elif isinstance(node, ast.For) and isinstance(node.iter, ast.Tuple | ast.List):
            found.update(getattr(elt, "value", None) or "" for elt in node.iter.elts)
    return frozenset(m for m in found if isinstance(m, str) and len(m) >= 4)


@functools.cache
def _strings_of(test: str) -> frozenset[str]:
    """The markers the test ``tests/test_x.py::test_name`` looks blocks up by."""
    file, _, name = test.partition("::")
    path = ROOT / file
    if not path.is_file() or not name:
        raise LookupError(f"{test!r} names no test file and function")
    source = path.read_text()
    if "doc_blocks" not in source:
        raise LookupError(f"{file} does not read the documentation's blocks (tests/doc_blocks.py)")
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name:
            return _markers(node)
    raise LookupError(f"{file} has no function {name}")


def _run_by(block: doc_blocks.Block, test: str) -> bool:
    """Whether ``test`` holds a marker that finds this block's text first."""
    for marker in _strings_of(test):
        try:
            if doc_blocks.find(marker).text == block.text:
                return True
        except LookupError:
            continue
    return False


def _verdict(block: doc_blocks.Block) -> str | None:
    """Why the block is not accounted for, or None when it is."""
    if block.kind != "python":
        return f"fenced as {block.kind!r}: fence Python as ```python so the tests see it"
    comment = block.comment or ""
    if comment.startswith(NOT_RUNNABLE):
        reason = comment[len(NOT_RUNNABLE) :].strip()
        return None if len(reason) >= 10 else "says it is not runnable but gives no reason"
    if comment.startswith(RUN_BY):
        test = comment[len(RUN_BY) :].strip()
        try:
            if _run_by(block, test):
                return None
        except LookupError as exc:
            return str(exc)
        return f"names {test}, which finds no marker of this block (it runs another block)"
    return (
        "has no <!-- run by tests/...::test_... --> or <!-- not runnable: reason --> "
        "comment right above it"
    )


def test_every_python_block_of_the_site_is_run_or_says_why_not() -> None:
    """Each Python block of docs/ and the README is run by the test its comment names, or
    gives a reason."""
    site = _site_blocks()
    assert site, "docs/ has no Python block: the site or this test lost its pages"
    problems = [f"{b.where}: {why}" for b in site if (why := _verdict(b)) is not None]
    assert not problems, "\n".join(problems)


def test_a_block_that_names_the_wrong_test_is_caught(tmp_path: Path) -> None:
    """A comment naming a test that runs another block, or no test, is a problem, not a pass."""
    quickstart = doc_blocks.find("output_type=Report,")
    other = doc_blocks.Block(tmp_path / "x.md", 1, "python", "print('never run')\n", None)
    wrong = doc_blocks.Block(
        other.path, 1, "python", other.text, "run by tests/test_readme.py::test_quickstart"
    )
    assert _verdict(other) is not None
    assert "no function" in (_verdict(wrong) or "")
    named = RUN_BY + "tests/test_readme.py::test_quickstart_runs_as_written"
    assert _verdict(doc_blocks.Block(other.path, 1, "python", other.text, named)) is not None
    assert _verdict(doc_blocks.Block(quickstart.path, 1, "python", quickstart.text, named)) is None
    assert _verdict(doc_blocks.Block(other.path, 1, "py", other.text, named)) is not None


def test_every_page_is_in_the_navigation() -> None:
    """Every Markdown page under docs/ is reachable from mkdocs.yml's nav, and nothing else."""
    config = (ROOT / "mkdocs.yml").read_text()
    nav = re.findall(r"^\s+- (?:[^:\n]+: )?(\S+\.md)$", config[config.index("\nnav:") :], re.M)
    pages = sorted(p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md"))
    assert sorted(nav) == pages


def test_the_examples_page_links_every_example() -> None:
    """docs/examples.md links each example of examples/ (a script or a folder)."""
    page = (DOCS / "examples.md").read_text()
    examples = sorted(
        p.name
        for p in (ROOT / "examples").iterdir()
        if not p.name.startswith((".", "_")) and (p.is_dir() or p.suffix == ".py")
    )
    assert examples
    missing = [name for name in examples if f"](examples/{name}" not in page]
    assert not missing, f"docs/examples.md does not link: {missing}"


@pytest.mark.parametrize("page", ["index.md", "getting-started.md"])
def test_the_first_pages_exist(page: str) -> None:
    """The home page and getting started exist: the tests find the quickstart through them."""
    assert (DOCS / page).is_file()
