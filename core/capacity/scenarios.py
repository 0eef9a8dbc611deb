"""Scenarios: a saved what-if (demand source and adjustments, fleet, policy), running and comparing
them, and the small helpers the Capacity page needs."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import pandas as pd

from core.capacity.demand import Spike, failover_route, scenario_demand
from core.capacity.fleet import Fleet, SimulationResult
from core.capacity.policies import (
    POLICY_LABELS,
    Policy,
    ScheduledAction,
    policy_from_dict,
    policy_to_dict,
)
from core.capacity.simulate import simulate
from core.config import HeadroomConfig


@dataclass(frozen=True)
class Scenario:
    """Demand source + adjustments, a fleet and a policy, for one region's fleet."""

    name: str
    region: str
    fleet: Fleet
    policy: Policy
    source: Literal["history", "forecast"] = "history"
    growth_pct: float = 0.0
    spikes: tuple[Spike, ...] = ()
    failed_region: str | None = None
    note: str = ""

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise ValueError("a scenario needs a name")
        if self.source not in ("history", "forecast"):
            raise ValueError(f"source must be 'history' or 'forecast', got {self.source!r}")
        if self.growth_pct <= -100:
            raise ValueError("growth_pct must be above -100")
        if self.failed_region == self.region:
            raise ValueError(f"{self.region} cannot be both the planned and the failed region")
        object.__setattr__(
            self, "spikes", tuple(s if isinstance(s, Spike) else Spike(**s) for s in self.spikes)
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "region": self.region,
            "fleet": asdict(self.fleet),
            "policy": policy_to_dict(self.policy),
            "source": self.source,
            "growth_pct": self.growth_pct,
            "spikes": [
                {"start": s.start.isoformat(), "duration_s": s.duration_s, "multiplier": s.multiplier}
                for s in self.spikes
            ],
            "failed_region": self.failed_region,
            "note": self.note,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Scenario:
        return cls(
            name=str(data["name"]),
            region=str(data["region"]),
            fleet=Fleet(**data["fleet"]),
            policy=policy_from_dict(data["policy"]),
            source=data.get("source", "history"),
            growth_pct=float(data.get("growth_pct", 0.0)),
            spikes=tuple(
                Spike(pd.Timestamp(s["start"]), s["duration_s"], s["multiplier"])
                for s in data.get("spikes", ())
            ),
            failed_region=data.get("failed_region") or None,
            note=str(data.get("note", "")),
        )

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)


def run_scenarios(
    scenarios: Sequence[Scenario],
    demand: Mapping[str, pd.DataFrame],
    weights: Mapping[str, float],
    config: HeadroomConfig | None = None,
) -> dict[str, SimulationResult]:
    """Simulate each scenario on its demand source ({"history": wide frame, "forecast": wide frame}).
    With `config`, a failed region's traffic follows its configured failover route (a standby takes
    all of it); without, the survivors share it by `weights`."""
    out: dict[str, SimulationResult] = {}
    for sc in scenarios:
        frame = demand.get(sc.source)
        if frame is None or frame.empty:
            raise ValueError(f"scenario {sc.name!r}: no {sc.source} demand available")
        shares = (
            failover_route(config, sc.failed_region).shares
            if config is not None and sc.failed_region
            else None
        )
        series = scenario_demand(
            frame, sc.region, weights, sc.growth_pct, sc.spikes, sc.failed_region, shares=shares
        )
        out[sc.name] = simulate(series, sc.fleet, sc.policy)
    return out


def compare_scenarios(results: Mapping[str, SimulationResult]) -> pd.DataFrame:
    """One row per scenario: the summary figures side by side."""
    rows = []
    for name, res in results.items():
        s = res.summary
        rows.append(
            {
                "scenario": name,
                "policy": POLICY_LABELS.get(type(res.policy).__name__, type(res.policy).__name__),
                "cost_usd": s.cost_usd,
                "minutes_unserved": s.minutes_unserved,
                "unserved_requests": s.unserved_requests,
                "peak_instances": s.peak_instances,
                "p95_utilization_pct": s.p95_utilization * 100,
                "mean_utilization_pct": s.mean_utilization * 100,
                "minutes_over_target": s.minutes_over_target,
                "scale_events": s.scale_events,
                "instance_hours": s.instance_hours,
                "overprovisioned_instance_hours": s.overprovisioned_instance_hours,
            }
        )
    return pd.DataFrame(rows)


# ---- helpers for the Capacity page --------------------------------------------------------------


def scheduled_actions_from_text(text: str) -> tuple[ScheduledAction, ...]:
    """One action per line: `CRON, MIN, MAX` (MIN or MAX may be left empty); blank lines and `#`
    comments are skipped. Errors name the line, e.g. 'line 2: cron ...: expected 5 fields ...'."""
    actions: list[ScheduledAction] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = [p.strip() for p in line.split(",")]
        if len(parts) != 3:
            raise ValueError(f"line {number}: expected 'CRON, MIN, MAX', got {raw.strip()!r}")
        try:
            lo = int(parts[1]) if parts[1] else None
            hi = int(parts[2]) if parts[2] else None
            actions.append(ScheduledAction(parts[0], lo, hi))
        except ValueError as exc:
            raise ValueError(f"line {number}: {exc}") from None
    return tuple(actions)


def action_target_for(config: HeadroomConfig, fleet_name: str) -> str:
    """The configured action target that scales this fleet, or the fleet's own name if none does."""
    return next((t.name for t in config.target if t.fleet == fleet_name), fleet_name)


def recommended_desired(result: SimulationResult, source: Literal["history", "forecast"]) -> int:
    """The count a scenario runs at 'now': the end of a history window, the start of a forecast."""
    column = result.frame["desired"]
    return int(column.iloc[-1] if source == "history" else column.iloc[0])
