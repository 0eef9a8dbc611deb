"""Scaling policy types (AWS target tracking and step scaling, Kubernetes HPA, scheduled actions,
predictive scaling), their validation, and their mapping to and from the config file and JSON.

Each class documents the real semantics it follows and where it simplifies; the decisions themselves are
made by the per-policy controllers in core/capacity/simulate.py.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Literal

import numpy as np
import pandas as pd

from core.capacity._shared import _EPS
from core.capacity.cron import _parse_cron
from core.config import FleetConfig

# metric - threshold is rounded to 1e-9 before step bounds are compared (0.7 - 0.6 is
# 0.09999999999999998 in floats, which would otherwise miss a step starting at 0.1)
_GRID = 1e9
DEFAULT_TARGET_UTILIZATION = 0.6


def _relative(value: float, threshold: float) -> float:
    return math.floor((value - threshold) * _GRID + 0.5) / _GRID


@dataclass(frozen=True)
class TargetTracking:
    """AWS (Application) Auto Scaling target tracking on average CPU utilisation.

    AWS creates two alarms: high when `scale_out_datapoints` one-minute datapoints in a row are above
    the target, low when `scale_in_datapoints` in a row are below `scale_in_ratio` x target. While an
    alarm is in ALARM the policy is invoked every period and proposes ceil(desired x metric / target),
    the metric being the average over in-service instances (warming ones report nothing yet).
    Scale-out cooldown: the capacity added by the initiating scale-out counts towards the next one, so a
    second scale-out inside the cooldown only happens if ceil(desired_before x metric / target) is
    larger than the current desired count (it does not restart the cooldown). Scale-in cooldown:
    scale-in is blocked until it expires; a scale-out cancels it. A decision `cooldown` seconds or more
    after the activity is outside it. AWS does not publish its exact formula; proportional scaling is its
    documented behaviour.
    """

    target_utilization: float = DEFAULT_TARGET_UTILIZATION
    scale_out_cooldown_s: float = 300.0
    scale_in_cooldown_s: float = 300.0
    disable_scale_in: bool = False
    scale_out_datapoints: int = 3
    scale_in_datapoints: int = 15
    scale_in_ratio: float = 0.9
    period_s: float = 60.0

    def __post_init__(self) -> None:
        _check_fraction("target_utilization", self.target_utilization)
        _check_non_negative(self, ("scale_out_cooldown_s", "scale_in_cooldown_s"))
        if self.scale_out_datapoints < 1 or self.scale_in_datapoints < 1 or self.period_s <= 0:
            raise ValueError("datapoints must be >= 1 and period_s > 0")


AdjustmentType = Literal["ChangeInCapacity", "PercentChangeInCapacity", "ExactCapacity"]


@dataclass(frozen=True)
class StepAdjustment:
    """One step: metric interval relative to the alarm threshold (None = unbounded) -> adjustment.

    AWS bounds: above the threshold the lower bound is inclusive and the upper exclusive; below the
    threshold the lower bound is exclusive and the upper inclusive."""

    lower: float | None
    upper: float | None
    adjustment: float

    def __post_init__(self) -> None:
        if self.lower is not None and self.upper is not None and self.lower >= self.upper:
            raise ValueError(f"step lower bound {self.lower} must be below its upper bound {self.upper}")

    @property
    def above_threshold(self) -> bool:
        return self.lower is not None and self.lower >= 0 or self.upper is None and self.lower is None


def _default_steps() -> tuple[StepAdjustment, ...]:
    # around a 70% CPU alarm: +1 up to 80%, +2 up to 90%, +4 beyond; -1 at or below 40%
    return (
        StepAdjustment(None, -0.3, -1),
        StepAdjustment(0.0, 0.1, 1),
        StepAdjustment(0.1, 0.2, 2),
        StepAdjustment(0.2, None, 4),
    )


@dataclass(frozen=True)
class StepScaling:
    """AWS step scaling: an alarm on `metric` against `threshold`, step adjustments by breach size.

    One object stands for AWS's usual pair of step policies (scale-out steps above the threshold,
    scale-in steps below it) sharing one cooldown, so gaps between steps mean "no action" (AWS requires
    each single policy to be contiguous). The alarm fires after `evaluation_periods` breaching datapoints
    in a row and keeps invoking the policy every period while in ALARM. Cooldown (default 300 s, AWS's
    default): during a scale-out cooldown the previous increase counts as part of capacity (only a larger
    step adds the difference, without restarting the cooldown) and scale-in is blocked; a scale-out ends
    a scale-in cooldown at once and starts its own. Bounds: above the threshold lower-inclusive and
    upper-exclusive, below it the reverse (AWS). PercentChangeInCapacity rounds towards zero but moves at least 1, and at least
    `min_adjustment_magnitude` when set.
    """

    steps: tuple[StepAdjustment, ...] = field(default_factory=_default_steps)
    threshold: float = 0.7
    metric: Literal["utilization", "queue_depth"] = "utilization"
    adjustment_type: AdjustmentType = "ChangeInCapacity"
    min_adjustment_magnitude: int | None = None
    cooldown_s: float = 300.0
    evaluation_periods: int = 1
    period_s: float = 60.0

    def __post_init__(self) -> None:
        if not self.steps:
            raise ValueError("step scaling needs at least one step adjustment")
        steps = tuple(s if isinstance(s, StepAdjustment) else StepAdjustment(*s) for s in self.steps)
        object.__setattr__(self, "steps", steps)
        for s in steps:
            spans = s.lower is not None and s.lower < 0 and (s.upper is None or s.upper > 0)
            spans |= s.upper is not None and s.upper > 0 and s.lower is None
            if spans:
                raise ValueError(f"a step must lie on one side of the threshold, got [{s.lower}, {s.upper}]")
        ordered = sorted(steps, key=lambda s: -math.inf if s.lower is None else s.lower)
        for a, b in zip(ordered, ordered[1:], strict=False):
            if a.upper is None or (b.lower is not None and b.lower < a.upper):
                raise ValueError(
                    f"step adjustments overlap: [{a.lower}, {a.upper}] and [{b.lower}, {b.upper}]"
                )
        if self.adjustment_type not in ("ChangeInCapacity", "PercentChangeInCapacity", "ExactCapacity"):
            raise ValueError(f"unknown adjustment_type {self.adjustment_type!r}")
        if self.metric not in ("utilization", "queue_depth"):
            raise ValueError(f"metric must be 'utilization' or 'queue_depth', got {self.metric!r}")
        if self.evaluation_periods < 1 or self.period_s <= 0 or self.cooldown_s < 0:
            raise ValueError("evaluation_periods must be >= 1, period_s > 0 and cooldown_s >= 0")

    def step_for(self, value: float) -> StepAdjustment | None:
        """The step whose interval holds `value` (the raw metric), or None (no breach)."""
        rel = _relative(value, self.threshold)
        for s in self.steps:
            if _in_step(np.array([rel]), s)[0]:
                return s
        return None


def _in_step(rel: np.ndarray, s: StepAdjustment) -> np.ndarray:
    lo = -np.inf if s.lower is None else s.lower
    hi = np.inf if s.upper is None else s.upper
    if s.above_threshold:
        return (rel >= lo) & (rel < hi)
    return (rel > lo) & (rel <= hi)


@dataclass(frozen=True)
class HPAScalingPolicy:
    """One Kubernetes HPA behavior policy: at most `value` Pods or Percent change per `period_s`."""

    type: Literal["Pods", "Percent"]
    value: int
    period_s: float

    def __post_init__(self) -> None:
        if self.type not in ("Pods", "Percent") or self.value <= 0 or self.period_s <= 0:
            raise ValueError(f"invalid HPA policy {self}")


def _hpa_default_up() -> tuple[HPAScalingPolicy, ...]:
    return (HPAScalingPolicy("Pods", 4, 15), HPAScalingPolicy("Percent", 100, 15))


def _hpa_default_down() -> tuple[HPAScalingPolicy, ...]:
    return (HPAScalingPolicy("Percent", 100, 15),)


@dataclass(frozen=True)
class KubernetesHPA:
    """Kubernetes HorizontalPodAutoscaler (autoscaling/v2) on CPU utilisation, with its defaults.

    Each sync (15 s): desired = ceil(ready_pods x utilisation / target), unchanged within `tolerance`;
    pods still starting count as 0% when that would scale up (so scale-up waits for them). Stabilisation:
    scale down to the highest recommendation of the last `scale_down_stabilization_s`, scale up to the
    lowest of the last `scale_up_stabilization_s`. Behavior policies limit the change per period relative
    to the replica count at the start of the period; select_policy Max takes the largest allowed change,
    Min the smallest, Disabled forbids that direction. The simulation evaluates once per step with that
    step's metric and runs the syncs that fall in the step (4 per minute by default).
    """

    target_utilization: float = 0.8  # kubectl autoscale's default CPU target
    tolerance: float = 0.1
    sync_period_s: float = 15.0
    scale_down_stabilization_s: float = 300.0
    scale_up_stabilization_s: float = 0.0
    scale_up_policies: tuple[HPAScalingPolicy, ...] = field(default_factory=_hpa_default_up)
    scale_up_select: Literal["Max", "Min", "Disabled"] = "Max"
    scale_down_policies: tuple[HPAScalingPolicy, ...] = field(default_factory=_hpa_default_down)
    scale_down_select: Literal["Max", "Min", "Disabled"] = "Max"

    def __post_init__(self) -> None:
        _check_fraction("target_utilization", self.target_utilization)
        if self.tolerance < 0 or self.sync_period_s <= 0:
            raise ValueError("tolerance must be >= 0 and sync_period_s > 0")
        for name in ("scale_up_policies", "scale_down_policies"):
            value = tuple(
                p if isinstance(p, HPAScalingPolicy) else HPAScalingPolicy(*p) for p in getattr(self, name)
            )
            object.__setattr__(self, name, value)
        for name in ("scale_up_select", "scale_down_select"):
            if getattr(self, name) not in ("Max", "Min", "Disabled"):
                raise ValueError(f"{name} must be Max, Min or Disabled")


def hpa_desired(current_replicas: int, current_metric: float, target: float, tolerance: float = 0.1) -> int:
    """The HPA's one-step rule: ceil(current x metric / target), or current within the tolerance."""
    if target <= 0:
        raise ValueError("target must be > 0")
    ratio = current_metric / target
    if abs(ratio - 1.0) <= tolerance:
        return int(current_replicas)
    return int(math.ceil(current_replicas * ratio - _EPS))


