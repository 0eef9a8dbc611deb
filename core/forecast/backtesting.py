"""Rolling-origin backtest of the candidates and the choice of model."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import pandas as pd

from core.forecast.bands import _error_quantiles
from core.forecast.combine import _combine, _pick_members
from core.forecast.domain import (
    AUTO,
    COMBINATION,
    COMBINE_TOP,
    DEFAULT_LEVELS,
    MIN_FIT_POINTS,
    MODELS,
    TIE_TOLERANCE,
    BacktestResult,
    ForecastError,
    ModelScore,
)
from core.forecast.fitting import _Fit, _one_blas_thread
from core.forecast.measures import mase, smape
from core.forecast.models import _run_model, candidate_models
from core.forecast.prepare import _prepare, _Prepared, _usable_seasons, baseline_season


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


@dataclass
class _FoldRun:
    """One candidate's forecasts on every backtest fold (kept so the combination needs no refit)."""

    fits: list[_Fit]
    label: str
    error: str | None
    seconds: float  # mean fit + predict time per fold


def _run_folds(name: str, prep: _Prepared, origins: Sequence[int], h: int, levels: Sequence[int]) -> _FoldRun:
    fits: list[_Fit] = []
    label, error = MODELS.get(name, (0, name))[1], None
    t0 = time.perf_counter()
    for origin in origins:
        try:
            fit = _run_model(name, prep.values[:origin], h, prep.seasons, levels, prep.non_negative)
        except Exception as exc:  # one failing candidate must not sink the others
            error = f"{type(exc).__name__}: {exc}"[:300]
            break
        label = fit.label
        fits.append(fit)
    return _FoldRun(fits, label, error, (time.perf_counter() - t0) / max(1, len(fits)))


def _score_run(
    name: str, run: _FoldRun, y: np.ndarray, origins: Sequence[int], h: int, scale: int, levels: Sequence[int]
) -> ModelScore:
    if run.error is not None or not run.fits:
        error = run.error or "no fold could be fitted"
        return ModelScore(name, run.label, float("nan"), float("nan"), {}, None, run.seconds, error)
    tests = [y[o : o + h] for o in origins]
    signed = np.vstack([test - fit.mean for test, fit in zip(tests, run.fits, strict=True)])
    inside = {
        lv: np.concatenate(
            [(t >= f.bands[lv][0]) & (t <= f.bands[lv][1]) for t, f in zip(tests, run.fits, strict=True)]
        )
        for lv in levels
    }
    return ModelScore(
        model=name,
        label=run.label,
        smape=float(np.mean([smape(t, f.mean) for t, f in zip(tests, run.fits, strict=True)])),
        mase=float(
            np.mean([mase(t, f.mean, y[:o], scale) for t, f, o in zip(tests, run.fits, origins, strict=True)])
        ),
        coverage={lv: float(inside[lv].mean()) for lv in levels},
        errors=_error_quantiles(signed, levels),
        seconds=run.seconds,
        fold_errors=signed,
    )


def _backtest_prepared(
    prep: _Prepared,
    horizon: int,
    models: Sequence[str],
    folds: int,
    levels: Sequence[int],
    progress: Callable[[float, str], None] | None = None,
) -> BacktestResult:
    """Scores each of `models` on the folds; COMBINATION among them is scored last, from the best
    candidates' fold forecasts (no extra fits)."""
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
    singles = [m for m in models if m != COMBINATION]
    scores: list[ModelScore] = []
    runs: dict[str, _FoldRun] = {}
    for i_model, name in enumerate(singles):
        runs[name] = _run_folds(name, prep, origins, h, levels)
        scores.append(_score_run(name, runs[name], y, origins, h, scale_season, levels))
        if progress:
            done = (i_model + 1) * f
            progress(
                done / (len(singles) * f), f"backtested {MODELS[name][1]} ({done}/{len(singles) * f} fits)"
            )
    members: list[str] = []
    if COMBINATION in models:
        members = _pick_members(scores)
        if members:
            fits = [_combine([runs[m].fits[i] for m in members]) for i in range(f)]
            run = _FoldRun(fits, fits[-1].label, None, sum(runs[m].seconds for m in members))
        else:
            run = _FoldRun([], MODELS[COMBINATION][1], f"needs {COMBINE_TOP} scored candidates", 0.0)
        scores.append(_score_run(COMBINATION, run, y, origins, h, scale_season, levels))
    return BacktestResult(
        horizon=h,
        folds=f,
        levels=tuple(levels),
        scores=tuple(scores),
        chosen=choose_model(scores),
        notes=tuple(notes),
        members=tuple(members),
    )


