"""History preparation: a regular UTC grid, gaps filled, optional outlier down-weighting, the seasons the
data allows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from core.forecast.domain import MIN_SHORT_GAP, OUTLIER_MADS, ForecastError


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
