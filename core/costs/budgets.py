"""Monthly dollar budgets: consumed fraction, projected month end, a red/amber/green level, the projected
overrun date, and the banner line and table the pages show."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Literal, Protocol

import pandas as pd

from core.costs.forecasters import Forecaster
from core.costs.projection import MonthProjection, project_month

AMBER_FRACTION = 0.9  # projected spend above this share of the budget is amber

BudgetLevel = Literal["red", "amber", "green", "no data"]  # the RAG level of a BudgetState


class BudgetLike(Protocol):
    """core.config.Budget, or anything with the same fields ('' = all services / regions)."""

    name: str
    monthly_usd: float
    service: str
    region: str


def budget_scope(service: str, region: str) -> str:
    return f"{service or 'all services'} · {region or 'all regions'}"


@dataclass(frozen=True)
class BudgetState:
    """A monthly dollar budget as it stands on a day: spend so far, the projected month end, the
    first day it is (projected to be) exceeded, and its RAG level with the reason."""

    name: str
    service: str
    region: str
    monthly_usd: float
    month_start: date
    spent_usd: float
    consumed: float  # spent / budget
    projected_usd: float
    projected_lo_80: float
    projected_hi_80: float
    projected_consumed: float
    overrun_date: date | None  # first day the cumulative spend (actual, then forecast) exceeds the budget
    state: BudgetLevel
    reason: str
    projection: MonthProjection

    @property
    def scope(self) -> str:
        return budget_scope(self.service, self.region)

    @property
    def already_over(self) -> bool:
        return self.overrun_date is not None and self.overrun_date < self.projection.today


def _usd(x: float) -> str:
    return f"${x:,.0f}"


def budget_status(
    billing: pd.DataFrame, budget: BudgetLike, today: date, forecaster: Forecaster | None = None
) -> BudgetState:
    """Consumed fraction, projected month end and RAG state of one monthly budget.

    red: spent or projected (mean) above the budget; amber: projected above AMBER_FRACTION of it, or the
    80% band's upper edge above it; green: otherwise; 'no data' without any billing history."""
    p = project_month(billing, today, budget.service, budget.region, forecaster)
    limit = float(budget.monthly_usd)
    overrun = None
    over = p.daily[p.daily["cumulative_usd"] > limit]
    if not over.empty:
        overrun = over["day"].iloc[0]
    lo, hi = p.bands.get(80, (math.nan, math.nan))
    consumed = p.spent_usd / limit
    projected_consumed = p.projected_usd / limit
    state, reason = _level_and_reason(p, limit, overrun, hi)
    return BudgetState(
        name=budget.name,
        service=budget.service,
        region=budget.region,
        monthly_usd=limit,
        month_start=p.month_start,
        spent_usd=p.spent_usd,
        consumed=consumed,
        projected_usd=p.projected_usd,
        projected_lo_80=lo,
        projected_hi_80=hi,
        projected_consumed=projected_consumed,
        overrun_date=overrun,
        state=state,
        reason=reason,
        projection=p,
    )


def _level_and_reason(
    p: MonthProjection, limit: float, overrun: date | None, hi_80: float
) -> tuple[BudgetLevel, str]:
    """The RAG level of a month's projection against a budget of `limit` USD, and why, in words."""
    projected_consumed = p.projected_usd / limit
    if math.isnan(p.projected_usd):
        return "no data", "no billing history for this budget's scope"
    if p.spent_usd > limit:
        return "red", f"spent {_usd(p.spent_usd)}, over the {_usd(limit)} budget since {overrun}"
    if p.projected_usd > limit:
        return "red", (
            f"projected {_usd(p.projected_usd)} ({projected_consumed:.0%} of {_usd(limit)}); "
            f"overrun expected on {overrun}"
        )
    if projected_consumed > AMBER_FRACTION or (not math.isnan(hi_80) and hi_80 > limit):
        band = f"; the 80% band reaches {_usd(hi_80)}" if not math.isnan(hi_80) else ""
        return (
            "amber",
            f"projected {_usd(p.projected_usd)} is {projected_consumed:.0%} of {_usd(limit)}{band}",
        )
    return "green", f"projected {_usd(p.projected_usd)} is {projected_consumed:.0%} of {_usd(limit)}"


def budget_statuses(
    billing: pd.DataFrame,
    budgets: Sequence[BudgetLike],
    today: date,
    forecaster: Forecaster | None = None,
) -> list[BudgetState]:
    return [budget_status(billing, b, today, forecaster) for b in budgets]


def budgets_projected_to_overrun(
    billing: pd.DataFrame,
    budgets: Sequence[BudgetLike],
    today: date,
    forecaster: Forecaster | None = None,
) -> list[BudgetState]:
    """Budgets whose spend exceeds them, or is projected to, within this month (earliest first).
    Overview and Triage show these as guardrail alerts."""
    return overrunning(budget_statuses(billing, budgets, today, forecaster))


def overrunning(statuses: Sequence[BudgetState]) -> list[BudgetState]:
    """The statuses with an overrun date this month, earliest first."""
    return sorted((s for s in statuses if s.overrun_date), key=lambda s: (s.overrun_date, s.name))


def budget_alert_text(status: BudgetState) -> str:
    """One line for a banner: which budget, how much, and when."""
    if status.already_over:
        return (
            f"**{status.name}** ({status.scope}): {_usd(status.spent_usd)} spent of {_usd(status.monthly_usd)}, "
            f"over budget since {status.overrun_date}"
        )
    return (
        f"**{status.name}** ({status.scope}): projected {_usd(status.projected_usd)} of "
        f"{_usd(status.monthly_usd)}, overrun expected on {status.overrun_date}"
    )


def budget_table(statuses: Sequence[BudgetState]) -> pd.DataFrame:
    """One row per budget (fractions as percentages) for tables and CSV."""
    return pd.DataFrame(
        {
            "state": [s.state for s in statuses],
            "budget": [s.name for s in statuses],
            "budget_usd": [s.monthly_usd for s in statuses],
            "spent_usd": [s.spent_usd for s in statuses],
            "consumed_pct": [s.consumed * 100 for s in statuses],
            "projected_eom_usd": [s.projected_usd for s in statuses],
            "projected_pct": [s.projected_consumed * 100 for s in statuses],
            "overrun_date": [s.overrun_date for s in statuses],
            "projected_lo_80_usd": [s.projected_lo_80 for s in statuses],
            "projected_hi_80_usd": [s.projected_hi_80 for s in statuses],
            "scope": [s.scope for s in statuses],
            "why": [s.reason for s in statuses],
        }
    )
