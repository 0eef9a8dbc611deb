"""Costs figures on the demo world (6 regions x 7 services, the shipped budgets): seconds per call of
the month-end projection (core.forecast's automatic choice vs the weekly-seasonal rule), the four
budgets, 30 days of changes and per-service/region anomalies, unit cost, and the Costs page's script
time cold and warm (AppTest). Prints figures; asserts nothing about time."""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from connectors.demo import ensure_demo_world  # noqa: E402
from connectors.store import StoreBillingSource, StoreMetricsSource, open_db  # noqa: E402
from core import costs  # noqa: E402
from core.config import load_config  # noqa: E402
from tests.conftest import write_config  # noqa: E402

END = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def timed(label: str, fn: Callable[[], object], repeat: int = 5) -> None:
    fn()  # warm-up: imports (statsmodels) and caches out of the figure
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t0)
    print(f"{label:<58} median {statistics.median(runs) * 1000:8.1f} ms  (min {min(runs) * 1000:.1f})")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cfg_path = write_config(Path(tmp), {"demo": {"refresh_after": "3650d"}})
        cfg = load_config(cfg_path)
        db = open_db(cfg.store_path())
        ensure_demo_world(db, cfg, now=END)
        today = END.date()
        billing = StoreBillingSource(db).daily_costs(costs.load_start(today, 30), today)
        first = today - timedelta(days=30)
        traffic = StoreMetricsSource(db).query_range(
            ["requests_per_second"],
            datetime.combine(first, datetime.min.time(), UTC),
            datetime.combine(today, datetime.min.time(), UTC) - timedelta(seconds=1),
            timedelta(minutes=5),
        )
        print(f"demo bill: {len(billing)} rows, {billing['day'].nunique()} days; traffic {len(traffic)} rows")
        timed("project_month (total), core.forecast auto", lambda: costs.project_month(billing, today))
        timed(
            "project_month (total), weekly-seasonal rule",
            lambda: costs.project_month(billing, today, forecaster=costs.weekly_seasonal_forecast),
        )
        timed(
            f"budget_statuses ({len(cfg.budget)} budgets), auto",
            lambda: costs.budget_statuses(billing, cfg.budget, today),
        )
        timed("daily_changes (total, 30 days)", lambda: costs.daily_changes(billing, today, 30))
        timed("anomalies_by service (30 days)", lambda: costs.anomalies_by(billing, today, 30, "service"))
        timed("anomalies_by region (30 days)", lambda: costs.anomalies_by(billing, today, 30, "region"))
        timed("top_movers by service", lambda: costs.top_movers(billing, today, "service"))
        timed(
            "unit_costs (30 days, 5-min traffic)",
            lambda: costs.unit_costs(billing, traffic, first, today, timedelta(minutes=5)),
        )
        db.conn.close()

        os.environ["HEADROOM_CONFIG"] = str(cfg_path)
        from streamlit.testing.v1 import AppTest

        at = AppTest.from_file(str(REPO / "pages" / "costs.py"), default_timeout=300)
        t0 = time.perf_counter()
        at.run()
        cold = time.perf_counter() - t0
        warm = []
        for _ in range(3):
            t0 = time.perf_counter()
            at.run()
            warm.append(time.perf_counter() - t0)
        assert not at.exception, [e.value for e in at.exception]
        print(
            f"{'Costs page script (AppTest), cold / warm median':<58} {cold:.2f} s / {statistics.median(warm):.2f} s"
        )


if __name__ == "__main__":
    main()
