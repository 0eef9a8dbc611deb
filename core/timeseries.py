"""Tidy-frame helpers: step choice, pivots, downsampling for charts (tsdownsample MinMaxLTTB), and the
reference computation of range-wide aggregates (core.ports.RangeAggregate) from points."""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
from tsdownsample import MinMaxLTTBDownsampler

from core.ports import ACROSS_REGIONS, AGGREGATE_COLUMNS, RangeAggregate, empty_aggregates_frame

CHART_POINTS_PER_TRACE = 2000
# what a chart asks its source for: about one point per horizontal pixel of a wide chart (Grafana's
# maxDataPoints), never the 11,000-point ceiling; 30 days -> 30-minute steps, 24 h -> 1-minute steps
CHART_QUERY_POINTS = 1500
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


def chart_step(start: datetime, end: datetime, points: int = CHART_QUERY_POINTS) -> timedelta:
    """The step a chart's data is asked with: a nice step giving at most `points` per series (sources
    align ranges to the step, so reruns within one step hit their caches)."""
    return choose_step(start, end, points)


_PANDAS_OPS = {"sum": "sum", "avg": "mean", "max": "max"}


def across_regions(frame: pd.DataFrame, ops: Mapping[str, str]) -> pd.DataFrame:
    """A tidy frame's metrics combined over its regions at each timestamp (`ops[metric]`: sum, avg or
    max), region ACROSS_REGIONS: what core.ports.AcrossRegionsSource gives, for a source without it."""
    sub = frame[frame["metric"].isin(list(ops))]
    if sub.empty:
        return frame.iloc[0:0]
    parts = [
        group.groupby("ts", sort=True)["value"]
        .agg(_PANDAS_OPS[ops[str(metric)]])
        .rename("value")
        .reset_index()
        .assign(region=ACROSS_REGIONS, metric=metric)
        for metric, group in sub.groupby("metric", sort=True)
    ]
    out = pd.concat(parts, ignore_index=True)[list(frame.columns)]
    out = out.astype({c: frame[c].dtype for c in ("region", "metric")})  # the tidy frame's own dtypes
    return out.sort_values(["ts", "metric"], kind="stable", ignore_index=True)


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


# points a chart trace is sent with: two (min and max) per bucket, about one bucket per 2 px of a chart
CHART_TRACE_POINTS = 720


@dataclass(frozen=True)
class RegularTrace:
    """A trace on a regular time grid, so the browser needs no x values: point i is at x0 + i * dx."""

    x0: pd.Timestamp
    dx_ms: float
    y: np.ndarray  # NaN where there is no data (drawn as a gap)


