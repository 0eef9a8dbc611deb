"""What-if capacity planning: simulate scaling policies against demand, compare scenarios, and check
whether the other regions survive the loss of one (N+1).

Time model (one step = the demand's sampling interval `dt`, 60 s for minute data):
- `desired[t]` is the desired count during step t. A policy decides at the end of step t, after seeing
  that step's metric datapoint, so a decision takes effect from step t+1.
- An instance launched at step s serves from step s + w, w = ceil(warmup_s / dt). A scale-in removes
  instances still warming up before serving ones. Both together give in_service[t] = min(desired[t-w..t]).
- Billing counts desired instances: warming instances cost money too.
- Request mode: served = min(demand, in_service x capacity); the rest is unserved (dropped or timed out).
  Queue mode (step scaling on queue depth): demand is the arrival rate, the backlog carries over (Lindley
  recursion), served is the processing rate and unserved the arrivals that had to wait in the queue.
- Utilisation = served / (in_service x capacity), capped at 1: a saturated fleet reports 100%, not its
  true overload, which is why reactive policies can only scale out by a bounded factor per decision.

Policies follow the real semantics (DESIGN.md, "Reference semantics for the planner"); each class says
where it simplifies. Speed: a year of minutes takes 0.2-0.3 s per policy (bench/capacity_speed.py); see
the engine section for why the decision loop is plain Python and what is numpy.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import timedelta
from typing import Any, Literal

import numpy as np
import pandas as pd

from core.config import FleetConfig, HeadroomConfig

# ceil(x - _EPS): float noise (10 x 0.66 / 0.6 = 11.000000000000002) must not add an instance
_EPS = 1e-9
# metric - threshold is rounded to 1e-9 before step bounds are compared (0.7 - 0.6 is
# 0.09999999999999998 in floats, which would otherwise miss a step starting at 0.1)
_GRID = 1e9
DEFAULT_TARGET_UTILIZATION = 0.6


def _relative(value: float, threshold: float) -> float:
    return math.floor((value - threshold) * _GRID + 0.5) / _GRID


# ---- fleet ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fleet:
    """One scalable fleet: what an instance serves, the bounds, warm-up and price."""

    capacity_per_instance: float  # req/s (or messages/s for queues) one instance serves at 100% CPU
    min_instances: int
    max_instances: int
    warmup_s: float = 0  # seconds from launch until a new instance serves traffic
    price_per_hour: float = 0.0  # USD per instance-hour

    def __post_init__(self) -> None:
        if not self.capacity_per_instance > 0:
            raise ValueError(f"capacity_per_instance must be > 0, got {self.capacity_per_instance}")
        if self.min_instances < 0:
            raise ValueError(f"min_instances must be >= 0, got {self.min_instances}")
        if self.max_instances < max(1, self.min_instances):
            raise ValueError(
                f"max_instances ({self.max_instances}) must be >= 1 and >= min_instances ({self.min_instances})"
            )
        if self.warmup_s < 0 or self.price_per_hour < 0:
            raise ValueError("warmup_s and price_per_hour must be >= 0")

    @classmethod
    def from_config(cls, fleet: FleetConfig) -> Fleet:
        """The simulator's view of a configured fleet ([[fleet]] in the config file)."""
        return cls(
            capacity_per_instance=float(fleet.capacity_per_instance),
            min_instances=int(fleet.min_instances),
            max_instances=int(fleet.max_instances),
            warmup_s=float(fleet.warmup_s),
            price_per_hour=float(fleet.price_per_hour),
        )


# ---- policies ------------------------------------------------------------------------------------


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


Policy = TargetTracking | StepScaling | KubernetesHPA | Scheduled | Predictive
POLICY_TYPES: dict[str, type] = {
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
    if isinstance(policy, StepScaling):
        return policy.metric == "queue_depth"
    return isinstance(policy, Scheduled) and policy.policy is not None and uses_queue(policy.policy)


# ---- cron ----------------------------------------------------------------------------------------
_MONTHS = {
    m: i
    for i, m in enumerate(
        ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"], 1
    )
}
_DAYS = {d: i for i, d in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"])}
_CRON_FIELDS = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, _MONTHS),
)


def _cron_field(text: str, name: str, lo: int, hi: int, names: Mapping[str, int]) -> frozenset[int]:
    values: set[int] = set()

    def number(token: str) -> int:
        if token in names:
            return names[token]
        if not token.isdigit():
            raise ValueError(f"cron {name}: cannot read {text!r}")
        return int(token)

    for part in text.upper().split(","):
        base, _, step_s = part.strip().partition("/")
        if step_s and (not step_s.isdigit() or int(step_s) < 1):
            raise ValueError(f"cron {name}: bad step in {text!r}")
        step = int(step_s) if step_s else 1
        if base in ("*", "?"):
            a, b = lo, hi
        elif "-" in base:
            first, _, last = base.partition("-")
            a, b = number(first), number(last)
        else:
            a = number(base)
            b = hi if step_s else a
        if not (lo <= a <= hi and lo <= b <= hi and a <= b):
            raise ValueError(f"cron {name}: {text!r} is outside {lo}-{hi}")
        values.update(range(a, b + 1, step))
    return frozenset(values)


def _parse_cron(expr: str) -> tuple[frozenset[int], ...]:
    """'0 9 * * MON-FRI' or AWS 'cron(0 0 ? * MON-FRI *)' -> (minutes, hours, days, months, weekdays
    with 0 = Sunday). Numeric weekdays are 0-7 (0 and 7 = Sunday) in the five-field form and 1-7
    (1 = Sunday) in AWS's cron(...) form."""
    text = expr.strip()
    aws = text.lower().startswith("cron(") and text.endswith(")")
    if aws:
        text = text[5:-1]
    parts = text.split()
    if len(parts) == 6:
        if parts[5] not in ("*", "?"):
            raise ValueError(f"cron {expr!r}: only '*' is supported for the year field")
        parts = parts[:5]
    if len(parts) != 5:
        raise ValueError(f"cron {expr!r}: expected 5 fields (minute hour day-of-month month day-of-week)")
    out = [
        _cron_field(p, n, lo, hi, names) for p, (n, lo, hi, names) in zip(parts, _CRON_FIELDS, strict=False)
    ]
    if aws:
        days = {k: v + 1 for k, v in _DAYS.items()}
        out.append(frozenset(d - 1 for d in _cron_field(parts[4], "day of week", 1, 7, days)))
    else:
        out.append(frozenset(d % 7 for d in _cron_field(parts[4], "day of week", 0, 7, _DAYS)))
    return tuple(out)


