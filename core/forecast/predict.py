"""`forecast()`: backtest, choose, fit on the full history, calibrate the bands."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Literal

import pandas as pd

from core.forecast import cache as fit_cache
from core.forecast.backtesting import _backtest_prepared, _check_args, _is_constant, _models_for
from core.forecast.bands import _band_coverage, _widen
from core.forecast.combine import _combine
from core.forecast.domain import (
    AUTO,
    COMBINATION,
    COMBINE_TOP,
    DEFAULT_LEVELS,
    MODELS,
    BacktestResult,
    ForecastError,
    ForecastResult,
    ModelScore,
)
from core.forecast.fitting import _Fit, _one_blas_thread
from core.forecast.models import _postprocess, _run_model
from core.forecast.prepare import _prepare, _Prepared, _usable_seasons


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
    cache: bool = True,
    candidates: Sequence[str] | None = None,
) -> ForecastResult:
    """Forecast `horizon` steps after the history with bands at `levels` (percent).

    model="auto" backtests every candidate and the median of the best COMBINE_TOP ("combination", scored
    from their fold forecasts) and uses the lowest MASE (ties within 1%: the simpler model, the
    combination counting as the most complex); model="combination" always combines. A fixed model is backtested
    alone for calibration (all candidates with compare_all=True, for a comparison table). Bands are
    widened to the backtest's held-out error quantiles when the model's own band covered less than its
    level; `band_coverage` reports how much of the held-out data the final band holds. Non-negative
    histories (inferred unless given) are never forecast below zero. Pass `backtest_result` to reuse a
    backtest of the same history. With cache=True the result is stored under a hash of the history
    and settings, and an identical call (any session) returns it without refitting (`cached` is True).
    `candidates` limits auto's (and compare_all's) candidates, e.g. to AUTO_SHORTLIST where a fit must
    be quick; None: every candidate the data allows.
    """
    settings = {
        "horizon": horizon,
        "season_lengths": season_lengths,
        "model": model,
        "levels": tuple(levels),
        "folds": folds,
        "calibrate": calibrate,
        "compare_all": compare_all,
        "outliers": outliers,
        "non_negative": non_negative,
        "candidates": tuple(candidates)
        if candidates is not None and not isinstance(candidates, str)
        else candidates,
    }
    key = fit_cache.fingerprint(history, settings) if cache and backtest_result is None else None
    hit = fit_cache.get(key)
    if hit is not None:
        if progress:
            progress(1.0, "reused a stored fit of the same data and settings")
        return hit
    with _one_blas_thread():
        result = _forecast(history, backtest_result=backtest_result, progress=progress, **settings)
    fit_cache.put(key, result)
    return result


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
    candidates: Sequence[str] | None,
    backtest_result: BacktestResult | None,
    progress: Callable[[float, str], None] | None,
) -> ForecastResult:
    t0 = time.perf_counter()
    levels = tuple(sorted({int(lv) for lv in levels}))
    _check_args(horizon, levels, folds)
    prep = _prepare(history, season_lengths, outliers, non_negative)
    notes = list(prep.notes)
    names, why = _models_for(prep, model, horizon, candidates)
    notes += why
    constant = _is_constant(prep.values)

    bt = backtest_result
    if bt is None and (model in (AUTO, COMBINATION) or calibrate) and not constant:
        to_score = names
        if model not in (AUTO, COMBINATION) and compare_all:
            others = _models_for(prep, AUTO, horizon, candidates)[0]
            # the fixed model is scored even when the candidates leave it out (its bands are calibrated
            # on its own backtest), in its place by complexity, before the combination
            singles = sorted({*others, model} - {COMBINATION}, key=lambda m: MODELS[m][0])
            to_score = singles + [COMBINATION]
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
    members = bt.members if bt is not None else ()
    chosen, fit = _fit_full(chosen, prep, horizon, levels, notes, members)
    factors = {lv: 1.0 for lv in levels}
    score = bt.score(chosen) if bt is not None else None
    covered: dict[int, float] = {}
    if calibrate and score is not None and score.ok and score.errors is not None:
        fit, factors = _calibrate(fit, score, levels, bt.horizon, horizon, notes)
    elif calibrate and not constant:
        notes.append("bands are the model's own (no backtest to calibrate them against)")
    fit = _postprocess(fit, prep.non_negative)
    if score is not None and score.ok:
        covered = _band_coverage(fit, score.fold_errors, levels)

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
        band_coverage=covered,
    )


def _scaled(
    progress: Callable[[float, str], None] | None, start: float, end: float
) -> Callable[[float, str], None] | None:
    if progress is None:
        return None
    return lambda f, text: progress(start + (end - start) * f, text)


def _fit_full(
    chosen: str,
    prep: _Prepared,
    horizon: int,
    levels: Sequence[int],
    notes: list[str],
    members: Sequence[str] = (),
) -> tuple[str, _Fit]:
    """The chosen model on the full history (the combination: each member, then their median); the
    seasonal naive (with a note) if it fails there."""

    def fit(name: str) -> _Fit:
        return _run_model(name, prep.values, horizon, prep.seasons, levels, prep.non_negative)

    try:
        if chosen == COMBINATION:
            if not members:
                raise ForecastError(f"the backtest found fewer than {COMBINE_TOP} candidates to combine")
            return chosen, _combine([fit(m) for m in members])
        return chosen, fit(chosen)
    except Exception as exc:
        if chosen == "seasonal_naive":
            raise
        notes.append(
            f"{chosen} failed on the full history ({type(exc).__name__}: {exc}); using seasonal naive"
        )
        return "seasonal_naive", fit("seasonal_naive")


def _calibrate(
    fit: _Fit, score: ModelScore, levels: Sequence[int], bt_horizon: int, horizon: int, notes: list[str]
) -> tuple[_Fit, dict[int, float]]:
    """Only the levels whose own band held too few of the held-out points are recalibrated."""
    short = [lv for lv in levels if score.coverage.get(lv, 1.0) < lv / 100]
    fit, factors = _widen(fit, score.errors, short)
    widened = [
        f"{lv}% x{factors[lv]:.2f} (its own band covered {score.coverage[lv]:.0%})"
        for lv in levels
        if factors[lv] > 1.01
    ]
    if widened:
        notes.append("bands widened to the backtest's error quantiles: " + ", ".join(widened))
    if bt_horizon < horizon:
        notes.append(f"band widths past step {bt_horizon} repeat the backtest's last segment")
    return fit, factors
