"""Demo-world generation time and the Overview's data-load time for 30 days x 6 regions.

Baseline for the load: reading every 1-minute row of the same range (what a naive page would do);
the Overview reads at the chart step (5 minutes for 30 days) aggregated in SQL, then downsamples.
Usage: .venv/bin/python bench/demo_and_overview.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _timing import median_time  # noqa: E402

from connectors.demo import generate_world, write_world  # noqa: E402
from connectors.store import StoreMetricsSource, open_db  # noqa: E402
from core.config import load_config  # noqa: E402
from core.health import HEALTH_METRICS, region_health  # noqa: E402
from core.timeseries import choose_step, downsample_series, pivot_metric  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    cfg = load_config(Path(__file__).resolve().parent.parent / ".streamlit" / "headroom.toml")
    end = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    with tempfile.TemporaryDirectory() as tmp:
        db = open_db(Path(tmp) / "bench.db")
        t0 = time.perf_counter()
        metrics, billing, events = generate_world(cfg, end)
        t_gen = time.perf_counter() - t0
        t0 = time.perf_counter()
        write_world(db, metrics, billing, events)
        t_write = time.perf_counter() - t0
        print(
            f"demo world: {cfg.demo.days} days x {len(cfg.region)} regions x 1 min = {len(metrics):,} rows "
            f"({len(metrics) * 13:,} metric values)"
        )
        print(f"  generate {t_gen:.2f} s + write {t_write:.2f} s = {t_gen + t_write:.2f} s")

        src = StoreMetricsSource(db)
        start = end - timedelta(days=30)
        step = choose_step(start, end)

        def overview_load():
            frame = src.query_range(HEALTH_METRICS, start, end, step, list(cfg.region_codes))
            health = region_health(frame, cfg)
            for metric in ("requests_per_second", "errors_per_second", "latency_p95_ms", "cpu_utilization"):
                wide = pivot_metric(frame, metric)
                for col in wide.columns:
                    downsample_series(wide[col].dropna())
            return frame, health

        def baseline_load():
            return src.query_range(HEALTH_METRICS, start, end, timedelta(minutes=1), list(cfg.region_codes))

        t_base, raw = median_time(baseline_load, args.repeat)
        t_over, (frame, _) = median_time(overview_load, args.repeat)
        print(
            f"overview load, 30 days x 6 regions x {len(HEALTH_METRICS)} metrics (median of {args.repeat}):"
        )
        print(f"  baseline (every 1-minute row, no charts): {t_base:.3f} s, {len(raw):,} rows")
        print(
            f"  overview (step {int(step.total_seconds() // 60)} min in SQL + health grid + MinMaxLTTB "
            f"for 24 traces): {t_over:.3f} s, {len(frame):,} rows"
        )
        print(f"  ratio overview / baseline: {t_over / t_base:.2f}")


if __name__ == "__main__":
    main()
