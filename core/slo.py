"""Service level objectives: SLIs, error budgets, burn rates, multiwindow burn-rate alerts, KPI tiles.

Conventions (every function here follows them):
- Input is the tidy metrics frame (ts, region, metric, value) of per-step rates (req/s) or percentile
  gauges (ms). A sample at `ts` describes the step that ENDS at `ts` (Prometheus' convention for rates
  and counters), so it holds value x step events and a window (a, b] holds the samples a < ts <= b.
  The step is inferred from the data (its most common spacing: 60 s for the demo world).
- Gaps are neither good nor bad: missing steps are not counted. `coverage` says how much of a window had
  data and `partial` is set when the data does not span the whole window (e.g. a 28-day SLO over 20
  days of data), so a page can say so instead of showing a confident number.
- No traffic in a window makes the SLI undefined: None, never 100% or 0%.
- Global (all regions) figures are traffic-weighted, never an average of regional ratios: ratio SLIs
  sum bad and total events over the regions before dividing; latency SLIs weight each region's share
  of bad minutes by the requests it served in the same window.
- Ratio SLIs: a missing `bad` sample where `total` exists counts as 0 bad events (Prometheus has no 5xx
  series until the first 5xx); a missing `good` sample leaves that step unknown (assuming 0 good would
  invent errors).

Burn rate 1 means spending the error budget exactly as fast as the objective allows over the window;
the alert rules are the Google SRE Workbook's multiwindow, multi-burn-rate rules (core.config).

Speed: `slo_counts()` turns a frame into cumulative sums per region once; every window (SLI, burn rate,
budget, burn-down) is then two array lookups. Pages that ask many questions of one SLO build the counts
once and pass them instead of the frame.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Literal

import numpy as np
import pandas as pd

from core.config import DEFAULT_BURN_RATE_RULES, BurnRateRule, Deploy, Runbook, SLOConfig

Budgeting = Literal["occurrences", "timeslices"]
AlertLevel = Literal["page", "ticket", "ok", "no data"]

TRAFFIC_METRIC = "requests_per_second"  # weights regions for global latency SLIs and KPI percentiles
DEFAULT_STEP_S = 60
GLOBAL = "global"  # the scope name of "all of the SLO's regions, traffic-weighted"
# "Time to exhaustion at the current burn" uses the burn over this window: long enough not to flap on a
# single bad minute, short enough to be "now" (it is the fast page rule's long window).
CURRENT_BURN_WINDOW = timedelta(hours=1)
ALERT_ORDER: dict[str, int] = {"no data": -1, "ok": 0, "ticket": 1, "page": 2}


# ---- definitions --------------------------------------------------------------------------------
@dataclass(frozen=True)
class SLO:
    """An SLO over canonical metric names.

    Ratio SLI: `total` and one of `good` / `bad` name event-rate metrics (req/s).
    Latency SLI: `total` names a percentile gauge (e.g. latency_p95_ms) and `threshold` is in the same
    unit; with timeslice budgeting a step is good when value <= threshold.
    `regions` empty means every region present in the data.
    """

    name: str
    objective: float
    window: timedelta
    total: str
    good: str | None = None
    bad: str | None = None
    budgeting: Budgeting = "occurrences"
    threshold: float | None = None
    regions: tuple[str, ...] = ()
    service: str = ""
    description: str = ""

    def __post_init__(self) -> None:
        if not 0.0 < self.objective < 1.0:
            raise ValueError(f"SLO {self.name!r}: objective must be between 0 and 1, got {self.objective}")
        if self.window <= timedelta(0):
            raise ValueError(f"SLO {self.name!r}: window must be positive, got {self.window}")
        if self.budgeting not in ("occurrences", "timeslices"):
            raise ValueError(f"SLO {self.name!r}: budgeting must be occurrences or timeslices")
        if self.good is not None and self.bad is not None:
            raise ValueError(f"SLO {self.name!r}: give `good` or `bad`, not both")
        if self.threshold is None and self.good is None and self.bad is None:
            raise ValueError(f"SLO {self.name!r}: needs `good` or `bad` (ratio) or `threshold` (latency)")
        if self.threshold is not None and self.budgeting != "timeslices":
            raise ValueError(f"SLO {self.name!r}: a latency threshold needs budgeting = 'timeslices'")

    @classmethod
    def from_config(cls, config: SLOConfig) -> SLO:
        return cls(
            name=config.name,
            objective=config.objective,
            window=config.window,
            total=config.total,
            good=config.good,
            bad=config.bad,
            budgeting=config.budgeting,
            threshold=config.threshold,
            regions=tuple(config.regions),
            service=config.service,
            description=config.description,
        )

    @property
    def error_budget_ratio(self) -> float:
        """The share of events (or minutes) allowed to be bad: 1 - objective."""
        return 1.0 - self.objective

    @property
    def budget_minutes(self) -> float:
        """The budget as minutes of complete outage over the window, e.g. 40.32 min for 99.9% over 28d."""
        return self.error_budget_ratio * self.window.total_seconds() / 60.0

    @property
    def is_latency(self) -> bool:
        return self.threshold is not None

    @property
    def metrics(self) -> tuple[str, ...]:
        """The metrics to load for this SLO (latency SLIs also need traffic to weight regions)."""
        names = [self.total, self.good, self.bad]
        if self.budgeting == "timeslices":
            names.append(TRAFFIC_METRIC)
        return tuple(dict.fromkeys(n for n in names if n))


def slos_from_config(configs: Iterable[SLOConfig]) -> list[SLO]:
    return [SLO.from_config(c) for c in configs]


def metrics_for(slos: Iterable[SLO]) -> tuple[str, ...]:
    """Every metric these SLOs read, sorted (a stable cache key for loaders)."""
    return tuple(sorted({m for s in slos for m in s.metrics}))


def lookback(slos: Iterable[SLO], step: timedelta = timedelta(seconds=DEFAULT_STEP_S)) -> timedelta:
    """How much data ending at `at` the SLO windows need: the longest window plus one step (the
    sample at the window's start is outside the window but tells whether the data reaches it)."""
    return max((s.window for s in slos), default=timedelta(0)) + step


def rules_lookback(
    rules: Sequence[BurnRateRule] = DEFAULT_BURN_RATE_RULES,
    step: timedelta = timedelta(seconds=DEFAULT_STEP_S),
) -> timedelta:
    """How much data the alert rules need (the longest rule window plus one step)."""
    return max((w for r in rules for w in (r.long_window, r.short_window)), default=timedelta(0)) + step


def deploy_markers(deploys: Iterable[Deploy], start: datetime, end: datetime) -> pd.DataFrame:
    """Deploy annotations from the config ([[deploy]]) within [start, end], shaped like the store's events
    (start_ts, end_ts, region, kind='deploy', title, detail) so charts draw them as change markers.
    Raises ValueError naming an `at` that is not an ISO 8601 time."""
    rows = []
    for d in deploys:
        try:
            when = pd.Timestamp(d.at)
        except ValueError:
            raise ValueError(
                f"deploy {d.description!r}: `at` must be an ISO 8601 time, got {d.at!r}"
            ) from None
        when = when.tz_localize("UTC") if when.tzinfo is None else when.tz_convert("UTC")
        if pd.Timestamp(start) <= when <= pd.Timestamp(end):
            rows.append(
                {
                    "start_ts": when,
                    "end_ts": when,
                    "region": d.region,
                    "kind": "deploy",
                    "title": d.description,
                }
            )
    frame = pd.DataFrame(rows, columns=["start_ts", "end_ts", "region", "kind", "title"])
    frame["detail"] = "from the config"
    for col in ("start_ts", "end_ts"):
        frame[col] = pd.to_datetime(frame[col], utc=True)
    return frame


def runbooks_for(runbooks: Iterable[Runbook], slo: str, region: str) -> list[Runbook]:
    """Runbooks that apply to this SLO and region (an empty slo / region in the config means 'any')."""
    return [r for r in runbooks if r.slo in ("", slo) and r.region in ("", region)]


# ---- results ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class WindowSLI:
    """The SLI over one window with what it was computed from."""

    start: datetime
    end: datetime
    sli: float | None  # None: no traffic / no data in the window
    bad: float  # bad events (occurrences) or bad minutes (timeslices), traffic-weighted when global
    total: float  # events or minutes with data
    coverage: float  # share of the window's steps with data (mean over regions)
    partial: bool  # the data does not span the whole window


@dataclass(frozen=True)
class BudgetStatus:
    """Error budget over the SLO window ending at `at`.

    `total` and `consumed` are in `unit`: bad events allowed / seen (occurrences) or bad minutes
    allowed / seen (timeslices). `minutes_*` express the budget as minutes of complete outage, the
    unit on-call people compare (for timeslices that is exactly the bad-minute count).
    """

    slo: str
    region: str
    at: datetime
    window_start: datetime
    unit: Literal["events", "minutes"]
    total: float
    consumed: float
    remaining_fraction: float | None  # None without traffic; negative when overspent
    minutes_total: float
    minutes_remaining: float | None
    events_remaining: float | None  # occurrences only
    sli: float | None
    coverage: float
    partial: bool  # the data does not cover the whole window: figures are for the covered part
    data_start: datetime | None

    @property
    def exhausted(self) -> bool:
        return self.remaining_fraction is not None and self.remaining_fraction <= 0.0


@dataclass(frozen=True)
class RuleEvaluation:
    rule: BurnRateRule
    long_burn: float | None
    short_burn: float | None
    firing: bool


@dataclass(frozen=True)
class AlertState:
    """Multiwindow burn-rate alert state: page / ticket, and the burn rate of every window used."""

    page: bool
    ticket: bool
    burn_rates: dict[timedelta, float | None]
    rules: tuple[RuleEvaluation, ...]
    partial_windows: tuple[timedelta, ...] = ()  # windows the data does not fully cover

    @property
    def level(self) -> AlertLevel:
        if self.page:
            return "page"
        if self.ticket:
            return "ticket"
        if all(b is None for b in self.burn_rates.values()):
            return "no data"
        return "ok"


@dataclass(frozen=True)
class SLOReport:
    """Everything the SLO and Triage pages show for one SLO in one scope (a region or global)."""

    slo: SLO
    region: str
    budget: BudgetStatus | None  # None when asked for alerts only (data shorter than the SLO window)
    alert: AlertState
    current_burn: float | None  # over CURRENT_BURN_WINDOW
    time_to_exhaustion: timedelta | None  # None: not burning (or no data)


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

    @property
    def step_minutes(self) -> float:
        return self.step / 60.0

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
        return MetricGrid((), 0, step_s, 0, {})
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
    return MetricGrid(tuple(str(r) for r in region_names), t0, step_s, slots, grids)


SLOData = pd.DataFrame | MetricGrid | SLICounts


def slo_counts(data: pd.DataFrame | MetricGrid, slo: SLO, step: timedelta | None = None) -> SLICounts:
    """The cumulative per-region counts of `slo` (build once, then query any number of windows)."""
    grid = data if isinstance(data, MetricGrid) else metric_grid(data, step)
    regions = tuple(r for r in grid.regions if not slo.regions or r in slo.regions)
    if not regions or grid.slots == 0 or slo.total not in grid.values:
        empty = np.zeros((0, 1))
        none = np.array([], dtype=int)
        return SLICounts(slo, (), 0, grid.step, 0, empty, empty, empty, empty, none, none)
    rows = np.array([grid.regions.index(r) for r in regions])
    step_s = grid.step
    total = grid.get(slo.total, rows)
    if slo.budgeting == "occurrences":
        total_events = np.clip(total, 0.0, None) * step_s
        known = np.isfinite(total_events)
        if slo.bad is not None:
            bad_events = np.clip(np.nan_to_num(grid.get(slo.bad, rows) * step_s, nan=0.0), 0.0, None)
        else:
            good_events = np.clip(grid.get(slo.good, rows) * step_s, 0.0, None)
            known &= np.isfinite(good_events)
            bad_events = np.where(known, total_events - np.nan_to_num(good_events), 0.0)
        units = np.where(known, total_events, 0.0)
        bad = np.clip(np.where(known, bad_events, 0.0), 0.0, units)
        weight = units
    else:
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
        bad = bad_slot.astype(float)
        if TRAFFIC_METRIC in grid.values:
            traffic = np.clip(np.nan_to_num(grid.get(TRAFFIC_METRIC, rows), nan=0.0), 0.0, None)
            weight = np.where(known, traffic * step_s, 0.0)
        else:
            weight = units

    def cumulative(a: np.ndarray) -> np.ndarray:
        out = np.zeros((a.shape[0], a.shape[1] + 1))
        np.cumsum(a, axis=1, out=out[:, 1:])
        return out

    any_known = known.any(axis=1)
    first = np.where(any_known, known.argmax(axis=1), -1)
    last = np.where(any_known, grid.slots - 1 - known[:, ::-1].argmax(axis=1), -1)
    return SLICounts(
        slo=slo,
        regions=regions,
        t0=grid.t0,
        step=step_s,
        slots=grid.slots,
        cum_bad=cumulative(bad),
        cum_units=cumulative(units),
        cum_known=cumulative(known.astype(float)),
        cum_weight=cumulative(weight),
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
    expected = np.maximum((ends - starts) // counts.step, 1).astype(float)
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


# ---- public API ---------------------------------------------------------------------------------
def sli_detail(
    frame: SLOData,
    slo: SLO,
    start: datetime,
    end: datetime,
    region: str | None = None,
) -> WindowSLI:
    """The SLI over (start, end] with its bad / total counts, coverage and a partial-data flag."""
    counts = _as_counts(frame, slo)
    w = _window_one(counts, region, _to_epoch(start), _to_epoch(end))
    error_ratio = _none_if_nan(w.error_ratio[0])
    scale = counts.step_minutes if slo.budgeting == "timeslices" else 1.0
    return WindowSLI(
        start=start,
        end=end,
        sli=None if error_ratio is None else 1.0 - error_ratio,
        bad=float(w.bad[0]) * scale,
        total=float(w.units[0]) * scale,
        coverage=float(w.coverage[0]),
        partial=bool(w.partial[0]),
    )


def sli(
    frame: SLOData,
    slo: SLO,
    start: datetime,
    end: datetime,
    region: str | None = None,
) -> float | None:
    """Share of good events (or good minutes) in (start, end]; None when there was no traffic.

    `region` None means every region of the frame (or of the SLO), traffic-weighted.
    """
    return sli_detail(frame, slo, start, end, region).sli


def burn_rate(
    frame: SLOData,
    slo: SLO,
    window: timedelta,
    at: datetime,
    region: str | None = None,
) -> float | None:
    """Error ratio over (at - window, at] divided by the allowed ratio (1 - objective); None without
    traffic. 1 spends the budget exactly over the SLO window; 14.4 spends 2% of a 30-day budget in 1 h."""
    counts = _as_counts(frame, slo)
    end = _to_epoch(at)
    w = _window_one(counts, region, end - int(window.total_seconds()), end)
    ratio = _none_if_nan(w.error_ratio[0])
    return None if ratio is None else ratio / slo.error_budget_ratio


def error_budget(
    frame: SLOData,
    slo: SLO,
    at: datetime,
    region: str | None = None,
) -> BudgetStatus:
    """The error budget of the SLO window (at - window, at]: allowed, consumed, remaining."""
    counts = _as_counts(frame, slo)
    end = _to_epoch(at)
    start = end - int(slo.window.total_seconds())
    w = _window_one(counts, region, start, end)
    error_ratio = _none_if_nan(w.error_ratio[0])
    bad, units = float(w.bad[0]), float(w.units[0])
    if slo.budgeting == "occurrences":
        total = slo.error_budget_ratio * units
        consumed = bad
        # total > 0 rather than units > 0: a vanishingly small request count can underflow the budget
        remaining = None if total <= 0 else 1.0 - consumed / total
        unit: Literal["events", "minutes"] = "events"
        events_remaining = None if total <= 0 else total - consumed
    else:
        total = slo.budget_minutes
        consumed = bad * counts.step_minutes
        # a window with no data at all has no SLI; it has not consumed budget either, but "100% left"
        # would be a claim about minutes nobody measured
        remaining = None if error_ratio is None else 1.0 - consumed / total
        unit = "minutes"
        events_remaining = None
    return BudgetStatus(
        slo=slo.name,
        region=region or GLOBAL,
        at=_dt(end),
        window_start=_dt(start),
        unit=unit,
        total=total,
        consumed=consumed,
        remaining_fraction=remaining,
        minutes_total=slo.budget_minutes,
        minutes_remaining=None if remaining is None else remaining * slo.budget_minutes,
        events_remaining=events_remaining,
        sli=None if error_ratio is None else 1.0 - error_ratio,
        coverage=float(w.coverage[0]),
        partial=bool(w.partial[0]),
        data_start=counts.data_start,
    )


def burn_rates(
    frame: SLOData,
    slo: SLO,
    windows: Sequence[timedelta],
    at: datetime,
    region: str | None = None,
) -> tuple[dict[timedelta, float | None], tuple[timedelta, ...]]:
    """Burn rates of several windows ending at `at` in one pass, and the windows the data does not cover."""
    counts = _as_counts(frame, slo)
    unique = list(dict.fromkeys(windows))
    end = _to_epoch(at)
    ends = np.full(len(unique), end, dtype=np.int64)
    starts = ends - np.array([int(w.total_seconds()) for w in unique], dtype=np.int64)
    res = _windows(counts, counts.rows(region), starts, ends)
    rates = {
        w: (None if not np.isfinite(r) else float(r) / slo.error_budget_ratio)
        for w, r in zip(unique, res.error_ratio, strict=True)
    }
    partial = tuple(w for w, p in zip(unique, res.partial, strict=True) if p)
    return rates, partial


def alert_state(
    frame: SLOData,
    slo: SLO,
    at: datetime,
    rules: Sequence[BurnRateRule] = DEFAULT_BURN_RATE_RULES,
    region: str | None = None,
) -> AlertState:
    """Multiwindow, multi-burn-rate alerts (SRE Workbook ch. 5): a rule fires when the burn rates of
    both its long and its short window exceed its threshold; page / ticket when any rule of that
    severity fires. A window without traffic never fires."""
    windows = [w for r in rules for w in (r.long_window, r.short_window)]
    rates, partial = burn_rates(frame, slo, windows, at, region)
    evaluations = []
    for rule in rules:
        long_burn, short_burn = rates[rule.long_window], rates[rule.short_window]
        firing = (
            long_burn is not None
            and short_burn is not None
            and long_burn > rule.burn_rate
            and short_burn > rule.burn_rate
        )
        evaluations.append(RuleEvaluation(rule, long_burn, short_burn, firing))
    return AlertState(
        page=any(e.firing for e in evaluations if e.rule.severity == "page"),
        ticket=any(e.firing for e in evaluations if e.rule.severity == "ticket"),
        burn_rates=rates,
        rules=tuple(evaluations),
        partial_windows=partial,
    )


def time_to_exhaustion(
    remaining_fraction: float | None, burn: float | None, window: timedelta
) -> timedelta | None:
    """How long the remaining budget lasts at `burn`: remaining x window / burn.

    A burn of b spends b / window of the budget per unit of time. None when not burning (b <= 0) or
    unknown; zero when the budget is already spent. (A rolling window also returns budget as old bad
    minutes age out; this ignores that, as on-call estimates usually do.)
    """
    if remaining_fraction is None or burn is None:
        return None
    if remaining_fraction <= 0:
        return timedelta(0)
    if burn <= 0:
        return None
    return timedelta(seconds=remaining_fraction * window.total_seconds() / burn)


def _series_ends(counts: SLICounts, start: int, end: int, points: int) -> np.ndarray:
    """Evaluation times from start to end, ending exactly at `end`, spaced by a multiple of the data's
    step so there are at most about `points` of them."""
    n = max(int((end - start) // counts.step), 1)
    stride = counts.step * max(1, int(np.ceil(n / max(points, 1))))
    ends = end - stride * np.arange((end - start) // stride + 1, dtype=np.int64)[::-1]
    return ends[ends >= start]


def burn_down(
    frame: SLOData,
    slo: SLO,
    at: datetime,
    region: str | None = None,
    points: int = 600,
) -> pd.DataFrame:
    """Budget remaining across the SLO window ending at `at`: columns ts, remaining_fraction (actual) and
    ideal_fraction (straight line from 1 at the window start to 0 at its end, the constant burn of 1).

    The budget is the whole window's (so the last point equals error_budget(...).remaining_fraction).
    Empty frame when the window has no traffic."""
    counts = _as_counts(frame, slo)
    end = _to_epoch(at)
    start = end - int(slo.window.total_seconds())
    status = error_budget(counts, slo, at, region)
    if status.remaining_fraction is None or counts.slots == 0:
        return pd.DataFrame(
            {
                "ts": pd.Series([], dtype="datetime64[ns, UTC]"),
                "remaining_fraction": pd.Series([], dtype=float),
                "ideal_fraction": pd.Series([], dtype=float),
            }
        )
    ends = _series_ends(counts, start, end, points)
    res = _windows(counts, counts.rows(region), np.full(len(ends), start, dtype=np.int64), ends)
    if slo.budgeting == "occurrences":
        consumed_fraction = res.bad / status.total if status.total > 0 else np.zeros(len(ends))
    else:
        consumed_fraction = res.bad * counts.step_minutes / status.total
    window_s = float(end - start)
    return pd.DataFrame(
        {
            "ts": pd.to_datetime(ends, unit="s", utc=True),
            "remaining_fraction": 1.0 - consumed_fraction,
            "ideal_fraction": 1.0 - (ends - start) / window_s,
        }
    )


def burn_rate_series(
    frame: SLOData,
    slo: SLO,
    window: timedelta,
    start: datetime,
    end: datetime,
    region: str | None = None,
    points: int = 600,
) -> pd.DataFrame:
    """The burn rate over a sliding `window`, evaluated from start to end: columns ts, burn_rate (NaN
    without traffic)."""
    counts = _as_counts(frame, slo)
    if counts.slots == 0:
        return pd.DataFrame({"ts": pd.Series([], dtype="datetime64[ns, UTC]"), "burn_rate": []})
    ends = _series_ends(counts, _to_epoch(start), _to_epoch(end), points)
    res = _windows(counts, counts.rows(region), ends - int(window.total_seconds()), ends)
    return pd.DataFrame(
        {
            "ts": pd.to_datetime(ends, unit="s", utc=True),
            "burn_rate": res.error_ratio / slo.error_budget_ratio,
        }
    )


def slo_report(
    frame: SLOData,
    slo: SLO,
    at: datetime,
    region: str | None = None,
    rules: Sequence[BurnRateRule] = DEFAULT_BURN_RATE_RULES,
    with_budget: bool = True,
) -> SLOReport:
    """Budget, alert state, current burn and time to exhaustion of one SLO in one scope. With
    with_budget=False only the alert part is computed (for data covering the rule windows only)."""
    counts = _as_counts(frame, slo)
    budget = error_budget(counts, slo, at, region) if with_budget else None
    alert = alert_state(counts, slo, at, rules, region)
    current = alert.burn_rates.get(CURRENT_BURN_WINDOW)
    if CURRENT_BURN_WINDOW not in alert.burn_rates:
        current = burn_rate(counts, slo, CURRENT_BURN_WINDOW, at, region)
    return SLOReport(
        slo=slo,
        region=region or GLOBAL,
        budget=budget,
        alert=alert,
        current_burn=current,
        time_to_exhaustion=None
        if budget is None
        else time_to_exhaustion(budget.remaining_fraction, current, slo.window),
    )


def slo_reports(
    frame: pd.DataFrame | MetricGrid,
    slos: Sequence[SLO],
    at: datetime,
    regions: Sequence[str] | None = None,
    rules: Sequence[BurnRateRule] = DEFAULT_BURN_RATE_RULES,
    include_global: bool = True,
    with_budget: bool = True,
) -> list[SLOReport]:
    """One report per SLO x scope (each of the SLO's regions among `regions`, then global)."""
    grid = frame if isinstance(frame, MetricGrid) else metric_grid(frame)
    out: list[SLOReport] = []
    for slo in slos:
        counts = slo_counts(grid, slo)
        scopes = [r for r in (regions if regions is not None else counts.regions) if r in counts.regions]
        if slo.regions:
            scopes = [r for r in scopes if r in slo.regions]
        for region in scopes:
            out.append(slo_report(counts, slo, at, region, rules, with_budget))
        if include_global and len(counts.regions) > 1:
            out.append(slo_report(counts, slo, at, None, rules, with_budget))
    return out


def reports_table(reports: Sequence[SLOReport]) -> pd.DataFrame:
    """A flat table of reports (one row each), the window burn rates as columns named like 'burn_1h'."""
    rows = []
    for rep in reports:
        b = rep.budget
        row: dict[str, object] = {
            "slo": rep.slo.name,
            "region": rep.region,
            "objective": rep.slo.objective,
            "sli": None if b is None else b.sli,
            "budget_remaining": None if b is None else b.remaining_fraction,
            "minutes_remaining": None if b is None else b.minutes_remaining,
            "minutes_total": rep.slo.budget_minutes,
            "current_burn": rep.current_burn,
            "time_to_exhaustion_h": None
            if rep.time_to_exhaustion is None
            else rep.time_to_exhaustion.total_seconds() / 3600,
            "alert": rep.alert.level,
            "partial": None if b is None else b.partial,
        }
        for window, burn in rep.alert.burn_rates.items():
            row[f"burn_{format_window(window)}"] = burn
        rows.append(row)
    return pd.DataFrame(rows)


def burning_now(reports: Sequence[SLOReport], min_burn: float = 1.0) -> list[SLOReport]:
    """What is burning now, fastest first: any page/ticket alert, or a current burn above `min_burn`
    (spending faster than the objective allows), ranked by alert level then current burn."""
    burning = [
        r
        for r in reports
        if r.alert.level in ("page", "ticket") or (r.current_burn is not None and r.current_burn > min_burn)
    ]
    return sorted(burning, key=lambda r: (-ALERT_ORDER[r.alert.level], -(r.current_burn or 0.0)))


def region_slo_states(
    frame: pd.DataFrame | MetricGrid,
    slos: Sequence[SLO],
    at: datetime,
    regions: Sequence[str],
    rules: Sequence[BurnRateRule] = DEFAULT_BURN_RATE_RULES,
) -> pd.DataFrame:
    """Per region, the worst alert level over the SLOs that cover it and the SLO responsible:
    columns region, alert ('page' | 'ticket' | 'ok' | 'no data'), worst_slo, current_burn.
    Needs data over the rule windows only (rules_lookback)."""
    reports = slo_reports(frame, slos, at, regions, rules, include_global=False, with_budget=False)
    rows = []
    for region in regions:
        mine = [r for r in reports if r.region == region]
        if not mine:
            rows.append({"region": region, "alert": "no data", "worst_slo": "", "current_burn": np.nan})
            continue
        worst = max(mine, key=lambda r: (ALERT_ORDER[r.alert.level], r.current_burn or 0.0))
        rows.append(
            {
                "region": region,
                "alert": worst.alert.level,
                "worst_slo": worst.slo.name,
                "current_burn": np.nan if worst.current_burn is None else worst.current_burn,
            }
        )
    return pd.DataFrame(rows, columns=["region", "alert", "worst_slo", "current_burn"])


def format_window(window: timedelta) -> str:
    """5m, 1h, 3d: the compact names the Workbook uses."""
    s = int(window.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s % size == 0 and s >= size:
            return f"{s // size}{unit}"
    return f"{s}s"


def format_duration(delta: timedelta | None) -> str:
    """A human duration for 'time to exhaustion': '3 d 4 h', '2 h 5 min', '12 min', 'now', 'never'."""
    if delta is None:
        return "not burning"
    s = delta.total_seconds()
    if s <= 0:
        return "exhausted"
    if s < 3600:
        return f"{max(s / 60, 1):.0f} min"
    if s < 86400:
        return f"{int(s // 3600)} h {int(s % 3600 // 60)} min"
    if s >= 365 * 86400:
        return "> 1 year"
    return f"{int(s // 86400)} d {int(s % 86400 // 3600)} h"


# ---- KPI tiles ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class KPI:
    """One KPI tile: the value over the selected period and over the period before it."""

    key: str
    label: str
    value: float | None
    previous: float | None
    unit: str
    higher_is_better: bool

    @property
    def change(self) -> float | None:
        if self.value is None or self.previous is None:
            return None
        return self.value - self.previous

    @property
    def change_fraction(self) -> float | None:
        """Relative change (0.1 = +10%); None when the previous value is 0 or unknown."""
        if self.change is None or not self.previous:
            return None
        return self.change / abs(self.previous)


def _wide(frame: pd.DataFrame, metric: str) -> pd.DataFrame:
    sub = frame[frame["metric"] == metric]
    if sub.empty:
        return pd.DataFrame()
    return sub.pivot_table(index="ts", columns="region", values="value", aggfunc="mean")


def _weighted_mean(values: pd.DataFrame, weights: pd.DataFrame) -> float | None:
    if values.empty:
        return None
    if weights.empty:
        v = values.to_numpy().ravel()
        v = v[np.isfinite(v)]
        return float(v.mean()) if len(v) else None
    w = weights.reindex(index=values.index, columns=values.columns).to_numpy()
    v = values.to_numpy()
    ok = np.isfinite(v) & np.isfinite(w) & (w > 0)
    if not ok.any():
        return None
    return float((v[ok] * w[ok]).sum() / w[ok].sum())


def _daily_cost(costs: pd.DataFrame | None) -> float | None:
    if costs is None or costs.empty:
        return None
    per_day = costs.groupby("day")["cost_usd"].sum()
    return float(per_day.mean()) if len(per_day) else None


def _metric_kpis(frame: pd.DataFrame) -> dict[str, float | None]:
    rps = _wide(frame, "requests_per_second")
    errors = _wide(frame, "errors_per_second")
    out: dict[str, float | None] = {}
    total = float(np.nansum(rps.to_numpy())) if not rps.empty else 0.0
    if total > 0:
        err = errors.reindex(index=rps.index, columns=rps.columns)
        bad = float(np.nansum(np.where(np.isfinite(rps.to_numpy()), err.to_numpy(), np.nan)))
        out["error_rate"] = bad / total
        out["availability"] = 1.0 - bad / total
        out["rps"] = float(rps.sum(axis=1, min_count=1).mean())
    else:
        out["error_rate"] = out["availability"] = out["rps"] = None
    for p in ("p50", "p90", "p95", "p99"):
        out[p] = _weighted_mean(_wide(frame, f"latency_{p}_ms"), rps)
    out["cdn_hit_ratio"] = _weighted_mean(
        _wide(frame, "cdn_hit_ratio"), _wide(frame, "cdn_requests_per_second")
    )
    return out


KPI_METRICS: tuple[str, ...] = (
    "requests_per_second",
    "errors_per_second",
    "latency_p50_ms",
    "latency_p95_ms",
    "latency_p99_ms",
    "latency_p90_ms",
    "cdn_hit_ratio",
    "cdn_requests_per_second",
)


def kpi_cost_days(start: datetime, end: datetime) -> tuple[tuple[date, date], tuple[date, date]]:
    """The complete UTC days standing for a range and for the period before it, for cost per day:
    as many whole days as the range is long (at least one), ending the day before `end` (today's bill
    is still growing). Returns ((first, last), (previous_first, previous_last)), inclusive."""
    days = max(1, round((end - start) / timedelta(days=1)))
    last = end.astimezone(UTC).date() - timedelta(days=1)
    first = last - timedelta(days=days - 1)
    return (first, last), (first - timedelta(days=days), first - timedelta(days=1))


def kpi_summary(
    current: pd.DataFrame,
    previous: pd.DataFrame,
    costs_current: pd.DataFrame | None = None,
    costs_previous: pd.DataFrame | None = None,
) -> list[KPI]:
    """KPI tiles for a period vs the period before it (tidy metric frames, billing frames).

    Availability and error rate are total errors / total requests (traffic-weighted); percentiles are
    the request-weighted mean of per-step percentiles (an approximation: percentiles do not add up);
    RPS is the mean over time of the sum over regions; the CDN hit ratio is weighted by CDN requests;
    cost per day is the mean daily total of the billing rows given.
    """
    now, before = _metric_kpis(current), _metric_kpis(previous)
    specs = [
        ("availability", "Availability", "%", True),
        ("p50", "p50 latency", "ms", False),
        ("p95", "p95 latency", "ms", False),
        ("p99", "p99 latency", "ms", False),
        ("error_rate", "Error rate", "%", False),
        ("rps", "Requests", "req/s", True),
        ("cdn_hit_ratio", "CDN hit ratio", "%", True),
    ]
    kpis = [KPI(key, label, now[key], before[key], unit, better) for key, label, unit, better in specs]
    kpis.append(
        KPI(
            "cost_per_day",
            "Cost per day",
            _daily_cost(costs_current),
            _daily_cost(costs_previous),
            "USD",
            False,
        )
    )
    # p90 last: the tiles keep their places (dashboards and tests refer to them by position)
    kpis.append(KPI("p90", "p90 latency", now["p90"], before["p90"], "ms", False))
    return kpis