def cron_fire_times(
    expr: str, start: pd.Timestamp, end: pd.Timestamp, timezone: str = "UTC"
) -> pd.DatetimeIndex:
    """UTC minutes in [start, end] at which the cron expression (read in `timezone`) fires."""
    minutes, hours, days, months, dows = _parse_cron(expr)
    grid = pd.date_range(start.floor("min"), end, freq="min", tz="UTC")
    local = grid.tz_convert(timezone)
    mask = (
        np.isin(local.minute, list(minutes))
        & np.isin(local.hour, list(hours))
        & np.isin(local.month, list(months))
    )
    # cron: when both day-of-month and day-of-week are restricted, either may match
    dom = np.isin(local.day, list(days))
    dow = np.isin((local.day_of_week + 1) % 7, list(dows))
    dom_all, dow_all = len(days) == 31, len(dows) == 7
    mask &= (dom & dow) if (dom_all or dow_all) else (dom | dow)
    return grid[mask]


def schedule_bounds(
    policy: Scheduled, index: pd.DatetimeIndex, fleet: Fleet
) -> tuple[np.ndarray, np.ndarray]:
    """Per-step (min, max) under the scheduled actions. Actions that fired before the window (up to 31
    days back) set the starting bounds; the fleet's own min/max are hard outer limits."""
    n = len(index)
    lo = np.full(n, fleet.min_instances, dtype=np.int64)
    hi = np.full(n, fleet.max_instances, dtype=np.int64)
    if not policy.actions or n == 0:
        return lo, hi
    step = index[1] - index[0] if n > 1 else pd.Timedelta(minutes=1)
    firings: list[tuple[pd.Timestamp, int, ScheduledAction]] = []
    window_end = index[-1] + step  # the last step ends here; a firing at that instant is outside
    for order, action in enumerate(policy.actions):
        fired = cron_fire_times(action.cron, index[0] - pd.Timedelta(days=31), window_end, policy.timezone)
        firings.extend((ts, order, action) for ts in fired if ts < window_end)
    if not firings:
        return lo, hi
    firings.sort(key=lambda f: (f[0], f[1]))
    # the bounds in force after each firing, in firing order
    after_lo, after_hi = [], []
    cur_lo, cur_hi = fleet.min_instances, fleet.max_instances
    for _, _, action in firings:
        cur_lo = action.min_instances if action.min_instances is not None else cur_lo
        cur_hi = action.max_instances if action.max_instances is not None else cur_hi
        after_lo.append(cur_lo)
        after_hi.append(cur_hi)
    # a firing inside step t (start inclusive) applies from step t; earlier ones set the start state
    positions = np.maximum(index.searchsorted(pd.DatetimeIndex([f[0] for f in firings]), side="right") - 1, 0)
    last = np.searchsorted(positions, np.arange(n), side="right") - 1
    has = last >= 0
    lo[has] = np.asarray(after_lo, dtype=np.int64)[last[has]]
    hi[has] = np.asarray(after_hi, dtype=np.int64)[last[has]]
    hi = np.clip(hi, fleet.min_instances, fleet.max_instances)
    lo = np.clip(lo, fleet.min_instances, fleet.max_instances)
    return np.minimum(lo, hi), hi


# ---- forecasts for predictive scaling and forecast-driven demand ----------------------------------


def seasonal_naive_forecast(
    history: pd.Series, horizon: int, season_lengths: Sequence[int] | None = None
) -> pd.Series:
    """Repeat the last full season (the longest one the history covers; a day or a week of hours by
    default), or the last value when the history is shorter than every season."""
    if len(history) == 0:
        raise ValueError("cannot forecast an empty history")
    step = _series_step(history.index)
    if season_lengths is None:
        per_day = max(1, int(round(86400 / step.total_seconds())))
        season_lengths = (per_day, 7 * per_day)
    fitting = [s for s in season_lengths if s >= 1 and len(history) >= s]
    season = max(fitting) if fitting else 1
    values = history.to_numpy(dtype="float64")[-season:]
    if not np.isfinite(values).all():
        fill = np.nanmean(values) if np.isfinite(values).any() else 0.0
        values = np.where(np.isfinite(values), values, fill)
    index = pd.date_range(history.index[-1] + step, periods=horizon, freq=step)
    return pd.Series(np.resize(values, horizon), index=index, name="mean")


def default_forecaster(
    history: pd.Series, horizon: int, season_lengths: Sequence[int] | None = None
) -> pd.Series:
    """core.forecast's automatic model when that module is importable, else a seasonal-naive forecast."""
    try:
        from core.forecast import forecast  # lazy: statsmodels is slow to import
    except ImportError:
        return seasonal_naive_forecast(history, horizon, season_lengths)
    result = forecast(history, horizon, season_lengths=season_lengths)
    frame = result.frame
    return pd.Series(
        frame["mean"].to_numpy(dtype="float64"), index=pd.DatetimeIndex(frame["ts"]), name="mean"
    )


def default_forecaster_name() -> str:
    """Which forecaster `default_forecaster` uses on this installation, for captions."""
    try:
        import core.forecast  # noqa: F401
    except ImportError:
        return "seasonal naive (core.forecast is not available)"
    return "core.forecast (automatic model choice)"


