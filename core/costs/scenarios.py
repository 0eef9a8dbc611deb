"""The cost of a capacity scenario against the current run rate of the same scope: per day and per month
(one month is core.units.DAYS_PER_MONTH, the 730 hours every per-month figure uses)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pandas as pd

from core.costs.anomalies import _pct
from core.costs.billing import SEASON_DAYS, daily_totals
from core.units import DAYS_PER_MONTH


# ---- capacity scenarios against the run rate -------------------------------------------------------------
def run_rate(
    billing: pd.DataFrame, today: date, service: str = "", region: str = "", days: int = SEASON_DAYS
) -> float:
    """Mean daily spend over the last `days` closed days that have billing data (a whole week by
    default, so weekends weigh as they do in a month)."""
    s = daily_totals(billing, today - timedelta(days=days), today - timedelta(days=1), service, region)
    s = s.dropna()
    return float(s.mean()) if len(s) else math.nan


@dataclass(frozen=True)
class ScenarioCost:
    instance_hours: float
    price_per_hour: float
    hours: float
    cost_usd: float  # over the scenario's own duration
    usd_per_day: float
    run_rate_usd_per_day: float
    delta_usd_per_day: float  # scenario - run rate (negative = saving)
    delta_pct: float
    delta_usd_per_month: float  # per month: core.units.DAYS_PER_MONTH days

    def as_frame(self) -> pd.DataFrame:
        return pd.DataFrame([self.__dict__])


def equivalent_instances(usd_per_day: float, price_per_hour: float) -> float:
    """Instances running around the clock that a daily spend pays for (0 when unknown or free)."""
    if price_per_hour <= 0 or math.isnan(usd_per_day):
        return 0.0
    return usd_per_day / 24.0 / price_per_hour


def scenario_cost(
    instance_hours: float, price_per_hour: float, hours: float, run_rate_usd_per_day: float
) -> ScenarioCost:
    """Cost of running `instance_hours` over `hours` at `price_per_hour`, per day and against the
    current run rate of the same scope."""
    return _against_run_rate(
        instance_hours * price_per_hour, hours, run_rate_usd_per_day, instance_hours, price_per_hour
    )


def _against_run_rate(
    cost_usd: float, hours: float, run_rate_usd_per_day: float, instance_hours: float, price_per_hour: float
) -> ScenarioCost:
    if not hours > 0:
        raise ValueError("a scenario must last more than 0 hours")
    per_day = cost_usd / hours * 24.0
    delta = per_day - run_rate_usd_per_day
    return ScenarioCost(
        instance_hours=instance_hours,
        price_per_hour=price_per_hour,
        hours=hours,
        cost_usd=cost_usd,
        usd_per_day=per_day,
        run_rate_usd_per_day=run_rate_usd_per_day,
        delta_usd_per_day=delta,
        delta_pct=_pct(delta, run_rate_usd_per_day),
        delta_usd_per_month=delta * DAYS_PER_MONTH,
    )


def scenario_cost_from_simulation(result: Any, run_rate_usd_per_day: float) -> ScenarioCost:
    """Same, from a capacity simulation (core.capacity's SimulationResult, read by duck typing:
    summary.instance_hours, fleet.price_per_hour, len(frame) x step_s)."""
    hours = len(result.frame) * float(result.step_s) / 3600.0
    return scenario_cost(
        float(result.summary.instance_hours), float(result.fleet.price_per_hour), hours, run_rate_usd_per_day
    )


SAVED_SCENARIO_COLUMNS: tuple[str, ...] = (
    "name",
    "region",
    "window_start",
    "window_end",
    "cost_usd",
    "usd_per_day",
    "run_rate_usd_per_day",
    "delta_usd_per_day",
    "delta_pct",
    "delta_usd_per_month",
)


def saved_scenarios_vs_run_rate(
    scenarios: pd.DataFrame, billing: pd.DataFrame, today: date, service: str
) -> pd.DataFrame:
    """Saved capacity scenarios (connectors/store_scenarios.list_scenarios: name, region, window_start,
    window_end, cost_usd of the last run) per day over their window, against the run rate of `service`
    in each scenario's region. Scenarios saved without a run or a window are left out."""
    rows = []
    for sc in scenarios.itertuples(index=False):
        if pd.isna(sc.cost_usd) or pd.isna(sc.window_start) or pd.isna(sc.window_end):
            continue
        hours = (pd.Timestamp(sc.window_end) - pd.Timestamp(sc.window_start)).total_seconds() / 3600.0
        if hours <= 0:
            continue
        rate = run_rate(billing, today, service, sc.region)
        c = _against_run_rate(float(sc.cost_usd), hours, rate, math.nan, math.nan)
        rows.append(
            {
                "name": sc.name,
                "region": sc.region,
                "window_start": sc.window_start,
                "window_end": sc.window_end,
                "cost_usd": c.cost_usd,
                "usd_per_day": c.usd_per_day,
                "run_rate_usd_per_day": c.run_rate_usd_per_day,
                "delta_usd_per_day": c.delta_usd_per_day,
                "delta_pct": c.delta_pct,
                "delta_usd_per_month": c.delta_usd_per_month,
            }
        )
    return pd.DataFrame(rows, columns=list(SAVED_SCENARIO_COLUMNS))