KubernetesHPA.hpa_desired = staticmethod(hpa_desired)  # type: ignore[attr-defined]  # also KubernetesHPA.hpa_desired(...)


@dataclass(frozen=True)
class ScheduledAction:
    """At each time matching `cron`, set the fleet's min and/or max (AWS scheduled action).

    `cron` is five fields (minute hour day-of-month month day-of-week) or AWS's cron(...) with six
    fields (the year must be *). Names like MON-FRI and JAN are accepted; ? means *."""

    cron: str
    min_instances: int | None = None
    max_instances: int | None = None
    name: str = ""

    def __post_init__(self) -> None:
        _parse_cron(self.cron)  # fail early with a readable message
        if self.min_instances is None and self.max_instances is None:
            raise ValueError(f"scheduled action {self.cron!r} sets neither min nor max")
        if (
            self.min_instances is not None
            and self.max_instances is not None
            and self.min_instances > self.max_instances
        ):
            raise ValueError(f"scheduled action {self.cron!r}: min > max")


@dataclass(frozen=True)
class Scheduled:
    """Scheduled actions change min/max at cron times (in `timezone`); `policy` scales within them.

    With policy None the desired count only moves when a new min or max forces it (like an ECS service
    with scheduled actions and no scaling policy). Scheduled bounds are kept within the fleet's own
    min/max, which act as hard limits."""

    actions: tuple[ScheduledAction, ...] = ()
    timezone: str = "UTC"
    policy: TargetTracking | StepScaling | KubernetesHPA | None = None

    def __post_init__(self) -> None:
        object.__setattr__(
            self,
            "actions",
            tuple(a if isinstance(a, ScheduledAction) else ScheduledAction(**a) for a in self.actions),
        )
        try:
            pd.Timestamp("2026-01-01", tz=self.timezone)
        except Exception as exc:
            raise ValueError(f"unknown timezone {self.timezone!r}") from exc


