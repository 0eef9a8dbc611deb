"""Seconds per series for forecast + 3-fold backtest (model="auto") of hourly series with 60 days of
history and a 7-day horizon: one process, then `forecast_many` over a process pool; then CPU seconds per
series for auto on the M4 Hourly dev half (one process) and the time of a repeated call (fit cache).

Series are synthetic request rates with daily and weekly cycles, a slow trend and noise (one per seed),
the shape the Forecast page fits per region. Also prints the mean backtest time of each candidate per
fold. No timing is asserted.
Usage: .venv/bin/python bench/forecast_speed.py [--series 6] [--workers N] [--repeat 3] [--m4-limit 207]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from forecast_m4 import HORIZON as M4_HORIZON  # noqa: E402
from forecast_m4 import START as M4_START  # noqa: E402
from forecast_m4 import load, m4_dir  # noqa: E402

from core.forecast import MODELS, forecast, forecast_many, shutdown_pool  # noqa: E402

HISTORY_DAYS = 60
HORIZON = 7 * 24


def traffic(seed: int) -> pd.Series:
    rng = np.random.default_rng(seed)
    t = np.arange(HISTORY_DAYS * 24)
    daily = np.sin(2 * np.pi * (t - 6) / 24)
    weekly = np.where((t // 24) % 7 >= 5, 0.75, 1.0)  # quieter weekends
    base = rng.uniform(300, 3000)
    values = base * (1 + 0.002 * t / 24) * weekly * (1 + 0.35 * daily) * (1 + rng.normal(0, 0.05, t.size))
    index = pd.date_range("2026-01-05", periods=t.size, freq="h", tz="UTC")
    return pd.Series(values, index=index, name=f"region-{seed}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--series", type=int, default=6, help="number of series (default 6, one per region)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="pool size (default: CPUs)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per mode (median printed)")
    parser.add_argument(
        "--m4-limit", type=int, default=207, help="M4 dev series for the CPU figure (0: skip)"
    )
    args = parser.parse_args()
    series = {f"region-{i}": traffic(i) for i in range(args.series)}
    print(
        f"{args.series} hourly series x {HISTORY_DAYS} days, horizon {HORIZON} steps, model=auto "
        f"(backtest of every candidate over 3 folds + final fit); {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f} at start"
    )

    # one warm-up so the single-process figure excludes the one-off statsmodels import
    forecast(series["region-0"].iloc[-24 * 10 :], 24)
    singles, results = [], {}
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        results = {name: forecast(s, HORIZON, cache=False) for name, s in series.items()}
        singles.append(time.perf_counter() - t0)

    t0 = time.perf_counter()
    batch = forecast_many(series, HORIZON, workers=args.workers, cache=False)
    cold = time.perf_counter() - t0
    if batch.errors:
        print(f"errors: {batch.errors}")
    warms = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        forecast_many(series, HORIZON, workers=args.workers, cache=False)
        warms.append(time.perf_counter() - t0)
    shutdown_pool()

    n = len(series)
    single, warm = statistics.median(singles), statistics.median(warms)
    print(
        f"\n{'mode':44s} {'total s':>8s} {'s/series':>9s}   (median of {args.repeat} runs; min in brackets)"
    )
    print(f"{'single process':44s} {single:8.2f} {single / n:9.2f}   [{min(singles) / n:.2f}]")
    label = f"process pool, {batch.workers} workers, first call"
    print(f"{label:44s} {cold:8.2f} {cold / n:9.2f}   (includes spawning the workers)")
    label = f"process pool, {batch.workers} workers, pool reused"
    print(f"{label:44s} {warm:8.2f} {warm / n:9.2f}   [{min(warms) / n:.2f}]")
    print(f"speed-up of the reused pool over one process: x{single / warm:.2f}")
    print(f"load average {os.getloadavg()[0]:.1f} at the end (other processes share these CPUs)")

    print(f"\n{'candidate':20s} {'s per fold':>10s} {'mean MASE':>9s}  chosen")
    chosen = [r.model_key for r in results.values()]
    for key in MODELS:
        scores = [r.backtest.score(key) for r in results.values() if r.backtest and r.backtest.score(key)]
        if not scores:
            continue
        mases = [s.mase for s in scores if s.ok]
        mase_text = f"{statistics.fmean(mases):9.3f}" if mases else f"{'failed':>9s}"
        print(
            f"{key:20s} {statistics.fmean(s.seconds for s in scores):10.3f} {mase_text}  x{chosen.count(key)}"
        )
    if args.m4_limit:
        m4_cpu(args.m4_limit)
    return 0


def m4_cpu(limit: int) -> None:
    """CPU seconds (time.process_time, this process, one BLAS thread) of forecast(model="auto") per M4
    Hourly dev series, and of the same call repeated (served by the fit cache)."""
    root = m4_dir()
    if not (root / "train.csv").is_file():
        print(f"\nM4 dev data not found at {root}: M4 CPU figure skipped")
        return
    data = list(load(root).values())[:limit]
    cold, warm = [], []
    for history, _ in data:
        s = pd.Series(history, index=pd.date_range(M4_START, periods=len(history), freq="h"))
        c0 = time.process_time()
        forecast(s, M4_HORIZON)
        cold.append(time.process_time() - c0)
        c0 = time.process_time()
        again = forecast(s, M4_HORIZON)
        warm.append(time.process_time() - c0)
        assert again.cached
    q = statistics.quantiles(cold, n=10)
    print(
        f"\nM4 Hourly dev, {len(data)} series, horizon {M4_HORIZON}, auto, one process: CPU s/series "
        f"median {statistics.median(cold):.3f}, mean {statistics.fmean(cold):.3f}, p90 {q[-1]:.3f}, "
        f"max {max(cold):.3f}; repeated call (fit cache) median {statistics.median(warm) * 1000:.2f} ms"
    )


if __name__ == "__main__":
    raise SystemExit(main())
