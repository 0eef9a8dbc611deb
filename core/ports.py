"""Ports: the protocols connectors implement, the value types core needs, the tidy frame contracts, and SourceError.

Tidy metrics frame: columns ts (datetime64[ns, UTC]), region (str), metric (str), value (float64),
sorted by ts. Billing frame: day (date), service (str), region (str), cost_usd (float64).
Events frame (EventsSource.events): start_ts, end_ts (datetime64[ns, UTC]), region ('' for global), kind
('incident sev1', 'change', 'deploy', 'annotation', ...), title, detail; sorted by start_ts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Literal, Protocol, runtime_checkable

import pandas as pd

METRICS_COLUMNS: tuple[str, ...] = ("ts", "region", "metric", "value")
BILLING_COLUMNS: tuple[str, ...] = ("day", "service", "region", "cost_usd")
EVENT_COLUMNS: tuple[str, ...] = ("start_ts", "end_ts", "region", "kind", "title", "detail")


class SourceError(Exception):
    """An outside system failed. `source` names it; the message is a sentence for a human."""

    def __init__(self, source: str, message: str, *, query: str | None = None):
        self.source = source
        self.query = query
        self.message = message
        super().__init__(f"{source}: {message}")


class AppliedUnverified(SourceError):
    """An executor's write call succeeded but reading the target back failed.

    The change ran exactly once and must never be re-applied: record the action as executed but
    unverified (not failed), with `requested` as what was asked and `read_back_error` as why the state
    could not be confirmed. A subclass of SourceError so callers that only know SourceError still end
    the action instead of crashing."""

    def __init__(
        self,
        source: str,
        message: str,
        *,
        requested: Change,
        read_back_error: str,
        query: str | None = None,
    ):
        super().__init__(source, message, query=query)
        self.requested = requested
        self.read_back_error = read_back_error


@dataclass(frozen=True)
class SourceHealth:
    name: str
    state: Literal["ok", "degraded", "down", "unknown"]
    detail: str = ""
    last_success: datetime | None = None
    latency_s: float | None = None


@runtime_checkable
class MetricsSource(Protocol):
    name: str

    def query_range(
        self,
        metrics: Sequence[str],
        start: datetime,
        end: datetime,
        step: timedelta,
        regions: Sequence[str] | None = None,
    ) -> pd.DataFrame: ...

    def health(self) -> SourceHealth: ...


AggregateStat = Literal[
    "mean", "sum", "count", "max", "min", "last", "share_above", "weighted_sum", "weight_sum"
]
AGGREGATE_STATS: tuple[str, ...] = (
    "mean",
    "sum",
    "count",
    "max",
    "min",
    "last",
    "share_above",
    "weighted_sum",
    "weight_sum",
)
AGGREGATE_COLUMNS: tuple[str, ...] = ("region", "aggregate", "value")


@dataclass(frozen=True)
class RangeAggregate:
    """One range-wide figure per region, computed where the data lives (docs/ARCHITECTURE.md, "Data
    contracts"): over the steps of [start, end] where the metric is finite,
    - mean / sum / count / max / min / last: of the metric's values (count: how many steps have one);
    - share_above: the share of steps whose value is above `threshold` (minutes over a latency SLO);
    - weighted_sum: the sum of metric x `weight` over the steps where both are finite;
    - weight_sum: the sum of `weight` over those same steps (weighted_sum / weight_sum is the
      weighted mean, and both add up across regions);
    with `window`, over (end - window, end] instead, whatever the range's start.
    Sums are in "per step" units: only their ratios (error rate, weighted means) are meaningful."""

    metric: str
    stat: AggregateStat
    threshold: float | None = None
    weight: str | None = None
    # over the `window` before the range's end (SLO rule windows end where the range ends), so one
    # request carries every window a page needs
    window: timedelta | None = None

    def __post_init__(self) -> None:
        if self.window is not None and self.window <= timedelta(0):
            raise ValueError(f"RangeAggregate({self.metric}).window must be positive, got {self.window}")
        if self.stat not in AGGREGATE_STATS:
            raise ValueError(f"RangeAggregate.stat: {self.stat!r} is not one of {', '.join(AGGREGATE_STATS)}")
        if (self.stat == "share_above") != (self.threshold is not None):
            raise ValueError(f"RangeAggregate({self.metric}): threshold is for stat 'share_above' only")
        if (self.stat in ("weighted_sum", "weight_sum")) != (self.weight is not None):
            raise ValueError(
                f"RangeAggregate({self.metric}): weight is required by, and only for, weighted_sum/weight_sum"
            )

    @property
    def key(self) -> str:
        """The name of this figure in an aggregates frame, e.g. 'mean(requests_per_second)', or
        'sum(errors_per_second)[3600s]' over the range's last hour."""
        if self.threshold is not None:
            name = f"{self.stat}({self.metric}>{self.threshold:g})"
        elif self.weight is not None:
            name = f"{self.stat}({self.metric}*{self.weight})"
        else:
            name = f"{self.stat}({self.metric})"
        return name if self.window is None else f"{name}[{int(self.window.total_seconds())}s]"

    def first(self, start: datetime, end: datetime) -> datetime:
        """Where this figure's data starts for a range [start, end]."""
        return start if self.window is None else end - self.window

    @property
    def metrics(self) -> tuple[str, ...]:
        return (self.metric,) if self.weight is None else (self.metric, self.weight)


@runtime_checkable
class RangeAggregateSource(Protocol):
    """A MetricsSource that computes range-wide figures itself (Prometheus: instant queries of
    `*_over_time` on a subquery; the store: its own rows), so a page never pulls every raw point to get
    one number per region. Returns an aggregates frame: region, aggregate (RangeAggregate.key), value."""

    name: str

    def aggregate_range(
        self,
        aggregates: Sequence[RangeAggregate],
        start: datetime,
        end: datetime,
        regions: Sequence[str] | None = None,
    ) -> pd.DataFrame: ...


# the region code of a series combined over every selected region (AcrossRegionsSource)
ACROSS_REGIONS = "all regions"
# how a metric combines over regions: rates and counts add up, utilisation averages, latency takes the
# worst region (a fleet-wide quantile needs the histograms, which a metric's template has already folded)
ACROSS_REGIONS_OPS: dict[str, str] = {
    "requests_per_second": "sum",
    "errors_per_second": "sum",
    "queue_depth": "sum",
    "instances": "sum",
    "cpu_utilization": "avg",
    "memory_utilization": "avg",
    "latency_p50_ms": "max",
    "latency_p90_ms": "max",
    "latency_p95_ms": "max",
    "latency_p99_ms": "max",
}


@runtime_checkable
class AcrossRegionsSource(Protocol):
    """A source that combines a metric over regions itself (Prometheus: `sum`/`avg`/`max` around the
    metric's template), so a chart of many regions can draw a few of them plus one line for all without
    fetching every region's points. Returns a tidy frame whose region is ACROSS_REGIONS; `ops` maps each
    metric to "sum", "avg" or "max" (ACROSS_REGIONS_OPS)."""

    name: str

    def query_range_across(
        self,
        ops: Mapping[str, str],
        start: datetime,
        end: datetime,
        step: timedelta,
        regions: Sequence[str] | None = None,
    ) -> pd.DataFrame: ...


@dataclass(frozen=True)
class SlotAggregates:
    """RangeAggregates per consecutive slot: `frame` has columns ts, region, aggregate, value, where ts is
    the slot's end and the figure covers (ts - slot, ts]. The figures are over the steps of `resolution`
    (the step a full-range query_range would have used), so summing slots gives the range's own figure.
    Slots end at `end` and go back `slots` slots."""

    frame: pd.DataFrame
    end: datetime
    slot: timedelta
    slots: int
    resolution: timedelta


@runtime_checkable
class SlotAggregateSource(Protocol):
    """A source that computes RangeAggregates per slot of a long range itself (Prometheus: one range
    query of `*_over_time` subqueries, step = slot), so a 30-day SLO window arrives as a few hundred
    sums per region instead of every point (docs/ARCHITECTURE.md, "Data contracts")."""

    name: str

    def aggregate_slots(
        self,
        aggregates: Sequence[RangeAggregate],
        start: datetime,
        end: datetime,
        slot: timedelta,
        regions: Sequence[str] | None = None,
    ) -> SlotAggregates: ...


@runtime_checkable
class WindowAggregateSource(Protocol):
    """A source that computes RangeAggregates over several windows ending at one time itself
    (Prometheus: instant queries over the windows' disjoint pieces), each window as one slot of its
    length ending at `at`: the burn-rate rule windows as a few sums per region, not a grid over the
    longest (issue 17)."""

    name: str

    def aggregate_windows(
        self,
        aggregates: Sequence[RangeAggregate],
        at: datetime,
        windows: Sequence[timedelta],
        regions: Sequence[str] | None = None,
    ) -> dict[timedelta, SlotAggregates]: ...


@runtime_checkable
class JoinsRequestsInFlight(Protocol):
    """A source that keeps its answers (a TTL cache) and joins a request already in flight for the same
    query instead of sending it twice, so a page may ask it ahead for its later parts
    (pages/_ui.prefetch) at no extra cost to the server (Prometheus)."""

    joins_requests_in_flight: bool


@runtime_checkable
class BillingSource(Protocol):
    name: str

    def daily_costs(self, start: date, end: date) -> pd.DataFrame: ...

    def health(self) -> SourceHealth: ...


@dataclass(frozen=True)
class Target:
    """Something an executor can change (mirrors config.ActionTarget's identity)."""

    name: str
    kind: str
    region: str
    params: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Change:
    """A requested change: desired/min/max instances for scaling, or routing weights for failover."""

    desired: int | None = None
    min_instances: int | None = None
    max_instances: int | None = None
    weights: dict[str, float] | None = None  # region -> weight (route53_weighted / failover)


@dataclass(frozen=True)
class TargetState:
    desired: int | None = None
    min_instances: int | None = None
    max_instances: int | None = None
    weights: dict[str, float] | None = None
    raw: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class ActionExecutor(Protocol):
    name: str

    def current(self, target: Target) -> TargetState: ...

    def apply(self, target: Target, change: Change) -> TargetState: ...


# A frame a source returns may carry, in `frame.attrs[SOURCE_WARNINGS]`, the warnings the outside system
# answered with (Prometheus `warnings`: the data is partial); pages name them in a banner.
SOURCE_WARNINGS = "source_warnings"


def answer_warnings(frame: object) -> tuple[str, ...]:
    """The warnings a source attached to its answer (empty for a complete answer)."""
    attrs = getattr(frame, "attrs", None)
    found = attrs.get(SOURCE_WARNINGS) if isinstance(attrs, dict) else None
    if found is None:  # an object built from such a frame (core.slo.MetricGrid) keeps them as a field
        found = getattr(frame, SOURCE_WARNINGS, None)
    return tuple(str(w) for w in found) if found else ()


def empty_metrics_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "ts": pd.Series([], dtype="datetime64[ns, UTC]"),
            "region": pd.Series([], dtype=object),
            "metric": pd.Series([], dtype=object),
            "value": pd.Series([], dtype="float64"),
        }
    )