Forecaster = Callable[[pd.Series, int], pd.Series]


@dataclass(frozen=True)
class Predictive:
    """Predictive scaling (AWS-like): a forecast of demand sets the minimum capacity ahead of time;
    target tracking keeps reacting above that floor.

    Every `forecast_every_s` the hourly demand seen so far (the last `history_s`, at least
    `min_history_s`) is forecast `horizon_s` ahead; each hour gets ceil(forecast x (1 + buffer) /
    (capacity x target)) instances, in place `lead_time_s` before the hour starts (AWS's
    SchedulingBufferTime, to cover warm-up). The forecast never raises max (HonorMaxCapacity).
    `forecaster(history, horizon_steps) -> mean forecast series`; None uses core.forecast when it is
    importable and a seasonal-naive forecast otherwise.
    """

    target_utilization: float = DEFAULT_TARGET_UTILIZATION
    buffer: float = 0.1
    lead_time_s: float = 300.0
    forecast_every_s: float = 6 * 3600.0
    horizon_s: float = 48 * 3600.0
    history_s: float = 14 * 86400.0
    min_history_s: float = 86400.0
    season_lengths: tuple[int, ...] | None = None
    scale_out_cooldown_s: float = 300.0
    scale_in_cooldown_s: float = 300.0
    forecaster: Forecaster | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        _check_fraction("target_utilization", self.target_utilization)
        _check_non_negative(self, ("buffer", "lead_time_s", "scale_out_cooldown_s", "scale_in_cooldown_s"))
        if self.forecast_every_s <= 0 or self.horizon_s < self.forecast_every_s:
            raise ValueError("forecast_every_s must be > 0 and horizon_s >= forecast_every_s")

    def tracking(self) -> TargetTracking:
        return TargetTracking(
            target_utilization=self.target_utilization,
            scale_out_cooldown_s=self.scale_out_cooldown_s,
            scale_in_cooldown_s=self.scale_in_cooldown_s,
        )


