"""A source that is down gets a page-wide banner above the page (issue 15, #5): its state used to be a
small dot inside the collapsed sidebar panel."""

from __future__ import annotations

import shutil

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import REPO_ROOT, free_port, write_config


def test_a_down_source_gets_a_page_wide_banner(tmp_path, demo_store, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copy(demo_store, tmp_path / "headroom.db")
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens here: Cost Explorer is down
    path = write_config(
        tmp_path,
        {
            "demo": {"refresh_after": "3650d"},
            "sources": {"billing": "cost_explorer"},
            "cost_explorer": {"endpoint_url": closed, "max_attempts": 1, "timeout": "2s"},
        },
    )
    monkeypatch.setenv("HEADROOM_CONFIG", str(path))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    first = AppTest.from_file(str(REPO_ROOT / "dashboard.py"), default_timeout=120)
    first.run()  # the Overview asks for the bill: the source fails and says so
    assert not first.exception, [e.value for e in first.exception]
    # the next visit (a new session; the source is shared): the health check runs before the page
    at = AppTest.from_file(str(REPO_ROOT / "dashboard.py"), default_timeout=120)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    banners = [w.value for w in at.warning if "The billing source" in w.value]
    assert banners and "is down" in banners[0], [w.value for w in at.warning]
