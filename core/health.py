"""Region health for the Overview grid and map: one row per region, coloured against the SLO targets.

A region's state comes from the error-budget burn rate over the selected range (burn 1 = spending the
budget exactly as fast as the objective allows): >= 1 is 'warn', >= 6 (the Workbook's 6h page threshold)
is 'critical'. Availability and the share of minutes over the latency threshold are both judged this way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.config import HeadroomConfig
from core.ports import RangeAggregate
from core.timeseries import aggregates_table, summarise_metrics

HEALTH_METRICS: tuple[str, ...] = (
    "requests_per_second",
    "errors_per_second",
    "latency_p95_ms",
    "cpu_utilization",
    "memory_utilization",
    "instances",
)
STATE_ORDER = {"no data": -1, "ok": 0, "warn": 1, "critical": 2}
STATE_COLOURS = {"ok": "#2e7d32", "warn": "#f9a825", "critical": "#c62828", "no data": "#9e9e9e"}
WARN_BURN = 1.0
CRITICAL_BURN = 6.0
CPU_WARN = 0.85  # the default of [[fleet]] cpu_target / memory_target, for a region without a fleet


@dataclass(frozen=True)
class HealthTargets:
    availability_objective: float = 0.999
    latency_threshold_ms: float = 300.0
    latency_objective: float = 0.99

    @classmethod
    def from_config(cls, config: HeadroomConfig) -> HealthTargets:
        avail = next((s for s in config.slo if s.bad == "errors_per_second" or s.good), None)
        latency = next(
            (s for s in config.slo if s.threshold is not None and s.total == "latency_p95_ms"), None
        )
        return cls(
            availability_objective=avail.objective if avail else cls.availability_objective,
            latency_threshold_ms=latency.threshold
            if latency and latency.threshold
            else cls.latency_threshold_ms,
            latency_objective=latency.objective if latency else cls.latency_objective,
        )


def _state_from_burn(burn: float) -> str:
    if not np.isfinite(burn):
        return "no data"
    if burn >= CRITICAL_BURN:
        return "critical"
    if burn >= WARN_BURN:
        return "warn"
    return "ok"


def health_aggregates(config: HeadroomConfig) -> tuple[RangeAggregate, ...]:
    """The range-wide figures the health grid needs, per region (the source computes them)."""
    threshold = HealthTargets.from_config(config).latency_threshold_ms
    return (
        RangeAggregate("requests_per_second", "mean"),
        RangeAggregate("requests_per_second", "max"),
        RangeAggregate("requests_per_second", "sum"),
        RangeAggregate("errors_per_second", "sum"),
        RangeAggregate("latency_p95_ms", "mean"),
        RangeAggregate("latency_p95_ms", "share_above", threshold=threshold),
        RangeAggregate("cpu_utilization", "mean"),
        RangeAggregate("memory_utilization", "mean"),
        RangeAggregate("instances", "last"),
    )


def region_health(
    frame: pd.DataFrame, config: HeadroomConfig, regions: list[str] | None = None
) -> pd.DataFrame:
    """Per region: availability, error rate, p95, RPS (mean/peak), CPU, latest instances, burn and state,
    from the points of a tidy frame (the same figures as `region_health_from_aggregates`)."""
    return region_health_from_aggregates(summarise_metrics(frame, health_aggregates(config)), config, regions)


def region_health_from_aggregates(
    aggregates: pd.DataFrame, config: HeadroomConfig, regions: list[str] | None = None
) -> pd.DataFrame:
    """Per region: availability, error rate, p95, RPS (mean/peak), CPU, latest instances, burn and state,
    from an aggregates frame of `health_aggregates` (core.ports.RangeAggregate). A region warns when its mean CPU or memory
    over the range reaches its fleet's `cpu_target` / `memory_target` (`utilisation_warning` says which).

    Requests are weighted by time, so availability = total errors / total requests over the range (not a
    mean of per-step ratios).
    """
    targets = HealthTargets.from_config(config)
    codes = regions if regions is not None else list(config.region_codes)
    table = aggregates_table(aggregates)
    keys = {(a.metric, a.stat): a.key for a in health_aggregates(config)}

    def figure(code: str, metric: str, stat: str) -> float:
        key = keys[(metric, stat)]
        if code not in table.index or key not in table.columns:
            return float("nan")
        return float(table.at[code, key])

    rows = []
    for code in codes:
        region = config.region_by_code(code)
        total = figure(code, "requests_per_second", "sum")
        bad = figure(code, "errors_per_second", "sum")
        bad = 0.0 if not np.isfinite(bad) else bad
        error_rate = bad / total if np.isfinite(total) and total > 0 else float("nan")
        slow_share = figure(code, "latency_p95_ms", "share_above")
        avail_burn = error_rate / (1 - targets.availability_objective)
        latency_burn = slow_share / (1 - targets.latency_objective)
        cpu_mean = figure(code, "cpu_utilization", "mean")
        memory_mean = figure(code, "memory_utilization", "mean")
        fleet = config.fleet_for(code)
        cpu_target = fleet.cpu_target if fleet else CPU_WARN
        memory_target = fleet.memory_target if fleet else CPU_WARN
        states = [_state_from_burn(avail_burn), _state_from_burn(latency_burn)]
        hot = []
        if np.isfinite(cpu_mean) and cpu_mean >= cpu_target:
            hot.append(f"CPU {cpu_mean:.0%} ≥ target {cpu_target:.0%}")
        if np.isfinite(memory_mean) and memory_mean >= memory_target:
            hot.append(f"memory {memory_mean:.0%} ≥ target {memory_target:.0%}")
        if hot:
            states.append("warn")
        state = max(states, key=lambda s: STATE_ORDER[s])
        rows.append(
            {
                "region": code,
                "name": region.name,
                "lat": region.lat,
                "lon": region.lon,
                "availability": 1.0 - error_rate if np.isfinite(error_rate) else float("nan"),
                "error_rate": error_rate,
                "p95_ms": figure(code, "latency_p95_ms", "mean"),
                "slow_minutes_share": slow_share,
                "rps_mean": figure(code, "requests_per_second", "mean"),
                "rps_peak": figure(code, "requests_per_second", "max"),
                "cpu_mean": cpu_mean,
                "memory_mean": memory_mean,
                "cpu_target": cpu_target,
                "memory_target": memory_target,
                "utilisation_warning": "; ".join(hot),
                "instances": figure(code, "instances", "last"),
                "availability_burn": avail_burn,
                "latency_burn": latency_burn,
                "state": state,
            }
        )
    return pd.DataFrame(rows)
