"""Triage refreshes itself in a real browser: with ?refresh=30s the alerts panel (an st.fragment with
run_every) reruns on its own and its "Last updated" time moves, with no reload and no click."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.slow

# the alerts panel's caption ("... · evaluated at ..."; the data part's says "... · data to ...")
LAST_UPDATED = re.compile(r"Last updated (\d\d:\d\d:\d\d) UTC · evaluated at")


def test_triage_alerts_panel_reruns_on_its_own(demo_app, chromium) -> None:
    server = demo_app  # only reads (the form is typed in, never sent): the worker's shared server
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    try:
        page.goto(f"{server.url}/triage?refresh=30s", wait_until="domcontentloaded")
        page.get_by_text(LAST_UPDATED).first.wait_for(timeout=120_000)
        first = LAST_UPDATED.search(page.get_by_text(LAST_UPDATED).first.inner_text()).group(1)
        navigations: list[str] = []
        page.on("framenavigated", lambda frame: navigations.append(frame.url))
        # the next run_every tick (30 s) redraws the caption with a new time
        page.wait_for_function(
            """old => [...document.querySelectorAll('[data-testid="stCaptionContainer"]')]
                     .some(e => /Last updated (\\d\\d:\\d\\d:\\d\\d) UTC · evaluated at/.test(e.innerText)
                                && !e.innerText.includes('Last updated ' + old))""",
            arg=first,
            timeout=90_000,
        )
        second = LAST_UPDATED.search(page.get_by_text(LAST_UPDATED).first.inner_text()).group(1)
        assert second != first
        assert not navigations  # no reload: the fragment reran in place
        assert "refresh=30s" in page.url  # the choice stays in the URL
    finally:
        context.close()


DATA_PART_UPDATED = re.compile(r"Last updated (\d\d:\d\d:\d\d) UTC · data to")


def _script_run_endings(frames: list[bytes]) -> list[str]:
    """The endings of the script runs the server reported over the websocket, in order: a full run of
    the page ends FINISHED_SUCCESSFULLY, a fragment's run FINISHED_FRAGMENT_RUN_SUCCESSFULLY."""
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    endings = []
    for payload in frames:
        msg = ForwardMsg()
        try:
            msg.ParseFromString(payload)
        except Exception:  # not a ForwardMsg (never expected, but not this test's subject)
            continue
        if msg.WhichOneof("type") == "script_finished":
            endings.append(ForwardMsg.ScriptFinishedStatus.Name(msg.script_finished))
    return endings


def test_triage_data_part_refreshes_without_rerunning_the_page(demo_app, chromium) -> None:
    """The burning-now list and focus charts rerun on their own (issue 12 item 4): their "Last updated"
    moves, the server runs only fragments meanwhile, and a half-typed form elsewhere on the page is
    left alone."""
    server = demo_app  # only reads (the form is typed in, never sent): the worker's shared server
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    frames: list[bytes] = []
    page.on(
        "websocket",
        lambda ws: ws.on("framereceived", lambda p: frames.append(p) if isinstance(p, bytes) else None),
    )

    def wait_for_endings(done) -> None:  # poll the frames already received until `done` holds
        for _ in range(600):
            if done(_script_run_endings(frames)):
                return
            page.wait_for_timeout(100)
        raise AssertionError(f"the server never reported the expected runs: {_script_run_endings(frames)}")

    try:
        page.goto(f"{server.url}/triage?refresh=30s", wait_until="domcontentloaded")
        page.get_by_text(DATA_PART_UPDATED).first.wait_for(timeout=120_000)
        # elsewhere on the page: open the record form (a full run) and type without submitting
        full_runs = _script_run_endings(frames).count("FINISHED_SUCCESSFULLY")
        page.get_by_text("Record an incident or change").click()
        what = page.get_by_label("What happened")
        what.wait_for(timeout=60_000)
        wait_for_endings(lambda e: e.count("FINISHED_SUCCESSFULLY") > full_runs)
        what.fill("database failover drill (half typed)")
        first = DATA_PART_UPDATED.search(page.get_by_text(DATA_PART_UPDATED).first.inner_text()).group(1)
        seen = len(_script_run_endings(frames))
        navigations: list[str] = []
        page.on("framenavigated", lambda frame: navigations.append(frame.url))
        page.wait_for_function(
            """old => [...document.querySelectorAll('[data-testid="stCaptionContainer"]')]
                     .some(e => /Last updated \\d\\d:\\d\\d:\\d\\d UTC · data to/.test(e.innerText)
                                && !e.innerText.includes('Last updated ' + old))""",
            arg=first,
            timeout=90_000,
        )
        second = DATA_PART_UPDATED.search(page.get_by_text(DATA_PART_UPDATED).first.inner_text()).group(1)
        assert second != first
        wait_for_endings(lambda e: "FINISHED_FRAGMENT_RUN_SUCCESSFULLY" in e[seen:])
        since = _script_run_endings(frames)[seen:]
        assert "FINISHED_SUCCESSFULLY" not in since, since  # no full run of the page: fragments only
        assert what.input_value() == "database failover drill (half typed)"
        assert page.get_by_role("heading", name="Burning now").count() == 1  # the data part redrew whole
        assert not navigations and "refresh=30s" in page.url
    finally:
        context.close()
