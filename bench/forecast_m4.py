"""Forecast accuracy on the M4 Hourly development half: sMAPE, MASE, band coverage and CPU per series.

Scores any `model=` of core.forecast (default: auto) on the 207 odd-numbered M4 Hourly series (history
700-960 points, horizon 48), with the competition's definitions: sMAPE = mean 200|y - f| / (|y| + |f|),
MASE = MAE / in-sample MAE of the seasonal naive at period 24. Also the share of the 48 held-out points
inside the 80% and 95% bands, and CPU seconds per series (fit plus model choice, measured inside the
worker process with time.process_time, one BLAS thread). When Nixtla's statsforecast is installed (a
bench-only extra: bench/requirements-bench.txt), its SeasonalNaive, AutoETS, AutoTheta and MSTL run on
the same series as peers (model names prefixed `sf_`).

M4 gives no timestamps; each series gets an hourly index starting on a Monday at 00:00 UTC, so
core.forecast infers the daily (24) and weekly (168) seasons from the step as it does for real data.

Data: `<repo>/../shared/data/m4-hourly-dev` (train.csv, test.csv; see its ABOUT.md), or HEADROOM_M4_DIR.
Tune on this half only, never per series.

Usage: .venv/bin/python bench/forecast_m4.py [--limit N] [--models auto,seasonal_naive,sf_mstl]
       [--workers 2] [--out per_series.csv] [--candidates shortlist|ets_additive,ar_direct,...]
(--candidates: auto's candidates, as the Forecast page limits them: `shortlist` is AUTO_SHORTLIST)
"""

from __future__ import annotations

import argparse
import math
import os
import shlex
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

# one BLAS/OpenMP thread per process (set before numpy loads; spawned workers inherit it)
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.forecast import AUTO_SHORTLIST, coverage, forecast, mase, smape  # noqa: E402

HORIZON = 48
SEASON = 24  # M4's seasonal period for hourly data (MASE scale)
LEVELS = (80, 95)
START = pd.Timestamp("2026-01-05 00:00", tz="UTC")  # a Monday
PEERS = {
    "sf_seasonal_naive": "statsforecast SeasonalNaive(24)",
    "sf_autoets": "statsforecast AutoETS(24)",
    "sf_autotheta": "statsforecast AutoTheta(24)",
    "sf_mstl": "statsforecast MSTL(24, 168)",
}


def m4_dir() -> Path:
    override = os.environ.get("HEADROOM_M4_DIR")
    if override:
        return Path(override)
    repo = Path(__file__).resolve().parents[1]
    for folder in repo.parents:  # the shared folder sits beside the checkout (or higher, from a worktree)
        candidate = folder / "shared" / "data" / "m4-hourly-dev"
        if candidate.is_dir():
            return candidate
    return repo.parent / "shared" / "data" / "m4-hourly-dev"


