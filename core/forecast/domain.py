"""The forecast package's vocabulary: the model catalogue, tuning constants, the error type and the
result dataclasses every other module returns."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

# ---- model catalogue ---------------------------------------------------------------------------------
# key -> (complexity rank, human description); the rank breaks MASE ties in favour of the simpler model
MODELS: dict[str, tuple[int, str]] = {
    "seasonal_naive": (0, "Seasonal naive (repeat the last season: last week for hourly data)"),
    "seasonal_naive_short": (1, "Seasonal naive, shortest season (same hour yesterday for hourly data)"),
    "ets_level": (2, "Simple exponential smoothing: ETS(A,N,N), no season"),
    "ets_additive": (3, "ETS(A,N,A): exponential smoothing, additive season, no trend"),
    "ets_trend": (4, "Holt-Winters additive: ETS(A,A,A)"),
    "ets_damped": (5, "Holt-Winters additive, damped trend: ETS(A,Ad,A)"),
    "ets_multiplicative": (6, "Holt-Winters multiplicative, damped trend: ETS(M,Ad,M)"),
    "theta": (7, "Theta method (seasonally adjusted)"),
    "ar_seasonal": (8, "Seasonal autoregression: recent steps and the same step 1-2 days and a week ago"),
    "ar_seasonal_log": (9, "Seasonal autoregression on log values (multiplicative seasonality)"),
    "ar_direct": (10, "Direct autoregression: one regression per forecast step on the last 2 days and week"),
    "mstl_ets": (11, "MSTL decomposition (all seasons) + damped ETS on the adjusted part"),
    "sarimax": (12, "SARIMAX(1,1,1) with Fourier terms for the seasons"),
    "combination": (13, "Median of the 3 best candidates by backtest"),
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
COMBINATION = "combination"
# the combination is the median of this many candidates, the best by backtest MASE (M4: a median of a few
# good models beats choosing one); on the M4 Hourly dev half it cut MASE from 0.81 (best single) to 0.78
COMBINE_TOP = 3
# auto's candidates where a fit must be quick (an interactive page): every candidate but the four with the
# least accuracy for their CPU on the M4 Hourly dev half (207 series, horizon 48; bench/forecast_m4.py):
# MSTL + ETS (~59% of auto's CPU, chosen for 2 series), SARIMAX (~26%, chosen for 3), simple exponential
# smoothing (chosen for none, never in a combination) and Theta (chosen for 7; auto did better without it).
# With this list auto scored MASE 0.821 vs 0.818, sMAPE 9.70 vs 9.96, 80/95% coverage 0.824/0.938 vs
# 0.819/0.934, in a quarter of the CPU (bench/README.md, the forecast subsection of issue 17).
AUTO_SHORTLIST: tuple[str, ...] = (
    "seasonal_naive",
    "seasonal_naive_short",
    "ets_additive",
    "ets_trend",
    "ets_damped",
    "ets_multiplicative",
    "ar_seasonal",
    "ar_seasonal_log",
    "ar_direct",
)
AR_RIDGE = 1.0  # ridge penalty of the autoregressions (on standardised values)
AR_DIRECT_MAX_STEPS = 336  # the direct AR fits one regression per step: longer horizons skip it


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
    # held-out errors (actual - forecast), folds x steps: what the final band's coverage is measured on
    fold_errors: np.ndarray | None = field(default=None, repr=False, compare=False)

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
    members: tuple[str, ...] = ()  # the combination's candidates, best first (empty: no combination)

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
    # level -> share of the backtest's held-out points inside the final (calibrated) band, placed around
    # each fold's forecast; empty without a backtest. The calibration saw the same points, so it is an
    # optimistic estimate; bench/forecast_m4.py measures it out of sample.
    band_coverage: dict[int, float] = field(default_factory=dict)
    cached: bool = False  # True when this result came from the fit cache (no refit)


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
