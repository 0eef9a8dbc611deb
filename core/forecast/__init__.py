"""Demand forecasting: statsmodels candidates, automatic choice by rolling-origin backtest, calibrated bands.

Public API (pages, the capacity planner and scripts use these; every name is re-exported here, so
`from core.forecast import X` works whichever module defines X):

- `forecast(history, horizon, season_lengths=None, model="auto", levels=(80, 95)) -> ForecastResult`
  (predict.py)
- `backtest(history, horizon, season_lengths=None, model="auto", folds=3) -> BacktestResult`
  (backtesting.py)
- `forecast_many(series, horizon, ...) -> BatchForecast` (pool.py: process pool, one BLAS thread per
  worker, statsmodels imported when a worker starts); `stored_forecast(history, horizon, ...)`: the
  stored fit of that call, or None, without fitting
- `smape`, `mase`, `coverage` (measures.py): the accuracy measures the backtest reports;
  `score_against_actual` for a saved forecast once the actuals are in
- `apply_growth`, `apply_events`, `parse_known_events`, `capacity_exhaustion`, `max_capacity`,
  `summarize` (whatif.py): what-if helpers on a forecast frame (the Forecast page and the capacity planner)

Modules: domain.py (catalogue, constants, dataclasses), measures.py, prepare.py (history cleaning,
seasons), models.py (candidate fitters), autoregression.py, combine.py, cache.py, fitting.py,
backtesting.py (not backtest.py: that name is
the function), bands.py (calibration), predict.py, pool.py,
whatif.py.

Candidates, simplest first (ties in backtest MASE go to the simpler one): seasonal naive (the longest
season: last week for hourly data), seasonal naive at the shortest season (yesterday), ETS(A,N,N) (no
season), ETS(A,N,A), ETS(A,A,A) (Holt-Winters additive), ETS(A,Ad,A) (damped), ETS(M,Ad,M)
(multiplicative, positive series only), Theta, seasonal ridge autoregressions (recursive, recursive on
log values, direct per step: autoregression.py), MSTL + damped ETS on the seasonally adjusted part,
SARIMAX, and the combination: the median of the 3 best by backtest (combine.py), used when it beats them.
`candidates=AUTO_SHORTLIST` (domain.py) leaves out the four with the least accuracy for their CPU on the
M4 Hourly dev half (MSTL + ETS, SARIMAX, ETS(A,N,N), Theta): the Forecast page's auto, a quarter of the CPU.
SARIMAX is bounded: ARIMA(1,1,1) errors around Fourier terms for the seasons, fitted in two steps on the
last `SARIMAX_MAX_POINTS` points. A seasonal lag of 168 (hourly data, weekly cycle) in the state vector
took ~10 s per fit, and estimating the Fourier terms inside the likelihood up to 5 s; this takes ~0.1 s.
Fits are cached by a hash of the history and settings (cache.py).

statsmodels is imported inside the functions that need it (its import costs ~1-2 s) and its warnings are
silenced there, so nothing leaks into the UI.
"""

from core.forecast.backtesting import backtest, choose_model
from core.forecast.cache import clear_forecast_cache, forecast_cache_info
from core.forecast.domain import (
    AUTO,
    AUTO_SHORTLIST,
    COMBINATION,
    COMBINE_TOP,
    DEFAULT_LEVELS,
    ETS_SIMULATIONS,
    MAX_SEASON,
    MIN_FIT_POINTS,
    MIN_SHORT_GAP,
    MODELS,
    OUTLIER_MADS,
    SARIMAX_MAX_POINTS,
    TIE_TOLERANCE,
    BacktestResult,
    BatchForecast,
    ErrorQuantiles,
    ForecastError,
    ForecastResult,
    KnownEvent,
    ModelScore,
)
from core.forecast.measures import coverage, mase, naive_scale, smape
from core.forecast.models import candidate_models
from core.forecast.pool import forecast_many, shutdown_pool, stored_forecast
from core.forecast.predict import forecast
from core.forecast.prepare import baseline_season, infer_season_lengths
from core.forecast.whatif import (
    EVENT_SYNTAX,
    ForecastSummary,
    apply_events,
    apply_growth,
    capacity_exhaustion,
    max_capacity,
    parse_known_events,
    score_against_actual,
    summarize,
)

__all__ = [
    "AUTO",
    "AUTO_SHORTLIST",
    "COMBINATION",
    "COMBINE_TOP",
    "DEFAULT_LEVELS",
    "ETS_SIMULATIONS",
    "EVENT_SYNTAX",
    "MAX_SEASON",
    "MIN_FIT_POINTS",
    "MIN_SHORT_GAP",
    "MODELS",
    "OUTLIER_MADS",
    "SARIMAX_MAX_POINTS",
    "TIE_TOLERANCE",
    "BacktestResult",
    "BatchForecast",
    "ErrorQuantiles",
    "ForecastError",
    "ForecastResult",
    "ForecastSummary",
    "KnownEvent",
    "ModelScore",
    "apply_events",
    "apply_growth",
    "backtest",
    "baseline_season",
    "candidate_models",
    "capacity_exhaustion",
    "choose_model",
    "clear_forecast_cache",
    "coverage",
    "forecast",
    "forecast_cache_info",
    "forecast_many",
    "infer_season_lengths",
    "mase",
    "max_capacity",
    "naive_scale",
    "parse_known_events",
    "score_against_actual",
    "shutdown_pool",
    "smape",
    "stored_forecast",
    "summarize",
]