def forecast_demand(
    history: pd.Series,
    horizon: timedelta,
    step: timedelta = timedelta(minutes=5),
    forecaster: Forecaster | None = None,
) -> pd.Series:
    """Demand for the next `horizon` at `step`: the hourly mean forecast, interpolated in between."""
    hourly = _hourly(history)
    hours = max(1, math.ceil(horizon.total_seconds() / 3600))
    fc = (forecaster or default_forecaster)(hourly, hours + 1)
    fc = fc.clip(lower=0.0)
    # hourly means describe the middle of each hour: interpolate between half-hour points
    mid = pd.Series(fc.to_numpy(), index=fc.index + pd.Timedelta(minutes=30))
    start = hourly.index[-1] + pd.Timedelta(hours=1)
    grid = pd.date_range(start, start + horizon, freq=step, inclusive="left", tz="UTC")
    values = np.interp(_ns(grid), _ns(mid.index), mid.to_numpy())
    return pd.Series(values, index=grid, name="demand")


def _hourly(series: pd.Series) -> pd.Series:
    s = series.astype("float64")
    hourly = s.resample("1h").mean()
    return hourly.interpolate(limit_direction="both")


def predictive_floor(policy: Predictive, demand: pd.Series, fleet: Fleet) -> np.ndarray:
    """Per-step minimum capacity the predictive policy schedules (0 where no forecast exists yet)."""
    index = pd.DatetimeIndex(demand.index)
    n = len(index)
    floor = np.zeros(n, dtype=np.int64)
    if n == 0:
        return floor
    forecaster = policy.forecaster
    if forecaster is None:

        def forecaster(h: pd.Series, k: int) -> pd.Series:
            return default_forecaster(h, k, policy.season_lengths)

    hourly = _hourly(demand)
    hour_ns = _ns(hourly.index)
    values = hourly.to_numpy()
    every = pd.Timedelta(seconds=policy.forecast_every_s)
    first_ok = index[0] + pd.Timedelta(seconds=policy.min_history_s)
    # refreshes on a fixed UTC grid (00:00, 06:00, ...), the first one once enough history exists
    refresh = (
        first_ok.ceil(f"{int(policy.forecast_every_s)}s") if policy.forecast_every_s <= 86400 else first_ok
    )
    horizon_h = max(1, math.ceil(policy.horizon_s / 3600))
    lead_ns = int(policy.lead_time_s * 1e9)
    per_instance = fleet.capacity_per_instance * policy.target_utilization
    ts_ns = _ns(index)
    while refresh <= index[-1]:
        seg_a = int(ts_ns.searchsorted(refresh.value, side="left"))
        seg_b = int(ts_ns.searchsorted((refresh + every).value, side="left"))
        # hours that have fully ended by the refresh time
        usable = int(hour_ns.searchsorted(refresh.value - 3_600_000_000_000, side="right"))
        keep = max(1, int(policy.history_s // 3600))
        lo_h = max(0, usable - keep)
        if usable - lo_h >= max(1, int(policy.min_history_s // 3600)) and seg_b > seg_a:
            hist = pd.Series(values[lo_h:usable], index=hourly.index[lo_h:usable])
            fc = forecaster(hist, horizon_h)
            need = np.ceil(
                np.clip(fc.to_numpy(dtype="float64"), 0, None) * (1 + policy.buffer) / per_instance - _EPS
            )
            fc_ns = _ns(fc.index)
            # capacity for hour H is in place from H - lead time (launched early); it is released at the
            # end of hour H, not early
            seg = np.zeros(seg_b - seg_a, dtype=np.int64)
            for shift in (0, lead_ns):
                pos = np.searchsorted(fc_ns, ts_ns[seg_a:seg_b] + shift, side="right") - 1
                valid = pos >= 0
                cand = np.zeros(seg_b - seg_a, dtype=np.int64)
                cand[valid] = need[np.clip(pos[valid], 0, len(need) - 1)].astype(np.int64)
                seg = np.maximum(seg, cand)
            floor[seg_a:seg_b] = seg
        refresh = refresh + every
    return np.clip(floor, 0, fleet.max_instances)


# ---- the engine ----------------------------------------------------------------------------------
#
# Each policy's semantics live in one place: its controller's `step()`, called once per step with that
# step's metric datapoint, returning the desired count for the next step. The loop over steps is plain
# Python over lists (about 0.2-0.3 s for a year of minutes per policy on this machine); everything that
# does not depend on the decisions is numpy: in-service instances, served demand, utilisation, queue
# outputs, the summary, schedule bounds, predictive floors and cron matching. (Measured alternatives: a
# numpy scan per decision cost ~100 us per scale event, 1.3-2 s a year; skipping quiet stretches with
# numpy gained nothing, because events come every few minutes whenever demand moves.)


def _in_step(rel: np.ndarray, s: StepAdjustment) -> np.ndarray:
    lo = -np.inf if s.lower is None else s.lower
    hi = np.inf if s.upper is None else s.upper
    if s.above_threshold:
        return (rel >= lo) & (rel < hi)
    return (rel > lo) & (rel <= hi)


class _Controller:
    """A policy's decisions. The base class holds the count (it only moves when min/max force it)."""

    def __init__(self, eng: _Engine) -> None:
        self.eng = eng

    def step(self, j: int, metric: float, ins: int, cur: int) -> int:
        return cur


class _Engine:
    """Per-step state and outputs; `run()` steps a controller through the demand.

    The loop records only the desired count (and the queue) per step; in-service instances, served
    demand and utilisation are derived from them afterwards with numpy, with the same arithmetic."""

    def __init__(
        self,
        demand: np.ndarray,
        dt: float,
        fleet: Fleet,
        lo: np.ndarray,
        hi: np.ndarray,
        start: int,
        queue_mode: bool,
        observed: np.ndarray | None = None,
    ) -> None:
        self.n = n = len(demand)
        self.demand = demand
        self.dt = dt
        self.cap = fleet.capacity_per_instance
        self.w = math.ceil(fleet.warmup_s / dt - _EPS) if fleet.warmup_s > 0 else 0
        self.lo, self.hi = lo, hi
        # the bounds in force for the step after each decision
        self.lo_next = np.concatenate([lo[1:], lo[-1:]]) if n else lo
        self.hi_next = np.concatenate([hi[1:], hi[-1:]]) if n else hi
        self.queue_mode = queue_mode
        self.observed = observed
        self.start = start
        self.desired = np.empty(n, dtype=np.int64)
        self.queue = np.zeros(n) if queue_mode else None

    def outputs(
        self, a: int, b: int, ins: np.ndarray, queue: np.ndarray | None = None, q0: float = 0.0
    ) -> tuple[np.ndarray, np.ndarray]:
        """Served demand and utilisation for steps [a, b), as the step loop computes them."""
        cap = ins * self.cap
        d = self.demand[a:b]
        if queue is not None:
            prev = np.concatenate([[q0], queue[:-1]])
            backlog = prev + d * self.dt
            served = (backlog - queue) / self.dt
            waiting = backlog > _EPS
        else:
            served = np.minimum(d, cap)
            waiting = d > _EPS
        safe = np.where(cap > 0, cap, 1.0)
        util = np.where(cap > 0, np.where(served < cap, served / safe, 1.0), np.where(waiting, 1.0, 0.0))
        return served, util

    def in_service(self) -> np.ndarray:
        """min(desired[t-w .. t]): instances still warming up do not serve; scale-in removes them first."""
        padded = np.concatenate([np.full(self.w, self.start, dtype=np.int64), self.desired])
        ins = self.desired.copy()
        for k in range(1, self.w + 1):
            np.minimum(ins, padded[self.w - k : self.w - k + self.n], out=ins)
        return ins

    # -- the step loop ------------------------------------------------------------------------------
    def run(self, ctl: _Controller) -> None:
        n, dt, cap1, w = self.n, self.dt, self.cap, self.w
        demand = self.demand.tolist()
        observed = self.observed.tolist() if self.observed is not None else None
        lo_next, hi_next = self.lo_next.tolist(), self.hi_next.tolist()
        # min/max changes (scheduled actions, predictive floors) force the count at these steps
        bound_steps = np.flatnonzero(
            np.diff(self.lo_next, prepend=-1) | np.diff(self.hi_next, prepend=-1)
        ).tolist()
        bound_steps.append(n)
        next_bound = 0
        plan = [self.start] * w + [0] * n  # plan[j + w] = desired during step j
        queue = self.queue
        queue_mode = self.queue_mode
        cur, q = self.start, 0.0
        ready_from = 0  # from this step on every desired instance is in service
        step = ctl.step
        for j in range(n):
            plan[j + w] = cur
            ins = cur if j >= ready_from else min(plan[j : j + w + 1])
            c = ins * cap1
            dj = demand[j]
            if queue_mode:
                backlog = q + dj * dt
                q = backlog - c * dt
                if q < 0.0:
                    q = 0.0
                queue[j] = q  # type: ignore[index]
                metric = q
            else:
                served = dj if dj < c else c
                metric = (served / c if served < c else 1.0) if c > 0 else (1.0 if dj > _EPS else 0.0)
            if observed is not None:
                metric = observed[j]
            new = step(j, metric, ins, cur)
            if j == bound_steps[next_bound]:
                next_bound += 1
                new = lo_next[j] if new < lo_next[j] else (hi_next[j] if new > hi_next[j] else new)
            elif new != cur:
                new = lo_next[j] if new < lo_next[j] else (hi_next[j] if new > hi_next[j] else new)
            if new != cur:
                if new > cur:
                    ready_from = j + 1 + w
                cur = new
        self.desired[:] = plan[w:]


def _steps(seconds: float, dt: float) -> int:
    """Whole steps covering `seconds`: a decision that many steps later is the first one outside."""
    return max(0, math.ceil(seconds / dt - _EPS))


class _TargetTrackingCtl(_Controller):
    def __init__(self, eng: _Engine, p: TargetTracking) -> None:
        super().__init__(eng)
        self.p = p
        self.target = p.target_utilization
        self.low_level = p.target_utilization * p.scale_in_ratio
        # alarms count one-minute datapoints; at a coarser step one step holds several
        self.k_out = max(1, math.ceil(p.scale_out_datapoints * p.period_s / eng.dt - _EPS))
        self.k_in = max(1, math.ceil(p.scale_in_datapoints * p.period_s / eng.dt - _EPS))
        self.cd_out = _steps(p.scale_out_cooldown_s, eng.dt)
        self.cd_in = _steps(p.scale_in_cooldown_s, eng.dt)
        self.high = 0  # consecutive datapoints above target
        self.low = 0  # consecutive datapoints below the scale-in level
        self.out_until = -1  # decisions at steps >= out_until are outside the scale-out cooldown
        self.in_until = -1
        self.base = 0  # capacity before the scale-out that started the cooldown
        self.lo_next, self.hi_next = eng.lo_next.tolist(), eng.hi_next.tolist()

    def step(self, j: int, metric: float, ins: int, cur: int) -> int:
        target = self.target
        if metric > target:
            self.high += 1
            self.low = 0
            if self.high >= self.k_out:
                in_cooldown = j < self.out_until
                basis = self.base if in_cooldown else cur
                proposal = min(math.ceil(basis * metric / target - _EPS), self.hi_next[j])
                if proposal > cur:
                    if not in_cooldown:  # an initiating scale-out starts the cooldown
                        self.base, self.out_until = cur, j + self.cd_out
                    self.in_until = -1  # a scale-out ends a scale-in cooldown
                    return proposal
        elif metric < self.low_level:
            self.low += 1
            self.high = 0
            if self.low >= self.k_in and not self.p.disable_scale_in and j >= self.in_until:
                proposal = max(math.ceil(cur * metric / target - _EPS), self.lo_next[j])
                if proposal < cur:
                    self.in_until = j + self.cd_in
                    return proposal
        else:
            self.high = self.low = 0
        return cur


class _StepScalingCtl(_Controller):
    def __init__(self, eng: _Engine, p: StepScaling) -> None:
        super().__init__(eng)
        self.p = p
        self.k = max(1, math.ceil(p.evaluation_periods * p.period_s / eng.dt - _EPS))
        self.cd = _steps(p.cooldown_s, eng.dt)
        self.streak = 0
        self.until = -1
        self.cd_kind = ""  # "out" or "in": the activity that started the cooldown
        self.base = 0
        self.intervals = [
            (
                -math.inf if s.lower is None else s.lower,
                math.inf if s.upper is None else s.upper,
                s.above_threshold,
                s.adjustment,
            )
            for s in p.steps
        ]
        self.adjust = np.array([s.adjustment for s in p.steps], dtype=np.float64)
        self.lo_next, self.hi_next = eng.lo_next.tolist(), eng.hi_next.tolist()

    def adjusted(self, capacity: float, adj: float) -> int:
        kind = self.p.adjustment_type
        if kind == "ExactCapacity":
            return int(adj)
        if kind == "ChangeInCapacity":
            return int(capacity + adj)
        raw = capacity * adj / 100.0  # PercentChangeInCapacity: towards zero, at least 1 either way
        change = int(raw)
        if change == 0 and raw != 0:
            change = 1 if raw > 0 else -1
        mag = self.p.min_adjustment_magnitude
        if mag and raw != 0 and abs(change) < mag:
            change = mag if raw > 0 else -mag
        return int(capacity + change)

    def step(self, j: int, metric: float, ins: int, cur: int) -> int:
        rel = _relative(metric, self.p.threshold)
        adj = None
        for lo, hi, above, value in self.intervals:
            if (lo <= rel < hi) if above else (lo < rel <= hi):
                adj = value
                break
        if adj is None:
            self.streak = 0
            return cur
        self.streak += 1
        if self.streak < self.k:
            return cur
        in_cooldown = j < self.until
        after_out = in_cooldown and self.cd_kind == "out"
        # during a scale-out cooldown the initiating increase counts as part of capacity
        value = self.adjusted(self.base if after_out else cur, adj)
        value = min(max(value, self.lo_next[j]), self.hi_next[j])
        if value > cur:
            if not after_out:
                self.base, self.until, self.cd_kind = cur, j + self.cd, "out"
            return value
        if value < cur and not in_cooldown:
            self.base, self.until, self.cd_kind = cur, j + self.cd, "in"
            return value
        return cur


class _HPACtl(_Controller):
    def __init__(self, eng: _Engine, p: KubernetesHPA) -> None:
        super().__init__(eng)
        self.p = p
        self.target = p.target_utilization
        self.syncs = max(1, int(round(eng.dt / p.sync_period_s)))
        # recommendations newer than now - window, one per step (the current one included)
        self.w_down = max(1, _steps(p.scale_down_stabilization_s, eng.dt))
        self.w_up = max(1, _steps(p.scale_up_stabilization_s, eng.dt))
        self.recs_list: list[int] = [0] * eng.n
        self.events: list[tuple[float, int]] = []  # (time in s, replica change) for behavior periods
        self.lo_next, self.hi_next = eng.lo_next.tolist(), eng.hi_next.tolist()

    def recommend(self, metric: float, ins: int, cur: int) -> int:
        """K8s replica calculator: ready pods' usage; pods still starting count as 0% for scale-up."""
        if ins <= 0:
            return cur  # no ready pod reports a metric: the HPA holds
        ratio = metric / self.target
        if ins < cur and ratio > 1.0:
            new_ratio = ins * metric / (cur * self.target)
            if abs(new_ratio - 1.0) <= self.p.tolerance or new_ratio < 1.0:
                return cur
            return math.ceil(ins * ratio - _EPS)
        if abs(ratio - 1.0) <= self.p.tolerance:
            return cur
        return math.ceil(ins * ratio - _EPS)

    def step(self, j: int, metric: float, ins: int, cur: int) -> int:
        rec = self.recommend(metric, ins, cur)
        recs = self.recs_list
        recs[j] = rec
        if rec == cur:  # both stabilisation windows include this recommendation: the count holds
            return cur
        # scale up to the lowest recommendation of the up-window, down to the highest of the down-window
        up = min(recs[max(0, j - self.w_up + 1) : j + 1])
        down = max(recs[max(0, j - self.w_down + 1) : j + 1])
        value = up if cur < up else cur
        value = down if value > down else value
        value = min(max(value, self.lo_next[j]), self.hi_next[j])
        if value == cur:
            return cur
        return self._rate_limited(j, cur, value)

    def _limit(self, now: float, cur: int, up: bool) -> int:
        p = self.p
        policies = p.scale_up_policies if up else p.scale_down_policies
        select = p.scale_up_select if up else p.scale_down_select
        if select == "Disabled" or not policies:
            return cur
        best: int | None = None
        for pol in policies:
            changed = sum(d for t, d in self.events if t > now - pol.period_s and (d > 0) == up)
            start = cur - changed  # replicas at the start of the period
            if up:
                if pol.type == "Pods":
                    proposed = start + pol.value
                else:
                    proposed = math.ceil(start * (1 + pol.value / 100) - _EPS)
                pick_max = select == "Max"
            else:
                proposed = (
                    start - pol.value if pol.type == "Pods" else int(start * (1 - pol.value / 100) + _EPS)
                )
                pick_max = select == "Min"  # Min = the smallest change = the highest count
            best = proposed if best is None else (max(best, proposed) if pick_max else min(best, proposed))
        assert best is not None
        return max(best, cur) if up else min(best, cur)

    def _rate_limited(self, j: int, cur: int, target: int) -> int:
        dt, sync = self.eng.dt, min(self.p.sync_period_s, self.eng.dt)
        value = cur
        for s in range(self.syncs):  # the syncs that fall inside this step
            now = j * dt + (s + 1) * sync
            if target > value:
                new = min(target, self._limit(now, value, up=True))
            else:
                new = max(target, self._limit(now, value, up=False))
            if new != value:
                self.events.append((now, new - value))
                value = new
            if value == target:
                break
        periods = [pol.period_s for pol in (*self.p.scale_up_policies, *self.p.scale_down_policies)]
        horizon = j * dt - max(periods, default=0.0)
        self.events = [e for e in self.events if e[0] > horizon]
        return value


def _controller(eng: _Engine, policy: Policy) -> _Controller:
    if isinstance(policy, TargetTracking):
        return _TargetTrackingCtl(eng, policy)
    if isinstance(policy, StepScaling):
        return _StepScalingCtl(eng, policy)
    if isinstance(policy, KubernetesHPA):
        return _HPACtl(eng, policy)
    if isinstance(policy, Scheduled):
        return _Controller(eng) if policy.policy is None else _controller(eng, policy.policy)
    if isinstance(policy, Predictive):
        return _TargetTrackingCtl(eng, policy.tracking())
    raise TypeError(f"unknown policy {type(policy).__name__}")


# ---- simulate ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SimulationSummary:
    cost_usd: float
    instance_hours: float
    mean_utilization: float
    p95_utilization: float
    minutes_over_target: float
    minutes_unserved: float  # minutes with demand not served (SLO risk)
    scale_events: int
    overprovisioned_instance_hours: float  # instance-hours above what the demand needed at target
    unserved_requests: float  # total requests (or messages) not served in their step
    peak_instances: int
    target_utilization: float

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


@dataclass(frozen=True)
class SimulationResult:
    frame: pd.DataFrame  # ts, demand, desired, in_service, capacity, utilization, served, unserved,
    # lower_bound, upper_bound (+ queue_depth for queue policies)
    summary: SimulationSummary
    policy: Policy
    fleet: Fleet
    step_s: float


def _ns(index: pd.Index) -> np.ndarray:
    """Nanoseconds since the epoch whatever the index's resolution (pandas 3 infers s/ms/us/ns)."""
    return pd.DatetimeIndex(index).as_unit("ns").asi8


def _series_step(index: pd.Index) -> pd.Timedelta:
    if len(index) < 2:
        return pd.Timedelta(minutes=1)
    diffs = np.diff(_ns(index))
    return pd.Timedelta(int(np.median(diffs)), unit="ns")


def _prepare_demand(demand: pd.Series) -> pd.Series:
    if not isinstance(demand.index, pd.DatetimeIndex):
        raise ValueError("demand needs a DatetimeIndex (UTC)")
    if len(demand) == 0:
        raise ValueError("demand is empty")
    s = demand.astype("float64").sort_index()
    s = s[~s.index.duplicated(keep="last")]
    if s.index.tz is None:
        s.index = s.index.tz_localize("UTC")
    step = _series_step(s.index)
    if step <= pd.Timedelta(0):
        raise ValueError("demand timestamps must increase")
    if len(s) > 1 and (np.diff(_ns(s.index)) != step.value).any():
        # irregular or gappy: put it on a regular grid, filling gaps linearly
        grid = pd.date_range(s.index[0], s.index[-1], freq=step)
        s = s.reindex(grid.union(s.index)).interpolate(method="time").reindex(grid)
    if s.isna().all():
        raise ValueError("demand has no values")
    return s.interpolate(limit_direction="both").clip(lower=0.0)


def _bounds(policy: Policy, demand: pd.Series, fleet: Fleet) -> tuple[np.ndarray, np.ndarray]:
    n = len(demand)
    if isinstance(policy, Scheduled):
        return schedule_bounds(policy, pd.DatetimeIndex(demand.index), fleet)
    lo = np.full(n, fleet.min_instances, dtype=np.int64)
    hi = np.full(n, fleet.max_instances, dtype=np.int64)
    if isinstance(policy, Predictive):
        lo = np.maximum(lo, np.minimum(predictive_floor(policy, demand, fleet), hi))
    return lo, hi


def simulate(
    demand: pd.Series,
    fleet: Fleet,
    policy: Policy,
    start_instances: int | None = None,
    *,
    target_utilization: float | None = None,
) -> SimulationResult:
    """Simulate `policy` scaling `fleet` against `demand` (req/s, or queue arrivals/s for queue-depth
    step scaling) on a regular UTC index. `start_instances` is the count before the window (default:
    what the first demand needs at the policy's target). `target_utilization` is the reference for
    'minutes over target' and over-provisioning (default: the policy's own target)."""
    s = _prepare_demand(demand)
    dt = _series_step(s.index).total_seconds()
    values = s.to_numpy(dtype="float64")
    target = target_utilization if target_utilization is not None else reference_target(policy)
    lo, hi = _bounds(policy, s, fleet)
    start = _start_count(values[0], fleet, target, start_instances)
    start = int(min(max(start, lo[0]), hi[0]))
    eng = _Engine(values, dt, fleet, lo, hi, start, uses_queue(policy))
    eng.run(_controller(eng, policy))
    return _result(s, eng, fleet, policy, target, dt)


def _start_count(first: float, fleet: Fleet, target: float, start_instances: int | None) -> int:
    if start_instances is not None:
        if start_instances < 0:
            raise ValueError("start_instances must be >= 0")
        return int(start_instances)
    return int(math.ceil(first / (fleet.capacity_per_instance * target) - _EPS))


def _result(
    s: pd.Series, eng: _Engine, fleet: Fleet, policy: Policy, target: float, dt: float
) -> SimulationResult:
    desired = eng.desired
    demand = eng.demand
    ins = eng.in_service()
    served, util = eng.outputs(0, eng.n, ins, eng.queue)
    unserved = np.maximum(demand - served, 0.0)
    frame = pd.DataFrame(
        {
            "ts": s.index,
            "demand": demand,
            "desired": desired,
            "in_service": ins,
            "capacity": ins * fleet.capacity_per_instance,
            "utilization": util,
            "served": served,
            "unserved": unserved,
            "lower_bound": eng.lo,
            "upper_bound": eng.hi,
        }
    )
    if eng.queue is not None:
        frame["queue_depth"] = eng.queue
    hours = dt / 3600.0
    instance_hours = float(desired.sum() * hours)
    needed = np.ceil(demand / (fleet.capacity_per_instance * target) - _EPS)
    before = np.concatenate([[eng.start], desired[:-1]])
    summary = SimulationSummary(
        cost_usd=instance_hours * fleet.price_per_hour,
        instance_hours=instance_hours,
        mean_utilization=float(util.mean()),
        p95_utilization=float(np.percentile(util, 95)),
        minutes_over_target=float((util > target + _EPS).sum() * dt / 60.0),
        minutes_unserved=float((unserved > 1e-6).sum() * dt / 60.0),
        scale_events=int((desired != before).sum()),
        overprovisioned_instance_hours=float(np.maximum(desired - needed, 0).sum() * hours),
        unserved_requests=float(unserved.sum() * dt),
        peak_instances=int(desired.max()),
        target_utilization=float(target),
    )
    return SimulationResult(frame, summary, policy, fleet, dt)


def replay(
    policy: TargetTracking | StepScaling | KubernetesHPA,
    metric: pd.Series,
    fleet: Fleet,
    start_instances: int,
) -> pd.DataFrame:
    """What `policy` decides when it sees `metric` (CPU utilisation 0..1 or queue depth), without the
    metric reacting to its decisions: for walking through documented examples step by step.
    Returns ts, metric, desired, in_service."""
    s = metric.astype("float64")
    dt = _series_step(s.index).total_seconds()
    n = len(s)
    lo = np.full(n, fleet.min_instances, dtype=np.int64)
    hi = np.full(n, fleet.max_instances, dtype=np.int64)
    demand = np.zeros(n)
    eng = _Engine(demand, dt, fleet, lo, hi, int(start_instances), False, observed=s.to_numpy())
    eng.run(_controller(eng, policy))
    return pd.DataFrame(
        {
            "ts": s.index,
            "metric": s.to_numpy(),
            "desired": eng.desired,
            "in_service": eng.in_service(),
        }
    )


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


# ---- scenarios -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Spike:
    """Multiply demand by `multiplier` for `duration_s` from `start` (UTC)."""

    start: pd.Timestamp
    duration_s: float
    multiplier: float

    def __post_init__(self) -> None:
        ts = pd.Timestamp(self.start)
        object.__setattr__(self, "start", ts.tz_localize("UTC") if ts.tz is None else ts.tz_convert("UTC"))
        if self.duration_s <= 0 or self.multiplier < 0:
            raise ValueError("a spike needs duration_s > 0 and multiplier >= 0")


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


def failover_shares(weights: Mapping[str, float], failed: str) -> dict[str, float]:
    """Share of the failed region's traffic each surviving region receives (by routing weight)."""
    others = {r: w for r, w in weights.items() if r != failed and w > 0}
    total = sum(others.values())
    if total <= 0:
        return {r: 0.0 for r in weights if r != failed}
    return {r: w / total for r, w in others.items()}


def scenario_demand(
    demand_by_region: pd.DataFrame,
    region: str,
    weights: Mapping[str, float],
    growth_pct: float = 0.0,
    spikes: Sequence[Spike] = (),
    failed_region: str | None = None,
) -> pd.Series:
    """One region's demand under a scenario: its own traffic, plus its routing-weight share of a failed
    region's traffic, grown by `growth_pct`, with spikes applied. `demand_by_region`: index ts, one
    column per region (req/s)."""
    if region not in demand_by_region.columns:
        raise ValueError(
            f"no demand for region {region!r} (have: {', '.join(map(str, demand_by_region.columns))})"
        )
    base = demand_by_region[region].astype("float64").copy()
    if failed_region:
        if failed_region == region:
            raise ValueError(f"{region} cannot absorb its own failure")
        if failed_region not in demand_by_region.columns:
            raise ValueError(f"no demand for the failed region {failed_region!r}")
        share = failover_shares(weights, failed_region).get(region, 0.0)
        base = base + share * demand_by_region[failed_region].astype("float64").fillna(0.0)
    base = base * (1.0 + growth_pct / 100.0)
    if spikes:
        ns = _ns(base.index)
        factor = np.ones(len(base))
        for sp in spikes:
            a = sp.start.value
            factor[(ns >= a) & (ns < a + int(sp.duration_s * 1e9))] *= sp.multiplier
        base = base * factor
    base.name = "demand"
    return base


def run_scenarios(
    scenarios: Sequence[Scenario],
    demand: Mapping[str, pd.DataFrame],
    weights: Mapping[str, float],
) -> dict[str, SimulationResult]:
    """Simulate each scenario on its demand source ({"history": wide frame, "forecast": wide frame})."""
    out: dict[str, SimulationResult] = {}
    for sc in scenarios:
        frame = demand.get(sc.source)
        if frame is None or frame.empty:
            raise ValueError(f"scenario {sc.name!r}: no {sc.source} demand available")
        series = scenario_demand(frame, sc.region, weights, sc.growth_pct, sc.spikes, sc.failed_region)
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


# ---- region loss (N+1) ----------------------------------------------------------------------------

REGION_LOSS_STATES = ("green", "amber", "red")


def region_loss_check(
    config: HeadroomConfig,
    demand_by_region: pd.DataFrame,
    *,
    service: str = "api",
    policies: Mapping[str, Policy] | None = None,
    growth_pct: float = 0.0,
    settle: timedelta = timedelta(hours=1),
    lead: timedelta = timedelta(hours=6),
) -> pd.DataFrame:
    """For every region F and every surviving region S: if F fails and its traffic moves to the others
    by routing weight, can S absorb its share?

    The failure is placed at S's busiest moment after failover (worst case). S's fleet is simulated with
    its configured policy from `lead` before the failure (so it is in steady state) to `settle` after.
    Status: red = the peak after failover exceeds S's capacity at max instances (demand is lost even when
    fully scaled); amber = it fits at max but above the target utilisation, or demand goes unserved
    while S scales (alarm + warm-up); green = S absorbs it within target with no unserved demand.
    `growth_pct` scales all demand first (what if traffic grows?). time_to_scale_s counts from the failure
    until S is back within target (or at max) for 3 minutes in a row. One row per (failed_region,
    region), worst first.
    """
    codes = [r.code for r in config.region]
    weights = {r.code: r.routing_weight for r in config.region}
    rows: list[dict[str, Any]] = []
    wide = demand_by_region.sort_index() * (1.0 + growth_pct / 100.0)
    for failed in codes:
        shares = failover_shares(weights, failed)
        for code in codes:
            if code == failed:
                continue
            cfg_fleet = config.fleet_for(code, service)
            base = {
                "failed_region": failed,
                "region": code,
                "share_pct": shares.get(code, 0.0) * 100,
            }
            if failed not in wide.columns or code not in wide.columns or wide[[failed, code]].dropna().empty:
                rows.append(base | {"status": "unknown", "reason": "no request-rate data for these regions"})
                continue
            if cfg_fleet is None:
                rows.append(
                    base | {"status": "unknown", "reason": f"no {service} fleet configured in {code}"}
                )
                continue
            rows.append(
                base | _absorb(wide, code, failed, shares.get(code, 0.0), cfg_fleet, policies, settle, lead)
            )
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    order = {"red": 0, "amber": 1, "unknown": 2, "green": 3}
    frame["_o"] = frame["status"].map(order)
    frame = frame.sort_values(["_o", "failed_region", "region"], kind="stable").drop(columns="_o")
    return frame.reset_index(drop=True)


def _absorb(
    wide: pd.DataFrame,
    code: str,
    failed: str,
    share: float,
    cfg_fleet: FleetConfig,
    policies: Mapping[str, Policy] | None,
    settle: timedelta,
    lead: timedelta,
) -> dict[str, Any]:
    fleet = Fleet.from_config(cfg_fleet)
    policy = (policies or {}).get(code) or policy_for_fleet(cfg_fleet)
    if isinstance(policy, Predictive):  # the forecast floor needs days of history; judge its reactive part
        policy = policy.tracking()
    target = reference_target(policy) if not isinstance(policy, Scheduled) else cfg_fleet.target_utilization
    own = wide[code].astype("float64").interpolate(limit_direction="both")
    moved = share * wide[failed].astype("float64").interpolate(limit_direction="both").fillna(0.0)
    combined = own + moved
    fail_at = combined.idxmax()
    peak = float(combined.max())
    max_capacity = fleet.max_instances * fleet.capacity_per_instance
    usable = max_capacity * target
    needed = math.ceil(peak / (fleet.capacity_per_instance * target) - _EPS)
    window = combined[(combined.index >= fail_at - lead) & (combined.index <= fail_at + settle)]
    demand = own.reindex(window.index).where(window.index < fail_at, window)
    result = simulate(demand, fleet, policy, target_utilization=target)
    f = result.frame
    after = f[f["ts"] >= fail_at]
    # "scaled" = the fleet is back within target (or at max) for 3 minutes in a row: when AWS's high
    # alarm would clear. Instances already in hand may cover the extra load at once (0 s).
    within = (after["utilization"].to_numpy() <= target + 0.01) | (
        after["in_service"].to_numpy() >= fleet.max_instances
    )
    step = result.step_s
    first = _first_run(within, max(1, math.ceil(180 / step - _EPS)))
    time_to_scale = float("nan") if first is None else first * step
    unserved = float(after["unserved"].sum() * step)
    if peak > max_capacity + _EPS:
        status = "red"
        reason = (
            f"needs {peak:,.0f} req/s at peak, more than {max_capacity:,.0f} req/s at max "
            f"({fleet.max_instances} instances): raise max to {math.ceil(peak / fleet.capacity_per_instance)}+"
        )
    elif peak > usable + _EPS:
        status = "amber"
        reason = (
            f"fits at max only at {peak / max_capacity:.1%} utilisation (target {target:.0%}); "
            f"{needed} instances needed, max {fleet.max_instances}"
        )
    elif unserved > 0.5:
        status = "amber"
        reason = f"{unserved:,.0f} requests unserved while scaling (alarm + {fleet.warmup_s:.0f} s warm-up)"
    else:
        status = "green"
        reason = "absorbs the extra traffic within target"
    return {
        "status": status,
        "extra_rps": float(moved.loc[fail_at]),
        "peak_rps_after": peak,
        "peak_at": fail_at,
        "capacity_at_max_rps": max_capacity,
        "usable_at_target_rps": usable,
        "utilization_at_max_pct": peak / max_capacity * 100,
        "instances_needed": needed,
        "max_instances": fleet.max_instances,
        "time_to_scale_s": time_to_scale,
        "unserved_requests": unserved,
        "reason": reason,
    }


def _first_run(flags: np.ndarray, k: int) -> int | None:
    """Index where the first run of k True values in a row starts (None if there is none)."""
    if len(flags) < k:
        return None
    counts = np.concatenate([[0], np.cumsum(flags.astype(np.int64))])
    full = (counts[k:] - counts[:-k]) == k
    return int(np.argmax(full)) if full.any() else None


def region_loss_summary(check: pd.DataFrame) -> pd.DataFrame:
    """One row per failed region: the worst survivor's status, who is in trouble, total unserved
    requests, and the worst case in a sentence."""
    columns = ["failed_region", "status", "breaks", "unserved_requests", "worst_case"]
    if check.empty:
        return pd.DataFrame(columns=columns)
    order = {"red": 0, "amber": 1, "unknown": 2, "green": 3}
    rows = []
    for failed, grp in check.groupby("failed_region", sort=False):
        worst = min(grp["status"], key=lambda s: order.get(s, 2))
        bad = grp[grp["status"].isin(["red", "amber"])]
        if not bad.empty and "utilization_at_max_pct" in bad:  # red first, then the most loaded
            bad = bad.assign(_o=bad["status"].map(order)).sort_values(
                ["_o", "utilization_at_max_pct"], ascending=[True, False], kind="stable"
            )
        first_bad = bad.iloc[0] if not bad.empty else None
        unserved = grp["unserved_requests"] if "unserved_requests" in grp else pd.Series(dtype=float)
        rows.append(
            {
                "failed_region": failed,
                "status": worst,
                "breaks": ", ".join(f"{r} ({s})" for r, s in zip(bad["region"], bad["status"], strict=True)),
                "unserved_requests": float(unserved.fillna(0).sum()),
                "worst_case": "" if first_bad is None else f"{first_bad['region']}: {first_bad['reason']}",
            }
        )
    out = pd.DataFrame(rows, columns=columns)
    out["_o"] = out["status"].map(order)
    return out.sort_values(["_o", "failed_region"], kind="stable").drop(columns="_o").reset_index(drop=True)


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
