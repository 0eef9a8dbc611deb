"""Demand forecasting: statsmodels candidates, automatic choice by rolling-origin backtest, calibrated bands.

Public API (pages, the capacity planner and scripts use these):

- `forecast(history, horizon, season_lengths=None, model="auto", levels=(80, 95)) -> ForecastResult`
- `backtest(history, horizon, season_lengths=None, model="auto", folds=3) -> BacktestResult`
- `forecast_many(series, horizon, ...) -> BatchForecast` (process pool, one BLAS thread per worker)
- `smape`, `mase`, `coverage`: the accuracy measures the backtest reports; `score_against_actual` for a
  saved forecast once the actuals are in
- `apply_growth`, `apply_events`, `parse_known_events`, `capacity_exhaustion`, `max_capacity`,
  `summarize`: what-if helpers on a forecast frame (the Forecast page and the capacity planner)

Candidates, simplest first (ties in backtest MASE go to the simpler one): seasonal naive, ETS(A,N,N)
(no season), ETS(A,N,A), ETS(A,A,A) (Holt-Winters additive), ETS(A,Ad,A) (damped), ETS(M,Ad,M)
(multiplicative, positive series only), Theta, MSTL + damped ETS on the seasonally adjusted part, SARIMAX.
SARIMAX is bounded: ARIMA(1,1,1) errors around Fourier terms for the seasons, fitted in two steps on the
last `SARIMAX_MAX_POINTS` points. A seasonal lag of 168 (hourly data, weekly cycle) in the state vector
took ~10 s per fit, and estimating the Fourier terms inside the likelihood up to 5 s; this takes ~0.1 s.

statsmodels is imported inside the functions that need it (its import costs ~1-2 s) and its warnings are
silenced there, so nothing leaks into the UI.
"""

from __future__ import annotations

import atexit
import math
import os
import re
import sys
import threading
import time
import types
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import numpy as np
import pandas as pd

# ---- model catalogue ---------------------------------------------------------------------------------
# key -> (complexity rank, human description); the rank breaks MASE ties in favour of the simpler model
MODELS: dict[str, tuple[int, str]] = {
    "seasonal_naive": (0, "Seasonal naive (repeat the last season)"),
    "ets_level": (1, "Simple exponential smoothing: ETS(A,N,N), no season"),
    "ets_additive": (2, "ETS(A,N,A): exponential smoothing, additive season, no trend"),
    "ets_trend": (3, "Holt-Winters additive: ETS(A,A,A)"),
    "ets_damped": (4, "Holt-Winters additive, damped trend: ETS(A,Ad,A)"),
    "ets_multiplicative": (5, "Holt-Winters multiplicative, damped trend: ETS(M,Ad,M)"),
    "theta": (6, "Theta method (seasonally adjusted)"),
    "mstl_ets": (7, "MSTL decomposition (all seasons) + damped ETS on the adjusted part"),
    "sarimax": (8, "SARIMAX(1,1,1) with Fourier terms for the seasons"),
}
AUTO = "auto"
DEFAULT_LEVELS: tuple[int, ...] = (80, 95)
# relative MASE difference within which two models count as tied
TIE_TOLERANCE = 0.01
# ETS and Theta keep one state per step of their season: longer seasons (5-minute data's weekly cycle is
# 2016 steps) are left to MSTL (up to 2 x this) and SARIMAX's Fourier terms
MAX_SEASON = 1000
SARIMAX_MAX_POINTS = 28 * 24  # 4 weeks of hourly data
MIN_FIT_POINTS = 8  # fewer points than this: no statistical model, naive only
# gaps up to this many steps (or a quarter of the shortest season, if longer) are interpolated linearly
MIN_SHORT_GAP = 3
OUTLIER_MADS = 5.0  # residuals beyond this many robust standard deviations are down-weighted
ETS_SIMULATIONS = 200  # simulated paths for multiplicative ETS intervals (no closed form)


class ForecastError(ValueError):
    """The history cannot be forecast (empty, not time-indexed, unknown model...); a sentence for a human."""


@dataclass(frozen=True)
class ErrorQuantiles:
    """Held-out errors (actual - forecast) of the backtest folds, by horizon segment: the empirical band
    a model's own band is widened to when it covered too little."""

    centers: tuple[float, ...]  # 0-based forecast step at the middle of each segment
    lower: dict[int, tuple[float, ...]]  # level -> error quantile (1 - L) / 2 per segment
    upper: dict[int, tuple[float, ...]]  # level -> error quantile (1 + L) / 2 per segment


@dataclass(frozen=True)
class ModelScore:
    """One candidate's rolling-origin backtest: accuracy and how well its own bands covered held-out data."""

    model: str
    label: str
    smape: float  # percent, 0..200
    mase: float  # < 1: better than the in-sample seasonal naive
    coverage: dict[int, float]  # level -> fraction of held-out points inside the model's own band
    errors: ErrorQuantiles | None  # None when the model failed
    seconds: float  # mean fit + predict time per fold
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and math.isfinite(self.mase)


@dataclass(frozen=True)
class BacktestResult:
    horizon: int  # steps per fold (may be shorter than asked when history is short; see notes)
    folds: int
    levels: tuple[int, ...]
    scores: tuple[ModelScore, ...]  # simplest model first
    chosen: str | None  # best MASE, ties to the simpler model; None when no candidate could be scored
    notes: tuple[str, ...] = ()

    def score(self, model: str) -> ModelScore | None:
        return next((s for s in self.scores if s.model == model), None)

    def table(self) -> pd.DataFrame:
        """One row per candidate: model, label, smape, mase, coverage_<L> (the model's own band on the
        held-out points), seconds (per fold), chosen, error."""
        rows = []
        for s in self.scores:
            row: dict[str, Any] = {"model": s.model, "label": s.label, "smape": s.smape, "mase": s.mase}
            row |= {f"coverage_{lv}": s.coverage.get(lv, float("nan")) for lv in self.levels}
            row |= {"seconds": s.seconds, "chosen": s.model == self.chosen, "error": s.error or ""}
            rows.append(row)
        return pd.DataFrame(rows)


@dataclass(frozen=True)
class ForecastResult:
    frame: pd.DataFrame  # ts (UTC), mean, lo_<L>, hi_<L> for each level
    model: str  # the chosen model with its fitted parameters, e.g. "ETS(A,Ad,A) m=24 alpha=0.31 ..."
    model_key: str  # key in MODELS, or "constant" for a constant history
    levels: tuple[int, ...]
    season_lengths: tuple[int, ...]  # seasons the data allowed (each with >= 2 full cycles)
    step: pd.Timedelta
    history_end: pd.Timestamp
    backtest: BacktestResult | None
    calibration: dict[int, float]  # level -> mean band width after / before calibration (1.0: unchanged)
    notes: tuple[str, ...] = ()
    seconds: float = 0.0


@dataclass(frozen=True)
class BatchForecast:
    results: dict[str, ForecastResult]
    errors: dict[str, str]  # name -> why that series could not be forecast
    workers: int
    seconds: float


@dataclass(frozen=True)
class KnownEvent:
    """A planned event (sale, launch, holiday) that scales demand by `multiplier` in [start, end)."""

    name: str
    start: datetime
    end: datetime
    multiplier: float


# ---- accuracy measures --------------------------------------------------------------------------------
def smape(actual: Sequence[float] | np.ndarray, predicted: Sequence[float] | np.ndarray) -> float:
    """Symmetric MAPE in percent: mean of 200 |y - f| / (|y| + |f|); a point where both are 0 counts as 0."""
    y = np.asarray(actual, dtype=float)
    f = np.asarray(predicted, dtype=float)
    den = np.abs(y) + np.abs(f)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(den == 0, 0.0, 2.0 * np.abs(y - f) / den)
    return float(100.0 * terms.mean()) if terms.size else float("nan")


