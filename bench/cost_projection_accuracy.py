"""Month-end projection accuracy and time on real daily series: core.costs' forecasters compared.

The month-end projection (core.costs.project_month) forecasts a daily series of ~6-10 weeks (five weeks
before the month plus its closed days) to the month's end, 1-30 days ahead. This bench builds such cases
from real data, never the demo world:

- M4 Hourly, development half (`../shared/data/m4-hourly-dev`, train + test), summed to whole days: 207
  series of 29-42 days. Two cases a series: the last 7 and the last 14 days held out.
- NAB (`../shared/data/nab`), the traces with at least 8 weeks of whole days, summed per UTC day: cases
  every 9 days along the trace, each with 42 + d days of history and 30 - d held out (d cycles 0..27
  like the day of the month).

Per forecaster it prints, over every case: mean daily MASE (the history's in-sample weekly seasonal naive
MAE as the scale), the share of held-out days inside the daily 80% / 95% bands, the mean absolute error
of the held-out total as a percent of it (what the month-end figure misses by), the share of totals
inside the total's 80% / 95% bands (the days' spreads added up, as project_month does), and the seconds
per forecast. Asserts nothing.

Usage: .venv/bin/python bench/cost_projection_accuracy.py [--forecasters all,daily,rule] [--limit N]
  all   = auto_forecast over every core.forecast candidate (main before the cheap daily set)
  daily = auto_forecast over core.costs.DAILY_CANDIDATES (the default since issue 17)
  rule  = the weekly-seasonal rule (the fallback)
"""

from __future__ import annotations

import argparse
import csv
import math
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from core import costs  # noqa: E402
from core.costs.forecasters import z_value  # noqa: E402
from core.forecast import naive_scale  # noqa: E402

DATA = REPO.parent / "shared" / "data"
NAB_TRACES = (  # NAB traces spanning 8+ weeks of whole days (the others are ~2 weeks long)
    "realKnownCause/nyc_taxi.csv",
    "realKnownCause/ambient_temperature_system_failure.csv",
    "realKnownCause/machine_temperature_system_failure.csv",
    "realKnownCause/ec2_request_latency_system_failure.csv",
    "realKnownCause/cpu_utilization_asg_misconfiguration.csv",
)
FORECASTERS: dict[str, Callable[[pd.Series, int], costs.DailyForecast]] = {
    "all": lambda h, k: costs.auto_forecast(h, k, candidates=None),
    "daily": lambda h, k: costs.auto_forecast(h, k),
    "rule": lambda h, k: costs.weekly_seasonal_forecast(h, k),
}
MAX_HISTORY = 72  # the projection's window at most: 6 weeks before the month + 30 closed days


def _daily(values: np.ndarray, start: str = "2020-01-01") -> pd.Series:
    return pd.Series(values, index=pd.date_range(start, periods=len(values), freq="D", name="day"))


