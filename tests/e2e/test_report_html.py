"""The exported weekly report opens in Chromium offline with every chart rendered."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.store import StoreBillingSource, StoreMetricsSource, open_db
from core.config import load_config
from core.report import build_report, last_complete_week
from headroom.render import render_html
from headroom.wiring import gather_review_inputs
from tests.conftest import ARTIFACTS, DEMO_END, SHIPPED_CONFIG

pytestmark = pytest.mark.slow


def test_exported_html_renders_every_chart_offline(demo_store: Path, tmp_path: Path, chromium) -> None:
    db = open_db(demo_store)
    week = last_complete_week(DEMO_END)
    cfg = load_config(SHIPPED_CONFIG)
    report = build_report(
        gather_review_inputs(cfg, StoreMetricsSource(db), StoreBillingSource(db), db, week), week
    )
    expected_charts = sum(len(s.figures) for s in report.sections)
    assert expected_charts >= 1
    path = tmp_path / "report.html"
    path.write_text(render_html(report), encoding="utf-8")
    context = chromium.new_context(offline=True)  # nothing may be fetched from the network
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(path.as_uri())
    page.wait_for_function(
        f"document.querySelectorAll('.js-plotly-plot .main-svg').length >= {expected_charts}", timeout=30_000
    )
    assert page.locator(".js-plotly-plot").count() == expected_charts
    assert page.locator("section").count() == len(report.sections)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
    context.close()
    assert not errors, errors