def load(root: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """id -> (history, the 48 held-out values), padding cells dropped."""
    train = pd.read_csv(root / "train.csv", index_col=0)
    test = pd.read_csv(root / "test.csv", index_col=0)
    out = {}
    for sid in train.index:
        history = train.loc[sid].dropna().to_numpy(dtype=float)
        actual = test.loc[sid].dropna().to_numpy(dtype=float)
        out[str(sid)] = (history, actual)
    return out


def _statsforecast_peer(name: str) -> Any:
    from statsforecast.models import MSTL, AutoETS, AutoTheta, SeasonalNaive

    return {
        "sf_seasonal_naive": lambda: SeasonalNaive(season_length=SEASON),
        "sf_autoets": lambda: AutoETS(season_length=SEASON),
        "sf_autotheta": lambda: AutoTheta(season_length=SEASON),
        "sf_mstl": lambda: MSTL(season_length=[SEASON, 7 * SEASON]),
    }[name]()


def run_one(
    sid: str, model: str, history: np.ndarray, actual: np.ndarray, candidates: tuple[str, ...] | None = None
) -> dict[str, Any]:
    """Forecast one series with one model in this process; scores and CPU seconds."""
    row: dict[str, Any] = {"series": sid, "model": model, "chosen": "", "error": ""}
    cpu0 = time.process_time()
    try:
        if model in PEERS:
            raw = _statsforecast_peer(model).forecast(y=history, h=HORIZON, level=list(LEVELS))
            frame = pd.DataFrame(
                {"mean": raw["mean"]} | {f"{b}_{lv}": raw[f"{b}-{lv}"] for b in ("lo", "hi") for lv in LEVELS}
            )
        else:
            index = pd.date_range(START, periods=len(history), freq="h")
            result = forecast(
                pd.Series(history, index=index), HORIZON, model=model, levels=LEVELS, candidates=candidates
            )
            frame, row["chosen"] = result.frame, result.model_key
    except Exception as exc:  # a failing model is a row with its reason, not a dead run
        row["error"] = f"{type(exc).__name__}: {exc}"[:200]
        row["cpu"] = time.process_time() - cpu0
        return row
    row["cpu"] = time.process_time() - cpu0
    mean = np.asarray(frame["mean"], dtype=float)
    row["smape"] = smape(actual, mean)
    row["mase"] = mase(actual, mean, history, SEASON)
    for lv in LEVELS:
        row[f"cov{lv}"] = coverage(actual, frame[f"lo_{lv}"], frame[f"hi_{lv}"])
    return row


def _warm_up() -> None:
    """Import statsmodels and fit once so no series pays the one-off import in its CPU time."""
    history = 100 + 10 * np.sin(np.arange(24 * 30) * 2 * np.pi / 24)
    run_one(
        "warm-up", "auto", history + np.random.default_rng(0).normal(size=history.size), history[:HORIZON]
    )


def _table(rows: list[dict[str, Any]], models: list[str]) -> None:
    header = (
        f"{'model':22s} {'series':>6s} {'failed':>6s} {'sMAPE':>7s} {'MASE':>7s} {'cov80':>6s} {'cov95':>6s} "
        f"{'median CPU s':>12s} {'mean CPU s':>10s}"
    )
    print(header)
    print("-" * len(header))
    for model in models:
        mine = [r for r in rows if r["model"] == model]
        ok = [r for r in mine if not r["error"] and math.isfinite(r.get("mase", float("nan")))]

        def avg(key: str, ok: list[dict[str, Any]] = ok) -> float:
            return statistics.fmean(r[key] for r in ok) if ok else float("nan")

        cpu = [r["cpu"] for r in mine]
        print(
            f"{model:22s} {len(mine):6d} {len(mine) - len(ok):6d} {avg('smape'):7.3f} {avg('mase'):7.3f} "
            f"{avg('cov80'):6.3f} {avg('cov95'):6.3f} {statistics.median(cpu) if cpu else float('nan'):12.3f} "
            f"{statistics.fmean(cpu) if cpu else float('nan'):10.3f}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--models", default="auto", help="comma-separated core.forecast models and sf_* peers"
    )
    parser.add_argument("--limit", type=int, default=0, help="first N series only (0: all 207)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes (1: this one)")
    parser.add_argument("--out", default="", help="write one row per series and model to this CSV")
    parser.add_argument("--peers", action="store_true", help="add the statsforecast peers (sf_*)")
    parser.add_argument(
        "--candidates", default="", help="auto's candidates: `shortlist` (AUTO_SHORTLIST) or model keys"
    )
    args = parser.parse_args()
    candidates = None
    if args.candidates:
        candidates = AUTO_SHORTLIST if args.candidates == "shortlist" else tuple(args.candidates.split(","))
    print("command: " + " ".join(shlex.quote(a) for a in [Path(sys.executable).name, *sys.argv]))
    root = m4_dir()
    if not (root / "train.csv").is_file():
        print(f"M4 dev data not found at {root}; set HEADROOM_M4_DIR", file=sys.stderr)
        return 2
    data = load(root)
    ids = list(data)[: args.limit] if args.limit else list(data)
    models = [m for m in args.models.split(",") if m]
    if args.peers:
        models += [p for p in PEERS if p not in models]
    if any(m in PEERS for m in models):
        try:
            import statsforecast  # noqa: F401
        except ImportError:
            print("statsforecast is not installed: peers skipped (bench/requirements-bench.txt)")
            models = [m for m in models if m not in PEERS]
    jobs = [(sid, m) for m in models for sid in ids]
    print(
        f"{len(ids)} series x {len(models)} model(s), horizon {HORIZON}, {args.workers} process(es)",
        flush=True,
    )
    t0 = time.perf_counter()
    rows: list[dict[str, Any]] = []
    if args.workers == 1:
        _warm_up()
        rows = [run_one(sid, m, *data[sid], candidates) for sid, m in jobs]
    else:
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(args.workers, mp_context=ctx, initializer=_warm_up) as pool:
            futures = [pool.submit(run_one, sid, m, *data[sid], candidates) for sid, m in jobs]
            for i, fut in enumerate(as_completed(futures), 1):
                rows.append(fut.result())
                if i % 50 == 0:
                    print(f"  {i}/{len(jobs)} done, {time.perf_counter() - t0:.0f} s", flush=True)
    print(f"wall {time.perf_counter() - t0:.1f} s\n")
    _table(rows, models)
    failed = [r for r in rows if r["error"]]
    for r in failed[:10]:
        print(f"failed: {r['series']} {r['model']}: {r['error']}")
    chosen = pd.Series([r["chosen"] for r in rows if r["model"] == "auto" and r["chosen"]]).value_counts()
    if not chosen.empty:
        print("auto chose: " + ", ".join(f"{k} x{v}" for k, v in chosen.items()))
    if args.out:
        pd.DataFrame(rows).to_csv(args.out, index=False)
        print(f"per-series rows written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
