"""What other pages suggest (the proposal prefill) and what a scaling change is predicted to do
(utilisation and monthly cost, replayed through core.capacity when it is available)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

from core.actions.types import KIND_OF_TARGET, Draft, Prediction
from core.config import ActionTarget, HeadroomConfig
from core.ports import TargetState
from core.units import HOURS_PER_MONTH


def resolve_prefill(cfg: HeadroomConfig, prefill: Mapping[str, Any] | None) -> Draft:
    """Turn what the Capacity or Triage page suggested into a draft for the proposal form.

    Keys: target, desired, min_instances, max_instances, kind ("scale" | "failover"), region, reason.
    Unknown targets or regions are dropped with a note rather than guessed.
    """
    if not prefill:
        return Draft()
    notes: list[str] = []
    targets = {t.name: t for t in cfg.target}
    kind = str(prefill.get("kind") or "scale")
    region = str(prefill.get("region") or "")
    name = str(prefill.get("target") or "")
    target: ActionTarget | None = targets.get(name)
    if name and target is None:
        notes.append(f"suggested target {name!r} is not configured; pick one below")
    if target is None and kind == "failover" and region:
        target = next(
            (t for t in cfg.target if t.kind == "route53_failover" and t.params.get("primary") == region),
            None,
        ) or next((t for t in cfg.target if t.kind == "route53_weighted"), None)
        if target is None:
            notes.append(f"no Route 53 failover or weighted target is configured for {region}")
    if target is None and kind != "failover" and region:
        target = next(
            (t for t in cfg.target if t.region == region and KIND_OF_TARGET[t.kind] == "scale"), None
        )
        if target is None:
            notes.append(f"no scaling target is configured in {region}")

    def as_int(key: str) -> int | None:
        value = prefill.get(key)
        if value is None or value == "":
            return None
        try:
            return int(math.ceil(float(value)))
        except (TypeError, ValueError):
            notes.append(f"ignored {key}={value!r} (not a number)")
            return None

    desired, lo, hi = as_int("desired"), as_int("min_instances"), as_int("max_instances")
    drain = promote = None
    if target is not None and target.kind == "app_autoscaling" and desired is not None and lo is None:
        # Application Auto Scaling has no desired count: raising the floor guarantees the capacity
        lo, desired = desired, None
        notes.append(
            f"{target.name} is scaled by Application Auto Scaling: the suggested {lo} instances "
            "became its minimum"
        )
    if target is not None and target.kind == "ecs_service" and (lo is not None or hi is not None):
        notes.append(f"{target.name} is an ECS service without min/max of its own: min/max were left out")
        lo = hi = None
    if target is not None and target.kind == "route53_weighted" and region:
        drain = region
    if target is not None and target.kind == "route53_failover":
        if region and region == target.params.get("primary"):
            promote = target.params.get("secondary") or None
        elif region:
            promote = region
    return Draft(
        target=target.name if target else None,
        desired=desired,
        min_instances=lo,
        max_instances=hi,
        drain_region=drain,
        promote_region=promote,
        reason=str(prefill.get("reason") or ""),
        notes=tuple(notes),
    )


# ---- prediction (core.capacity, optional) -------------------------------------------------------
def predict(
    cfg: HeadroomConfig,
    target: ActionTarget,
    current: TargetState | None,
    after: TargetState | None,
    demand: pd.Series | None,
) -> tuple[Prediction | None, str]:
    """Predicted utilisation and monthly cost of holding the fleet at its count before and after a scaling
    change, replaying recent demand (req/s, UTC index) through core.capacity's simulator when that
    module exists; otherwise (None, a sentence saying why there is no prediction)."""
    if KIND_OF_TARGET.get(target.kind) != "scale":
        return None, "Utilisation and cost predictions apply to scaling changes."
    try:
        from core import capacity  # lazy: written on another branch, may be absent
    except ImportError:
        return None, "Predicted utilisation and cost need core.capacity, which is not in this build."
    fleet = next((f for f in cfg.fleet if f.name == target.fleet), None)
    if fleet is None:
        return None, f"Target {target.name} names no fleet, so there is nothing to predict from."
    if current is None or after is None or current.desired is None or after.desired is None:
        return None, "The target's instance count is unknown, so utilisation cannot be predicted."
    if demand is None or demand.dropna().empty:
        return None, "No recent demand for this region, so utilisation cannot be predicted."
    try:
        before_sim = _held_at(capacity, fleet, current.desired, demand)
        after_sim = _held_at(capacity, fleet, after.desired, demand)
    except Exception as exc:  # the planner must never block the guarded path
        return None, f"core.capacity could not predict this change ({type(exc).__name__}: {exc})."
    hours = max(len(demand) * _step_hours(demand), 1e-9)
    per_month = HOURS_PER_MONTH / hours
    span = f"{demand.index.min():%Y-%m-%d %H:%M} to {demand.index.max():%Y-%m-%d %H:%M} UTC"
    note = (
        f"Replaying the demand of {span} with the fleet held at {current.desired} and at {after.desired} "
        f"instances (p95 utilisation); after the change {after_sim.minutes_unserved:.0f} min of that window "
        "would have had unserved demand."
    )
    return (
        Prediction(
            utilisation_before=before_sim.p95_utilization,
            utilisation_after=after_sim.p95_utilization,
            cost_per_month_before_usd=before_sim.cost_usd * per_month,
            cost_per_month_after_usd=after_sim.cost_usd * per_month,
            note=note,
        ),
        "",
    )


def _step_hours(demand: pd.Series) -> float:
    if len(demand) < 2:
        return 1 / 60
    return float(pd.Series(demand.index).diff().median().total_seconds()) / 3600


def _held_at(capacity: Any, fleet: Any, count: int, demand: pd.Series) -> Any:
    """core/capacity's simulation of this fleet pinned at `count` (min = max = count) over `demand`."""
    sim_fleet = capacity.Fleet(
        capacity_per_instance=float(fleet.capacity_per_instance),
        min_instances=int(count),
        max_instances=max(int(count), 1),
        warmup_s=0.0,
        price_per_hour=float(fleet.price_per_hour),
    )
    policy = capacity.policy_for_fleet(fleet)
    return capacity.simulate(demand, sim_fleet, policy, start_instances=int(count)).summary