def empty_aggregates_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "region": pd.Series([], dtype=object),
            "aggregate": pd.Series([], dtype=object),
            "value": pd.Series([], dtype="float64"),
        }
    )


class EventsSource(Protocol):
    """Incidents, changes and annotations overlapping a range, as the events frame (EVENT_COLUMNS).
    Implementations: the store (the demo world's events and what people record on Triage,
    connectors/events.py) and annotations from a Prometheus series; pages read them through
    pages/_ui.py `events()` only."""

    name: str

    def events(self, start: datetime, end: datetime) -> pd.DataFrame: ...

    def health(self) -> SourceHealth: ...


def empty_slot_frame() -> pd.DataFrame:
    """SlotAggregates.frame without rows."""
    return pd.DataFrame(
        {
            "ts": pd.Series([], dtype="datetime64[ns, UTC]"),
            "region": pd.Series([], dtype=object),
            "aggregate": pd.Series([], dtype=object),
            "value": pd.Series([], dtype="float64"),
        }
    )


def empty_events_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            c: pd.Series([], dtype="datetime64[ns, UTC]" if c.endswith("_ts") else object)
            for c in EVENT_COLUMNS
        }
    )


def tidy_events(frame: pd.DataFrame) -> pd.DataFrame:
    """Coerce a frame to the events contract (UTC times, text columns, column order, sorted)."""
    if frame is None or frame.empty:
        return empty_events_frame()
    out = frame.reindex(columns=list(EVENT_COLUMNS)).copy()
    for col in ("start_ts", "end_ts"):
        out[col] = pd.to_datetime(out[col], utc=True).astype("datetime64[ns, UTC]")
    out["end_ts"] = out["end_ts"].fillna(out["start_ts"])
    for col in ("region", "kind", "title", "detail"):
        out[col] = out[col].fillna("").astype(str).astype(object)
    return out.sort_values("start_ts", kind="stable").reset_index(drop=True)


def empty_billing_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "day": pd.Series([], dtype=object),
            "service": pd.Series([], dtype=object),
            "region": pd.Series([], dtype=object),
            "cost_usd": pd.Series([], dtype="float64"),
        }
    )


def tidy_metrics(frame: pd.DataFrame) -> pd.DataFrame:
    """Coerce a frame to the tidy metrics contract (dtypes, UTC, column order, sorted by ts)."""
    if frame.empty:
        return empty_metrics_frame()
    out = frame.loc[:, list(METRICS_COLUMNS)].copy()
    out["ts"] = pd.to_datetime(out["ts"], utc=True).astype("datetime64[ns, UTC]")
    out["region"] = out["region"].astype(str).astype(object)
    out["metric"] = out["metric"].astype(str).astype(object)
    out["value"] = out["value"].astype("float64")
    return out.sort_values(["ts", "region", "metric"], kind="stable").reset_index(drop=True)
