"""The Actions page's audit badge with the chain's key and anchor (issue 19 items 2 and 5): keyed or
UNKEYED said plainly, a bad key a banner (not a traceback), a deleted store reported as a restarted log."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import REPO_ROOT, write_config

PAGE = str(REPO_ROOT / "pages" / "actions.py")


@pytest.fixture
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = write_config(tmp_path, {"demo": {"refresh_after": "3650d"}})
    monkeypatch.setenv("HEADROOM_CONFIG", str(path))
    return tmp_path


def _page() -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["demo_user"] = "carol@example.com"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _text(at: AppTest) -> str:
    return " ".join([e.value for e in at.error] + [s.value for s in at.success])


def test_without_a_key_the_badge_says_unkeyed(config_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HEADROOM_AUDIT_KEY", raising=False)
    text = _text(_page())
    assert "Audit chain intact" in text and "UNKEYED" in text


def test_with_a_key_the_badge_says_hmac(config_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEADROOM_AUDIT_KEY", "k" * 32)
    text = _text(_page())
    assert "Audit chain intact" in text and "HMAC-SHA256" in text and "UNKEYED" not in text


def test_a_too_short_key_is_a_banner_naming_it(config_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEADROOM_AUDIT_KEY", "short")
    at = _page()
    assert "HEADROOM_AUDIT_KEY" in " ".join(e.value for e in at.error).replace("\\", "")  # rendered as text
