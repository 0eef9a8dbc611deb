"""Weekly review page (AppTest on the demo world): built once per week and data, readable tables."""

from __future__ import annotations

import re

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

import core.report
from tests.conftest import REPO_ROOT


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Counts the review builds: the page imports build_report from core.report on every run."""
    calls: list[str] = []
    real = core.report.build_report

    def counting(inputs, week, progress=None):
        calls.append(week.label)
        return real(inputs, week, progress=progress)

    monkeypatch.setattr(core.report, "build_report", counting)
    return calls


def open_review(week: str | None = None) -> AppTest:
    st.cache_resource.clear()  # a build cached by an earlier test in this process would hide a rebuild
    st.cache_data.clear()
    at = AppTest.from_file(str(REPO_ROOT / "dashboard.py"), default_timeout=300)
    if week is not None:
        at.query_params["week"] = week
    at.run()
    at.switch_page("pages/review.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_saving_a_note_does_not_rebuild_the_review(app_config, builds) -> None:
    at = open_review()
    assert len(builds) == 1
    at.session_state["demo_user"] = "carol@example.com"  # an operator: only they may record decisions
    at.run()
    key = next(t.key for t in at.text_area if t.key.startswith("review_note_"))
    at.text_area(key=key).input("Decision: keep the current max")
    next(b for b in at.button if b.label == "Save notes").click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert len(builds) == 1, "saving a note rebuilt the whole review"


def test_review_tables_are_readable(app_config, builds) -> None:
    at = open_review(week="2026-W99")  # and a bad week in the link is named, not replaced silently
    warning = " ".join(w.value for w in at.warning)
    assert "`week=2026-W99` is not valid" in warning and at.selectbox(key="review_week").value in warning
    tables = [d.value for d in at.dataframe]
    assert tables
    for table in tables:
        for column in table.columns:
            assert "_" not in str(column), f"raw field name {column!r}"
        cells = {str(v) for col in table.columns for v in table[col].tolist()}
        assert not cells & {"None", "nan", "NaN", "<NA>"}, cells & {"None", "nan", "NaN", "<NA>"}
    # an SLI just under 100 % keeps its digits (it was shown as "100.0" beside a spent budget)
    slis = [
        v for table in tables for col in table.columns if col.startswith("SLI") for v in table[col].tolist()
    ]
    assert slis and all(re.fullmatch(r"\d+\.\d{3}|—|100\.00", v) for v in slis), slis


def test_downloads_and_a_second_session_reuse_the_build(app_config, builds, monkeypatch) -> None:
    """The exports render from the cached build (again only when the notes change), and a second
    person opening the same week pays no build."""
    import headroom.render

    renders: list[int] = []
    real_render = headroom.render.render_html

    def counting_render(report, notes=None):
        renders.append(len(notes or {}))
        return real_render(report, notes)

    monkeypatch.setattr(headroom.render, "render_html", counting_render)
    at = open_review()
    assert len(builds) == 1 and len(renders) == 1
    at.run()  # any rerun (a download click reruns the page) reuses both the build and the files
    assert len(builds) == 1 and len(renders) == 1
    at.session_state["demo_user"] = "carol@example.com"
    at.run()
    key = next(t.key for t in at.text_area if t.key.startswith("review_note_"))
    at.text_area(key=key).input("Decision: add two instances in eu-west-1")
    next(b for b in at.button if b.label == "Save notes").click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert len(builds) == 1, "saving a note rebuilt the review"
    assert renders[-1] == 1, "the exports were not rendered again with the saved note"

    second = AppTest.from_file(str(REPO_ROOT / "dashboard.py"), default_timeout=300)
    second.run()
    second.switch_page("pages/review.py")
    second.run()
    assert not second.exception, [e.value for e in second.exception]
    assert len(builds) == 1, "a second session rebuilt the same week's review"
