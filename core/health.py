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
from core.timeseries import pivot_metric

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


def region_health(
    frame: pd.DataFrame, config: HeadroomConfig, regions: list[str] | None = None
) -> pd.DataFrame:
    """Per region: availability, error rate, p95, RPS (mean/peak), CPU and memory, latest instances, burn
    and state. A region warns when its mean CPU or memory over the range reaches its fleet's
    `cpu_target` / `memory_target` (`utilisation_warning` says which).

    Requests are weighted by time, so availability = total errors / total requests over the range (not a
    mean of per-step ratios).
    """
    targets = HealthTargets.from_config(config)
    codes = regions if regions is not None else list(config.region_codes)
    rps = pivot_metric(frame, "requests_per_second")
    err = pivot_metric(frame, "errors_per_second")
    p95 = pivot_metric(frame, "latency_p95_ms")
    cpu = pivot_metric(frame, "cpu_utilization")
    memory = pivot_metric(frame, "memory_utilization")
    inst = pivot_metric(frame, "instances")
    rows = []
    for code in codes:
        region = config.region_by_code(code)
        r = rps.get(code, pd.Series(dtype=float)).dropna()
        e = err.get(code, pd.Series(dtype=float)).reindex(r.index).fillna(0.0)
        total = float(r.sum())
        error_rate = float(e.sum() / total) if total > 0 else float("nan")
        lat = p95.get(code, pd.Series(dtype=float)).dropna()
        slow_share = float((lat > targets.latency_threshold_ms).mean()) if len(lat) else float("nan")
        avail_burn = error_rate / (1 - targets.availability_objective)
        latency_burn = slow_share / (1 - targets.latency_objective)
        cpu_mean = float(cpu[code].mean()) if code in cpu else float("nan")
        memory_mean = float(memory[code].mean()) if code in memory else float("nan")
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
        latest_instances = inst[code].dropna() if code in inst else pd.Series(dtype=float)
        rows.append(
            {
                "region": code,
                "name": region.name,
                "lat": region.lat,
                "lon": region.lon,
                "availability": 1.0 - error_rate if np.isfinite(error_rate) else float("nan"),
                "error_rate": error_rate,
                "p95_ms": float(lat.mean()) if len(lat) else float("nan"),
                "slow_minutes_share": slow_share,
                "rps_mean": float(r.mean()) if len(r) else float("nan"),
                "rps_peak": float(r.max()) if len(r) else float("nan"),
                "cpu_mean": cpu_mean,
                "memory_mean": memory_mean,
                "cpu_target": cpu_target,
                "memory_target": memory_target,
                "utilisation_warning": "; ".join(hot),
                "instances": float(latest_instances.iloc[-1]) if len(latest_instances) else float("nan"),
                "availability_burn": avail_burn,
                "latency_burn": latency_burn,
                "state": state,
            }
        )
    return pd.DataFrame(rows)
