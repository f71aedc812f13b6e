"""MkDocs hook: the repository's ``examples/`` folder becomes part of the site.

Each example's README is a page (``examples/<name>/``) and every other file under
``examples/`` is copied as it is, so a README's links to its code resolve, and the build
(``mkdocs build --strict``) fails on a link to an example file that does not exist.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[2]
SKIPPED = {"__pycache__"}


def on_files(files: Files, config: Any) -> Files:
    """Add every file of ``examples/`` (READMEs as pages) to the site's files."""
    for path in sorted((ROOT / "examples").rglob("*")):
        relative = path.relative_to(ROOT)
        if not path.is_file() or SKIPPED & set(relative.parts) or path.suffix == ".db":
            continue
        files.append(
            File(
                relative.as_posix(),
                src_dir=str(ROOT),
                dest_dir=config["site_dir"],
                use_directory_urls=config["use_directory_urls"],
            )
        )
    return files
