"""The Overview's KPI tiles: availability, latency percentiles, error rate, requests, CDN hit ratio and
cost per day over a period against the period before it. Traffic-weighted like the SLOs (core/slo), but
over a free period rather than an SLO window, and with a cost tile from the billing rows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pandas as pd

from core.ports import RangeAggregate
from core.timeseries import summarise_metrics


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


def _daily_cost(costs: pd.DataFrame | None) -> float | None:
    if costs is None or costs.empty:
        return None
    per_day = costs.groupby("day")["cost_usd"].sum()
    return float(per_day.mean()) if len(per_day) else None


_WEIGHTED_KPIS: dict[str, tuple[str, str]] = {
    "p50": ("latency_p50_ms", "requests_per_second"),
    "p90": ("latency_p90_ms", "requests_per_second"),
    "p95": ("latency_p95_ms", "requests_per_second"),
    "p99": ("latency_p99_ms", "requests_per_second"),
    "cdn_hit_ratio": ("cdn_hit_ratio", "cdn_requests_per_second"),
}


def kpi_aggregates(
    metrics: Sequence[str] | None = None, fallback_means: bool = True
) -> tuple[RangeAggregate, ...]:
    """The range-wide figures the KPI tiles need per region (a source computes them; see
    core.ports.RangeAggregate); only those reading `metrics` when given (a page asks its API source and
    its CDN source separately). Without `fallback_means`, the plain means of the weighted tiles (used
    only when a tile has no weight at all) are left out: ask `kpi_fallback_means` for them afterwards.
    On Prometheus each is a month-long histogram subquery, and they were a third of the Overview's work."""
    out: list[RangeAggregate] = [
        RangeAggregate("requests_per_second", "sum"),
        RangeAggregate("requests_per_second", "mean"),
        RangeAggregate("errors_per_second", "sum"),
    ]
    for metric, weight in _WEIGHTED_KPIS.values():
        out += [
            RangeAggregate(metric, "weighted_sum", weight=weight),
            RangeAggregate(metric, "weight_sum", weight=weight),
        ]
        if fallback_means:
            out.append(RangeAggregate(metric, "mean"))  # when there is no weight at all: the plain mean
    if metrics is not None:
        out = [a for a in out if set(a.metrics) <= set(metrics)]
    return tuple(out)


def kpi_fallback_means(
    aggregates: pd.DataFrame, metrics: Sequence[str] | None = None
) -> tuple[RangeAggregate, ...]:
    """The plain means the weighted tiles of an aggregates frame (kpi_aggregates(fallback_means=False))
    still need: those whose weight sum is missing or zero over every region (only those reading
    `metrics` when given)."""
    sums = aggregates.groupby("aggregate")["value"].sum() if not aggregates.empty else pd.Series(dtype=float)
    out = [
        RangeAggregate(metric, "mean")
        for metric, weight in _WEIGHTED_KPIS.values()
        if not sums.get(RangeAggregate(metric, "weight_sum", weight=weight).key, 0.0)
        and RangeAggregate(metric, "mean").key not in sums.index  # already there (the health grid's p95)
    ]
    if metrics is not None:
        out = [a for a in out if set(a.metrics) <= set(metrics)]
    return tuple(out)


def _metric_kpis(aggregates: pd.DataFrame) -> dict[str, float | None]:
    """KPI values from an aggregates frame of `kpi_aggregates()` over every selected region."""
    by_key = aggregates.groupby("aggregate")["value"] if not aggregates.empty else None

    def total(agg: RangeAggregate) -> float | None:
        if by_key is None or agg.key not in by_key.groups:
            return None
        return float(by_key.get_group(agg.key).sum())

    out: dict[str, float | None] = {}
    requests = total(RangeAggregate("requests_per_second", "sum")) or 0.0
    if requests > 0:
        bad = total(RangeAggregate("errors_per_second", "sum")) or 0.0
        out["error_rate"] = bad / requests
        out["availability"] = 1.0 - bad / requests
        # the mean over time of the sum over regions = the sum over regions of their means
        out["rps"] = total(RangeAggregate("requests_per_second", "mean"))
    else:
        out["error_rate"] = out["availability"] = out["rps"] = None
    for key, (metric, weight) in _WEIGHTED_KPIS.items():
        weighted = total(RangeAggregate(metric, "weighted_sum", weight=weight))
        weights = total(RangeAggregate(metric, "weight_sum", weight=weight))
        if weighted is not None and weights:
            out[key] = weighted / weights
        elif by_key is not None and RangeAggregate(metric, "mean").key in by_key.groups:
            out[key] = float(by_key.get_group(RangeAggregate(metric, "mean").key).mean())
        else:
            out[key] = None
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
    aggregates = kpi_aggregates()
    return kpi_summary_from_aggregates(
        summarise_metrics(current, aggregates),
        summarise_metrics(previous, aggregates),
        costs_current,
        costs_previous,
    )


def kpi_summary_from_aggregates(
    current: pd.DataFrame,
    previous: pd.DataFrame,
    costs_current: pd.DataFrame | None = None,
    costs_previous: pd.DataFrame | None = None,
) -> list[KPI]:
    """kpi_summary from aggregates frames of `kpi_aggregates()` (what a source computed over each
    period: the Overview asks Prometheus for these figures instead of every point of both periods)."""
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
