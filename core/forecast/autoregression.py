"""Seasonal autoregressions fitted by ridge least squares (numpy only: milliseconds per fit).

On the M4 Hourly development half these were the strongest single candidates (MASE 0.79-0.83 against the
seasonal naive's 1.23 and ETS's 1.7+): hourly demand is best predicted from the last day and the same hour
yesterday and last week, and a linear regression on those lags learns how much of each to use.

- `ar_seasonal`: one regression of the value on recent lags (1 .. one day) and the lags around each usable
  season (m - 1, m, m + 1, and two days), iterated step by step. The band follows from the AR's impulse
  response (psi weights), as for an ARIMA model.
- `ar_seasonal_log`: the same on log values, a variance-stabilising transform for seasonality whose
  amplitude grows with the level (back-transformed: the mean is the forecast median).
- `ar_direct`: one regression per forecast step k on the last two days and the same phase one season ago,
  all relative to the last day's mean (a local level, so a trend or level shift carries over). No errors
  compound over the horizon; the band is each regression's residual spread.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from core.forecast.domain import AR_DIRECT_MAX_STEPS, AR_RIDGE, ForecastError
from core.forecast.fitting import _Fit, _z
from core.forecast.prepare import _usable_seasons

MAX_SHORT_LAGS = 24  # recent lags: a day of hourly data (more added noise on the dev half)
MIN_SAMPLES_PER_TERM = 3  # regression rows per coefficient before longer seasonal lags are dropped


def _ridge(x: np.ndarray, y: np.ndarray, intercept: bool = False, penalty: float = AR_RIDGE) -> np.ndarray:
    """Least squares with a small ridge penalty (never on the intercept, the last column when given):
    it keeps the 30-50 lag coefficients stable when neighbouring lags are nearly collinear."""
    reg = penalty * np.eye(x.shape[1])
    if intercept:
        reg[-1, -1] = 0.0
    return np.linalg.solve(x.T @ x + reg, x.T @ y)


def _ar_lags(n: int, seasons: Sequence[int]) -> list[int]:
    """Recent lags 1..p+1 (p: the shortest season, at most MAX_SHORT_LAGS) and m-1, m, m+1 for each usable
    season plus two cycles of the shortest; seasonal lags the history cannot support are left out."""
    usable = _usable_seasons(n, seasons)
    short = min(usable[0] if usable else MAX_SHORT_LAGS, MAX_SHORT_LAGS, max(1, n // 4))
    lags = set(range(1, short + 2))
    extra: list[int] = []
    if usable:
        extra.append(2 * usable[0])
        for m in usable:
            extra += [m - 1, m, m + 1]
    for lag in sorted(extra):
        if n - lag >= MIN_SAMPLES_PER_TERM * (len(lags) + 1) + 10:
            lags.add(lag)
    return sorted(lag for lag in lags if lag < n)


def _psi_weights(lags: Sequence[int], coef: np.ndarray, h: int) -> np.ndarray:
    """Impulse response of the AR: psi_0 = 1, psi_j = sum_i coef_i psi_{j - lag_i}."""
    psi = np.zeros(h)
    psi[0] = 1.0
    for j in range(1, h):
        psi[j] = sum(c * psi[j - lag] for lag, c in zip(lags, coef, strict=True) if j - lag >= 0)
    return psi


def _ar_recursive(x: np.ndarray, h: int, seasons: Sequence[int]) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Mean forecast, standard deviation per step and the lags used, for the standardised AR on x."""
    n = len(x)
    lags = _ar_lags(n, seasons)
    if n - max(lags) < len(lags) + 2:
        raise ForecastError(f"the seasonal autoregression needs more than {max(lags) + len(lags)} points")
    mu, sd = float(np.mean(x)), float(np.std(x))
    sd = sd if sd > 0 else 1.0
    z = (x - mu) / sd
    rows = np.arange(max(lags), n)
    design = np.column_stack([z[rows - lag] for lag in lags])
    coef = _ridge(design, z[rows])
    sigma = float(np.sqrt(np.mean((z[rows] - design @ coef) ** 2)))
    path = np.concatenate([z, np.zeros(h)])
    lag_arr = np.asarray(lags)
    for t in range(n, n + h):
        path[t] = float(coef @ path[t - lag_arr])
    spread = sigma * np.sqrt(np.cumsum(_psi_weights(lags, coef, h) ** 2))
    return mu + sd * path[n:], sd * spread, lags


