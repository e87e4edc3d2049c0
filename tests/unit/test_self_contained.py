"""A clone of the repository is self-contained: its docs link only to files inside it, and the test
vectors the tests load are carried in tests/vectors/ with their source, commit and license."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.vectors import VECTORS_DIR

REPO = Path(__file__).resolve().parents[2]
DOCS = [
    REPO / "README.md",
    REPO / "bench" / "README.md",
    REPO / "tests" / "vectors" / "README.md",
    *sorted((REPO / "docs").glob("*.md")),
]
LINK = re.compile(r"\]\(([^)\s#]+)(?:#[^)]*)?\)")


@pytest.mark.parametrize("page", DOCS, ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_stays_inside_the_repository_and_resolves(page: Path) -> None:
    text = page.read_text()
    assert "../shared" not in text
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target):  # https:, mailto:
            continue
        path = (page.parent / target).resolve()
        assert path.is_relative_to(REPO), f"{page.name} links outside the repository: {target}"
        assert path.exists(), f"{page.name} links to a missing file: {target}"


def test_no_source_file_reads_or_cites_anything_outside_the_repository() -> None:
    for folder in ("src", "tests", "bench", "scripts"):
        for path in (REPO / folder).rglob("*"):
            if path.suffix not in {".py", ".sh", ".sql", ".md", ".c", ".pyi"} or "egg-info" in str(path):
                continue
            if path == Path(__file__).resolve():
                continue  # this file names what it looks for
            text = path.read_text()
            for outside in ("../shared", "/work/shared", "PYEHSM_SHARED_DIR", "PROTOCOL.md", "DESIGN.md"):
                assert outside not in text, f"{path.relative_to(REPO)} mentions {outside}"


def test_the_vectors_live_in_the_repository_with_source_commit_and_license() -> None:
    assert VECTORS_DIR == REPO / "tests" / "vectors"
    index = (VECTORS_DIR / "README.md").read_text()
    folders = sorted(p for p in VECTORS_DIR.iterdir() if p.is_dir() and p.name != "__pycache__")
    assert [f.name for f in folders] == ["attestation", "wycheproof"]
    for folder in folders:
        readme = (folder / "README.md").read_text()
        commit = re.search(r"commit\s+([0-9a-f]{40})", readme)
        assert commit is not None, folder.name
        assert commit[1] in index  # the index names the same commit
        assert (folder / "LICENSE").stat().st_size > 0
        assert f"[`{folder.name}/`]" in index
