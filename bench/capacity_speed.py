"""Seconds to simulate a year at 1-minute resolution (525,600 steps) per scaling policy.

Prints the best of `--repeat` runs (wall clock and CPU time of this process) for target tracking, step
scaling, Kubernetes HPA and scheduled actions (the four in the issue's speed goal), plus predictive scaling
with its seasonal-naive forecaster refreshed every 6 h (1,460 forecasts a year). The machine is shared:
CPU time is the steadier figure. Run from the repository root:

    python bench/capacity_speed.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.capacity import (  # noqa: E402
    Fleet,
    KubernetesHPA,
    Predictive,
    Scheduled,
    ScheduledAction,
    StepScaling,
    TargetTracking,
    seasonal_naive_forecast,
    simulate,
)

STEPS = 525_600


def year_of_demand(seed: int = 7) -> pd.Series:
    """A year of API traffic at 1-minute steps, shaped like the demo world: a diurnal cycle peaking at
    ~1.45x the mean mid-afternoon, quieter weekends, 12% growth a quarter, slow and fast noise."""
    idx = pd.date_range("2025-01-01", periods=STEPS, freq="min", tz="UTC")
    hour = (idx.hour + idx.minute / 60).to_numpy()
    rng = np.random.default_rng(seed)
    diurnal = 1 + 0.42 * np.cos(2 * np.pi * (hour - 15) / 24) + 0.08 * np.cos(4 * np.pi * (hour - 11) / 24)
    weekly = np.where(idx.day_of_week.to_numpy() >= 5, 0.78, 1.0)
    growth = 1.12 ** (np.arange(STEPS) / (90 * 1440))
    slow = np.cumsum(rng.normal(0, 0.004, STEPS)) * 0.05
    noise = np.exp(slow - slow.mean() + rng.normal(0, 0.02, STEPS))
    return pd.Series(1280.0 * diurnal * weekly * growth * noise, index=idx, name="demand")


def policies() -> dict[str, object]:
    return {
        "target tracking": TargetTracking(target_utilization=0.6),
        "step scaling": StepScaling(),
        "kubernetes HPA": KubernetesHPA(target_utilization=0.6),
        "scheduled (+ target tracking)": Scheduled(
            actions=(
                ScheduledAction("0 9 * * MON-FRI", min_instances=30),
                ScheduledAction("0 21 * * *", min_instances=6),
            ),
            timezone="America/New_York",
            policy=TargetTracking(target_utilization=0.6),
        ),
        "predictive (seasonal naive, 6 h)": Predictive(
            target_utilization=0.6, forecaster=lambda h, k: seasonal_naive_forecast(h, k)
        ),
    }


def best_of(fn, repeat: int) -> tuple[float, float, object]:
    wall, cpu, out = float("inf"), float("inf"), None
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        wall = min(wall, time.perf_counter() - w0)
        cpu = min(cpu, time.process_time() - c0)
    return wall, cpu, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    demand = year_of_demand()
    fleet = Fleet(
        capacity_per_instance=50, min_instances=6, max_instances=120, warmup_s=180, price_per_hour=0.0857
    )
    print(
        f"{len(demand):,} steps of 60 s ({demand.index[0]:%Y-%m-%d} .. {demand.index[-1]:%Y-%m-%d} UTC), "
        f"mean {demand.mean():,.0f} req/s, peak {demand.max():,.0f} req/s; best of {args.repeat}"
    )
    header = (
        f"{'policy':34s} {'wall s':>7s} {'cpu s':>7s} {'events':>7s} {'cost USD':>10s} {'unserved min':>12s}"
    )
    print(header)
    four_wall = four_cpu = 0.0
    for i, (name, policy) in enumerate(policies().items()):
        wall, cpu, res = best_of(lambda p=policy: simulate(demand, fleet, p), args.repeat)
        s = res.summary
        line = f"{name:34s} {wall:7.2f} {cpu:7.2f} {s.scale_events:7d} {s.cost_usd:10,.0f} {s.minutes_unserved:12,.0f}"
        print(line)
        if i < 4:
            four_wall += wall
            four_cpu += cpu
    print(f"{'four policies (first four rows)':34s} {four_wall:7.2f} {four_cpu:7.2f}")


if __name__ == "__main__":
    main()