def naive_scale(insample: Sequence[float] | np.ndarray, season: int = 1) -> float:
    """In-sample mean absolute error of the seasonal naive forecast (lag `season`): MASE's denominator."""
    x = np.asarray(insample, dtype=float)
    m = season if len(x) > season else 1
    if len(x) <= m:
        return float("nan")
    return float(np.mean(np.abs(x[m:] - x[:-m])))


def mase(
    actual: Sequence[float] | np.ndarray,
    predicted: Sequence[float] | np.ndarray,
    insample: Sequence[float] | np.ndarray,
    season: int = 1,
) -> float:
    """Mean absolute error scaled by the in-sample seasonal naive MAE. A history the seasonal naive
    repeats exactly (flat, or purely periodic) has a zero scale (up to float rounding): MASE is then 0
    for a forecast as exact and infinite otherwise."""
    y = np.asarray(actual, dtype=float)
    f = np.asarray(predicted, dtype=float)
    mae = float(np.mean(np.abs(y - f)))
    scale = naive_scale(insample, season)
    if not math.isfinite(scale):
        return float("nan")
    rounding = 1e-9 * (1.0 + float(np.mean(np.abs(np.asarray(insample, dtype=float)))))
    if scale <= rounding:
        return 0.0 if mae <= rounding else float("inf")
    return mae / scale


def coverage(
    actual: Sequence[float] | np.ndarray, lo: Sequence[float] | np.ndarray, hi: Sequence[float] | np.ndarray
) -> float:
    """Fraction of actual points inside [lo, hi] (bounds included)."""
    y = np.asarray(actual, dtype=float)
    inside = (y >= np.asarray(lo, dtype=float)) & (y <= np.asarray(hi, dtype=float))
    return float(inside.mean()) if inside.size else float("nan")


# ---- history preparation ------------------------------------------------------------------------------
def infer_season_lengths(step: pd.Timedelta) -> tuple[int, ...]:
    """Daily and weekly cycles in steps for sub-daily data (hourly: 24, 168; 5-minute: 288, 2016),
    a weekly cycle for daily data (7), none otherwise."""
    step_s = pd.Timedelta(step).total_seconds()
    if step_s <= 0:
        return ()
    day = 86400 / step_s
    if step_s < 86400 and abs(day - round(day)) < 1e-9 and round(day) >= 2:
        return (round(day), 7 * round(day))
    if step_s == 86400:
        return (7,)
    return ()


@dataclass(frozen=True)
class _Prepared:
    values: np.ndarray
    index: pd.DatetimeIndex
    step: pd.Timedelta
    seasons: tuple[int, ...]  # asked or inferred (not yet filtered by history length)
    non_negative: bool
    notes: tuple[str, ...]


def _regular_history(history: pd.Series) -> tuple[pd.Series, pd.Timedelta, list[str]]:
    """UTC, sorted, de-duplicated, on a regular grid (missing steps become NaN), leading/trailing NaN cut."""
    if not isinstance(history, pd.Series):
        raise ForecastError(f"history must be a pandas Series indexed by time, got {type(history).__name__}")
    if not isinstance(history.index, pd.DatetimeIndex):
        raise ForecastError("history must have a DatetimeIndex (UTC timestamps)")
    notes: list[str] = []
    s = pd.to_numeric(history, errors="coerce").astype("float64")
    s = s.replace([np.inf, -np.inf], np.nan)
    idx = s.index
    s.index = idx.tz_localize("UTC") if idx.tz is None else idx.tz_convert("UTC")
    s = s.sort_index()
    if s.index.has_duplicates:
        notes.append("duplicate timestamps were averaged")
        s = s.groupby(level=0).mean()
    valid = s.dropna()
    if valid.empty:
        raise ForecastError("history has no numeric values to forecast from")
    if len(s) < 2:
        raise ForecastError("history needs at least 2 timestamps to know its step")
    try:
        step = pd.Timedelta(s.index.freq) if s.index.freq is not None else None
    except (TypeError, ValueError):  # calendar offsets (month ends) have no fixed length
        step = None
    if step is None:
        step = pd.Timedelta(int(np.median(np.diff(s.index.as_unit("ns").asi8))), unit="ns")
    if step <= pd.Timedelta(0):
        raise ForecastError("history timestamps must increase")
    missing_tail = int(round((s.index[-1] - valid.index[-1]) / step))
    if missing_tail > 0:
        notes.append(f"the last {missing_tail} step(s) had no data; the forecast starts after the last value")
    grid = pd.date_range(valid.index[0], valid.index[-1], freq=step)
    s = s[(s.index >= grid[0]) & (s.index <= grid[-1])]
    if not s.index.equals(grid):
        # missing steps become NaN; off-grid samples (jittered scrape times) snap to the nearest step
        position = np.round((s.index.as_unit("ns").asi8 - grid[0].value) / step.value).astype(int)
        s = s.groupby(position).mean().reindex(range(len(grid)))
        s.index = grid
    s.index.freq = step
    return s, step, notes


def _gap_runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, end_exclusive) of each run of True in mask."""
    runs = []
    i, n = 0, len(mask)
    while i < n:
        if mask[i]:
            j = i
            while j < n and mask[j]:
                j += 1
            runs.append((i, j))
            i = j
        else:
            i += 1
    return runs


def _fill_gaps(s: pd.Series, seasons: Sequence[int]) -> tuple[pd.Series, list[str]]:
    """Short gaps: linear interpolation. Long gaps: the value one season earlier (or later), so a missing
    afternoon is filled with an afternoon (linear without a season); a note names each long gap because
    the fill is a guess."""
    values = s.to_numpy(dtype=float).copy()
    missing = np.isnan(values)
    if not missing.any():
        return s, []
    m = min(seasons) if seasons else 0
    short_limit = max(MIN_SHORT_GAP, m // 4)
    notes: list[str] = []
    interp = s.interpolate(method="linear", limit_area="inside").to_numpy()
    long_runs = []
    short_total = 0
    for a, b in _gap_runs(missing):
        if b - a <= short_limit:
            values[a:b] = interp[a:b]
            short_total += b - a
        else:
            long_runs.append((a, b))
    for a, b in long_runs:
        if m == 0:
            values[a:b] = interp[a:b]
        for i in range(a, b) if m else ():
            src = [i - k * m for k in range(1, 8)] + [i + k * m for k in range(1, 8)]
            got = next((values[j] for j in src if 0 <= j < len(values) and not np.isnan(values[j])), np.nan)
            values[i] = got if not np.isnan(got) else interp[i]
        how = "filled from the seasonal pattern" if m else "interpolated linearly"
        notes.append(
            f"gap of {b - a} steps ({s.index[a]:%Y-%m-%d %H:%M} to {s.index[b - 1]:%Y-%m-%d %H:%M} UTC) "
            f"{how}; treat the forecast with care"
        )
    if short_total:
        notes.append(f"{short_total} missing point(s) in short gaps interpolated")
    return pd.Series(values, index=s.index), notes


def _downweight_outliers(values: np.ndarray, season: int) -> tuple[np.ndarray, int]:
    """Points further than OUTLIER_MADS robust standard deviations from a robust baseline (rolling median
    level + median seasonal profile) are incident spikes or dips: they are replaced by that baseline, so
    they carry no weight in the fit while the series keeps its regular grid."""
    n = len(values)
    window = max(season, 5) | 1
    window = min(window, n)
    # full windows only (a half-day window at the ends would mistake the daily shape for a level shift);
    # the ends take the nearest full window's level
    level = (
        pd.Series(values).rolling(window, center=True, min_periods=window).median().bfill().ffill().to_numpy()
    )
    detrended = values - level
    if season > 1 and n >= 2 * season:
        phase = np.arange(n) % season
        profile = pd.Series(detrended).groupby(phase).median().to_numpy()
        baseline = level + profile[phase]
    else:
        baseline = level
    resid = values - baseline
    mad = float(np.median(np.abs(resid - np.median(resid))))
    sigma = 1.4826 * mad
    if sigma <= 0:
        return values, 0
    outlying = np.abs(resid) > OUTLIER_MADS * sigma
    return np.where(outlying, baseline, values), int(outlying.sum())


def _prepare(
    history: pd.Series,
    season_lengths: Sequence[int] | None,
    outliers: Literal["keep", "downweight"],
    non_negative: bool | None,
) -> _Prepared:
    s, step, notes = _regular_history(history)
    if season_lengths is None:
        seasons = infer_season_lengths(step)
    else:
        seasons = tuple(sorted({int(m) for m in season_lengths if int(m) > 1}))
    s, gap_notes = _fill_gaps(s, seasons)
    notes += gap_notes
    values = s.to_numpy(dtype=float)
    if non_negative is None:
        non_negative = bool(np.nanmin(values) >= 0)
    if outliers == "downweight":
        usable = _usable_seasons(len(values), seasons)
        values, count = _downweight_outliers(values, min(usable) if usable else 1)
        if count:
            notes.append(
                f"{count} outlier point(s) down-weighted (beyond {OUTLIER_MADS:g} robust SDs: replaced by the "
                "seasonal baseline)"
            )
    elif outliers != "keep":
        raise ForecastError(f"outliers must be 'keep' or 'downweight', got {outliers!r}")
    return _Prepared(values, pd.DatetimeIndex(s.index), step, tuple(seasons), non_negative, tuple(notes))


def _usable_seasons(n: int, seasons: Sequence[int]) -> tuple[int, ...]:
    """Seasons with at least two full cycles in n points (needed to estimate a seasonal pattern)."""
    return tuple(m for m in sorted(seasons) if m > 1 and n >= 2 * m)


def baseline_season(n: int, seasons: Sequence[int]) -> int:
    """The seasonal naive's season: the longest usable one (weekly beats daily for traffic), else 1."""
    usable = _usable_seasons(n, seasons)
    return max(usable) if usable else 1


