"""Region loss (N+1): if one region fails and its traffic moves to the others by routing weight, can
each survivor absorb its share?"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd

from core.capacity._shared import _EPS, _series_step
from core.capacity.demand import failover_route
from core.capacity.fleet import Fleet
from core.capacity.policies import Policy, Predictive, Scheduled, policy_for_fleet, reference_target
from core.capacity.simulate import simulate
from core.config import FleetConfig, HeadroomConfig

REGION_LOSS_STATES = ("green", "amber", "red")
# the "region" of a row whose traffic no survivor receives (it is lost)
NOWHERE = "(nowhere)"
# worst first; "unknown" (no data or no fleet) sorts between amber and green
_STATUS_ORDER = {"red": 0, "amber": 1, "unknown": 2, "green": 3}


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
    """For every region F and every surviving region S: if F fails and its traffic moves where the
    configured routing sends it (`failover_route`: a failover pair's standby, else the survivors by
    routing weight), can S absorb its share?

    The failure is placed at S's busiest moment after failover (worst case). S's fleet is simulated with
    its configured policy from `lead` before the failure (so it is in steady state) to `settle` after; a
    standby (routing weight 0) starts from its own (usually idle) traffic at its minimum, so its warm-up
    shows as unserved demand. Status: red = the peak after failover exceeds S's capacity at max instances
    (demand is lost even when fully scaled); amber = it fits at max but above the target utilisation, or
    demand goes unserved while S scales (alarm + warm-up); green = S absorbs it within target with no
    unserved demand. When F's traffic has nowhere to go (no pair, every survivor at weight 0) a row with
    region NOWHERE is red with the requests lost in `settle` from F's busiest moment.
    `growth_pct` scales all demand first (what if traffic grows?). time_to_scale_s counts from the failure
    until S is back within target (or at max) for 3 minutes in a row. One row per (failed_region,
    region), worst first; `route` says which configuration sent the traffic, `standby` marks a weight-0
    region that takes it.
    """
    codes = [r.code for r in config.region]
    weights = {r.code: r.routing_weight for r in config.region}
    rows: list[dict[str, Any]] = []
    wide = demand_by_region.sort_index() * (1.0 + growth_pct / 100.0)
    for code in codes:  # an idle standby may have no series at all: its own traffic is 0
        if code not in wide.columns and weights[code] <= 0 and not wide.empty:
            wide[code] = 0.0
    # once per region, not per (failed, survivor) pair: which minutes have data, and the gap-filled
    # series a survivor's simulation reads (per pair this was most of the check's time and grew with
    # regions squared: issue 17)
    present = {code: wide[code].notna().to_numpy() for code in codes if code in wide.columns}
    filled = {
        code: wide[code].astype("float64").interpolate(limit_direction="both").to_numpy() for code in present
    }
    index = pd.DatetimeIndex(wide.index)
    fleets = {code: config.fleet_for(code, service) for code in codes}
    for failed in codes:
        route = failover_route(config, failed)
        shares = route.shares
        if route.nowhere and failed in wide.columns and not wide[failed].dropna().empty:
            rows.append(_lost_row(wide[failed], failed, settle))
        for code in codes:
            if code == failed:
                continue
            cfg_fleet = fleets[code]
            base = {
                "failed_region": failed,
                "region": code,
                "share_pct": shares.get(code, 0.0) * 100,
                "route": route.via if shares.get(code, 0.0) > 0 else "",
                "standby": code in route.standby,
            }
            if failed not in present or code not in present or not (present[failed] & present[code]).any():
                rows.append(base | {"status": "unknown", "reason": "no request-rate data for these regions"})
                continue
            if cfg_fleet is None:
                rows.append(
                    base | {"status": "unknown", "reason": f"no {service} fleet configured in {code}"}
                )
                continue
            rows.append(
                base
                | _absorb(
                    index,
                    filled[code],
                    filled[failed],
                    code,
                    shares.get(code, 0.0),
                    cfg_fleet,
                    policies,
                    settle,
                    lead,
                )
            )
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    frame["_o"] = frame["status"].map(_STATUS_ORDER)
    frame = frame.sort_values(["_o", "failed_region", "region"], kind="stable").drop(columns="_o")
    return frame.reset_index(drop=True)


def _lost_row(failed_demand: pd.Series, failed: str, settle: timedelta) -> dict[str, Any]:
    """The failed region's traffic has no survivor to go to: all of it is lost. Counted like a
    survivor's unserved requests, over `settle` from the failed region's busiest moment."""
    series = failed_demand.astype("float64").interpolate(limit_direction="both").fillna(0.0)
    peak_at = series.idxmax()
    peak = float(series.max())
    step_s = _series_step(series.index).total_seconds()
    window = series[(series.index >= peak_at) & (series.index < peak_at + settle)]
    lost = float(window.sum() * step_s)
    if peak <= _EPS:
        status, reason = "green", f"{failed} serves no traffic: nothing to move"
    else:
        status, reason = (
            "red",
            (
                f"{peak:,.0f} req/s at peak have nowhere to go: every survivor has routing weight 0 and "
                f"{failed} has no failover pair (set failover_to, or a route53_failover target): "
                f"{lost:,.0f} requests lost in the first {settle.total_seconds() / 3600:g} h"
            ),
        )
    return {
        "failed_region": failed,
        "region": NOWHERE,
        "share_pct": 100.0,
        "route": "",
        "standby": False,
        "status": status,
        "extra_rps": peak,
        "peak_rps_after": peak,
        "peak_at": peak_at,
        "unserved_requests": lost if status == "red" else 0.0,
        "reason": reason,
    }


def _absorb(
    index: pd.DatetimeIndex,
    own: np.ndarray,
    failed_demand: np.ndarray,
    code: str,
    share: float,
    cfg_fleet: FleetConfig,
    policies: Mapping[str, Policy] | None,
    settle: timedelta,
    lead: timedelta,
) -> dict[str, Any]:
    """One survivor's row: simulate `code`'s fleet from `lead` before to `settle` after the failure of a
    region, placed at the busiest moment of its `own` traffic plus its `share` of the failed region's
    (`failed_demand`); both gap-filled already, on `index` (region_loss_check does it once per region;
    plain arrays here: the pandas steps per pair were half the check's time, issue 17)."""
    fleet = Fleet.from_config(cfg_fleet)
    policy = (policies or {}).get(code) or policy_for_fleet(cfg_fleet)
    if isinstance(policy, Predictive):  # the forecast floor needs days of history; judge its reactive part
        policy = policy.tracking()
    target = reference_target(policy) if not isinstance(policy, Scheduled) else cfg_fleet.target_utilization
    moved = share * np.nan_to_num(failed_demand, nan=0.0)
    combined = own + moved
    at = int(np.nanargmax(combined))  # the first busiest moment, as idxmax
    fail_at = index[at]
    peak = float(combined[at])
    max_capacity = fleet.max_instances * fleet.capacity_per_instance
    usable = max_capacity * target
    needed = math.ceil(peak / (fleet.capacity_per_instance * target) - _EPS)
    ns = index.as_unit("ns").asi8  # the index may be in us (pandas 3's default): compare in ns
    fail_ns = ns[at]
    window = (ns >= fail_ns - pd.Timedelta(lead).value) & (ns <= fail_ns + pd.Timedelta(settle).value)
    # its own traffic before the failure, with the moved share from the failure on
    demand = pd.Series(np.where(ns[window] < fail_ns, own[window], combined[window]), index=index[window])
    result = simulate(demand, fleet, policy, target_utilization=target)
    after = result.frame[result.frame["ts"] >= fail_at]
    time_to_scale = _time_to_scale(after, target, fleet.max_instances, result.step_s)
    unserved = float(after["unserved"].sum() * result.step_s)
    status, reason = _verdict(peak, max_capacity, usable, needed, unserved, fleet, target)
    if share > 0 and float(np.nanmax(own)) <= _EPS:  # an idle standby: say it starts from its minimum
        reason = f"standby from {fleet.min_instances} instance(s): {reason}"
    return {
        "status": status,
        "extra_rps": float(moved[at]),
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


def _time_to_scale(after: pd.DataFrame, target: float, max_instances: int, step: float) -> float:
    """Seconds from the failure until the fleet is "scaled": back within target (or at max) for 3 minutes
    in a row, when AWS's high alarm would clear. Instances already in hand may cover the extra load at
    once (0 s); NaN when it never gets there inside the window."""
    within = (after["utilization"].to_numpy() <= target + 0.01) | (
        after["in_service"].to_numpy() >= max_instances
    )
    first = _first_run(within, max(1, math.ceil(180 / step - _EPS)))
    return float("nan") if first is None else first * step


def _verdict(
    peak: float, max_capacity: float, usable: float, needed: int, unserved: float, fleet: Fleet, target: float
) -> tuple[str, str]:
    """Status (red / amber / green) and the sentence that explains it, as region_loss_check defines them."""
    if peak > max_capacity + _EPS:
        return "red", (
            f"needs {peak:,.0f} req/s at peak, more than {max_capacity:,.0f} req/s at max "
            f"({fleet.max_instances} instances): raise max to {math.ceil(peak / fleet.capacity_per_instance)}+"
        )
    if peak > usable + _EPS:
        return "amber", (
            f"fits at max only at {peak / max_capacity:.1%} utilisation (target {target:.0%}); "
            f"{needed} instances needed, max {fleet.max_instances}"
        )
    if unserved > 0.5:
        return "amber", (
            f"{unserved:,.0f} requests unserved while scaling (alarm + {fleet.warmup_s:.0f} s warm-up)"
        )
    return "green", "absorbs the extra traffic within target"


def _first_run(flags: np.ndarray, k: int) -> int | None:
    """Index where the first run of k True values in a row starts (None if there is none)."""
    if len(flags) < k:
        return None
    counts = np.concatenate([[0], np.cumsum(flags.astype(np.int64))])
    full = (counts[k:] - counts[:-k]) == k
    return int(np.argmax(full)) if full.any() else None


def region_loss_summary(check: pd.DataFrame) -> pd.DataFrame:
    """One row per failed region: the worst survivor's status, who is in trouble, who took the
    traffic (a standby named as such; "nowhere" when it is lost), total unserved requests (lost
    traffic included), and the worst case in a sentence."""
    columns = ["failed_region", "status", "taken_by", "breaks", "unserved_requests", "worst_case"]
    if check.empty:
        return pd.DataFrame(columns=columns)
    # plain records: the check has a few dozen rows, and a groupby with pandas calls per group cost
    # ~0.05 s on every rerun of the Capacity page (issue 17) for the same figures
    has_util = "utilization_at_max_pct" in check
    groups: dict[Any, list[dict[str, Any]]] = {}
    for record in check.to_dict("records"):
        groups.setdefault(record["failed_region"], []).append(record)
    rows = []
    for failed, grp in groups.items():
        worst = min((r["status"] for r in grp), key=lambda s: _STATUS_ORDER.get(s, 2))
        bad = [r for r in grp if r["status"] in ("red", "amber")]
        if bad and has_util:  # red first, then the most loaded (a missing load last)
            bad.sort(key=lambda r: (_STATUS_ORDER[r["status"]], *_descending(r["utilization_at_max_pct"])))
        rows.append(
            {
                "failed_region": failed,
                "status": worst,
                "taken_by": _taken_by(grp),
                "breaks": ", ".join(f"{r['region']} ({r['status']})" for r in bad),
                "unserved_requests": float(sum(_number(r.get("unserved_requests")) for r in grp)),
                "worst_case": f"{bad[0]['region']}: {bad[0]['reason']}" if bad else "",
            }
        )
    rows.sort(key=lambda r: (_STATUS_ORDER.get(r["status"], math.inf), r["failed_region"]))
    return pd.DataFrame(rows, columns=columns)


def _number(value: Any) -> float:
    """A figure of a check row, 0 where it is missing (NaN, None: no simulation for that row)."""
    return 0.0 if value is None or value != value else float(value)


def _descending(value: Any) -> tuple[bool, float]:
    """Sort key: larger first, a missing value after every number."""
    missing = value is None or value != value
    return missing, 0.0 if missing else -float(value)


def _taken_by(grp: list[dict[str, Any]]) -> str:
    """ "us-west-2 (standby) 100%" / "us-west-2 60%, eu-west-1 40%" / "nowhere (lost)"."""
    has_share = "share_pct" in grp[0]
    if has_share and any(r["region"] == NOWHERE for r in grp):
        return "nowhere (lost)"
    takers = [r for r in grp if has_share and _number(r["share_pct"]) > 0]
    takers.sort(key=lambda r: -_number(r["share_pct"]))  # stable: ties keep the check's order
    return ", ".join(
        f"{r['region']}{' (standby)' if r.get('standby') == 1 else ''} {r['share_pct']:.0f}%" for r in takers
    )