@dataclass(frozen=True)
class BacklogTracking:
    """AWS's recommended scaling for queue workers: target tracking on backlog per instance (queue depth
    / in-service instances, a custom metric), keeping it near `backlog_per_instance` (the backlog one
    instance can clear within the acceptable latency: latency x jobs per second per instance).

    Desired = ceil(queue depth / backlog_per_instance), after `scale_out_datapoints` high datapoints in a
    row (3 one-minute datapoints, as AWS's target-tracking high alarm) or `scale_in_datapoints` low ones
    (below `scale_in_ratio` x target; 15, AWS's low alarm). Cooldowns as AWS target tracking: within a
    scale-out cooldown only a larger scale-out acts; scale-in waits for its cooldown. Unlike CPU tracking
    it scales out from zero instances (the queue reports backlog without any instance running).
    Simplification: the metric is the backlog at the end of each step (no CloudWatch averaging)."""

    backlog_per_instance: float
    scale_out_cooldown_s: float = 300.0
    scale_in_cooldown_s: float = 300.0
    scale_out_datapoints: int = 3
    scale_in_datapoints: int = 15
    scale_in_ratio: float = 0.9
    period_s: float = 60.0

    def __post_init__(self) -> None:
        if not (self.backlog_per_instance > 0 and math.isfinite(self.backlog_per_instance)):
            raise ValueError(f"backlog_per_instance must be > 0, got {self.backlog_per_instance}")
        if self.scale_out_datapoints < 1 or self.scale_in_datapoints < 1 or self.period_s <= 0:
            raise ValueError("datapoints must be >= 1 and period_s > 0")
        if self.scale_out_cooldown_s < 0 or self.scale_in_cooldown_s < 0:
            raise ValueError("cooldowns must be >= 0")
        _check_fraction("scale_in_ratio", self.scale_in_ratio)