def choose_model(scores: Sequence[ModelScore]) -> str | None:
    """Lowest MASE; models within TIE_TOLERANCE (relative) of the best count as tied and the simplest wins.
    The combination is the most complex candidate: it is used when it beats every single model by more
    than the tie tolerance (on NAB's traces several candidates often tie in the backtest, and the
    simplest of them held up better on the held-out day than a median with the others)."""
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
    candidates: Sequence[str] | None = None,
) -> BacktestResult:
    """Rolling-origin backtest: `folds` consecutive held-out windows of `horizon` steps at the end of the
    history, each forecast from the data before it. model="auto" scores every candidate the data allows
    (only those among `candidates` when given, e.g. AUTO_SHORTLIST); a model key scores that one only. MASE uses each fold's in-sample seasonal naive MAE as its scale,
    with the season the shortest fold allows (the same for every fold)."""
    _check_args(horizon, levels, folds)
    prep = _prepare(history, season_lengths, outliers, non_negative)
    models, why = _models_for(prep, model, horizon, candidates)
    with _one_blas_thread():
        result = _backtest_prepared(prep, horizon, models, folds, levels, progress)
    return _with_notes(result, prep.notes + tuple(why))


def _with_notes(result: BacktestResult, notes: Sequence[str]) -> BacktestResult:
    return replace(result, notes=tuple(notes) + result.notes)


def _check_args(horizon: int, levels: Sequence[int], folds: int) -> None:
    if int(horizon) != horizon or horizon < 1:
        raise ForecastError(f"horizon must be a positive number of steps, got {horizon!r}")
    if folds < 0:
        raise ForecastError(f"folds must be >= 0, got {folds}")
    for lv in levels:
        if not 0 < lv < 100:
            raise ForecastError(f"levels are percentages between 0 and 100, got {lv!r}")


def _check_candidates(candidates: Sequence[str]) -> None:
    unknown = [c for c in candidates if c not in MODELS or c == COMBINATION]
    if isinstance(candidates, str) or unknown:
        raise ForecastError(
            f"candidates must be model keys ({', '.join(k for k in MODELS if k != COMBINATION)}); "
            f"not {unknown if unknown else candidates!r}"
        )


def _is_constant(values: np.ndarray) -> bool:
    return bool(np.ptp(values) == 0)


def _models_for(
    prep: _Prepared, model: str, horizon: int | None = None, candidates: Sequence[str] | None = None
) -> tuple[list[str], list[str]]:
    """The models to backtest for `model`: every candidate (those among `candidates` when given) plus
    the combination for auto (and for the combination itself, which needs them to pick its members),
    else that model alone."""
    positive = bool(np.min(prep.values) > 0)
    names, why = candidate_models(len(prep.values), prep.seasons, positive, horizon)
    if candidates is not None:
        _check_candidates(candidates)
        # the seasonal naive stays: the baseline every MASE is measured against, and the fallback
        names = [n for n in names if n in candidates or n == "seasonal_naive"]
    if _is_constant(prep.values):
        return ["seasonal_naive"], [f"history is constant ({prep.values[0]:g}): its value is the forecast"]
    if model in (AUTO, COMBINATION):
        return names + [COMBINATION], why
    if model not in MODELS:
        raise ForecastError(f"unknown model {model!r}; choose 'auto' or one of {', '.join(MODELS)}")
    return [model], []
