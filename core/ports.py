"""Ports: the protocols connectors implement, the value types core needs, the tidy frame contracts, and SourceError.

Tidy metrics frame: columns ts (datetime64[ns, UTC]), region (str), metric (str), value (float64),
sorted by ts. Billing frame: day (date), service (str), region (str), cost_usd (float64).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Literal, Protocol, runtime_checkable

import pandas as pd

METRICS_COLUMNS: tuple[str, ...] = ("ts", "region", "metric", "value")
BILLING_COLUMNS: tuple[str, ...] = ("day", "service", "region", "cost_usd")


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