Policy = TargetTracking | StepScaling | KubernetesHPA | Scheduled | Predictive | BacklogTracking
POLICY_TYPES: dict[str, type] = {
    "BacklogTracking": BacklogTracking,
    "TargetTracking": TargetTracking,
    "StepScaling": StepScaling,
    "KubernetesHPA": KubernetesHPA,
    "Scheduled": Scheduled,
    "Predictive": Predictive,
}
POLICY_LABELS: dict[str, str] = {
    "TargetTracking": "Target tracking (AWS)",
    "StepScaling": "Step scaling (AWS)",
    "KubernetesHPA": "Kubernetes HPA",
    "Scheduled": "Scheduled",
    "Predictive": "Predictive + target tracking",
}


def _check_fraction(name: str, value: float) -> None:
    if not 0 < value <= 1:
        raise ValueError(f"{name} must be in (0, 1], got {value}")


def _check_non_negative(obj: Any, names: Iterable[str]) -> None:
    for n in names:
        if getattr(obj, n) < 0:
            raise ValueError(f"{n} must be >= 0, got {getattr(obj, n)}")


def reference_target(policy: Policy) -> float:
    """The utilisation a policy aims at (for 'minutes over target' and over-provisioning)."""
    if isinstance(policy, TargetTracking | KubernetesHPA | Predictive):
        return policy.target_utilization
    if isinstance(policy, Scheduled) and policy.policy is not None:
        return reference_target(policy.policy)
    if isinstance(policy, StepScaling) and policy.metric == "utilization" and 0 < policy.threshold <= 1:
        return policy.threshold
    return 1.0


def uses_queue(policy: Policy) -> bool:
    if isinstance(policy, BacklogTracking):
        return True
    if isinstance(policy, StepScaling):
        return policy.metric == "queue_depth"
    return isinstance(policy, Scheduled) and policy.policy is not None and uses_queue(policy.policy)


# ---- policies from the config, and (de)serialisation -------------------------------------------


def policy_for_fleet(fleet: FleetConfig) -> Policy:
    """The policy a configured fleet names, with its target utilisation and default parameters."""
    t = fleet.target_utilization
    if fleet.policy == "step_scaling":
        return StepScaling(threshold=t)
    if fleet.policy == "kubernetes_hpa":
        return KubernetesHPA(target_utilization=t)
    if fleet.policy == "scheduled":
        return Scheduled(policy=TargetTracking(target_utilization=t))
    if fleet.policy == "predictive":
        return Predictive(target_utilization=t)
    return TargetTracking(target_utilization=t)


def _plain(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if hasattr(value, "__dataclass_fields__"):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value) if f.name != "forecaster"}
    return value


def policy_to_dict(policy: Policy) -> dict[str, Any]:
    """A JSON-able description: {"type": "TargetTracking", ...fields}. Forecaster callables are dropped."""
    body = _plain(policy)
    if isinstance(policy, Scheduled) and policy.policy is not None:
        body["policy"] = policy_to_dict(policy.policy)
    return {"type": type(policy).__name__, **body}


def policy_from_dict(data: Mapping[str, Any]) -> Policy:
    data = dict(data)
    kind = data.pop("type", None)
    if kind not in POLICY_TYPES:
        raise ValueError(f"unknown policy type {kind!r} (known: {', '.join(POLICY_TYPES)})")
    if kind == "StepScaling" and "steps" in data:
        data["steps"] = tuple(
            StepAdjustment(**s) if isinstance(s, Mapping) else StepAdjustment(*s) for s in data["steps"]
        )
    if kind == "KubernetesHPA":
        for key in ("scale_up_policies", "scale_down_policies"):
            if key in data:
                data[key] = tuple(
                    HPAScalingPolicy(**p) if isinstance(p, Mapping) else HPAScalingPolicy(*p)
                    for p in data[key]
                )
    if kind == "Scheduled":
        data["actions"] = tuple(ScheduledAction(**a) for a in data.get("actions", ()))
        if data.get("policy") is not None:
            data["policy"] = policy_from_dict(data["policy"])
    if kind == "Predictive" and data.get("season_lengths") is not None:
        data["season_lengths"] = tuple(data["season_lengths"])
    known = {f.name for f in fields(POLICY_TYPES[kind])}
    unknown = set(data) - known
    if unknown:
        raise ValueError(f"{kind}: unknown parameter(s) {', '.join(sorted(unknown))}")
    return POLICY_TYPES[kind](**data)