# ---- candidate models ---------------------------------------------------------------------------------
@dataclass
class _Fit:
    mean: np.ndarray
    bands: dict[int, tuple[np.ndarray, np.ndarray]]
    label: str


@contextmanager
def _quiet() -> Iterator[None]:
    """statsmodels and numpy warnings (convergence, frequency, overflow in exp) never reach the UI."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        yield


@contextmanager
def _one_blas_thread() -> Iterator[None]:
    """Model fits multiply small matrices: BLAS threads only add contention (a SARIMAX fit took 2.1 s
    with OpenBLAS's default threads on a busy 2-core machine, 0.23 s with one)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield


def _z(level: int) -> float:
    from statistics import NormalDist

    return NormalDist().inv_cdf(0.5 + level / 200.0)


def _fit_seasonal_naive(y: np.ndarray, h: int, seasons: Sequence[int], levels: Sequence[int]) -> _Fit:
    n = len(y)
    m = baseline_season(n, seasons)
    m = min(m, n)
    last = y[-m:]
    mean = np.array([last[i % m] for i in range(h)], dtype=float)
    resid = y[m:] - y[:-m] if n > m else np.zeros(1)
    sigma = float(np.sqrt(np.mean(resid**2))) if resid.size else 0.0
    cycles = np.floor(np.arange(h) / m) + 1  # forecast h steps ahead sits this many seasons past the data
    bands = {
        lv: (mean - _z(lv) * sigma * np.sqrt(cycles), mean + _z(lv) * sigma * np.sqrt(cycles))
        for lv in levels
    }
    label = f"seasonal naive m={m}" if m > 1 else "naive (last value)"
    return _Fit(mean, bands, label)


def _ets_season(n: int, seasons: Sequence[int]) -> int:
    """The season ETS and Theta model: the longest with >= 2 cycles and at most MAX_SEASON states."""
    usable = [m for m in _usable_seasons(n, seasons) if m <= MAX_SEASON]
    return max(usable) if usable else 0


def _ets(
    y: np.ndarray,
    h: int,
    levels: Sequence[int],
    *,
    error: str,
    trend: str | None,
    damped: bool,
    seasonal: str | None,
    m: int,
) -> _Fit:
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    endog = pd.Series(y)
    model = ETSModel(
        endog,
        error=error,
        trend=trend,
        damped_trend=damped,
        seasonal=seasonal if m > 1 else None,
        seasonal_periods=m if m > 1 else None,
        # heuristic initial states (from the first cycles) keep them out of the optimiser: 0.02-0.2 s per
        # fit instead of seconds with 168 seasonal states; it needs 10 points and two full seasons
        initialization_method="heuristic" if len(y) >= max(10, 2 * m) else "estimated",
    )
    res = model.fit(disp=False, maxiter=200)
    n = len(y)
    if error == "mul":
        pred = res.get_prediction(
            start=n,
            end=n + h - 1,
            method="simulated",
            simulate_repetitions=ETS_SIMULATIONS,
            rng=np.random.default_rng(0),
        )
    else:
        pred = res.get_prediction(start=n, end=n + h - 1)
    mean = np.asarray(pred.predicted_mean, dtype=float)
    bands = {}
    for lv in levels:
        frame = pred.summary_frame(alpha=1 - lv / 100)
        bands[lv] = (frame["pi_lower"].to_numpy(dtype=float), frame["pi_upper"].to_numpy(dtype=float))
    p = dict(zip(res.model.param_names, np.asarray(res.params, dtype=float), strict=False))
    parts = [f"alpha={p.get('smoothing_level', float('nan')):.3g}"]
    if trend:
        parts.append(f"beta={p.get('smoothing_trend', float('nan')):.3g}")
    if damped:
        parts.append(f"phi={p.get('damping_trend', float('nan')):.3g}")
    if m > 1 and seasonal:
        parts.append(f"gamma={p.get('smoothing_seasonal', float('nan')):.3g}")
    code = f"ETS({error[0].upper()},{'N' if not trend else 'Ad' if damped else 'A'},"
    code += f"{(seasonal or 'n')[0].upper() if m > 1 else 'N'})"
    season = f" m={m}" if m > 1 else ""
    return _Fit(mean, bands, f"{code}{season} " + " ".join(parts))


def _fit_ets_level(y: np.ndarray, h: int, seasons: Sequence[int], levels: Sequence[int]) -> _Fit:
    return _ets(y, h, levels, error="add", trend=None, damped=False, seasonal=None, m=0)


def _fit_ets_additive(y: np.ndarray, h: int, seasons: Sequence[int], levels: Sequence[int]) -> _Fit:
    m = _ets_season(len(y), seasons)
    return _ets(y, h, levels, error="add", trend=None, damped=False, seasonal="add", m=m)


def _fit_ets_trend(y: np.ndarray, h: int, seasons: Sequence[int], levels: Sequence[int]) -> _Fit:
    m = _ets_season(len(y), seasons)
    return _ets(y, h, levels, error="add", trend="add", damped=False, seasonal="add", m=m)


def _fit_ets_damped(y: np.ndarray, h: int, seasons: Sequence[int], levels: Sequence[int]) -> _Fit:
    m = _ets_season(len(y), seasons)
    return _ets(y, h, levels, error="add", trend="add", damped=True, seasonal="add", m=m)


def _fit_ets_multiplicative(y: np.ndarray, h: int, seasons: Sequence[int], levels: Sequence[int]) -> _Fit:
    if np.min(y) <= 0:
        raise ForecastError("multiplicative ETS needs a strictly positive series")
    m = _ets_season(len(y), seasons)
    return _ets(y, h, levels, error="mul", trend="add", damped=True, seasonal="mul", m=m)


def _has_season(y: np.ndarray, m: int) -> bool:
    """Theta's seasonality test (as in statsmodels' ThetaModel): the lag-m autocorrelation is significant
    at 90% given the lower lags (Bartlett)."""
    from statsmodels.tsa.stattools import acf

    rho = acf(y, nlags=m, fft=True)
    return bool(len(y) * rho[-1] ** 2 / np.sum(rho[:-1] ** 2) > 2.705543454095404)


def _fit_theta(y: np.ndarray, h: int, seasons: Sequence[int], levels: Sequence[int]) -> _Fit:
    """Theta method (Hyndman & Billah 2003: SES with half the linear trend's drift) on the classically
    deseasonalised series. Point forecast from statsmodels' ThetaModel; the band is computed here from the
    SES one-step errors, sigma^2 (1 + (h-1) alpha^2). statsmodels 0.15's own band adds 1-2 sigma^2 per step
    whatever alpha is, with sigma^2 from the series before deseasonalising: it covered 100% of held-out
    points on every NAB trace and cost an extra ARIMA fit."""
    from scipy.signal import lfilter
    from statsmodels.tsa.forecasting.theta import ThetaModel
    from statsmodels.tsa.seasonal import seasonal_decompose

    n = len(y)
    m = _ets_season(n, seasons)
    method = "none"
    season_future = np.zeros(h)
    adjusted = y
    if m > 1 and _has_season(y, m):
        method = "multiplicative" if np.min(y) > 0 else "additive"
        profile = np.asarray(seasonal_decompose(y, model=method[:3], period=m).seasonal[:m], dtype=float)
        if method == "multiplicative" and profile.min() <= 0:
            method = "additive"
            profile = np.asarray(seasonal_decompose(y, model="add", period=m).seasonal[:m], dtype=float)
        phase_in, phase_out = np.arange(n) % m, np.arange(n, n + h) % m
        if method == "multiplicative":
            adjusted, season_future = y / profile[phase_in], profile[phase_out]
        else:
            adjusted, season_future = y - profile[phase_in], profile[phase_out]
    res = ThetaModel(pd.Series(adjusted), period=1, deseasonalize=False).fit()
    alpha = float(res.params["alpha"])
    base = np.asarray(res.forecast(h), dtype=float)
    # one-step SES errors on the adjusted series: level_t = alpha y_t + (1 - alpha) level_{t-1}
    level = lfilter([alpha], [1.0, alpha - 1.0], adjusted[1:], zi=[(1.0 - alpha) * adjusted[0]])[0]
    errors = adjusted[1:] - np.concatenate(([adjusted[0]], level[:-1]))
    sigma_h = float(np.std(errors)) * np.sqrt(1.0 + np.arange(h) * alpha**2)
    if method == "multiplicative":
        mean, spread = base * season_future, sigma_h * season_future
    else:
        mean, spread = base + season_future, sigma_h
    bands = {lv: (mean - _z(lv) * spread, mean + _z(lv) * spread) for lv in levels}
    season = (
        f" m={m} ({method} deseasonalised)"
        if method != "none"
        else (" (no significant season)" if m > 1 else "")
    )
    return _Fit(mean, bands, f"Theta{season} alpha={alpha:.3g} drift={float(res.params['b0']) / 2:.3g}/step")


def _fit_mstl_ets(y: np.ndarray, h: int, seasons: Sequence[int], levels: Sequence[int]) -> _Fit:
    from statsmodels.tsa.seasonal import MSTL

    # MSTL itself drops a period unless the series is longer than two of its cycles
    periods = [m for m in _usable_seasons(len(y), seasons) if m <= 2 * MAX_SEASON and len(y) > 2 * m]
    if not periods:
        raise ForecastError("MSTL needs at least one season with two full cycles of history")
    res = MSTL(pd.Series(y), periods=periods).fit()
    seasonal = np.asarray(res.seasonal, dtype=float).reshape(len(y), -1)
    adjusted = y - seasonal.sum(axis=1)
    future_season = np.zeros(h)
    for j, m in enumerate(periods):
        # the longest cycle repeats its last estimate; shorter ones average their last (up to 7) cycles:
        # STL's estimate at the series end is noisy, and the day-of-week shape lives in the weekly part
        cycles = 1 if m == periods[-1] else min(7, len(y) // m)
        profile = seasonal[-cycles * m :, j].reshape(cycles, m).mean(axis=0)
        future_season += profile[np.arange(h) % m]
    fit = _ets(adjusted, h, levels, error="add", trend="add", damped=True, seasonal=None, m=0)
    mean = fit.mean + future_season
    bands = {lv: (lo + future_season, hi + future_season) for lv, (lo, hi) in fit.bands.items()}
    return _Fit(mean, bands, f"MSTL(periods={','.join(map(str, periods))}) + {fit.label}")


def _fourier(t: np.ndarray, periods: Sequence[int]) -> np.ndarray:
    cols = []
    for i, m in enumerate(periods):
        # fewer harmonics for the longer cycle; < 7 keeps weekly terms from repeating daily ones
        k_max = min(m // 2, 6 if i == 0 else 4)
        for k in range(1, k_max + 1):
            cols += [np.sin(2 * np.pi * k * t / m), np.cos(2 * np.pi * k * t / m)]
    return np.column_stack(cols) if cols else np.empty((len(t), 0))


def _fit_sarimax(y: np.ndarray, h: int, seasons: Sequence[int], levels: Sequence[int]) -> _Fit:
    """Regression on Fourier terms with ARIMA(1,1,1) errors, in two steps: the seasonal shape by least
    squares, then SARIMAX on what is left. Estimating the Fourier coefficients inside SARIMAX's likelihood
    took up to 5 s per fit (20+ parameters by numerical gradients); two steps take ~0.1 s and forecast as
    well on the backtests. The band ignores the (small) uncertainty of the seasonal coefficients."""
    from statsmodels.tsa.statespace.sarimax import SARIMAX

    n = len(y)
    periods = list(_usable_seasons(n, seasons))
    tail = min(n, max(SARIMAX_MAX_POINTS, 2 * max(periods) if periods else 0))
    t_fit = np.arange(n - tail, n)
    t_new = np.arange(n, n + h)
    design = np.column_stack([np.ones(tail), _fourier(t_fit, periods)])
    design_new = np.column_stack([np.ones(h), _fourier(t_new, periods)])
    coef = np.linalg.lstsq(design, y[-tail:], rcond=None)[0]
    resid = y[-tail:] - design @ coef
    res = SARIMAX(resid, order=(1, 1, 1), trend="n").fit(disp=False, maxiter=50)
    pred = res.get_forecast(h)
    shape = design_new @ coef
    mean = shape + np.asarray(pred.predicted_mean, dtype=float)
    bands = {}
    for lv in levels:
        ci = np.asarray(pred.conf_int(alpha=1 - lv / 100), dtype=float)
        bands[lv] = (shape + ci[:, 0], shape + ci[:, 1])
    ar, ma = (float(res.params[i]) for i in (0, 1))
    fourier = ", ".join(f"{m}:K={min(m // 2, 6 if i == 0 else 4)}" for i, m in enumerate(periods))
    label = f"SARIMAX(1,1,1) ar={ar:.3g} ma={ma:.3g}" + (
        f" on Fourier({fourier}) residuals" if periods else ""
    )
    return _Fit(mean, bands, label + f", last {tail} points")


_FITTERS: dict[str, Callable[[np.ndarray, int, Sequence[int], Sequence[int]], _Fit]] = {
    "seasonal_naive": _fit_seasonal_naive,
    "ets_level": _fit_ets_level,
    "ets_additive": _fit_ets_additive,
    "ets_trend": _fit_ets_trend,
    "ets_damped": _fit_ets_damped,
    "ets_multiplicative": _fit_ets_multiplicative,
    "theta": _fit_theta,
    "mstl_ets": _fit_mstl_ets,
    "sarimax": _fit_sarimax,
}


def candidate_models(n: int, seasons: Sequence[int], positive: bool) -> tuple[list[str], list[str]]:
    """Candidates the data allows, and a sentence for each one left out."""
    why: list[str] = []
    if n < MIN_FIT_POINTS:
        why.append(f"only {n} points of history: statistical models need at least {MIN_FIT_POINTS}")
        return ["seasonal_naive"], why
    names = ["seasonal_naive", "ets_level", "ets_additive", "ets_trend", "ets_damped"]
    if positive:
        names.append("ets_multiplicative")
    else:
        why.append("multiplicative ETS skipped: the series has zeros or negative values")
    names.append("theta")
    usable = _usable_seasons(n, seasons)
    if usable:
        names.append("mstl_ets")
    elif seasons:
        why.append(
            f"no season has two full cycles in {n} points (seasons {', '.join(map(str, seasons))}): "
            "seasonal terms and MSTL skipped"
        )
    names.append("sarimax")
    too_long = [m for m in usable if m > MAX_SEASON]
    if too_long:
        why.append(
            f"season(s) {', '.join(map(str, too_long))} longer than {MAX_SEASON} steps are left to MSTL and "
            "SARIMAX's Fourier terms; resample to a coarser step to model them with ETS"
        )
    return names, why


def _postprocess(fit: _Fit, non_negative: bool) -> _Fit:
    mean = fit.mean.copy()
    bands = {lv: (lo.copy(), hi.copy()) for lv, (lo, hi) in fit.bands.items()}
    if not np.isfinite(mean).all():
        raise ForecastError("the model produced non-finite forecasts (diverged)")
    for lv, (lo, hi) in bands.items():
        # a missing or inverted band collapses to the mean (calibration then widens it)
        lo[~np.isfinite(lo)] = mean[~np.isfinite(lo)]
        hi[~np.isfinite(hi)] = mean[~np.isfinite(hi)]
        bands[lv] = (np.minimum(lo, mean), np.maximum(hi, mean))
    if non_negative:
        mean = np.maximum(mean, 0.0)
        bands = {lv: (np.maximum(lo, 0.0), np.maximum(hi, 0.0)) for lv, (lo, hi) in bands.items()}
    return _Fit(mean, bands, fit.label)


def _run_model(
    name: str, y: np.ndarray, h: int, seasons: Sequence[int], levels: Sequence[int], non_negative: bool
) -> _Fit:
    if name not in _FITTERS:
        raise ForecastError(f"unknown model {name!r}; choose 'auto' or one of {', '.join(MODELS)}")
    with _quiet():
        fit = _FITTERS[name](y, h, seasons, levels)
    return _postprocess(fit, non_negative)


# ---- backtest -----------------------------------------------------------------------------------------
def _fold_plan(n: int, horizon: int, folds: int, seasons: Sequence[int]) -> tuple[int, int, list[str]]:
    """(folds, fold horizon) that leave each fold enough training data: at least two cycles of the
    shortest season (or MIN_FIT_POINTS * 2 without seasons)."""
    notes: list[str] = []
    min_train = max(2 * MIN_FIT_POINTS, 2 * min(seasons) if seasons else 0)
    h = horizon
    f = folds
    while f > 0 and n - f * h < min_train:
        shorter = (n - min_train) // f
        if shorter >= max(1, horizon // 4):
            h = shorter
            break
        f -= 1
    if f == 0:
        notes.append(f"history of {n} points is too short to backtest a {horizon}-step horizon")
        return 0, 0, notes
    if f < folds:
        notes.append(f"history allows {f} backtest fold(s), not {folds}")
    if h < horizon:
        notes.append(f"backtest folds cover {h} steps each (the history is too short for {horizon})")
    return f, h, notes


MIN_ERRORS_PER_SEGMENT = 60  # held-out errors per horizon segment for a usable 95% quantile


def _error_quantiles(errors: np.ndarray, levels: Sequence[int]) -> ErrorQuantiles:
    """Quantiles of the signed errors (folds x steps) in up to 4 horizon segments, so a band can grow
    with the horizon; conservative order statistics (the lower quantile rounds down, the upper up)."""
    folds, h = errors.shape
    segments = max(1, min(4, errors.size // MIN_ERRORS_PER_SEGMENT, h))
    edges = np.linspace(0, h, segments + 1).round().astype(int)
    centers, lower, upper = [], {lv: [] for lv in levels}, {lv: [] for lv in levels}
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        chunk = errors[:, a:b].ravel()
        centers.append((a + b - 1) / 2)
        for lv in levels:
            tail = (1 - lv / 100) / 2
            lower[lv].append(float(np.quantile(chunk, tail, method="lower")))
            upper[lv].append(float(np.quantile(chunk, 1 - tail, method="higher")))
    return ErrorQuantiles(
        tuple(centers), {lv: tuple(v) for lv, v in lower.items()}, {lv: tuple(v) for lv, v in upper.items()}
    )


def _backtest_prepared(
    prep: _Prepared,
    horizon: int,
    models: Sequence[str],
    folds: int,
    levels: Sequence[int],
    progress: Callable[[float, str], None] | None = None,
) -> BacktestResult:
    y = prep.values
    n = len(y)
    f, h, notes = _fold_plan(n, horizon, folds, _usable_seasons(n, prep.seasons))
    if f == 0:
        return BacktestResult(
            horizon=0, folds=0, levels=tuple(levels), scores=(), chosen=None, notes=tuple(notes)
        )
    origins = [n - (f - i) * h for i in range(f)]
    # one MASE scale season for every fold (the one the shortest training window allows), so folds
    # with more history do not switch to a longer season and an incomparable scale
    scale_season = baseline_season(origins[0], prep.seasons)
    scores: list[ModelScore] = []
    total = len(models) * f
    for i_model, name in enumerate(models):
        signed, smapes, mases = [], [], []
        inside = {lv: [] for lv in levels}
        label, error = MODELS.get(name, (0, name))[1], None
        t0 = time.perf_counter()
        for origin in origins:
            train, test = y[:origin], y[origin : origin + h]
            try:
                fit = _run_model(name, train, h, prep.seasons, levels, prep.non_negative)
            except Exception as exc:  # one failing candidate must not sink the others
                error = f"{type(exc).__name__}: {exc}"[:300]
                break
            label = fit.label
            signed.append(test - fit.mean)
            smapes.append(smape(test, fit.mean))
            mases.append(mase(test, fit.mean, train, scale_season))
            for lv in levels:
                lo, hi = fit.bands[lv]
                inside[lv].append((test >= lo) & (test <= hi))
        seconds = (time.perf_counter() - t0) / max(1, len(smapes))
        if progress:
            done = (i_model + 1) * f
            progress(done / total, f"backtested {MODELS[name][1]} ({done}/{total} fits)")
        if error is not None:
            scores.append(ModelScore(name, label, float("nan"), float("nan"), {}, None, seconds, error))
            continue
        scores.append(
            ModelScore(
                model=name,
                label=label,
                smape=float(np.mean(smapes)),
                mase=float(np.mean(mases)),
                coverage={lv: float(np.concatenate(inside[lv]).mean()) for lv in levels},
                errors=_error_quantiles(np.vstack(signed), levels),
                seconds=seconds,
            )
        )
    return BacktestResult(
        horizon=h,
        folds=f,
        levels=tuple(levels),
        scores=tuple(scores),
        chosen=choose_model(scores),
        notes=tuple(notes),
    )


def choose_model(scores: Sequence[ModelScore]) -> str | None:
    """Lowest MASE; models within TIE_TOLERANCE (relative) of the best count as tied and the simplest wins."""
    ok = [s for s in scores if s.ok]
    if not ok:
        return None
    best = min(s.mase for s in ok)
    tied = [s for s in ok if s.mase <= best * (1 + TIE_TOLERANCE) + 1e-12]
    return min(tied, key=lambda s: MODELS.get(s.model, (99, ""))[0]).model


def backtest(
    history: pd.Series,
    horizon: int,
    season_lengths: Sequence[int] | None = None,
    model: str = AUTO,
    folds: int = 3,
    *,
    levels: Sequence[int] = DEFAULT_LEVELS,
    outliers: Literal["keep", "downweight"] = "keep",
    non_negative: bool | None = None,
    progress: Callable[[float, str], None] | None = None,
) -> BacktestResult:
    """Rolling-origin backtest: `folds` consecutive held-out windows of `horizon` steps at the end of the
    history, each forecast from the data before it. model="auto" scores every candidate the data allows;
    a model key scores that one only. MASE uses each fold's in-sample seasonal naive MAE as its scale,
    with the season the shortest fold allows (the same for every fold)."""
    _check_args(horizon, levels, folds)
    prep = _prepare(history, season_lengths, outliers, non_negative)
    models, why = _models_for(prep, model)
    with _one_blas_thread():
        result = _backtest_prepared(prep, horizon, models, folds, levels, progress)
    return _with_notes(result, prep.notes + tuple(why))


def _with_notes(result: BacktestResult, notes: Sequence[str]) -> BacktestResult:
    return BacktestResult(
        result.horizon, result.folds, result.levels, result.scores, result.chosen, tuple(notes) + result.notes
    )


def _check_args(horizon: int, levels: Sequence[int], folds: int) -> None:
    if int(horizon) != horizon or horizon < 1:
        raise ForecastError(f"horizon must be a positive number of steps, got {horizon!r}")
    if folds < 0:
        raise ForecastError(f"folds must be >= 0, got {folds}")
    for lv in levels:
        if not 0 < lv < 100:
            raise ForecastError(f"levels are percentages between 0 and 100, got {lv!r}")


def _is_constant(values: np.ndarray) -> bool:
    return bool(np.ptp(values) == 0)


def _models_for(prep: _Prepared, model: str) -> tuple[list[str], list[str]]:
    names, why = candidate_models(len(prep.values), prep.seasons, bool(np.min(prep.values) > 0))
    if _is_constant(prep.values):
        return ["seasonal_naive"], [f"history is constant ({prep.values[0]:g}): its value is the forecast"]
    if model == AUTO:
        return names, why
    if model not in MODELS:
        raise ForecastError(f"unknown model {model!r}; choose 'auto' or one of {', '.join(MODELS)}")
    return [model], []


# ---- forecast -----------------------------------------------------------------------------------------
def forecast(
    history: pd.Series,
    horizon: int,
    season_lengths: Sequence[int] | None = None,
    model: str = AUTO,
    levels: Sequence[int] = DEFAULT_LEVELS,
    *,
    folds: int = 3,
    calibrate: bool = True,
    compare_all: bool = False,
    outliers: Literal["keep", "downweight"] = "keep",
    non_negative: bool | None = None,
    backtest_result: BacktestResult | None = None,
    progress: Callable[[float, str], None] | None = None,
) -> ForecastResult:
    """Forecast `horizon` steps after the history with bands at `levels` (percent).

    model="auto" backtests every candidate and uses the lowest MASE (ties: the simpler model). A fixed
    model is backtested alone for calibration (all candidates with compare_all=True, for a comparison
    table). Bands are widened by the backtest's residual quantiles when the model's own band covered
    less than its level of held-out points. Non-negative histories (inferred unless given) are never
    forecast below zero. Pass `backtest_result` to reuse a backtest of the same history.
    """
    with _one_blas_thread():
        return _forecast(
            history,
            horizon,
            season_lengths,
            model,
            levels,
            folds,
            calibrate,
            compare_all,
            outliers,
            non_negative,
            backtest_result,
            progress,
        )


def _forecast(
    history: pd.Series,
    horizon: int,
    season_lengths: Sequence[int] | None,
    model: str,
    levels: Sequence[int],
    folds: int,
    calibrate: bool,
    compare_all: bool,
    outliers: Literal["keep", "downweight"],
    non_negative: bool | None,
    backtest_result: BacktestResult | None,
    progress: Callable[[float, str], None] | None,
) -> ForecastResult:
    t0 = time.perf_counter()
    levels = tuple(sorted({int(lv) for lv in levels}))
    _check_args(horizon, levels, folds)
    prep = _prepare(history, season_lengths, outliers, non_negative)
    notes = list(prep.notes)
    names, why = _models_for(prep, model)
    notes += why
    constant = _is_constant(prep.values)

    bt = backtest_result
    if bt is None and (model == AUTO or calibrate) and not constant:
        to_score = names if (model == AUTO or not compare_all) else _models_for(prep, AUTO)[0]
        bt = _backtest_prepared(prep, horizon, to_score, folds, levels, _scaled(progress, 0.0, 0.9))
        notes += bt.notes

    chosen = names[0] if constant else model
    if model == AUTO and not constant:
        chosen = bt.chosen if bt is not None and bt.chosen else None
        if chosen is None:
            chosen = "seasonal_naive"
            reason = bt.notes[-1] if bt is not None and bt.notes else "no candidate could be backtested"
            notes.append(f"{reason}; using the seasonal naive forecast")
    if progress:
        progress(0.92, f"fitting {chosen} on the full history")
    try:
        fit = _run_model(chosen, prep.values, horizon, prep.seasons, levels, prep.non_negative)
    except Exception as exc:
        if chosen == "seasonal_naive":
            raise
        notes.append(
            f"{chosen} failed on the full history ({type(exc).__name__}: {exc}); using seasonal naive"
        )
        chosen = "seasonal_naive"
        fit = _run_model(chosen, prep.values, horizon, prep.seasons, levels, prep.non_negative)

    factors = {lv: 1.0 for lv in levels}
    score = bt.score(chosen) if bt is not None else None
    if calibrate and score is not None and score.ok and score.errors is not None:
        # only the levels whose own band held too few of the held-out points are recalibrated
        short = [lv for lv in levels if score.coverage.get(lv, 1.0) < lv / 100]
        fit, factors = _widen(fit, score.errors, short)
        widened = [
            f"{lv}% x{factors[lv]:.2f} (its own band covered {score.coverage[lv]:.0%})"
            for lv in levels
            if factors[lv] > 1.01
        ]
        if widened:
            notes.append("bands widened to the backtest's error quantiles: " + ", ".join(widened))
        if bt.horizon < horizon:
            notes.append(f"band widths past step {bt.horizon} repeat the backtest's last segment")
    elif calibrate and not constant:
        notes.append("bands are the model's own (no backtest to calibrate them against)")
    fit = _postprocess(fit, prep.non_negative)

    step = prep.step
    ts = pd.date_range(prep.index[-1] + step, periods=horizon, freq=step, tz="UTC")
    frame = pd.DataFrame({"ts": ts.astype("datetime64[ns, UTC]"), "mean": fit.mean})
    for lv in levels:
        frame[f"lo_{lv}"], frame[f"hi_{lv}"] = fit.bands[lv]
    if progress:
        progress(1.0, "done")
    label = fit.label if not constant else f"constant {prep.values[-1]:g}"
    return ForecastResult(
        frame=frame,
        model=label,
        model_key="constant" if constant else chosen,
        levels=levels,
        season_lengths=_usable_seasons(len(prep.values), prep.seasons),
        step=step,
        history_end=prep.index[-1],
        backtest=bt,
        calibration=factors,
        notes=tuple(dict.fromkeys(notes)),
        seconds=time.perf_counter() - t0,
    )


def _widen(fit: _Fit, errors: ErrorQuantiles, levels: Sequence[int]) -> tuple[_Fit, dict[int, float]]:
    """For each of `levels`, the band becomes the wider of the model's own and the mean plus the
    backtest's error quantiles at that horizon (interpolated between segment centres): only ever
    widened. Returns the new fit and, per level, the mean width after / before."""
    steps = np.arange(len(fit.mean))
    bands, factors = {}, {}
    for lv, (lo, hi) in fit.bands.items():
        if lv not in levels or lv not in errors.lower:
            bands[lv], factors[lv] = (lo, hi), 1.0
            continue
        lo_q = np.interp(steps, errors.centers, errors.lower[lv])
        hi_q = np.interp(steps, errors.centers, errors.upper[lv])
        new_lo, new_hi = np.minimum(lo, fit.mean + lo_q), np.maximum(hi, fit.mean + hi_q)
        before = float(np.mean(hi - lo))
        after = float(np.mean(new_hi - new_lo))
        factors[lv] = after / before if before > 0 else (1.0 if after == 0 else float("inf"))
        bands[lv] = (new_lo, new_hi)
    return _Fit(fit.mean, bands, fit.label), factors


def _scaled(
    progress: Callable[[float, str], None] | None, start: float, end: float
) -> Callable[[float, str], None] | None:
    if progress is None:
        return None
    return lambda f, text: progress(start + (end - start) * f, text)


# ---- many series in parallel --------------------------------------------------------------------------
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
_env_lock = threading.Lock()


@contextmanager
def _spawn_environment() -> Iterator[None]:
    """What a spawned worker sees while the pool starts it.

    - The environment: one BLAS/OpenMP thread each, so N workers on N cores do not fight over threads
      (the parent's BLAS is already initialised and unaffected).
    - A blank `__main__`: multiprocessing re-runs the parent's main script in every spawned worker, and
      Streamlit installs the running page as `__main__`, so each worker would re-run the page (and try
      to start a pool of its own). The real module is put back as soon as the workers are started.
    """
    with _env_lock:
        saved = {k: os.environ.get(k) for k in _THREAD_VARS}
        main = sys.modules.get("__main__")
        os.environ.update({k: "1" for k in _THREAD_VARS})
        sys.modules["__main__"] = types.ModuleType("__main__")
        try:
            yield
        finally:
            if main is not None:
                sys.modules["__main__"] = main
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


def _forecast_one(name: str, history: pd.Series, horizon: int, kwargs: dict[str, Any]) -> tuple[str, Any]:
    try:
        return name, forecast(history, horizon, **kwargs)
    except ForecastError as exc:
        return name, str(exc)
    except Exception as exc:  # a bad series must not take the batch down
        return name, f"{type(exc).__name__}: {exc}"


_pool: ProcessPoolExecutor | None = None
_pool_workers = 0
_pool_lock = threading.Lock()


def _shared_pool(workers: int) -> ProcessPoolExecutor:
    """One pool per process, kept between calls: spawning a worker costs ~1.3 s of imports, which a
    page that refits on every change should pay once, not every time."""
    global _pool, _pool_workers
    import multiprocessing

    with _pool_lock:
        if _pool is None or _pool_workers != workers:
            if _pool is not None:
                _pool.shutdown(wait=False, cancel_futures=True)
            _pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
            _pool_workers = workers
        return _pool


def shutdown_pool() -> None:
    """Stop the shared worker processes (they also stop when this process exits)."""
    global _pool, _pool_workers
    with _pool_lock:
        if _pool is not None:
            _pool.shutdown(wait=True, cancel_futures=True)
        _pool, _pool_workers = None, 0


atexit.register(shutdown_pool)


def forecast_many(
    series: Mapping[str, pd.Series] | pd.DataFrame,
    horizon: int,
    *,
    workers: int | None = None,
    progress: Callable[[float, str], None] | None = None,
    **kwargs: Any,
) -> BatchForecast:
    """Forecast several series (a dict, or a wide frame with one column per series) in a process pool.

    workers=None uses one process per CPU (at most one per series); workers=1 runs in this process.
    Workers are spawned (not forked: forking a threaded server such as Streamlit can deadlock) with
    OMP_NUM_THREADS=OPENBLAS_NUM_THREADS=1, and kept for later calls (`shutdown_pool()` stops them).
    A new worker pays the pandas/statsmodels import (~1.3 s) once. kwargs go to `forecast()`; a series
    that cannot be forecast lands in `errors` with the reason instead of failing the batch.
    """
    t0 = time.perf_counter()
    items = {str(k): v for k, v in series.items()}
    if workers is None:
        workers = os.cpu_count() or 1
    workers = max(1, min(workers, len(items)))
    results: dict[str, ForecastResult] = {}
    errors: dict[str, str] = {}

    def record(name: str, outcome: Any) -> None:
        if isinstance(outcome, ForecastResult):
            results[name] = outcome
        else:
            errors[name] = str(outcome)
        if progress:
            done = len(results) + len(errors)
            progress(done / len(items), f"forecast {done}/{len(items)} series ({name})")

    if workers == 1:
        for name, hist in items.items():
            record(*_forecast_one(name, hist, horizon, kwargs))
    else:
        for attempt in (1, 2):
            pool = _shared_pool(workers)
            try:
                # workers start lazily on submit: their environment must be in place then
                with _spawn_environment():
                    futures = [pool.submit(_forecast_one, n, h, horizon, kwargs) for n, h in items.items()]
                for fut in as_completed(futures):
                    record(*fut.result())
                break
            except BrokenProcessPool:
                # a worker died (killed, out of memory): start a fresh pool once, then give up loudly
                shutdown_pool()
                results.clear()
                errors.clear()
                if attempt == 2:
                    raise
    ordered = {k: results[k] for k in items if k in results}
    return BatchForecast(ordered, errors, workers, time.perf_counter() - t0)


# ---- what-if helpers on a forecast frame -------------------------------------------------------------
def _value_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c == "mean" or c.startswith(("lo_", "hi_"))]


def apply_growth(
    frame: pd.DataFrame, percent_per_month: float, start: datetime | None = None
) -> pd.DataFrame:
    """Compound an extra growth of `percent_per_month` (a month = 30.44 days) from `start` (default: the
    first forecast step) onto the mean and bands; -100 < percent."""
    if percent_per_month <= -100:
        raise ForecastError(f"growth must be above -100% per month, got {percent_per_month}")
    out = frame.copy()
    if percent_per_month == 0 or out.empty:
        return out
    t0 = pd.Timestamp(start) if start is not None else out["ts"].iloc[0]
    if t0.tzinfo is None:
        t0 = t0.tz_localize("UTC")
    months = ((out["ts"] - t0) / pd.Timedelta(days=365.25 / 12)).clip(lower=0).to_numpy(dtype=float)
    factor = (1 + percent_per_month / 100.0) ** months
    for col in _value_columns(out):
        out[col] = out[col].to_numpy(dtype=float) * factor
    return out


def apply_events(frame: pd.DataFrame, events: Sequence[KnownEvent]) -> pd.DataFrame:
    """Multiply mean and bands by each event's multiplier inside [start, end); overlapping events
    multiply together."""
    out = frame.copy()
    for ev in events:
        if ev.multiplier < 0:
            raise ForecastError(f"event {ev.name!r}: multiplier must be >= 0, got {ev.multiplier}")
        start, end = pd.Timestamp(ev.start), pd.Timestamp(ev.end)
        start = start.tz_localize("UTC") if start.tzinfo is None else start
        end = end.tz_localize("UTC") if end.tzinfo is None else end
        if end <= start:
            raise ForecastError(f"event {ev.name!r}: end must be after start")
        inside = ((out["ts"] >= start) & (out["ts"] < end)).to_numpy()
        for col in _value_columns(out):
            values = out[col].to_numpy(dtype=float).copy()
            values[inside] *= ev.multiplier
            out[col] = values
    return out


def capacity_exhaustion(frame: pd.DataFrame, capacity: float, column: str = "mean") -> pd.Timestamp | None:
    """First forecast timestamp where `column` (mean, or an upper band such as hi_95) reaches capacity;
    None when it stays below for the whole horizon."""
    if column not in frame.columns:
        raise ForecastError(f"forecast frame has no column {column!r}")
    hit = frame.loc[frame[column].to_numpy(dtype=float) >= capacity, "ts"]
    return None if hit.empty else pd.Timestamp(hit.iloc[0])


_EVENT_LINE = re.compile(
    r"^\s*(?P<start>\d{4}-\d{2}-\d{2}(?:[ T]\d{1,2}:\d{2})?)\s*(?:\.\.|to|→)\s*"
    r"(?P<end>\d{4}-\d{2}-\d{2}(?:[ T]\d{1,2}:\d{2})?)\s+[x×*]\s*(?P<mult>\d+(?:\.\d+)?)\s*(?P<name>.*)$"
)
EVENT_SYNTAX = "START .. END xMULTIPLIER name, e.g. 2026-11-27 .. 2026-11-30 x1.8 Black Friday (UTC)"


def parse_known_events(text: str) -> tuple[list[KnownEvent], list[str]]:
    """Known events, one per line: `START .. END xMULTIPLIER name` with dates `YYYY-MM-DD` or
    `YYYY-MM-DD HH:MM` (UTC). A date-only END includes that whole day. Returns the events and one sentence
    per line that could not be read (blank lines and lines starting with # are skipped)."""
    events: list[KnownEvent] = []
    problems: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _EVENT_LINE.match(line)
        if match is None:
            problems.append(f"line {number}: {line!r} is not `{EVENT_SYNTAX}`")
            continue
        try:
            start = pd.Timestamp(match["start"], tz="UTC")
            end = pd.Timestamp(match["end"], tz="UTC")
        except ValueError as exc:
            problems.append(f"line {number}: {exc}")
            continue
        if len(match["end"]) == 10:  # a whole day
            end += pd.Timedelta(days=1)
        if end <= start:
            problems.append(f"line {number}: the end ({match['end']}) is before the start ({match['start']})")
            continue
        name = match["name"].strip() or f"event {len(events) + 1}"
        events.append(KnownEvent(name, start.to_pydatetime(), end.to_pydatetime(), float(match["mult"])))
    return events, problems


@dataclass(frozen=True)
class ForecastSummary:
    """What the page's summary table and the planner need from one region's forecast."""

    model: str
    model_key: str
    backtest_mase: float  # nan without a backtest
    backtest_coverage_95: float  # the model's own band on the backtest, before widening
    peak: float  # highest mean over the horizon
    peak_at: pd.Timestamp
    capacity: float | None
    exhaustion_mean: pd.Timestamp | None  # first time the mean reaches capacity
    exhaustion_upper: pd.Timestamp | None  # first time the upper band (hi_<highest level>) reaches it
    headroom: float | None  # 1 - peak / capacity (negative: the mean exceeds capacity)


def summarize(
    result: ForecastResult, frame: pd.DataFrame | None = None, capacity: float | None = None
) -> ForecastSummary:
    """Summary of `frame` (default: result.frame; pass the frame after growth/events adjustments)."""
    frame = result.frame if frame is None else frame
    score = result.backtest.score(result.model_key) if result.backtest is not None else None
    peak_row = frame["mean"].idxmax()
    upper = f"hi_{max(result.levels)}"
    return ForecastSummary(
        model=result.model,
        model_key=result.model_key,
        backtest_mase=score.mase if score is not None and score.ok else float("nan"),
        backtest_coverage_95=score.coverage.get(95, float("nan"))
        if score is not None and score.ok
        else float("nan"),
        peak=float(frame.loc[peak_row, "mean"]),
        peak_at=pd.Timestamp(frame.loc[peak_row, "ts"]),
        capacity=capacity,
        exhaustion_mean=capacity_exhaustion(frame, capacity) if capacity is not None else None,
        exhaustion_upper=capacity_exhaustion(frame, capacity, upper) if capacity is not None else None,
        headroom=(1 - float(frame.loc[peak_row, "mean"]) / capacity) if capacity else None,
    )


def max_capacity(config: Any, region: str, metric: str, service: str = "api") -> float | None:
    """The ceiling a forecast of `metric` in `region` runs into: for requests_per_second, the fleet's
    max_instances x capacity_per_instance (req/s); None for metrics without a configured ceiling."""
    if metric != "requests_per_second":
        return None
    fleet = config.fleet_for(region, service)
    if fleet is None:
        return None
    return float(fleet.max_instances * fleet.capacity_per_instance)


def score_against_actual(
    frame: pd.DataFrame, actual: pd.Series, insample: pd.Series | None = None, season: int = 1
) -> dict[str, float]:
    """Compare a (saved) forecast with what happened: sMAPE, MASE (when the in-sample history is given),
    and coverage of each band, over the timestamps present in both."""
    a = actual.copy()
    a.index = (
        pd.DatetimeIndex(a.index).tz_convert("UTC")
        if a.index.tz
        else pd.DatetimeIndex(a.index).tz_localize("UTC")
    )
    joined = frame.set_index("ts").join(a.rename("actual"), how="inner").dropna(subset=["actual"])
    out: dict[str, float] = {"points": float(len(joined))}
    if joined.empty:
        return out
    out["smape"] = smape(joined["actual"], joined["mean"])
    if insample is not None:
        out["mase"] = mase(joined["actual"], joined["mean"], insample.dropna().to_numpy(), season)
    for col in joined.columns:
        if col.startswith("lo_"):
            lv = col[3:]
            out[f"coverage_{lv}"] = coverage(joined["actual"], joined[col], joined[f"hi_{lv}"])
    return out


__all__ = [
    "AUTO",
    "MODELS",
    "BacktestResult",
    "BatchForecast",
    "ForecastError",
    "ForecastResult",
    "KnownEvent",
    "ModelScore",
    "apply_events",
    "apply_growth",
    "backtest",
    "baseline_season",
    "candidate_models",
    "capacity_exhaustion",
    "choose_model",
    "coverage",
    "forecast",
    "forecast_many",
    "infer_season_lengths",
    "mase",
    "max_capacity",
    "naive_scale",
    "parse_known_events",
    "score_against_actual",
    "summarize",
    "ForecastSummary",
    "ErrorQuantiles",
    "EVENT_SYNTAX",
    "shutdown_pool",
    "smape",
]
