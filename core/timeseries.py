"""Tidy-frame helpers: step choice, pivots, and downsampling for charts (tsdownsample MinMaxLTTB)."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
from tsdownsample import MinMaxLTTBDownsampler

CHART_POINTS_PER_TRACE = 2000
_NICE_STEPS_S = (60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)


def choose_step(
    start: datetime, end: datetime, max_points: int = 10_000, min_step: timedelta = timedelta(minutes=1)
) -> timedelta:
    """The smallest 'nice' step >= min_step that keeps (end - start) / step <= max_points."""
    span = max((end - start).total_seconds(), 1.0)
    needed = max(span / max_points, min_step.total_seconds())
    for s in _NICE_STEPS_S:
        if s >= needed:
            return timedelta(seconds=s)
    return timedelta(seconds=math.ceil(needed / 86400) * 86400)


def pivot_metric(frame: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Tidy frame -> wide frame for one metric: index ts, one column per region."""
    sub = frame[frame["metric"] == metric]
    if sub.empty:
        return pd.DataFrame(index=pd.DatetimeIndex([], tz="UTC", name="ts"))
    return sub.pivot_table(index="ts", columns="region", values="value", aggfunc="mean").sort_index()


def downsample_indices(x: np.ndarray, y: np.ndarray, n_out: int = CHART_POINTS_PER_TRACE) -> np.ndarray:
    """Indices of the points to draw: MinMaxLTTB keeps the visual shape (spikes included) of a long trace."""
    x = np.ascontiguousarray(x, dtype=np.int64)
    y = np.ascontiguousarray(y, dtype=np.float64)  # tsdownsample refuses strided views
    n = len(y)
    if n <= n_out:
        return np.arange(n)
    finite = np.isfinite(y)
    if not finite.all():
        # tsdownsample needs finite values; downsample the finite points, keep gaps as gaps
        idx = np.flatnonzero(finite)
        if len(idx) <= n_out:
            return idx
        sub = MinMaxLTTBDownsampler().downsample(
            np.ascontiguousarray(x[idx]), np.ascontiguousarray(y[idx]), n_out=n_out
        )
        return idx[sub]
    return MinMaxLTTBDownsampler().downsample(x, y, n_out=n_out)


def downsample_series(series: pd.Series, n_out: int = CHART_POINTS_PER_TRACE) -> pd.Series:
    """A series with a DatetimeIndex, reduced to about n_out points for plotting."""
    if len(series) <= n_out:
        return series
    x = series.index.asi8.astype(np.int64)
    y = series.to_numpy(dtype="float64")
    return series.iloc[np.sort(downsample_indices(x, y, n_out))]


def ratio(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    """numerator / denominator with NaN (not inf or 0) where the denominator is zero or missing."""
    den = denominator.where(denominator > 0)
    return numerator / den
