"""The Overview's KPI tiles: availability, latency percentiles, error rate, requests, CDN hit ratio and
cost per day over a period against the period before it. Traffic-weighted like the SLOs (core/slo), but
over a free period rather than an SLO window, and with a cost tile from the billing rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd


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
    for p in ("p50", "p95", "p99"):
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
    return kpis
