"""What the browser tests share: the pages and what each must draw, and the waits and checks they use on
a Playwright page (each waits for a condition, never for a quiet moment)."""

from __future__ import annotations

import re

WAIT_MS = 120_000

# url path -> (title shown on the page, minimum number of plotly charts that must render)
PAGES: dict[str, tuple[str, int]] = {
    "": ("Overview", 5),
    "triage": ("Triage", 4),
    "slo": ("SLOs", 1),
    "cdn": ("CDN", 5),
    "costs": ("Costs", 0),
    "forecast": ("Forecast", 1),
    "capacity": ("Capacity", 4),
    "actions": ("Actions", 0),
    "review": ("Weekly review", 1),
}


def wait_until_idle(page, timeout_ms: int = 90_000) -> None:
    """The app has rendered once the status widget ('Running...') has gone and stayed gone: gone at three
    looks 400 ms apart (nothing after the last look: a pause there checked nothing)."""
    page.wait_for_selector('[data-testid="stApp"]', timeout=timeout_ms)
    page.wait_for_selector("h1", timeout=timeout_ms)
    page.wait_for_selector('[data-testid="stStatusWidget"]', state="detached", timeout=timeout_ms)
    for _ in range(2):
        page.wait_for_timeout(400)
        page.wait_for_selector('[data-testid="stStatusWidget"]', state="detached", timeout=timeout_ms)


def wait_for_charts(page, count: int, timeout_ms: int = 240_000) -> None:
    """Charts render one after another: wait until `count` plotly charts have drawn their SVG (a bound,
    not a pace: the weekly review's first build on a loaded 2-core machine took over a minute)."""
    page.wait_for_function(
        "n => [...document.querySelectorAll('.js-plotly-plot')].filter(e => e.querySelector('.main-svg')).length >= n",
        arg=count,
        timeout=timeout_ms,
    )


def no_exception(page, where: str) -> None:
    exceptions = page.locator('[data-testid="stException"]')
    assert exceptions.count() == 0, f"{where}: {exceptions.first.inner_text()[:2000]}"


def main_text(page) -> str:
    return page.locator('[data-testid="stMain"]').inner_text()


def open_page(page, url: str, expect: str) -> None:
    """Go to `url` and wait for the text asserted next (not for a quiet moment), then for the run to end."""
    page.goto(url, wait_until="domcontentloaded")
    page.get_by_text(expect).first.wait_for(timeout=WAIT_MS)
    wait_until_idle(page)


def wait_for_title(page, title: str) -> None:
    page.wait_for_function(
        "t => [...document.querySelectorAll('h1')].some(h => h.innerText.includes(t))",
        arg=title,
        timeout=WAIT_MS,
    )


def act_as(page, name: str) -> None:
    """Pick the demo-mode identity on the Actions page (a widget: chosen again on every visit)."""
    box = page.locator('[data-testid="stSelectbox"]').filter(has_text="Acting as")
    box.wait_for(timeout=WAIT_MS)
    if name not in box.inner_text():
        box.locator("input").click()
        page.get_by_role("option", name=re.compile(re.escape(name))).click()
    page.get_by_text(re.compile(rf"Signed in as \*?\*?{re.escape(name)}")).first.wait_for(timeout=WAIT_MS)
    wait_until_idle(page)


def click_tab(page, prefix: str) -> None:
    page.get_by_role("tab", name=re.compile("^" + re.escape(prefix))).click()
