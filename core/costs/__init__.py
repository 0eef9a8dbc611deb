"""Costs and FinOps: month-to-date spend, end-of-month projection with a band, budgets with a
red/amber/green state and a projected overrun date, day-over-day and week-over-week changes with anomaly
flags, top movers, cost per million requests per region, and the cost of a capacity scenario against the
current run rate. Pure pandas/numpy over billing frames (core/ports.py: day, service, region,
cost_usd); no streamlit.

Days are UTC calendar days. `today` is the open day: its rows are partial (the demo world writes the
minutes so far, Cost Explorer calls it Estimated), so actuals are the closed days (< today) and today is
projected with the rest of the month. Refunds and credits are negative rows and count net everywhere.
A closed day with no billing rows at all, after the first day of data, is *missing* (a gap in the data,
not a $0 day): it is left out of the actuals and estimated in the projection. A day that has rows, but
none for a budget's service or region, is a real $0 day for that budget. The first day of the data is
counted in the actuals but left out of the models: billing that starts mid-day (a new account, the demo
world) would otherwise read as a cheap day and drag down that weekday's expectation for weeks.

End-of-month projection: `auto_forecast` by default, i.e. core.forecast's automatic choice among
the candidates that suit a short daily series (`DAILY_CANDIDATES`: additive and damped ETS, the
seasonal autoregressions, with the seasonal naive and the median of the best three; rolling-origin
backtest, calibrated bands) with a weekly season, on the daily
spend of the last five weeks before the month plus the month's closed days. It falls back to the
weekly-seasonal rule below when the history is under two weeks or cannot be forecast. Any `Forecaster`
returning a `DailyForecast` can be passed instead; hand-checkable tests use `weekly_seasonal_forecast`.
A sum of days gets the sum of their spreads (day errors taken as fully correlated: spend misses in runs).

Weekly-seasonal rule (the fallback, the anomaly expectation, and the estimate of a missing day): a day
is the mean of the last `weeks` observed values on the same weekday (spend follows the weekly traffic
cycle: weekends are cheaper). Its band comes from the in-sample one-step residuals of the same rule,
scaled robustly (1.4826 x median |residual|), so a one-off credit or a partial first day of data does
not widen it.

Modules, by concern: `billing` (days, months, billing frames), `forecasters` (the weekly-seasonal rule and
auto_forecast), `projection` (month to date, end of month), `budgets` (dollar budgets and their RAG
level), `anomalies` (DoD / WoW, anomaly flags, top movers), `unit_cost` (cost per million requests),
`scenarios` (a capacity scenario against the run rate; one month is core.units.DAYS_PER_MONTH).
"""

from core.costs.anomalies import (
    ANOMALY_LEVEL,
    ANOMALY_MIN_USD,
    CHANGE_COLUMNS,
    anomalies_by,
    daily_changes,
    top_movers,
)
from core.costs.billing import (
    DEFAULT_WEEKS,
    OTHER,
    SEASON_DAYS,
    billing_in_regions,
    daily_spend_by,
    daily_totals,
    filter_billing,
    history_start,
    load_start,
    model_series,
    month_bounds,
    normalise_billing,
    utc_today,
)
from core.costs.budgets import (
    AMBER_FRACTION,
    BudgetLevel,
    BudgetLike,
    BudgetState,
    budget_alert_text,
    budget_scope,
    budget_status,
    budget_statuses,
    budget_table,
    budgets_projected_to_overrun,
    overrunning,
)
from core.costs.forecasters import (
    DAILY_CANDIDATES,
    LEVELS,
    MAD_TO_SD,
    MIN_RESIDUALS,
    DailyForecast,
    Forecaster,
    auto_forecast,
    residuals,
    robust_sd,
    same_weekday_mean,
    weekly_seasonal_forecast,
    z_value,
)
from core.costs.projection import (
    MonthProjection,
    project_month,
)
from core.costs.scenarios import (
    SAVED_SCENARIO_COLUMNS,
    ScenarioCost,
    equivalent_instances,
    run_rate,
    saved_scenarios_vs_run_rate,
    scenario_cost,
    scenario_cost_from_simulation,
)
from core.costs.unit_cost import (
    ALL_REGIONS,
    UnitCosts,
    daily_requests,
    unit_costs,
)

__all__ = [
    "ALL_REGIONS",
    "AMBER_FRACTION",
    "ANOMALY_LEVEL",
    "ANOMALY_MIN_USD",
    "BudgetLevel",
    "BudgetLike",
    "BudgetState",
    "CHANGE_COLUMNS",
    "DAILY_CANDIDATES",
    "DEFAULT_WEEKS",
    "DailyForecast",
    "Forecaster",
    "LEVELS",
    "MAD_TO_SD",
    "MIN_RESIDUALS",
    "MonthProjection",
    "OTHER",
    "SAVED_SCENARIO_COLUMNS",
    "SEASON_DAYS",
    "ScenarioCost",
    "UnitCosts",
    "anomalies_by",
    "auto_forecast",
    "billing_in_regions",
    "budget_alert_text",
    "budget_scope",
    "budget_status",
    "budget_statuses",
    "budget_table",
    "budgets_projected_to_overrun",
    "daily_changes",
    "daily_requests",
    "daily_spend_by",
    "daily_totals",
    "equivalent_instances",
    "filter_billing",
    "history_start",
    "load_start",
    "model_series",
    "month_bounds",
    "normalise_billing",
    "overrunning",
    "project_month",
    "residuals",
    "robust_sd",
    "run_rate",
    "same_weekday_mean",
    "saved_scenarios_vs_run_rate",
    "scenario_cost",
    "scenario_cost_from_simulation",
    "top_movers",
    "unit_costs",
    "utc_today",
    "weekly_seasonal_forecast",
    "z_value",
]
