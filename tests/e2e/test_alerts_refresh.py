"""Triage refreshes itself in a real browser: with ?refresh=30s the alerts panel (an st.fragment with
run_every) reruns on its own and its "Last updated" time moves, with no reload and no click."""

from __future__ import annotations

import re
import shutil

import pytest

from tests.conftest import start_streamlit, stop_streamlit, write_config

pytestmark = pytest.mark.slow

LAST_UPDATED = re.compile(r"Last updated (\d\d:\d\d:\d\d) UTC")


def test_triage_alerts_panel_reruns_on_its_own(demo_store, chromium, tmp_path) -> None:
    shutil.copy(demo_store, tmp_path / "headroom.db")
    server = start_streamlit(write_config(tmp_path, {"demo": {"refresh_after": "3650d"}}))
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    try:
        page.goto(f"{server.url}/triage?refresh=30s", wait_until="domcontentloaded")
        page.get_by_text("Last updated").first.wait_for(timeout=120_000)
        first = LAST_UPDATED.search(page.get_by_text("Last updated").first.inner_text()).group(1)
        navigations: list[str] = []
        page.on("framenavigated", lambda frame: navigations.append(frame.url))
        # the next run_every tick (30 s) redraws the caption with a new time
        page.wait_for_function(
            """old => [...document.querySelectorAll('[data-testid="stCaptionContainer"]')]
                     .some(e => /Last updated (\\d\\d:\\d\\d:\\d\\d)/.test(e.innerText)
                                && !e.innerText.includes('Last updated ' + old))""",
            arg=first,
            timeout=90_000,
        )
        second = LAST_UPDATED.search(page.get_by_text("Last updated").first.inner_text()).group(1)
        assert second != first
        assert not navigations  # no reload: the fragment reran in place
        assert "refresh=30s" in page.url  # the choice stays in the URL
    finally:
        context.close()
        stop_streamlit(server)
