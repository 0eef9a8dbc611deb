"""Per-step (min, max) bounds that scheduled actions and predictive forecasts impose on a fleet."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from core.capacity._shared import _EPS, _ns
from core.capacity.cron import cron_fire_times
from core.capacity.demand import _hourly, default_forecaster
from core.capacity.fleet import Fleet
from core.capacity.policies import Predictive, Scheduled, ScheduledAction


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
