"""Forecast accuracy on real traces (Numenta Anomaly Benchmark): auto vs the seasonal naive baseline.

For each suitable trace the last day is held out, forecast from the history before it, and scored:
sMAPE (%), MASE (scaled by the history's in-sample seasonal naive MAE, the same scale for both methods)
and the share of held-out points inside the 95% band. Prints one row per trace, the means, and whether
auto beats seasonal naive on mean MASE. No timing is asserted; time per series is printed.

Data: `<repo>/../shared/data/nab` (the shared folder beside the checkout, or higher up), or HEADROOM_NAB_DIR.
Usage: .venv/bin/python bench/forecast_accuracy.py [--only nyc_taxi,elb] [--history-days 14]
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.forecast import baseline_season, coverage, forecast, infer_season_lengths, mase, smape  # noqa: E402

# Demand-like traces: CPU, network, disk, request counts and taxi demand. Left out: realTraffic (irregular
# sensor sampling with long gaps), rogue_agent_* (keystroke timings) and the temperature traces (physical
# sensors, not demand).
TRACES = (
    "realAWSCloudwatch/ec2_cpu_utilization_24ae8d.csv",
    "realAWSCloudwatch/ec2_cpu_utilization_53ea38.csv",
    "realAWSCloudwatch/ec2_cpu_utilization_5f5533.csv",
    "realAWSCloudwatch/ec2_cpu_utilization_77c1ca.csv",
    "realAWSCloudwatch/ec2_cpu_utilization_825cc2.csv",
    "realAWSCloudwatch/ec2_cpu_utilization_ac20cd.csv",
    "realAWSCloudwatch/ec2_cpu_utilization_c6585a.csv",
    "realAWSCloudwatch/ec2_cpu_utilization_fe7f93.csv",
    "realAWSCloudwatch/ec2_disk_write_bytes_1ef3de.csv",
    "realAWSCloudwatch/ec2_disk_write_bytes_c0d644.csv",
    "realAWSCloudwatch/ec2_network_in_257a54.csv",
    "realAWSCloudwatch/ec2_network_in_5abac7.csv",
    "realAWSCloudwatch/elb_request_count_8c0756.csv",
    "realAWSCloudwatch/grok_asg_anomaly.csv",
    "realAWSCloudwatch/iio_us-east-1_i-a2eb1cd9_NetworkIn.csv",
    "realAWSCloudwatch/rds_cpu_utilization_cc0c53.csv",
    "realAWSCloudwatch/rds_cpu_utilization_e47b3b.csv",
    "realKnownCause/cpu_utilization_asg_misconfiguration.csv",
    "realKnownCause/ec2_request_latency_system_failure.csv",
    "realKnownCause/nyc_taxi.csv",
)


def nab_dir() -> Path:
    override = os.environ.get("HEADROOM_NAB_DIR")
    if override:
        return Path(override)
    repo = Path(__file__).resolve().parents[1]
    # the shared folder sits beside the checkout; from a worktree nested deeper, look further up
    for folder in repo.parents:
        candidate = folder / "shared" / "data" / "nab"
        if candidate.is_dir():
            return candidate
    return repo.parent / "shared" / "data" / "nab"


def load_trace(path: Path, history_days: float) -> pd.Series:
    frame = pd.read_csv(path)
    series = pd.Series(
        frame["value"].astype("float64").to_numpy(),
        index=pd.DatetimeIndex(pd.to_datetime(frame["timestamp"], utc=True)),
        name=path.stem,
    )
    series = series[~series.index.duplicated()].sort_index()
    return series[series.index > series.index[-1] - pd.Timedelta(days=history_days)]


def regular(series: pd.Series) -> pd.Series:
    """The trace on its median step (NAB CloudWatch timestamps drift by a minute now and then)."""
    step = pd.Timedelta(series.index.to_series().diff().median())
    return series.resample(step, origin=series.index[0]).mean()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="", help="comma-separated substrings of trace names to run")
    parser.add_argument("--history-days", type=float, default=14.0, help="history kept per trace (days)")
    parser.add_argument("--holdout-days", type=float, default=1.0, help="held-out tail per trace (days)")
    args = parser.parse_args()
    root = nab_dir()
    if not root.is_dir():
        print(f"NAB data not found at {root}; set HEADROOM_NAB_DIR", file=sys.stderr)
        return 2
    wanted = [w for w in args.only.split(",") if w]
    traces = [t for t in TRACES if not wanted or any(w in t for w in wanted)]

    header = (
        f"{'trace':44s} {'step':>6s} {'n':>5s} {'h':>4s} {'auto model':18s} "
        f"{'sMAPE auto':>10s} {'sMAPE snaive':>12s} {'MASE auto':>9s} {'MASE snaive':>11s} "
        f"{'cov95 auto':>10s} {'cov95 snaive':>12s} {'s/series':>8s}"
    )
    print(header)
    print("-" * len(header))
    rows = []
    for rel in traces:
        series = regular(load_trace(root / rel, args.history_days + args.holdout_days))
        step = pd.Timedelta(series.index.freq)
        h = int(pd.Timedelta(days=args.holdout_days) / step)
        history, actual = series.iloc[:-h], series.iloc[-h:]
        seasons = infer_season_lengths(step)
        m = baseline_season(len(history.dropna()), seasons)
        insample = history.interpolate(limit_area="inside").dropna().to_numpy()
        keep = actual.notna().to_numpy()
        y = actual.to_numpy()[keep]

        t0 = time.perf_counter()
        auto = forecast(history, h)
        seconds = time.perf_counter() - t0
        naive = forecast(history, h, model="seasonal_naive")
        row = {"trace": Path(rel).stem, "seconds": seconds, "model": auto.model_key}
        for name, res in (("auto", auto), ("snaive", naive)):
            f = res.frame[keep]
            row[f"smape_{name}"] = smape(y, f["mean"])
            row[f"mase_{name}"] = mase(y, f["mean"], insample, m)
            row[f"cov_{name}"] = coverage(y, f["lo_95"], f["hi_95"])
        rows.append(row)
        print(
            f"{row['trace'][:44]:44s} {_fmt_step(step):>6s} {len(history):5d} {h:4d} {auto.model_key:18s} "
            f"{row['smape_auto']:10.2f} {row['smape_snaive']:12.2f} {row['mase_auto']:9.3f} "
            f"{row['mase_snaive']:11.3f} {row['cov_auto']:10.1%} {row['cov_snaive']:12.1%} {seconds:8.2f}",
            flush=True,
        )

    def mean(key: str) -> float:
        values = [r[key] for r in rows if math.isfinite(r[key])]
        return statistics.fmean(values) if values else float("nan")

    print("-" * len(header))
    print(
        f"{'mean over ' + str(len(rows)) + ' traces':44s} {'':>6s} {'':>5s} {'':>4s} {'':18s} "
        f"{mean('smape_auto'):10.2f} {mean('smape_snaive'):12.2f} {mean('mase_auto'):9.3f} "
        f"{mean('mase_snaive'):11.3f} {mean('cov_auto'):10.1%} {mean('cov_snaive'):12.1%} {mean('seconds'):8.2f}"
    )
    wins = sum(r["mase_auto"] < r["mase_snaive"] for r in rows)
    verdict = "beats" if mean("mase_auto") < mean("mase_snaive") else "does NOT beat"
    print(
        f"\nauto {verdict} seasonal naive on mean MASE; auto has the lower MASE on {wins}/{len(rows)} traces"
    )
    chosen = pd.Series([r["model"] for r in rows]).value_counts()
    print("models chosen by auto: " + ", ".join(f"{k} x{v}" for k, v in chosen.items()))
    return 0


def _fmt_step(step: pd.Timedelta) -> str:
    minutes = step.total_seconds() / 60
    return f"{minutes:g}min" if minutes < 60 else f"{minutes / 60:g}h"


if __name__ == "__main__":
    raise SystemExit(main())
