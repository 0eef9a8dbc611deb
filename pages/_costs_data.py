"""Streamlit glue shared by the cost-facing pages (Costs, the Overview banner; Triage may call it too):
the billing history a month's projection needs, and the projections themselves, cached.

Why cached: the end-of-month projection backtests statsmodels candidates (core.forecast), ~0.3 s per
budget here, and a page reruns on every widget change. The key is the billing frame's content and the
day, so a new bill or a new day recomputes; every session shares the result.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta

import pandas as pd
import streamlit as st
from streamlit.errors import StreamlitAPIException

from core import costs
from core.config import Budget
from pages import _ui as ui

TTL_S = 3600


def today() -> date:
    """The UTC day the cost figures are as of: the data's 'now' (the demo world's end, or the clock)."""
    return ui.data_anchor().date()


def billing(first: date, last: date) -> pd.DataFrame:
    """The billing frame for first..last (a banner and the last good data when the source fails)."""
    return costs.normalise_billing(ui.load_costs(first, last)).reset_index(drop=True)


def month_billing(frame: pd.DataFrame, day: date) -> pd.DataFrame:
    """The part of a billing frame the month's projections read; pages that loaded more history pass
    this, so their cached budget figures are the Overview's (same frame, same cache entry)."""
    return frame[frame["day"] >= costs.history_start(day)].reset_index(drop=True)


@st.cache_data(ttl=TTL_S, max_entries=32, show_spinner="Projecting the month's spend...")
def project_month(frame: pd.DataFrame, day: date) -> costs.MonthProjection:
    return costs.project_month(month_billing(frame, day), day)


@st.cache_data(ttl=TTL_S, max_entries=32, show_spinner="Projecting budgets...")
def budget_statuses(frame: pd.DataFrame, budgets: Sequence[Budget], day: date) -> list[costs.BudgetState]:
    return costs.budget_statuses(frame, list(budgets), day)


# the day-by-day changes and the anomalies per service/region are pure functions of the bill and the day
# (~0.5 s together on the demo bill): computed once and shared by reruns and sessions, like the projections
@st.cache_data(ttl=TTL_S, max_entries=32, show_spinner=False)
def daily_changes(frame: pd.DataFrame, day: date, days: int) -> pd.DataFrame:
    return costs.daily_changes(frame, day, days)


@st.cache_data(ttl=TTL_S, max_entries=32, show_spinner=False)
def anomalies_by(frame: pd.DataFrame, day: date, days: int, by: str) -> pd.DataFrame:
    return costs.anomalies_by(frame, day, days, by)  # type: ignore[arg-type]


# the page's other derived figures, for the same reason: a rerun (a widget change elsewhere on the page,
# another session) reads them instead of recomputing ~0.1 s of pandas each
@st.cache_data(ttl=TTL_S, max_entries=32, show_spinner=False)
def daily_spend_by(frame: pd.DataFrame, first: date, last: date, by: str) -> pd.DataFrame:
    return costs.daily_spend_by(frame, first, last, by)  # type: ignore[arg-type]


@st.cache_data(ttl=TTL_S, max_entries=32, show_spinner=False)
def top_movers(frame: pd.DataFrame, day: date, by: str) -> pd.DataFrame:
    return costs.top_movers(frame, day, by)  # type: ignore[arg-type]


@st.cache_data(ttl=TTL_S, max_entries=32, show_spinner=False)
def unit_costs(
    frame: pd.DataFrame,
    _traffic: pd.DataFrame,
    first: date,
    last: date,
    step: timedelta,
    regions: tuple[str, ...],
    anchor: datetime,
) -> costs.UnitCosts:
    """Unit costs; the traffic (a month of 5-minute points: hashing it cost more than the figures) is
    keyed by what it was read for instead: the regions, days, step and the data's newest point."""
    return costs.unit_costs(frame, _traffic, first, last, step)


@st.cache_data(ttl=TTL_S, max_entries=64, show_spinner=False)
def run_rate(frame: pd.DataFrame, day: date, service: str = "", region: str = "") -> float:
    return costs.run_rate(frame, day, service, region)


def budgets_projected_to_overrun(budgets: Sequence[Budget]) -> list[costs.BudgetState]:
    """Budgets spent or projected past their amount this month, earliest first (for banners)."""
    day = today()
    return costs.overrunning(budget_statuses(billing(costs.history_start(day), day), tuple(budgets), day))


def overrun_banner(budgets: Sequence[Budget]) -> None:
    """The guardrail alert (Overview and Triage): budgets spent or projected to overrun this month."""
    at_risk = budgets_projected_to_overrun(budgets)
    if at_risk:
        st.warning(
            f"💵 **{len(at_risk)} budget(s) projected to overrun in {today():%B %Y}** "
            "(details on the Costs page)\n\n" + "\n".join(f"- {costs.budget_alert_text(s)}" for s in at_risk)
        )
        # drill-down: each budget opens the Costs page on it (?budget= in its URL)
        for state in at_risk:
            try:
                st.page_link(
                    "pages/costs.py",
                    label=f"Open the Costs page on the budget '{state.name}'",
                    icon="💵",
                    query_params={"budget": state.name},
                )
            except StreamlitAPIException:  # a page run on its own (no st.navigation): no pages to link
                break
