"""The regular-grid machinery: a tidy frame on a (regions x steps) grid per metric, an SLO's per-region
cumulative sums on it, and the window arithmetic every SLI, burn rate and budget reduces to (two array
lookups per window)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from core.ports import answer_warnings
from core.slo.types import DEFAULT_STEP_S, GLOBAL, SLO, TRAFFIC_METRIC


# ---- prepared counts ----------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class SLICounts:
    """Per-region cumulative sums on a regular step grid: slot i covers (t0 + (i-1)*step, t0 + i*step].

    Arrays have shape (regions, slots + 1) with a leading zero column, so the sum over slots [i, j) is
    cum[:, j] - cum[:, i].
    """

    slo: SLO
    regions: tuple[str, ...]
    t0: int  # epoch seconds of slot 0's timestamp
    step: int  # seconds
    slots: int
    cum_bad: np.ndarray  # bad events, or bad slots
    cum_units: np.ndarray  # total events, or slots with data
    cum_known: np.ndarray  # slots with data
    cum_weight: np.ndarray  # traffic (events) for weighting regions; slots with data without traffic data
    first_known: np.ndarray = field(repr=False)  # per region: first slot with data (or -1)
    last_known: np.ndarray = field(repr=False)
    # seconds one timeslice (one unit of cum_known, or of cum_bad for timeslices) stands for: the step,
    # or the data's own resolution when a slot sums several steps (core.slo.slots)
    unit: int = 0

    @property
    def unit_s(self) -> int:
        return self.unit or self.step

    @property
    def step_minutes(self) -> float:
        """Minutes per timeslice unit (the step itself unless slots sum several steps)."""
        return self.unit_s / 60.0

    @property
    def data_start(self) -> datetime | None:
        known = self.first_known[self.first_known >= 0]
        return _dt(self.t0 + int(known.min()) * self.step) if len(known) else None

    @property
    def data_end(self) -> datetime | None:
        known = self.last_known[self.last_known >= 0]
        return _dt(self.t0 + int(known.max()) * self.step) if len(known) else None

    def rows(self, region: str | None) -> np.ndarray:
        """Row indices of one region, or of all regions (None or GLOBAL)."""
        if region is None or region == GLOBAL:
            return np.arange(len(self.regions))
        if region in self.regions:
            return np.array([self.regions.index(region)])
        return np.array([], dtype=int)


def _epoch_seconds(ts: pd.Series) -> np.ndarray:
    index = pd.DatetimeIndex(ts)
    if index.tz is None:
        raise ValueError("the frame's ts column must be timezone-aware (UTC)")
    return index.as_unit("ns").asi8 // 1_000_000_000


def _to_epoch(when: datetime | pd.Timestamp) -> int:
    stamp = pd.Timestamp(when)
    if stamp.tzinfo is None:
        raise ValueError(f"times must be timezone-aware (UTC), got {when!r}")
    return int(stamp.as_unit("ns").value // 1_000_000_000)


def _dt(epoch: int | float) -> datetime:
    return datetime.fromtimestamp(int(epoch), UTC)


def infer_step(epochs: np.ndarray) -> int:
    """The most common spacing of the distinct timestamps, in seconds (60 when it cannot tell)."""
    unique = np.unique(epochs)
    if len(unique) < 2:
        return DEFAULT_STEP_S
    values, counts = np.unique(np.diff(unique), return_counts=True)
    return int(values[np.argmax(counts)])


@dataclass(frozen=True, eq=False)
class MetricGrid:
    """A tidy frame on a regular grid: values[metric] has shape (regions, slots), NaN where missing;
    slot i holds the sample at t0 + i * step (the mean if several samples round to it)."""

    regions: tuple[str, ...]
    t0: int
    step: int
    slots: int
    values: dict[str, np.ndarray]
    # the warnings the source answered with (core.ports.SOURCE_WARNINGS): the grid is built from partial data
    source_warnings: tuple[str, ...] = ()

    @property
    def newest(self) -> datetime | None:
        """The newest slot holding a value of any metric in any region (None when there is none): the
        moment "now" can honestly be judged at, when a range runs past the data."""
        last = -1
        for grid in self.values.values():
            has_value = np.isfinite(grid).any(axis=0)
            if has_value.any():
                last = max(last, int(np.flatnonzero(has_value)[-1]))
        return None if last < 0 else _dt(self.t0 + last * self.step)

    def get(self, metric: str | None, rows: np.ndarray | None = None) -> np.ndarray:
        if metric is None or metric not in self.values:
            n_rows = len(self.regions) if rows is None else len(rows)
            return np.full((n_rows, self.slots), np.nan)
        grid = self.values[metric]
        return grid if rows is None else grid[rows]


def metric_grid(frame: pd.DataFrame, step: timedelta | None = None) -> MetricGrid:
    """Put a tidy frame on a regular (regions x steps) grid per metric: done once per frame, then every
    SLO reads its metrics from it (factorize + bincount: ~0.1 s for 30 days x 6 regions x 3 metrics)."""
    if frame.empty:
        step_s = int(step.total_seconds()) if step is not None else DEFAULT_STEP_S
        return MetricGrid((), 0, step_s, 0, {}, answer_warnings(frame))
    epochs = _epoch_seconds(frame["ts"])
    step_s = int(step.total_seconds()) if step is not None else infer_step(epochs)
    if step_s <= 0:
        raise ValueError(f"step must be positive, got {step}")
    region_codes, region_names = pd.factorize(frame["region"], sort=True)
    metric_codes, metric_names = pd.factorize(frame["metric"])
    values = frame["value"].to_numpy(dtype="float64")
    t0 = int(epochs.min())
    slots = int((epochs.max() - t0) // step_s) + 1
    n_regions = len(region_names)
    flat = region_codes.astype(np.int64) * slots + np.rint((epochs - t0) / step_s).astype(np.int64)
    finite = np.isfinite(values)
    size = n_regions * slots
    grids: dict[str, np.ndarray] = {}
    for code, name in enumerate(metric_names):
        mask = (metric_codes == code) & finite
        idx = flat[mask]
        sums = np.bincount(idx, weights=values[mask], minlength=size)
        counts = np.bincount(idx, minlength=size)
        with np.errstate(invalid="ignore", divide="ignore"):
            grids[str(name)] = np.where(counts > 0, sums / counts, np.nan).reshape(n_regions, slots)
    return MetricGrid(tuple(str(r) for r in region_names), t0, step_s, slots, grids, answer_warnings(frame))


SLOData = pd.DataFrame | MetricGrid | SLICounts


@dataclass(frozen=True)
class _SlotCounts:
    """Per region and slot, shape (regions, slots): which slots have data, their units (events or 1 per
    slot with data), their bad units, and the traffic that weights regions in global figures."""

    known: np.ndarray  # bool
    units: np.ndarray
    bad: np.ndarray
    weight: np.ndarray


def _occurrence_slots(grid: MetricGrid, slo: SLO, rows: np.ndarray) -> _SlotCounts:
    """Events per slot: rate x step; a missing `bad` sample is 0 bad events, a missing `good` one leaves
    the slot unknown (module conventions)."""
    step_s = grid.step
    total_events = np.clip(grid.get(slo.total, rows), 0.0, None) * step_s
    known = np.isfinite(total_events)
    if slo.bad is not None:
        bad_events = np.clip(np.nan_to_num(grid.get(slo.bad, rows) * step_s, nan=0.0), 0.0, None)
    else:
        good_events = np.clip(grid.get(slo.good, rows) * step_s, 0.0, None)
        known &= np.isfinite(good_events)
        bad_events = np.where(known, total_events - np.nan_to_num(good_events), 0.0)
    units = np.where(known, total_events, 0.0)
    bad = np.clip(np.where(known, bad_events, 0.0), 0.0, units)
    return _SlotCounts(known, units, bad, units)


def _timeslice_slots(grid: MetricGrid, slo: SLO, rows: np.ndarray) -> _SlotCounts:
    """Bad slots: a latency gauge above the threshold, or a ratio below the objective in that slot;
    regions are weighted by the requests they served (slots with data when there is no traffic metric)."""
    total = grid.get(slo.total, rows)
    if slo.threshold is not None:
        known = np.isfinite(total)
        bad_slot = known & (total > slo.threshold)
    else:
        # a ratio SLI with timeslices: a step is good when its own ratio meets the objective
        part = grid.get(slo.good if slo.good is not None else slo.bad, rows)
        known = np.isfinite(total) & np.isfinite(part) & (total > 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            good_ratio = part / total if slo.good is not None else 1.0 - part / total
        bad_slot = known & (good_ratio < slo.objective)
    units = known.astype(float)
    if TRAFFIC_METRIC in grid.values:
        traffic = np.clip(np.nan_to_num(grid.get(TRAFFIC_METRIC, rows), nan=0.0), 0.0, None)
        weight = np.where(known, traffic * grid.step, 0.0)
    else:
        weight = units
    return _SlotCounts(known, units, bad_slot.astype(float), weight)


def _cumulative(a: np.ndarray) -> np.ndarray:
    """Cumulative sums along the slots with a leading zero column (SLICounts' layout)."""
    out = np.zeros((a.shape[0], a.shape[1] + 1))
    np.cumsum(a, axis=1, out=out[:, 1:])
    return out


def slo_counts(data: pd.DataFrame | MetricGrid, slo: SLO, step: timedelta | None = None) -> SLICounts:
    """The cumulative per-region counts of `slo` (build once, then query any number of windows)."""
    grid = data if isinstance(data, MetricGrid) else metric_grid(data, step)
    regions = tuple(r for r in grid.regions if not slo.regions or r in slo.regions)
    if not regions or grid.slots == 0 or slo.total not in grid.values:
        empty = np.zeros((0, 1))
        none = np.array([], dtype=int)
        return SLICounts(slo, (), 0, grid.step, 0, empty, empty, empty, empty, none, none)
    rows = np.array([grid.regions.index(r) for r in regions])
    if slo.budgeting == "occurrences":
        slots = _occurrence_slots(grid, slo, rows)
    else:
        slots = _timeslice_slots(grid, slo, rows)
    known = slots.known
    any_known = known.any(axis=1)
    first = np.where(any_known, known.argmax(axis=1), -1)
    last = np.where(any_known, grid.slots - 1 - known[:, ::-1].argmax(axis=1), -1)
    return SLICounts(
        slo=slo,
        regions=regions,
        t0=grid.t0,
        step=grid.step,
        slots=grid.slots,
        cum_bad=_cumulative(slots.bad),
        cum_units=_cumulative(slots.units),
        cum_known=_cumulative(known.astype(float)),
        cum_weight=_cumulative(slots.weight),
        first_known=first,
        last_known=last,
    )


def _as_counts(data: SLOData, slo: SLO) -> SLICounts:
    if isinstance(data, SLICounts):
        if data.slo != slo:
            raise ValueError(f"counts were built for SLO {data.slo.name!r}, not {slo.name!r}")
        return data
    return slo_counts(data, slo)


# ---- window arithmetic --------------------------------------------------------------------------
@dataclass(frozen=True)
class _Windows:
    """Vectorised results for E windows (a_k, b_k] over the selected regions."""

    error_ratio: np.ndarray  # (E,) NaN without traffic
    bad: np.ndarray  # (E,) bad events / bad slots (traffic-weighted for global timeslices)
    units: np.ndarray  # (E,) events / slots with data
    coverage: np.ndarray  # (E,)
    partial: np.ndarray  # (E,) bool


def _slot_bounds(counts: SLICounts, starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative-array indices [lo, hi) of the slots with start < ts <= end."""
    lo = np.floor_divide(starts - counts.t0, counts.step) + 1
    hi = np.floor_divide(ends - counts.t0, counts.step) + 1
    lo = np.clip(lo, 0, counts.slots)
    hi = np.clip(hi, 0, counts.slots)
    return lo, np.maximum(hi, lo)


def _windows(counts: SLICounts, rows: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> _Windows:
    starts = np.asarray(starts, dtype=np.int64)
    ends = np.asarray(ends, dtype=np.int64)
    n_windows = len(ends)
    expected = np.maximum((ends - starts) // counts.unit_s, 1).astype(float)
    if len(rows) == 0 or counts.slots == 0:
        nan = np.full(n_windows, np.nan)
        return _Windows(
            nan, np.zeros(n_windows), np.zeros(n_windows), np.zeros(n_windows), np.ones(n_windows, bool)
        )
    lo, hi = _slot_bounds(counts, starts, ends)

    def take(cum: np.ndarray) -> np.ndarray:
        c = cum[rows]
        return c[:, hi] - c[:, lo]  # (R, E)

    bad, units, known = take(counts.cum_bad), take(counts.cum_units), take(counts.cum_known)
    with np.errstate(invalid="ignore", divide="ignore"):
        if counts.slo.budgeting == "occurrences":
            total_units = units.sum(axis=0)
            total_bad = bad.sum(axis=0)
            error_ratio = np.where(total_units > 0, total_bad / total_units, np.nan)
        else:
            valid = units > 0
            region_ratio = np.where(valid, bad / np.where(valid, units, 1.0), 0.0)
            weight = take(counts.cum_weight) if len(rows) > 1 else units
            weight = np.where(valid, weight, 0.0)
            weight_sum = weight.sum(axis=0)
            error_ratio = np.where(weight_sum > 0, (weight * region_ratio).sum(axis=0) / weight_sum, np.nan)
            # bad minutes of the scope: the traffic-weighted mean of the regions' bad-minute counts
            total_bad = np.where(weight_sum > 0, (weight * bad).sum(axis=0) / weight_sum, 0.0)
            total_units = np.where(weight_sum > 0, (weight * units).sum(axis=0) / weight_sum, 0.0)
    coverage = np.clip(known.mean(axis=0) / expected, 0.0, 1.0)
    first = counts.first_known[rows]
    last = counts.last_known[rows]
    has_data = first >= 0
    if has_data.any():
        data_first_ts = counts.t0 + int(first[has_data].min()) * counts.step
        data_last_ts = counts.t0 + int(last[has_data].max()) * counts.step
        # the window's first slot ends at start + step: data starting later means the window is longer
        # than the data; data ending before the window's end means the window runs past it
        partial = (data_first_ts > starts + counts.step) | (data_last_ts <= ends - counts.step)
    else:
        partial = np.ones(n_windows, bool)
    return _Windows(error_ratio, total_bad, total_units, coverage, partial)


def _window_one(counts: SLICounts, region: str | None, start: int, end: int) -> _Windows:
    return _windows(counts, counts.rows(region), np.array([start]), np.array([end]))


def _none_if_nan(x: float) -> float | None:
    return None if not np.isfinite(x) else float(x)


def _series_ends(counts: SLICounts, start: int, end: int, points: int) -> np.ndarray:
    """Evaluation times from start to end, ending exactly at `end`, spaced by a multiple of the data's
    step so there are at most about `points` of them."""
    n = max(int((end - start) // counts.step), 1)
    stride = counts.step * max(1, int(np.ceil(n / max(points, 1))))
    ends = end - stride * np.arange((end - start) // stride + 1, dtype=np.int64)[::-1]
    return ends[ends >= start]
