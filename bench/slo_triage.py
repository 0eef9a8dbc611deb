"""SLO evaluation speed and the Triage page's render time on the demo world (6 regions, 1-minute data).

1. core/slo: every SLO x scope report (budget over the SLO window, 7 burn-rate windows, time to
   exhaustion) from a 30-day frame, against a baseline that filters the tidy frame once per window
   (what a straightforward pandas implementation does).
2. Triage render: the page script run through dashboard.py in Streamlit's AppTest, cold (empty caches:
   store query + SLO maths + charts) and warm (cached query), median of --repeat runs.
3. With --browser: the same page served by `streamlit run` and opened in Debian's Chromium, from
   navigation to the charts drawn and the app idle.

Usage: .venv/bin/python bench/slo_triage.py [--repeat 5] [--browser]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _timing import median_time  # noqa: E402

from connectors.demo import ensure_demo_world  # noqa: E402
from connectors.store import StoreMetricsSource, open_db  # noqa: E402
from core.config import DEFAULT_BURN_RATE_RULES, load_config  # noqa: E402
from core.slo import lookback, metric_grid, metrics_for, slo_reports, slos_from_config  # noqa: E402
from tests.conftest import DEMO_END, write_config  # noqa: E402


def naive_burn_rates(frame, slos, at, regions) -> int:
    """Baseline: for every SLO, scope and window, mask the tidy frame and sum (no cumulative sums)."""
    windows = {w for r in DEFAULT_BURN_RATE_RULES for w in (r.long_window, r.short_window)}
    n = 0
    for slo in slos:
        for scope in [*regions, None]:
            sub = frame if scope is None else frame[frame["region"] == scope]
            for window in [*windows, slo.window]:
                part = sub[(sub["ts"] > at - window) & (sub["ts"] <= at)]
                if slo.is_latency:
                    p = part[part["metric"] == slo.total]["value"]
                    _ = (p > slo.threshold).mean() if len(p) else None
                else:
                    total = part[part["metric"] == slo.total]["value"].sum()
                    bad = part[part["metric"] == slo.bad]["value"].sum()
                    _ = bad / total if total else None
                n += 1
    return n


def apptest_triage(repeat: int) -> tuple[float, list[float]]:
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    def run_once(clear: bool) -> float:
        at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=120)
        at.run()  # the default page (Overview) first, as a user arriving would
        at.switch_page("pages/triage.py")
        if clear:  # after the Overview, which shares Triage's SLO data: a truly cold Triage
            st.cache_data.clear()
            st.cache_resource.clear()
        t0 = time.perf_counter()
        at.run()
        elapsed = time.perf_counter() - t0
        if at.exception:
            raise RuntimeError([e.value for e in at.exception])
        return elapsed

    cold = [run_once(clear=True) for _ in range(repeat)]
    run_once(clear=False)
    warm = [run_once(clear=False) for _ in range(repeat)]
    return statistics.median(cold), [statistics.median(warm), min(cold), max(cold)]


def browser_triage(config: Path, repeat: int) -> list[float]:
    from playwright.sync_api import sync_playwright

    from tests.conftest import CHROMIUM_ARGS, start_streamlit, stop_streamlit

    server = start_streamlit(config)
    times = []
    try:
        with sync_playwright() as pw:
            executable = shutil.which("chromium") or "/usr/bin/chromium"
            browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{server.url}/", wait_until="domcontentloaded")  # warm the server's imports
            page.wait_for_selector("h1", timeout=120_000)
            for _ in range(repeat):
                t0 = time.perf_counter()
                page.goto(f"{server.url}/triage", wait_until="domcontentloaded")
                page.wait_for_selector("h1:has-text('Triage')", timeout=60_000)
                page.wait_for_function(
                    "document.querySelectorAll('.js-plotly-plot .main-svg').length >= 4", timeout=60_000
                )
                page.wait_for_selector('[data-testid="stStatusWidget"]', state="detached", timeout=60_000)
                times.append(time.perf_counter() - t0)
            browser.close()
    finally:
        stop_streamlit(server)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--browser", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        config_path = write_config(Path(tmp), {"demo": {"refresh_after": "3650d"}})
        cfg = load_config(config_path)
        db = open_db(cfg.store_path())
        ensure_demo_world(db, cfg, now=DEMO_END)
        slos = slos_from_config(cfg.slo)
        at = DEMO_END
        src = StoreMetricsSource(db)
        t_query, frame = median_time(
            lambda: src.query_range(
                metrics_for(slos), at - lookback(slos), at, timedelta(minutes=1), list(cfg.region_codes)
            ),
            args.repeat,
        )
        per_metric = len(frame) // len(metrics_for(slos))
        print(
            f"SLO data: {len(slos)} SLOs, {len(cfg.region)} regions, {lookback(slos).days} days at 1 min: "
            f"{len(frame):,} tidy rows ({per_metric:,} per metric); store query {t_query:.3f} s"
        )
        t_fast, reports = median_time(
            lambda: slo_reports(metric_grid(frame), slos, at, cfg.region_codes), args.repeat
        )
        t_naive, n_windows = median_time(
            lambda: naive_burn_rates(frame, slos, at, cfg.region_codes), max(1, args.repeat // 2)
        )
        print(
            f"core/slo: {len(reports)} SLO x scope reports (budget + 7 burn windows each) in {t_fast:.3f} s; "
            f"baseline masking the frame per window ({n_windows} windows): {t_naive:.3f} s "
            f"({t_naive / t_fast:.0f}x slower)"
        )
        os.environ["HEADROOM_CONFIG"] = str(config_path)
        cold, (warm, cold_min, cold_max) = apptest_triage(args.repeat)
        print(
            f"Triage page script (AppTest, dashboard + page, median of {args.repeat}): cold caches "
            f"{cold:.2f} s (min {cold_min:.2f}, max {cold_max:.2f}), warm {warm:.2f} s"
        )
        if args.browser:
            times = browser_triage(config_path, args.repeat)
            print(
                f"Triage in Chromium (full page load to all 4 charts drawn and the app idle): median "
                f"{statistics.median(times):.2f} s, min {min(times):.2f}, max {max(times):.2f}"
            )
        load = os.getloadavg()
        print(
            f"load average during the run: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} on {os.cpu_count()} CPUs"
        )


if __name__ == "__main__":
    main()