def _fit_ar_seasonal(y: np.ndarray, h: int, seasons: Sequence[int], levels: Sequence[int]) -> _Fit:
    mean, spread, lags = _ar_recursive(np.asarray(y, dtype=float), h, seasons)
    bands = {lv: (mean - _z(lv) * spread, mean + _z(lv) * spread) for lv in levels}
    return _Fit(mean, bands, f"seasonal AR, lags {_lag_text(lags)}")


def _fit_ar_seasonal_log(y: np.ndarray, h: int, seasons: Sequence[int], levels: Sequence[int]) -> _Fit:
    if np.min(y) <= 0:
        raise ForecastError("the log autoregression needs a strictly positive series")
    centre, spread, lags = _ar_recursive(np.log(y), h, seasons)
    bands = {lv: (np.exp(centre - _z(lv) * spread), np.exp(centre + _z(lv) * spread)) for lv in levels}
    return _Fit(np.exp(centre), bands, f"seasonal AR on log values, lags {_lag_text(lags)}")


def _lag_text(lags: Sequence[int]) -> str:
    runs, start = [], lags[0]
    for prev, cur in zip(lags, [*lags[1:], None], strict=True):
        if cur != prev + 1:
            runs.append(f"{start}-{prev}" if prev > start else f"{start}")
            start = cur
    return ",".join(runs)


def _fit_ar_direct(y: np.ndarray, h: int, seasons: Sequence[int], levels: Sequence[int]) -> _Fit:
    if h > AR_DIRECT_MAX_STEPS:
        raise ForecastError(
            f"the direct autoregression fits one regression per step: at most {AR_DIRECT_MAX_STEPS} steps"
        )
    x = np.asarray(y, dtype=float)
    n = len(x)
    usable = _usable_seasons(n, seasons)
    day = usable[0] if usable else min(MAX_SHORT_LAGS, max(1, n // 4))
    recent = min(2 * day, 2 * MAX_SHORT_LAGS, max(1, n // 4))
    # seasonal lags for step k: the same phase one cycle of each longer season before the target
    longer = [m for m in usable if m > recent and n - m - h >= MIN_SAMPLES_PER_TERM * (recent + 3) + 10]
    start = max([recent, day, *longer])
    if n - start - h < recent + len(longer) + 2:
        raise ForecastError(f"the direct autoregression needs more than {start + h + recent} points")
    sd = float(np.std(x)) or 1.0
    cums = np.concatenate([[0.0], np.cumsum(x)])
    origins = np.arange(start - 1, n)  # t: the last observed point of each sample
    level = (cums[origins + 1] - cums[origins + 1 - day]) / day
    recent_block = np.column_stack([x[origins - j] for j in range(recent)]) - level[:, None]
    mean, spread = np.empty(h), np.empty(h)
    for k in range(1, h + 1):
        rows = slice(0, len(origins) - k)  # samples whose target t + k is observed
        seasonal = [x[origins + k - m * int(np.ceil(k / m))] - level for m in longer]
        design = np.column_stack([recent_block, *seasonal, np.ones(len(origins))]) / sd
        target = (x[origins[rows] + k] - level[rows]) / sd
        coef = _ridge(design[rows], target, intercept=True)
        resid = target - design[rows] @ coef
        mean[k - 1] = level[-1] + sd * float(design[-1] @ coef)
        spread[k - 1] = sd * float(np.sqrt(np.mean(resid**2)))
    bands = {lv: (mean - _z(lv) * spread, mean + _z(lv) * spread) for lv in levels}
    seasonal_text = "".join(f", same phase {m} steps back" for m in longer)
    return _Fit(mean, bands, f"direct AR per step on the last {recent} points{seasonal_text}")
