"""No table cut off at 1440 px (issue 15, #9): in Chromium at 1440x900 on the demo world, every table
on the pages an on-call engineer reads fits its width, so no column hides behind a horizontal scroll
bar. Measured on the data grid's own scroller (its scrollWidth against its clientWidth)."""

from __future__ import annotations

import pytest

from tests.conftest import ARTIFACTS
from tests.e2e.browser import wait_until_idle

pytestmark = pytest.mark.slow
WAIT_MS = 120_000
# url path -> the least number of tables the page shows at the top level
TABLES = {"": 1, "triage": 2, "slo": 1, "cdn": 1, "capacity": 2, "forecast": 1}

# every grid's overflow: scrollWidth beyond clientWidth (px), with the table's column headers
MEASURE = """() => [...document.querySelectorAll('[data-testid="stDataFrame"]')]
  .filter(e => e.offsetParent !== null)
  .map(e => {
    const s = e.querySelector('.dvn-scroller');
    return s ? {over: s.scrollWidth - s.clientWidth, width: s.clientWidth,
                text: (e.getAttribute('aria-label') || e.innerText || '').slice(0, 80)} : null;
  }).filter(x => x)"""


def test_no_table_is_cut_off_at_1440_px(demo_app, chromium) -> None:
    # only reads pages: the worker's shared warm server (tests/conftest.py)
    context = chromium.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    shots = ARTIFACTS / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    clipped: list[str] = []
    try:
        for path, least in TABLES.items():
            page.goto(f"{demo_app.url}/{path}", wait_until="domcontentloaded")
            page.wait_for_function(
                "n => document.querySelectorAll('[data-testid=\"stDataFrame\"] .dvn-scroller').length >= n",
                arg=least,
                timeout=WAIT_MS,
            )
            wait_until_idle(page, WAIT_MS)
            grids = page.evaluate(MEASURE)
            tables = page.locator('[data-testid="stDataFrame"]')
            for i in range(min(tables.count(), 4)):  # for a person to look at: the tables as drawn
                if tables.nth(i).is_visible():
                    tables.nth(i).screenshot(path=str(shots / f"table-1440-{path or 'overview'}-{i}.png"))
            assert len(grids) >= least, f"/{path}: {len(grids)} tables measured"
            clipped += [
                f"/{path}: {g['over']} px cut off of {g['width']} px ({g['text']!r})"
                for g in grids
                if g["over"] > 1
            ]
    finally:
        context.close()
    assert not clipped, "\n".join(clipped)
