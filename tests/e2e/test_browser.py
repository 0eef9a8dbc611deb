"""End to end: `streamlit run dashboard.py` on a free port with a fresh store (a cold first start that
generates the demo world), every page opened in Debian's Chromium via Playwright."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import ARTIFACTS, start_streamlit, stop_streamlit, write_config
from tests.e2e.browser import PAGES, wait_for_charts, wait_until_idle

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cold_app(tmp_path_factory: pytest.TempPathFactory):
    directory = tmp_path_factory.mktemp("e2e")
    config = write_config(directory)
    assert not (directory / "headroom.db").exists()  # a truly cold start: the app must generate
    server = start_streamlit(config)
    yield server, directory
    stop_streamlit(server)


def test_every_page_renders_without_exception(cold_app, chromium) -> None:
    server, directory = cold_app
    shots = ARTIFACTS / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        for path, (title, min_charts) in PAGES.items():
            page.goto(f"{server.url}/{path}", wait_until="domcontentloaded")
            wait_until_idle(page)
            if min_charts:
                wait_for_charts(page, min_charts)
            page.screenshot(path=str(shots / f"{path or 'overview'}.png"), full_page=True)
            exceptions = page.locator('[data-testid="stException"]')
            assert exceptions.count() == 0, f"/{path}: {exceptions.first.inner_text()[:2000]}"
            heading = page.locator("h1").first.inner_text()
            assert title in heading, f"/{path}: expected title {title!r}, got {heading!r}"
            charts = page.locator(".js-plotly-plot").count()
            assert charts >= min_charts, f"/{path}: {charts} charts rendered, expected >= {min_charts}"
    finally:
        context.close()
    assert (directory / "headroom.db").exists(), "the cold start did not create the store"
    assert not errors, f"JavaScript errors: {errors[:3]}"


def test_url_reproduces_the_view(cold_app, chromium) -> None:
    """A copied URL (range and regions in the query string) restores the sidebar state."""
    server, _ = cold_app
    page = chromium.new_page()
    try:
        page.goto(f"{server.url}/?range=7d&regions=eu-west-1,us-east-1", wait_until="domcontentloaded")
        wait_until_idle(page)
        page.wait_for_selector(".js-plotly-plot .main-svg", timeout=60_000)
        assert page.locator('[data-testid="stException"]').count() == 0  # 7 days = 10k points per trace
        sidebar = page.locator('[data-testid="stSidebar"]')
        text = sidebar.inner_text()
        assert "eu-west-1" in text and "us-east-1" in text
        assert "ap-southeast-1 ·" not in text  # not selected
        # the 7d preset is active: the sidebar's range caption spans exactly seven days
        line = next(ln for ln in text.splitlines() if "→" in ln and ln.strip().endswith("UTC"))
        first, second = (
            datetime.strptime(p.strip().removesuffix(" UTC"), "%Y-%m-%d %H:%M") for p in line.split("→")
        )
        assert second - first == timedelta(days=7)
        assert "range=7d" in page.url
    finally:
        page.close()


def test_screenshots_are_written() -> None:
    shots = ARTIFACTS / "screenshots"
    assert (shots / "overview.png").exists() and (shots / "overview.png").stat().st_size > 10_000
    assert len(list(Path(shots).glob("*.png"))) >= len(PAGES)


def test_cold_deep_link_runs_through_dashboard(tmp_path, demo_store, chromium) -> None:
    """A fresh server whose first request is /capacity must still render through dashboard.py (Headroom
    sidebar, no raw file names), not Streamlit's legacy pages/ directory mode."""
    import shutil

    shutil.copy(demo_store, tmp_path / "headroom.db")
    server = start_streamlit(write_config(tmp_path, {"demo": {"refresh_after": "3650d"}}))
    page = chromium.new_page()
    try:
        page.goto(f"{server.url}/capacity", wait_until="domcontentloaded")
        wait_until_idle(page)
        assert "Capacity" in page.locator("h1").first.inner_text()
        sidebar = page.locator('[data-testid="stSidebar"]').inner_text()
        assert "Time range" in sidebar and "Weekly review" in sidebar
        assert "_ui" not in sidebar and "dashboard" not in sidebar
        assert page.locator('[data-testid="stException"]').count() == 0
    finally:
        page.close()
        stop_streamlit(server)
