"""The simulator: step a policy's controller through demand and summarise cost, utilisation and
unserved demand (the time model is described in core/capacity/__init__.py)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from core.capacity._shared import _EPS, _ns, _series_step
from core.capacity.bounds import predictive_floor, schedule_bounds
from core.capacity.fleet import Fleet, SimulationResult, SimulationSummary
from core.capacity.policies import (
    BacklogTracking,
    KubernetesHPA,
    Policy,
    Predictive,
    Scheduled,
    StepScaling,
    TargetTracking,
    _relative,
    reference_target,
    uses_queue,
)

# ---- the engine ----------------------------------------------------------------------------------
#
# Each policy's semantics live in one place: its controller's `step()`, called once per step with that
# step's metric datapoint, returning the desired count for the next step. The loop over steps is plain
# Python over lists (about 0.2-0.3 s for a year of minutes per policy on this machine); everything that
# does not depend on the decisions is numpy: in-service instances, served demand, utilisation, queue
# outputs, the summary, schedule bounds, predictive floors and cron matching. (Measured alternatives: a
# numpy scan per decision cost ~100 us per scale event, 1.3-2 s a year; skipping quiet stretches with
# numpy gained nothing, because events come every few minutes whenever demand moves.)


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


class _BacklogTrackingCtl(_Controller):
    """BacklogTracking: desired = ceil(backlog / backlog_per_instance) once the alarm has seen enough
    datapoints; AWS's target-tracking cooldowns (a scale-out during its cooldown only if larger)."""

    def __init__(self, eng: _Engine, p: BacklogTracking) -> None:
        super().__init__(eng)
        self.p = p
        self.k_out = max(1, math.ceil(p.scale_out_datapoints * p.period_s / eng.dt - _EPS))
        self.k_in = max(1, math.ceil(p.scale_in_datapoints * p.period_s / eng.dt - _EPS))
        self.cd_out = _steps(p.scale_out_cooldown_s, eng.dt)
        self.cd_in = _steps(p.scale_in_cooldown_s, eng.dt)
        self.high = self.low = 0
        self.out_until = self.in_until = -1
        self.last_out = 0  # the count the scale-out that started the cooldown asked for
        self.lo_next, self.hi_next = eng.lo_next.tolist(), eng.hi_next.tolist()

    def step(self, j: int, metric: float, ins: int, cur: int) -> int:
        target = self.p.backlog_per_instance
        per_instance = metric / ins if ins > 0 else (math.inf if metric > _EPS else 0.0)
        wanted = math.ceil(metric / target - _EPS)
        if per_instance > target:
            self.high += 1
            self.low = 0
            if self.high >= self.k_out:
                proposal = min(wanted, self.hi_next[j])
                in_cooldown = j < self.out_until
                if proposal > cur and (not in_cooldown or proposal > self.last_out):
                    if not in_cooldown:
                        self.out_until = j + self.cd_out
                    self.last_out = proposal
                    self.in_until = -1
                    return proposal
        elif per_instance < target * self.p.scale_in_ratio:
            self.low += 1
            self.high = 0
            if self.low >= self.k_in and j >= self.in_until:
                proposal = max(wanted, self.lo_next[j])
                if proposal < cur:
                    self.in_until = j + self.cd_in
                    return proposal
        else:
            self.high = self.low = 0
        return cur


def _controller(eng: _Engine, policy: Policy) -> _Controller:
    if isinstance(policy, BacklogTracking):
        return _BacklogTrackingCtl(eng, policy)
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