def m4_cases() -> Iterator[tuple[str, pd.Series, np.ndarray]]:
    folder = DATA / "m4-hourly-dev"
    with open(folder / "train.csv") as f_train, open(folder / "test.csv") as f_test:
        train, test = csv.reader(f_train), csv.reader(f_test)
        next(train), next(test)
        for row_train, row_test in zip(train, test, strict=True):
            hourly = np.array([float(v) for v in row_train[1:] + row_test[1:] if v != ""])
            days = hourly[: len(hourly) // 24 * 24].reshape(-1, 24).sum(axis=1)
            for held in (7, 14):
                history = days[:-held][-MAX_HISTORY:]
                yield f"M4 {row_train[0]} -{held}d", _daily(history), days[-held:]


def nab_cases() -> Iterator[tuple[str, pd.Series, np.ndarray]]:
    for name in NAB_TRACES:
        frame = pd.read_csv(DATA / "nab" / name, parse_dates=["timestamp"])
        per_day = frame.set_index("timestamp")["value"].resample("D")
        counts, sums = per_day.count(), per_day.sum()
        # whole days only: a day with fewer samples than the trace's usual day is a partial one
        days = sums[counts >= counts.median()]
        days = days.asfreq("D")  # a dropped partial day is a missing day (NaN), as in a bill
        values = days.to_numpy(dtype=float)
        for i, start in enumerate(range(0, len(values) - 43, 9)):
            d = (i * 5) % 28
            history, held = values[start : start + 42 + d], values[start + 42 + d : start + 72]
            if len(held) == 0 or np.isnan(held).any() or np.isnan(history[-1]):
                continue
            yield f"NAB {Path(name).stem} @{start} +{d}", _daily(history, str(days.index[start].date())), held


def score(history: pd.Series, actual: np.ndarray, fc: costs.DailyForecast) -> dict[str, float]:
    frame = fc.frame
    mean = frame["mean"].to_numpy()
    scale = naive_scale(history.dropna().to_numpy(), 7)
    total, total_fc = float(actual.sum()), float(mean.sum())
    total_sd = float(frame["sd"].to_numpy().sum())  # the days' spreads added up, as project_month does
    out = {
        "mase": float(np.mean(np.abs(actual - mean))) / scale if scale > 0 else math.nan,
        "total_err_pct": 100 * abs(total - total_fc) / abs(total) if total else math.nan,
    }
    for lv in (80, 95):
        inside = (actual >= frame[f"lo_{lv}"].to_numpy()) & (actual <= frame[f"hi_{lv}"].to_numpy())
        out[f"cov_{lv}"] = float(inside.mean())
        out[f"total_cov_{lv}"] = float(abs(total - total_fc) <= z_value(lv) * total_sd)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--forecasters", default="all,daily,rule", help="comma list of: " + ",".join(FORECASTERS)
    )
    parser.add_argument("--limit", type=int, default=0, help="at most this many cases per data set (0: all)")
    parser.add_argument("--sets", default="m4,nab", help="data sets: m4, nab")
    args = parser.parse_args()
    names = [n for n in args.forecasters.split(",") if n]
    cases = []
    for key, source in (("m4", m4_cases), ("nab", nab_cases)):
        if key in args.sets.split(","):
            got = list(source())
            cases += got[: args.limit] if args.limit else got
    print(
        f"{len(cases)} cases ({sum(c[0].startswith('M4') for c in cases)} M4, "
        f"{sum(c[0].startswith('NAB') for c in cases)} NAB)"
    )
    header = "| forecaster | set | cases | MASE | cov 80 | cov 95 | total err % | total cov 80 | total cov 95 | s/forecast |"
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for name in names:
        forecaster = FORECASTERS[name]
        rows: dict[str, list[dict[str, float]]] = {"M4": [], "NAB": []}
        chosen: Counter[str] = Counter()
        for label, history, actual in cases:
            t0 = time.process_time()
            fc = forecaster(history, len(actual))
            seconds = time.process_time() - t0
            chosen[" ".join(fc.method.split(" ")[:2])] += 1  # e.g. "seasonal naive", "ETS(A,Ad,A) m=7"
            rows[label.split(" ")[0]].append({**score(history, actual, fc), "seconds": seconds})
        for set_name, got in rows.items():
            if not got:
                continue

            def avg(key: str, got: list[dict[str, float]] = got) -> float:
                values = [r[key] for r in got if math.isfinite(r[key])]
                return statistics.fmean(values) if values else math.nan

            print(
                f"| {name} | {set_name} | {len(got)} | {avg('mase'):.3f} | {avg('cov_80'):.1%} | {avg('cov_95'):.1%} "
                f"| {avg('total_err_pct'):.2f} | {avg('total_cov_80'):.1%} | {avg('total_cov_95'):.1%} "
                f"| {avg('seconds'):.3f} |"
            )
        print(f"  {name}: chosen models {dict(chosen.most_common(8))}", flush=True)


if __name__ == "__main__":
    main()
