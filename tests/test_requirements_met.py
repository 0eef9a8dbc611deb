"""tests/requirements_met.py decides whether tests/run.sh calls pip: it must say yes for what is installed
and no (naming it) for a missing package, a version out of range, or a missing dependency of an extra."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO_ROOT

SCRIPT = REPO_ROOT / "tests" / "requirements_met.py"


def check(path: Path, extra_path: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(extra_path)) if extra_path else None
    return subprocess.run(
        [sys.executable, str(SCRIPT), str(path)], capture_output=True, text=True, timeout=60, env=env
    )


def test_the_installed_test_requirements_are_met() -> None:
    result = check(REPO_ROOT / "requirements-test.txt")
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_missing_package_is_named(tmp_path: Path) -> None:
    (tmp_path / "base.txt").write_text("pytest>=8  # comment\n")
    (tmp_path / "req.txt").write_text("-r base.txt\nheadroom-no-such-package>=1\n")
    result = check(tmp_path / "req.txt")
    assert result.returncode == 1
    assert "headroom-no-such-package>=1" in result.stdout and "not installed" in result.stdout


def test_a_version_out_of_range_is_named(tmp_path: Path) -> None:
    (tmp_path / "req.txt").write_text("pytest>=999\n")
    result = check(tmp_path / "req.txt")
    assert result.returncode == 1
    assert "pytest>=999" in result.stdout and "is installed" in result.stdout


def test_extras_pull_in_their_dependencies(tmp_path: Path) -> None:
    """A (fake, installed) package whose `server` extra wants a package that is not installed: plain is
    met, with the extra it is not."""
    info = tmp_path / "site" / "headroom_fake-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: headroom-fake\nVersion: 1.0\n"
        'Requires-Dist: headroom-no-such-dependency; extra == "server"\n'
    )
    (tmp_path / "plain.txt").write_text("headroom-fake>=1,<2\n")
    (tmp_path / "extra.txt").write_text("headroom-fake[server]>=1,<2\n")
    assert check(tmp_path / "plain.txt", tmp_path / "site").returncode == 0
    result = check(tmp_path / "extra.txt", tmp_path / "site")
    assert result.returncode == 1
    assert "headroom-no-such-dependency (wanted by headroom-fake 1.0) is not installed" in result.stdout