# ---- a step-adjustment table from the Capacity page's editor ------------------------------------------
STEP_TABLE_COLUMNS = ("lower", "upper", "adjustment")


def step_scaling_from_table(
    rows: Sequence[Mapping[str, Any]],
    *,
    threshold: float,
    metric: Literal["utilization", "queue_depth"],
    adjustment_type: AdjustmentType,
    cooldown_s: float = 300.0,
) -> StepScaling:
    """The AWS step-adjustment table (lower bound, upper bound, adjustment; bounds relative to the alarm
    threshold, empty = unbounded) as a StepScaling, validated with messages that name the row (1-based):
    a missing or non-finite adjustment, a lower bound not below its upper bound, overlapping rows, and a
    gap between scale-out rows (AWS rejects a policy whose steps do not cover its side contiguously:
    the first scale-out step must start at 0 and only the last may be open-ended), an ExactCapacity or
    negative-capacity value below 0."""
    steps: list[tuple[int, StepAdjustment]] = []
    problems: list[str] = []
    for i, row in enumerate(rows, start=1):
        lower, upper, adj = (_cell(row.get(k)) for k in STEP_TABLE_COLUMNS)
        if lower is None and upper is None and adj is None:
            continue  # an empty editor row
        if adj is None:
            problems.append(f"row {i}: the adjustment is missing")
            continue
        if lower is not None and upper is not None and lower >= upper:
            problems.append(f"row {i}: lower bound {lower:g} must be below the upper bound {upper:g}")
            continue
        if adjustment_type == "ExactCapacity" and adj < 0:
            problems.append(f"row {i}: ExactCapacity needs a capacity >= 0, got {adj:g}")
            continue
        if (lower is not None and lower < 0 and (upper is None or upper > 0)) or (
            lower is None and upper is not None and upper > 0
        ):
            problems.append(
                f"row {i}: [{_fmt(lower)}, {_fmt(upper, True)}) spans the threshold; split it at 0"
            )
            continue
        steps.append((i, StepAdjustment(lower, upper, adj)))
    if not steps and not problems:
        problems.append("the table has no step")
    ordered = sorted(steps, key=lambda t: -math.inf if t[1].lower is None else t[1].lower)
    for (ia, a), (ib, b) in zip(ordered, ordered[1:], strict=False):
        a_hi = math.inf if a.upper is None else a.upper
        b_lo = -math.inf if b.lower is None else b.lower
        if b_lo < a_hi:
            problems.append(
                f"rows {ia} and {ib} overlap: [{_fmt(a.lower)}, {_fmt(a.upper, True)}) and [{_fmt(b.lower)}, {_fmt(b.upper, True)})"
            )
        elif b_lo > a_hi and a.above_threshold and b.above_threshold:
            problems.append(
                f"gap between rows {ia} and {ib}: nothing covers [{_fmt(a.upper, True)}, {_fmt(b.lower)})"
            )
    above = [(i, s) for i, s in ordered if s.above_threshold]
    if above and not problems:
        first_i, first = above[0]
        if first.lower not in (None, 0, 0.0):
            problems.append(
                f"gap before row {first_i}: scale-out steps must start at 0 (the threshold), got {first.lower:g}"
            )
        last_i, last = above[-1]
        if last.upper is not None:
            problems.append(f"row {last_i}: the last scale-out step needs an empty upper bound (no limit)")
    if problems:
        raise ValueError("; ".join(problems))
    return StepScaling(
        steps=tuple(s for _, s in steps),
        threshold=threshold,
        metric=metric,
        adjustment_type=adjustment_type,
        cooldown_s=cooldown_s,
    )


def _cell(value: Any) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    number = float(value)
    if math.isnan(number):
        return None
    if math.isinf(number):
        raise ValueError(f"a step bound or adjustment must be finite, got {value!r}")
    return number


def _fmt(bound: float | None, upper: bool = False) -> str:
    if bound is None:
        return "+inf" if upper else "-inf"
    return f"{bound:g}"
