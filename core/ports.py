"""Ports: the protocols connectors implement, the value types core needs, the tidy frame contracts, and SourceError.

Tidy metrics frame: columns ts (datetime64[ns, UTC]), region (str), metric (str), value (float64),
sorted by ts. Billing frame: day (date), service (str), region (str), cost_usd (float64).
Events frame (EventsSource.events): start_ts, end_ts (datetime64[ns, UTC]), region ('' for global), kind
('incident sev1', 'change', 'deploy', 'annotation', ...), title, detail; sorted by start_ts.
"""

from __future__ import annotations

from collections.abc import Sequence
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


def empty_metrics_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "ts": pd.Series([], dtype="datetime64[ns, UTC]"),
            "region": pd.Series([], dtype=object),
            "metric": pd.Series([], dtype=object),
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
