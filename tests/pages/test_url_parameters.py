"""Bad URL parameters get a visible message naming the value and what is shown instead (issue 15, #6):
they used to be replaced silently."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from tests.conftest import REPO_ROOT


def open_with(params: dict[str, str]) -> AppTest:
    at = AppTest.from_file(str(REPO_ROOT / "dashboard.py"), default_timeout=120)
    for key, value in params.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_bad_range_and_region_are_named(app_config) -> None:
    at = open_with({"range": "abc", "regions": "nowhere,us-east-1"})
    warning = " ".join(w.value for w in at.warning)
    assert "`range=abc` is not valid" in warning and "24h" in warning
    assert "`regions=nowhere` is not valid" in warning and "showing us-east-1 instead" in warning
    assert at.session_state["regions"] == ["us-east-1"]


def test_garbage_custom_start_is_named(app_config) -> None:
    at = open_with({"range": "custom", "start": "yesterday-ish", "end": "2026-11-23T12:00Z"})
    warning = " ".join(w.value for w in at.warning)
    assert "`start=yesterday-ish` is not valid" in warning and "2026-11-23T12:00Z" in warning
