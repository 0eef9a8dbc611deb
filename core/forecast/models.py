"""Candidate models: one fitter per key in MODELS, each returning the point forecast and its own bands.

statsmodels is imported inside the fitters (its import costs ~1-2 s) and its warnings are silenced there,
so nothing leaks into the UI."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from core.forecast.autoregression import _fit_ar_direct, _fit_ar_seasonal, _fit_ar_seasonal_log
from core.forecast.domain import (
    AR_DIRECT_MAX_STEPS,
    ETS_SIMULATIONS,
    MAX_SEASON,
    MIN_FIT_POINTS,
    MODELS,
    SARIMAX_MAX_POINTS,
    ForecastError,
)
from core.forecast.fitting import _Fit, _quiet, _z
from core.forecast.prepare import _usable_seasons, baseline_season


# ---- candidate models ---------------------------------------------------------------------------------
def _seasonal_naive(y: np.ndarray, h: int, m: int, levels: Sequence[int]) -> _Fit:
    n = len(y)
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


def _fit_seasonal_naive(y: np.ndarray, h: int, seasons: Sequence[int], levels: Sequence[int]) -> _Fit:
    return _seasonal_naive(y, h, baseline_season(len(y), seasons), levels)


def _fit_seasonal_naive_short(y: np.ndarray, h: int, seasons: Sequence[int], levels: Sequence[int]) -> _Fit:
    """The M4 benchmark's seasonal naive for hourly data (period 24) when the weekly one is the default."""
    usable = _usable_seasons(len(y), seasons)
    if len(usable) < 2:
        raise ForecastError("the short seasonal naive needs two usable seasons (else it is seasonal_naive)")
    return _seasonal_naive(y, h, usable[0], levels)


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
        # the interval itself (summary_frame's pi_lower/pi_upper), without building its DataFrame per level
        interval = np.asarray(pred.pred_int(alpha=1 - lv / 100), dtype=float)
        bands[lv] = (interval[:, 0].copy(), interval[:, 1].copy())
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
    "seasonal_naive_short": _fit_seasonal_naive_short,
    "ets_level": _fit_ets_level,
    "ets_additive": _fit_ets_additive,
    "ets_trend": _fit_ets_trend,
    "ets_damped": _fit_ets_damped,
    "ets_multiplicative": _fit_ets_multiplicative,
    "theta": _fit_theta,
    "ar_seasonal": _fit_ar_seasonal,
    "ar_seasonal_log": _fit_ar_seasonal_log,
    "ar_direct": _fit_ar_direct,
    "mstl_ets": _fit_mstl_ets,
    "sarimax": _fit_sarimax,
}


def candidate_models(
    n: int, seasons: Sequence[int], positive: bool, horizon: int | None = None
) -> tuple[list[str], list[str]]:
    """Candidates the data allows (simplest first), and a sentence for each one left out. The
    combination is not listed: the backtest builds it from the best of these."""
    why: list[str] = []
    if n < MIN_FIT_POINTS:
        why.append(f"only {n} points of history: statistical models need at least {MIN_FIT_POINTS}")
        return ["seasonal_naive"], why
    usable = _usable_seasons(n, seasons)
    names = ["seasonal_naive"] + (["seasonal_naive_short"] if len(usable) >= 2 else [])
    names += ["ets_level", "ets_additive", "ets_trend", "ets_damped"]
    if positive:
        names.append("ets_multiplicative")
    else:
        why.append("multiplicative ETS and the log autoregression skipped: the series has zeros or negatives")
    names += ["theta", "ar_seasonal"] + (["ar_seasonal_log"] if positive else [])
    if horizon is None or horizon <= AR_DIRECT_MAX_STEPS:
        names.append("ar_direct")
    else:
        why.append(f"direct autoregression skipped: the horizon is over {AR_DIRECT_MAX_STEPS} steps")
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


def import_fitters() -> None:
    """Import the statsmodels modules the fitters use (each fitter imports its own lazily: ~1.5 s in
    all). Worker processes call this when they start, so no series pays it inside its fit."""
    import scipy.signal  # noqa: F401
    import statsmodels.tsa.exponential_smoothing.ets  # noqa: F401
    import statsmodels.tsa.forecasting.theta  # noqa: F401
    import statsmodels.tsa.seasonal  # noqa: F401
    import statsmodels.tsa.statespace.sarimax  # noqa: F401
    import statsmodels.tsa.stattools  # noqa: F401


def _run_model(
    name: str, y: np.ndarray, h: int, seasons: Sequence[int], levels: Sequence[int], non_negative: bool
) -> _Fit:
    if name not in _FITTERS:
        raise ForecastError(f"unknown model {name!r}; choose 'auto' or one of {', '.join(MODELS)}")
    with _quiet():
        fit = _FITTERS[name](y, h, seasons, levels)
    return _postprocess(fit, non_negative)
