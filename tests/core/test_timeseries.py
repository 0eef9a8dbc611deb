"""Step choice and chart downsampling."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from core.timeseries import choose_step, downsample_series, pivot_metric, ratio, regular_minmax

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def test_choose_step_keeps_points_under_the_limit_and_above_the_minimum() -> None:
    assert choose_step(T0, T0 + timedelta(hours=1)) == timedelta(minutes=1)
    step = choose_step(T0, T0 + timedelta(days=30), max_points=10_000)
    assert step == timedelta(minutes=5) and (30 * 86400) / step.total_seconds() <= 10_000
    assert choose_step(T0, T0 + timedelta(days=90), max_points=11_000) == timedelta(minutes=15)
    assert choose_step(T0, T0 + timedelta(hours=1), min_step=timedelta(minutes=2)) == timedelta(minutes=2)


def test_downsample_keeps_spikes_and_bounds_points() -> None:
    idx = pd.date_range(T0, periods=50_000, freq="1min", tz="UTC")
    values = np.sin(np.arange(50_000) / 500.0)
    values[31_337] = 25.0  # a one-minute spike must survive
    out = downsample_series(pd.Series(values, index=idx), n_out=2000)
    assert len(out) <= 2000
    assert out.max() == 25.0
    assert out.index.is_monotonic_increasing
    # a column of a wide frame is a strided view; it must downsample too (a 7-day chart once crashed)
    wide = pd.DataFrame({"a": values, "b": values}, index=idx)
    assert len(downsample_series(wide["a"].dropna(), n_out=500)) <= 500
    short = pd.Series([1.0, 2.0], index=idx[:2])
    assert downsample_series(short).equals(short)


def test_pivot_and_ratio() -> None:
    ts = pd.date_range(T0, periods=2, freq="1min", tz="UTC")
    frame = pd.DataFrame(
        {"ts": list(ts) * 2, "region": ["a", "a", "b", "b"], "metric": "m", "value": [1.0, 2, 3, 4]}
    )
    wide = pivot_metric(frame, "m")
    assert list(wide.columns) == ["a", "b"] and wide.loc[ts[1], "b"] == 4
    r = ratio(pd.Series([1.0, 1.0]), pd.Series([2.0, 0.0]))
    assert r.iloc[0] == 0.5 and np.isnan(r.iloc[1])


def test_regular_minmax_keeps_every_peak_and_dip_and_gaps_on_a_regular_grid() -> None:
    idx = pd.date_range(T0, periods=1440, freq="30min", tz="UTC")
    values = np.sin(np.arange(1440) / 50.0)
    values[777], values[901] = 9.0, -7.0  # one-step spike and dip
    series = pd.Series(values, index=idx).drop(idx[500:520])  # a 10-hour gap
    trace = regular_minmax(series, n_out=720)
    assert trace is not None and len(trace.y) <= 720
    assert trace.x0 == idx[0]
    # 1440 steps in 360 buckets of 4: two points per bucket, half a bucket (2 steps = 1 h) apart
    assert trace.dx_ms == 2 * 30 * 60 * 1000
    assert np.nanmax(trace.y) == 9.0 and np.nanmin(trace.y) == -7.0
    # each point lies within its bucket: the spike at step 777 is in bucket 194 (steps 776-779)
    assert np.nanargmax(trace.y) // 2 == 777 // 4
    assert np.isnan(trace.y[2 * (504 // 4)])  # a bucket wholly inside the gap stays a gap
    short = regular_minmax(series.iloc[:100], n_out=720)
    assert short is not None and len(short.y) == 100 and np.array_equal(short.y, values[:100])
    irregular = series.iloc[[0, 1, 3]].copy()
    irregular.index = irregular.index + pd.to_timedelta([0, 7, 0], unit="s")
    assert regular_minmax(irregular) is None
