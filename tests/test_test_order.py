"""tests/conftest.py starts the longest files first by name: a renamed or removed file must not drop out
of that list unnoticed (it would start wherever its rank puts it and could run alone at the end)."""

from __future__ import annotations

from tests.conftest import LONGEST_FILES, REPO_ROOT


def test_every_listed_long_file_exists_once() -> None:
    missing = [name for name in LONGEST_FILES if not (REPO_ROOT / "tests" / name).is_file()]
    assert not missing, f"LONGEST_FILES names files that do not exist: {missing}"
    assert len(set(LONGEST_FILES)) == len(LONGEST_FILES)
