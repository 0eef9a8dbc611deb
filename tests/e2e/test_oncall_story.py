"""The on-call story end to end in Debian's Chromium (issue 15, #11): a fresh server, Triage first, the
paging region in focus, the failover proposed from Triage's quick action, approved by a second person
in a second browser context, executed, and then seen on Triage, Overview and Capacity, with every page
revisited in between and no exception anywhere."""

from __future__ import annotations

import re
import shutil

import pytest
from playwright.sync_api import expect

from tests.conftest import start_streamlit, stop_streamlit, write_config
from tests.e2e.browser import (
    PAGES,
    WAIT_MS,
    act_as,
    click_tab,
    main_text,
    no_exception,
    open_page,
    wait_for_charts,
    wait_for_title,
    wait_until_idle,
)

pytestmark = pytest.mark.slow
PAGING = "ap-southeast-1"  # the demo world's ongoing regression


@pytest.fixture
def fresh_server(tmp_path, demo_store):
    shutil.copy(demo_store, tmp_path / "headroom.db")
    server = start_streamlit(write_config(tmp_path, {"demo": {"refresh_after": "3650d"}}))
    yield server
    stop_streamlit(server)


def revisit_every_page(page, base: str, when: str) -> None:
    for path, (title, min_charts) in PAGES.items():
        page.goto(f"{base}/{path}", wait_until="domcontentloaded")
        wait_for_title(page, title)
        wait_until_idle(page)
        if min_charts:
            wait_for_charts(page, min_charts, timeout_ms=WAIT_MS)
        no_exception(page, f"/{path} ({when})")


def test_the_oncall_story(fresh_server, chromium) -> None:
    base = fresh_server.url
    oncall = chromium.new_context(viewport={"width": 1440, "height": 900})
    approver = chromium.new_context(viewport={"width": 1440, "height": 900})
    errors: list[str] = []
    page = oncall.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        # 1. cold start on Triage: the paging region is in focus
        open_page(page, f"{base}/triage", "Burning now")
        no_exception(page, "/triage (cold)")
        page.get_by_role("heading", name=re.compile(f"📍 {PAGING}")).wait_for(timeout=WAIT_MS)

        # 2. the quick action opens the Actions page with the failover filled in; propose it
        page.get_by_role("button", name=f"Fail over away from {PAGING}").click()
        page.wait_for_function("() => location.pathname.endsWith('/actions')", timeout=WAIT_MS)
        wait_for_title(page, "Actions")
        wait_until_idle(page)
        act_as(page, "Carol (operator)")
        no_exception(page, "/actions (prefilled)")
        propose = page.get_by_role("button", name="Propose for approval")
        # the run for the picked identity may still be on its way under load: wait for the button to be
        # enabled (the operator's role reached the form), do not read it once
        expect(propose).to_be_enabled(timeout=WAIT_MS)
        propose.click()
        page.get_by_text(re.compile(r"Action #\d+ proposed")).first.wait_for(timeout=WAIT_MS)
        action_id = re.search(r"Action #(\d+) proposed", main_text(page)).group(1)
        wait_until_idle(page)

        revisit_every_page(page, base, "after the proposal")

        # 3. a second person approves it in another browser context
        second = approver.new_page()
        second.on("pageerror", lambda exc: errors.append(str(exc)))
        open_page(second, f"{base}/actions", "Acting as")
        act_as(second, "Bob (approver)")
        click_tab(second, "Pending approval (1)")
        second.get_by_role("button", name="Approve").click()
        second.get_by_text(f"Action #{action_id} approved").first.wait_for(timeout=WAIT_MS)
        no_exception(second, "/actions (approver)")

        revisit_every_page(page, base, "after the approval")

        # 4. the on-call engineer executes it
        open_page(page, f"{base}/actions", "Acting as")
        act_as(page, "Carol (operator)")
        click_tab(page, "Ready to run (1)")
        page.get_by_role("button", name="Execute now").click()
        page.get_by_text("🚀").first.wait_for(timeout=WAIT_MS)
        wait_until_idle(page)
        no_exception(page, "/actions (executed)")

        # 5. the action is part of the picture on Triage, Overview and Capacity
        open_page(page, f"{base}/triage", "has run")
        text = main_text(page)
        assert f"Failover #{action_id}" in text
        expect(page.get_by_role("button", name=f"Fail over away from {PAGING}")).to_have_count(
            0, timeout=WAIT_MS
        )
        assert f"{PAGING} drained" in text
        wait_for_charts(page, 4, timeout_ms=WAIT_MS)
        no_exception(page, "/triage (after)")
        open_page(page, base, f"{PAGING} drained")
        no_exception(page, "/ (after)")
        open_page(page, f"{base}/capacity", f"{PAGING} drained")
        no_exception(page, "/capacity (after)")

        revisit_every_page(page, base, "after the execution")
    finally:
        oncall.close()
        approver.close()
    assert not errors, f"JavaScript errors: {errors[:3]}"
