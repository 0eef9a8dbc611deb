"""Page weight (issue 17): on the demo default, no page sends more than 1 MB over the websocket per load.
A size check, not a timing: each page is opened in a fresh tab, its charts are waited for, then the app
must be idle, and only then are the websocket frames it received counted (Chromium via Playwright;
docs/ARCHITECTURE.md, "Real components in tests"). bench/pages.py prints the same figure per page."""

from __future__ import annotations

import pytest

from tests.e2e.browser import PAGES, wait_for_charts

pytestmark = pytest.mark.slow

MAX_BYTES_PER_LOAD = 1_000_000


def received_bytes_for_one_load(browser, url: str, min_charts: int) -> int:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    received: list[int] = []

    def on_websocket(ws) -> None:  # type: ignore[no-untyped-def]
        ws.on("framereceived", lambda payload: received.append(len(payload)))

    page.on("websocket", on_websocket)
    try:
        page.goto(url, wait_until="domcontentloaded")
        page.wait_for_selector('[data-testid="stApp"]', timeout=120_000)
        page.wait_for_selector("h1", timeout=120_000)
        if min_charts:
            wait_for_charts(page, min_charts, timeout_ms=120_000)
        page.wait_for_selector('[data-testid="stStatusWidget"]', state="detached", timeout=120_000)
        exceptions = page.locator('[data-testid="stException"]')
        assert exceptions.count() == 0, f"{url}: {exceptions.first.inner_text()[:500]}"
        return sum(received)
    finally:
        page.close()


def test_no_page_sends_more_than_1_mb_per_load(demo_app, chromium) -> None:
    # demo_app is the worker's shared server (tests/conftest.py): when this test is its first, the first
    # session pays the imports and warms caches, which is not part of any page's weight
    received_bytes_for_one_load(chromium, f"{demo_app.url}/actions", 0)
    sizes = {
        path or "overview": received_bytes_for_one_load(chromium, f"{demo_app.url}/{path}", min_charts)
        for path, (_, min_charts) in PAGES.items()
    }
    assert all(size > 0 for size in sizes.values()), sizes  # the frames were counted at all
    heavy = {page: size for page, size in sizes.items() if size > MAX_BYTES_PER_LOAD}
    assert not heavy, f"pages over {MAX_BYTES_PER_LOAD:,} bytes per load: {heavy} (all: {sizes})"