def regular_minmax(series: pd.Series, n_out: int = CHART_TRACE_POINTS) -> RegularTrace | None:
    """A series on a regular step (a query_range result; gaps allowed) as a RegularTrace of at most
    about n_out points: unchanged when short enough, otherwise MinMax per bucket (each bucket's lowest and
    highest value in time order, so no peak or dip is lost; each moves by less than a bucket, under a
    pixel at the chart's width). None when the series is not on a regular step."""
    series = series.dropna()
    if len(series) < 2:
        return None
    epochs = pd.DatetimeIndex(series.index).as_unit("ns").asi8
    diffs = np.diff(epochs)
    step = int(diffs.min())
    if step <= 0 or np.any(diffs % step):
        return None
    slots = (epochs - epochs[0]) // step
    grid = np.full(int(slots[-1]) + 1, np.nan)
    grid[slots] = series.to_numpy(dtype=np.float64)
    if len(grid) <= n_out:
        return RegularTrace(series.index[0], step / 1e6, grid)
    per_bucket = math.ceil(len(grid) / max(1, n_out // 2))
    buckets = math.ceil(len(grid) / per_bucket)
    padded = np.full(buckets * per_bucket, np.nan)
    padded[: len(grid)] = grid
    blocks = padded.reshape(buckets, per_bucket)
    empty = np.isnan(blocks).all(axis=1)
    low = np.where(np.isnan(blocks), np.inf, blocks).argmin(axis=1)
    high = np.where(np.isnan(blocks), -np.inf, blocks).argmax(axis=1)
    rows = np.arange(buckets)
    first = np.where(low <= high, blocks[rows, low], blocks[rows, high])
    second = np.where(low <= high, blocks[rows, high], blocks[rows, low])
    first[empty] = second[empty] = np.nan
    y = np.column_stack([first, second]).ravel()
    return RegularTrace(series.index[0], per_bucket * step / 2 / 1e6, y)


def ratio(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    """numerator / denominator with NaN (not inf or 0) where the denominator is zero or missing."""
    den = denominator.where(denominator > 0)
    return numerator / den


def summarise_metrics(
    frame: pd.DataFrame, aggregates: Sequence[RangeAggregate], end: datetime | None = None
) -> pd.DataFrame:
    """The aggregates frame (region, aggregate, value) of a tidy frame: the reference semantics of
    core.ports.RangeAggregate, used by sources that hold points (the store) and as the fallback for
    sources that cannot aggregate; Prometheus computes the same figures itself (connectors/prometheus.py).
    Windowed figures cover (end - window, end]; `end` defaults to the newest point.

    On (regions x timestamps) arrays per metric (several samples at one timestamp: their mean), not a
    pivot per figure: the Overview asks ~20 figures of 3 days of minutes on a cold load (issue 17)."""
    if frame.empty or not aggregates:
        return empty_aggregates_frame()
    epochs = pd.DatetimeIndex(frame["ts"]).as_unit("ns").asi8
    last = pd.Timestamp(end).as_unit("ns").value if end is not None else int(epochs.max())
    region_codes, region_names = pd.factorize(frame["region"], sort=True)
    metric_codes, metric_names = pd.factorize(frame["metric"])
    time_codes, times = pd.factorize(epochs, sort=True)
    times = np.asarray(times, dtype=np.int64)
    values = frame["value"].to_numpy(dtype="float64")
    n_regions, n_times = len(region_names), len(times)
    grids: dict[str, np.ndarray] = {}

    def grid(metric: str) -> np.ndarray | None:
        if metric not in grids:
            where = np.flatnonzero(metric_names == metric)
            if len(where) == 0:
                return None
            mask = (metric_codes == where[0]) & np.isfinite(values)
            flat = region_codes[mask].astype(np.int64) * n_times + time_codes[mask]
            size = n_regions * n_times
            sums = np.bincount(flat, weights=values[mask], minlength=size)
            counts = np.bincount(flat, minlength=size)
            with np.errstate(invalid="ignore", divide="ignore"):
                grids[metric] = np.where(counts > 0, sums / counts, np.nan).reshape(n_regions, n_times)
        return grids[metric]

    rows: list[tuple[str, str, float]] = []
    for agg in aggregates:
        values_grid = grid(agg.metric)
        if values_grid is None:
            continue
        cols = slice(None)
        if agg.window is not None:
            cols = times > last - int(agg.window.total_seconds() * 1e9)
        v = values_grid[:, cols]
        if v.shape[1] == 0:  # no point inside the window
            continue
        finite = np.isfinite(v)
        if agg.weight is not None:
            weights_grid = grid(agg.weight)
            if weights_grid is None:
                continue
            w = weights_grid[:, cols]
            both = finite & np.isfinite(w)
            x = np.where(both, v * w if agg.stat == "weighted_sum" else w, 0.0).sum(axis=1)
            rows += [(str(region_names[r]), agg.key, float(x[r])) for r in np.flatnonzero(both.any(axis=1))]
            continue
        present = np.flatnonzero(finite.any(axis=1))
        if agg.stat == "last":
            last_col = v.shape[1] - 1 - np.argmax(finite[:, ::-1], axis=1)
            figures = v[np.arange(len(v)), last_col]
        elif agg.stat == "share_above":
            figures = (finite & (v > agg.threshold)).sum(axis=1) / np.maximum(finite.sum(axis=1), 1)
        elif agg.stat == "count":
            figures = finite.sum(axis=1).astype(float)
        else:
            reduce = {"mean": np.nanmean, "sum": np.nansum, "max": np.nanmax, "min": np.nanmin}[agg.stat]
            with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows: not in `present`
                figures = reduce(v, axis=1)
        rows += [(str(region_names[r]), agg.key, float(figures[r])) for r in present]
    if not rows:
        return empty_aggregates_frame()
    return pd.DataFrame(rows, columns=list(AGGREGATE_COLUMNS))


def summarise_range(
    frame: pd.DataFrame, aggregates: Sequence[RangeAggregate], start: datetime, end: datetime
) -> pd.DataFrame:
    """summarise_metrics for a range [start, end] over a frame that may reach further back for the
    windowed figures (RangeAggregate.first): the others see only the range's own points."""
    whole = [a for a in aggregates if a.window is None]
    windowed = [a for a in aggregates if a.window is not None]
    parts = [
        summarise_metrics(frame[frame["ts"] >= pd.Timestamp(start)], whole, end) if whole else None,
        summarise_metrics(frame, windowed, end) if windowed else None,
    ]
    parts = [p for p in parts if p is not None and not p.empty]
    return pd.concat(parts, ignore_index=True) if parts else empty_aggregates_frame()


def aggregates_table(aggregates: pd.DataFrame) -> pd.DataFrame:
    """Aggregates frame -> one row per region, one column per aggregate key (missing: NaN)."""
    if aggregates.empty:
        return pd.DataFrame(index=pd.Index([], name="region"))
    return aggregates.pivot_table(index="region", columns="aggregate", values="value", aggfunc="first")