def scale_out_step(
    current: int, utilisation: float, target_utilisation: float, target: ActionTarget
) -> tuple[int, str]:
    """The desired count a "Scale out" quick action proposes: the Kubernetes HPA rule (desired =
    ceil(current x utilisation / target)), at least one more instance, within the target's guardrails
    (max_step, max_step_factor, max_instances) so the proposal is one that can pass them. Returns the
    count and a sentence saying how it was found (a prefill of 7 -> 7 beside a predicted 100% proposed
    nothing; docs/ARCHITECTURE.md, "Reference semantics for the planner")."""
    wanted = max(math.ceil(current * utilisation / target_utilisation), current + 1)
    largest = min(current + target.max_step, math.floor(max(current, 1) * target.max_step_factor))
    desired = max(min(wanted, largest, target.max_instances), current)
    note = (
        f"Suggested {desired} instances: {current} at {utilisation:.0%} p95 utilisation needs "
        f"ceil({current} x {utilisation:.2f} / {target_utilisation:.2f}) = {wanted} for the "
        f"{target_utilisation:.0%} target"
    )
    if desired < wanted:
        note += (
            f", limited to {desired} by the target's guardrails (largest step, max {target.max_instances})"
        )
    return desired, note + "."


def scale_out_suggestion(
    cfg: HeadroomConfig, target: ActionTarget, current: TargetState | None, demand: pd.Series | None
) -> tuple[int | None, str]:
    """The scale-out step for `target` from its own dry run's predicted utilisation at the current count
    (None and a reason when there is no prediction)."""
    prediction, why = predict(cfg, target, current, current, demand)
    if (
        prediction is None
        or prediction.utilisation_before is None
        or current is None
        or current.desired is None
    ):
        return None, why or "No utilisation prediction, so no step is suggested: enter one."
    fleet = next((f for f in cfg.fleet if f.name == target.fleet), None)
    target_utilisation = fleet.target_utilization if fleet is not None else 0.6
    return scale_out_step(current.desired, prediction.utilisation_before, target_utilisation, target)
