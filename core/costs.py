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

End-of-month projection: `auto_forecast` by default, i.e. core/forecast.py's automatic choice among
statsmodels candidates (rolling-origin backtest, calibrated bands) with a weekly season, on the daily
spend of the last five weeks before the month plus the month's closed days. It falls back to the
weekly-seasonal rule below when the history is under two weeks or cannot be forecast. Any `Forecaster`
returning a `DailyForecast` can be passed instead; hand-checkable tests use `weekly_seasonal_forecast`.
A sum of n days gets sqrt(n) times a day's spread (days taken as independent).

Weekly-seasonal rule (the fallback, the anomaly expectation, and the estimate of a missing day): a day
is the mean of the last `weeks` observed values on the same weekday (spend follows the weekly traffic
cycle: weekends are cheaper). Its band comes from the in-sample one-step residuals of the same rule,
scaled robustly (1.4826 x median |residual|), so a one-off credit or a partial first day of data does
not widen it.
"""

from __future__ import annotations

import calendar
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from statistics import NormalDist
from typing import Any, Literal, Protocol

import numpy as np
import pandas as pd

SEASON_DAYS = 7
DEFAULT_WEEKS = 4  # same-weekday observations averaged for a forecast
LEVELS: tuple[int, ...] = (80, 95)
ANOMALY_LEVEL = 95  # a day outside this band of its expectation is flagged
AMBER_FRACTION = 0.9  # projected spend above this share of the budget is amber
ANOMALY_MIN_USD = 1.0  # a day must also be this far from its expectation: cents are not anomalies
MAD_TO_SD = 1.4826  # median absolute deviation -> standard deviation for normal errors
MIN_RESIDUALS = 3
DAYS_PER_MONTH = 30.0  # for "per month" figures of a scenario (a budget month is the calendar month)

BudgetState = Literal["red", "amber", "green", "no data"]


class BudgetLike(Protocol):
    """core.config.Budget, or anything with the same fields ('' = all services / regions)."""

    name: str
    monthly_usd: float
    service: str
    region: str


def z_value(level: int) -> float:
    """Two-sided normal quantile for a central `level`% interval (80 -> 1.2816, 95 -> 1.9600)."""
    return NormalDist().inv_cdf(0.5 + level / 200.0)


# ---- days and months ------------------------------------------------------------------------------
def utc_today(now: datetime) -> date:
    """The UTC calendar day of an aware datetime (billing days are UTC, whatever the local time)."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now.astimezone(UTC).date()


def month_bounds(day: date) -> tuple[date, date]:
    """First and last day of the calendar month containing `day`."""
    last = calendar.monthrange(day.year, day.month)[1]
    return day.replace(day=1), day.replace(day=last)


def history_start(today: date, weeks: int = DEFAULT_WEEKS) -> date:
    """Earliest day a caller should load so the projection has `weeks` full weeks before the month,
    plus one more week of residuals for the band."""
    return month_bounds(today)[0] - timedelta(days=SEASON_DAYS * (weeks + 1))


def _days(first: date, last: date) -> pd.DatetimeIndex:
    return pd.date_range(pd.Timestamp(first), pd.Timestamp(last), freq="D", name="day")


# ---- billing frames ----------------------------------------------------------------------------------
def normalise_billing(billing: pd.DataFrame) -> pd.DataFrame:
    """The billing contract with `day` as datetime.date and cost_usd as float64 (strings, timestamps or
    dates are accepted for `day`)."""
    out = billing.loc[:, ["day", "service", "region", "cost_usd"]].copy()
    if out.empty:
        out["day"] = pd.Series([], dtype=object)
        out["cost_usd"] = out["cost_usd"].astype("float64")
        return out
    out["day"] = pd.to_datetime(out["day"].astype(str)).dt.date
    out["service"] = out["service"].astype(str)
    out["region"] = out["region"].astype(str)
    out["cost_usd"] = out["cost_usd"].astype("float64")
    return out


def filter_billing(billing: pd.DataFrame, service: str = "", region: str = "") -> pd.DataFrame:
    """Rows of one service and/or region ('' = all)."""
    mask = pd.Series(True, index=billing.index)
    if service:
        mask &= billing["service"] == service
    if region:
        mask &= billing["region"] == region
    return billing[mask]


def billing_in_regions(billing: pd.DataFrame, regions: Sequence[str], known: Sequence[str]) -> pd.DataFrame:
    """Rows of the chosen regions. Rows outside every known region (Cost Explorer's 'global', i.e.
    NoRegion) belong to no one region, so they count only when every known region is chosen."""
    everything = set(known) <= set(regions)
    keep = billing["region"].isin(list(regions))
    if everything:
        keep |= ~billing["region"].isin(list(known))
    return billing[keep]


def daily_totals(
    billing: pd.DataFrame, first: date, last: date, service: str = "", region: str = ""
) -> pd.Series:
    """Net spend per day first..last (daily DatetimeIndex named 'day'). Days without any billing row
    (for any service or region) are NaN; days with rows but none in the filter are 0."""
    index = _days(first, last)
    if len(index) == 0:
        return pd.Series([], index=index, dtype="float64", name="cost_usd")
    b = normalise_billing(billing)
    days_with_data = pd.DatetimeIndex(pd.to_datetime(pd.Series(b["day"].unique(), dtype=object)))
    sel = filter_billing(b, service, region)
    sums = sel.groupby(pd.to_datetime(sel["day"]))["cost_usd"].sum() if not sel.empty else pd.Series()
    out = pd.Series(np.nan, index=index, dtype="float64", name="cost_usd")
    out[index.isin(days_with_data)] = 0.0
    if not sums.empty:
        sums = sums[sums.index.isin(index)]
        out.loc[sums.index] = sums.to_numpy()
    return out


def _data_days(billing: pd.DataFrame) -> tuple[date, date] | None:
    b = normalise_billing(billing)
    if b.empty:
        return None
    return min(b["day"]), max(b["day"])


def model_series(
    billing: pd.DataFrame, first: date, last: date, service: str = "", region: str = ""
) -> pd.Series:
    """daily_totals as the models see them: when the data begins inside the window (after `first`),
    its first day is blanked, since it may be partial. Data reaching back to `first` or before is
    loaded history, not a beginning, so callers that load more or less history agree."""
    s = daily_totals(billing, first, last, service, region)
    bounds = _data_days(billing)
    if bounds is not None and first < bounds[0] <= last:
        s[pd.Timestamp(bounds[0])] = math.nan
    return s


OTHER = "other"


def daily_spend_by(
    billing: pd.DataFrame, first: date, last: date, by: Literal["service", "region"], top: int = 8
) -> pd.DataFrame:
    """Wide frame for a stacked chart: one row per day first..last (date index, every day present, 0
    where nothing was billed), one column per service or region, biggest spender first; beyond `top`
    the rest is summed into 'other'."""
    b = normalise_billing(billing)
    b = b[(b["day"] >= first) & (b["day"] <= last)]
    days = [d.date() for d in _days(first, last)]
    wide = b.pivot_table(index="day", columns=by, values="cost_usd", aggfunc="sum", fill_value=0.0)
    wide = wide.reindex(days, fill_value=0.0)
    wide.index.name = "day"
    order = wide.sum().sort_values(ascending=False, kind="stable").index
    wide = wide[order]
    if wide.shape[1] > top + 1:
        wide = pd.concat([wide.iloc[:, :top], wide.iloc[:, top:].sum(axis=1).rename(OTHER)], axis=1)
    wide.columns.name = by
    return wide.astype("float64")


def load_start(today: date, days_shown: int, weeks: int = DEFAULT_WEEKS) -> date:
    """Earliest day to load for a view of `days_shown` closed days: the projection's window, and for
    the first shown day its weekday expectation and the residuals that set its band."""
    window = timedelta(days=SEASON_DAYS * (weeks + 1))
    return min(history_start(today, weeks), today - timedelta(days=days_shown) - 2 * window)


# ---- the weekly-seasonal model ------------------------------------------------------------------------
def same_weekday_mean(history: pd.Series, day: pd.Timestamp, weeks: int = DEFAULT_WEEKS) -> float:
    """Mean of the last `weeks` observed (non-NaN) values on `day`'s weekday strictly before `day`
    (`history` has a regular daily index, as daily_totals returns)."""
    if len(history) == 0:
        return math.nan
    values = history.to_numpy(dtype="float64")
    return _same_weekday_mean(values, (day - history.index[0]).days, weeks)


def _same_weekday_mean(values: np.ndarray, position: int, weeks: int) -> float:
    taken: list[float] = []
    p = position - SEASON_DAYS
    if p > len(values) - 1:  # a day beyond the history: start from its weekday's last observed slot
        p -= math.ceil((p - (len(values) - 1)) / SEASON_DAYS) * SEASON_DAYS
    while p >= 0 and len(taken) < weeks:
        if not math.isnan(values[p]):
            taken.append(values[p])
        p -= SEASON_DAYS
    return sum(taken) / len(taken) if taken else math.nan


def residuals(history: pd.Series, weeks: int = DEFAULT_WEEKS) -> pd.Series:
    """One-step in-sample residuals (actual - same-weekday mean of earlier weeks) where both exist."""
    values = history.to_numpy(dtype="float64")
    out = {}
    for i, actual in enumerate(values):
        if math.isnan(actual):
            continue
        expected = _same_weekday_mean(values, i, weeks)
        if not math.isnan(expected):
            out[history.index[i]] = actual - expected
    return pd.Series(list(out.values()), index=pd.DatetimeIndex(list(out), name="day"), dtype="float64")


def robust_sd(resid: pd.Series | np.ndarray) -> float:
    """1.4826 x median |residual|: the spread of a day's error, robust to one-off credits and spikes."""
    r = np.abs(np.asarray(resid, dtype="float64"))
    r = r[~np.isnan(r)]
    if len(r) < MIN_RESIDUALS:
        return math.nan
    return float(MAD_TO_SD * np.median(r))


@dataclass(frozen=True)
class DailyForecast:
    """Forecast of daily spend: frame columns day (Timestamp), mean, sd, lo_80, hi_80, lo_95, hi_95."""

    frame: pd.DataFrame
    method: str


Forecaster = Callable[[pd.Series, int], DailyForecast]


def weekly_seasonal_forecast(
    history: pd.Series, horizon: int, weeks: int = DEFAULT_WEEKS, levels: Sequence[int] = LEVELS
) -> DailyForecast:
    """Forecast `horizon` days after the last day of `history` (daily index; NaN = missing day)."""
    if horizon < 0:
        raise ValueError("horizon must be >= 0")
    observed = history.dropna()
    if observed.empty:
        raise ValueError("no billing history to project from")
    last = history.index[-1]
    days = pd.date_range(last + pd.Timedelta(days=1), periods=horizon, freq="D", name="day")
    # a weekday never observed (under a week of history) falls back to the mean of recent days
    fallback = float(observed.iloc[-SEASON_DAYS * weeks :].mean())
    means = [same_weekday_mean(history, d, weeks) for d in days]
    means = [fallback if math.isnan(m) else m for m in means]
    sd = robust_sd(residuals(history, weeks))
    frame = pd.DataFrame({"day": days, "mean": np.asarray(means, dtype="float64"), "sd": sd})
    for level in levels:
        half = z_value(level) * sd
        frame[f"lo_{level}"] = frame["mean"] - half
        frame[f"hi_{level}"] = frame["mean"] + half
    return DailyForecast(frame, f"weekly seasonal (mean of the last {weeks} same weekdays)")


def auto_forecast(history: pd.Series, horizon: int, levels: Sequence[int] = LEVELS) -> DailyForecast:
    """core.forecast's automatic model choice with a weekly season, days aligned to the history's index
    (a missing last day still forecasts from the day after the history); the weekly-seasonal rule when
    the history is under two weeks or core.forecast cannot fit it."""
    from core.forecast import ForecastError, forecast  # statsmodels is imported lazily: it is slow

    observed = history.dropna()
    if len(observed) < 2 * SEASON_DAYS or horizon == 0:
        return weekly_seasonal_forecast(history, horizon, levels=levels)
    levels = tuple(sorted({*levels, 95}))  # a day's sd is read from its 95% band
    series = history.copy()
    series.index = series.index.tz_localize(UTC)
    tail = (history.index[-1] - observed.index[-1]).days
    try:
        result = forecast(series, horizon + tail, season_lengths=(SEASON_DAYS,), levels=levels)
    except ForecastError:
        return weekly_seasonal_forecast(history, horizon, levels=levels)
    frame = result.frame.copy()
    frame["day"] = frame["ts"].dt.tz_convert(UTC).dt.tz_localize(None).astype("datetime64[ns]")
    frame = frame[frame["day"] > history.index[-1]].head(horizon).reset_index(drop=True)
    frame["sd"] = (frame["hi_95"] - frame["lo_95"]) / (2 * z_value(95))
    columns = ["day", "mean", "sd", *[f"{side}_{lvl}" for lvl in levels for side in ("lo", "hi")]]
    return DailyForecast(frame[columns], f"{result.model} (core.forecast, chosen by backtest)")


# ---- month-to-date and end-of-month projection ------------------------------------------------------
@dataclass(frozen=True)
class MonthProjection:
    """Spend of the month containing `today`. `daily` has one row per day of the month: day (date),
    actual_usd (closed days; NaN when missing), forecast_usd (today on, and missing closed days),
    lo/hi_80/95 of the day, cumulative_usd and cum_lo/hi_80/95 (actuals, then actuals + forecast)."""

    today: date
    month_start: date
    month_end: date
    spent_usd: float  # closed days of the month, net of credits
    today_so_far_usd: float  # today's partial rows (shown, not projected from)
    missing_days: tuple[date, ...]
    missing_estimate_usd: float
    remaining_usd: float  # forecast for today .. month end
    projected_usd: float
    bands: dict[int, tuple[float, float]]  # level -> (lo, hi) of the projected month total
    daily: pd.DataFrame
    method: str

    @property
    def lo_80(self) -> float:
        return self.bands.get(80, (math.nan, math.nan))[0]

    @property
    def hi_80(self) -> float:
        return self.bands.get(80, (math.nan, math.nan))[1]


def project_month(
    billing: pd.DataFrame,
    today: date,
    service: str = "",
    region: str = "",
    forecaster: Forecaster | None = None,
    levels: Sequence[int] = LEVELS,
    weeks: int = DEFAULT_WEEKS,
) -> MonthProjection:
    """Month-to-date spend and the end-of-month projection for one scope ('' = all)."""
    first, last = month_bounds(today)
    billing = normalise_billing(billing)
    bounds = _data_days(billing)
    yesterday = today - timedelta(days=1)
    in_month = daily_totals(billing, first, yesterday, service, region)
    today_so_far = float(daily_totals(billing, today, today, service, region).fillna(0.0).sum())
    spent = float(in_month.fillna(0.0).sum())
    # gaps after the data began; days before it are simply before the history
    missing = in_month[in_month.isna()].index
    missing = missing[missing > pd.Timestamp(bounds[0])] if bounds else missing[:0]
    # the model sees a fixed window, so pages that load different ranges agree
    history = model_series(billing, history_start(today, weeks), yesterday, service, region)
    horizon = (last - today).days + 1

    method = "no billing history"
    daily = pd.DataFrame({"day": _days(first, last)})
    daily["actual_usd"] = in_month.reindex(daily["day"]).to_numpy()
    daily["forecast_usd"] = math.nan
    daily["sd"] = math.nan
    if history.dropna().empty:
        remaining = missing_estimate = projected = math.nan
        bands = {lvl: (math.nan, math.nan) for lvl in levels}
    else:
        fc = (forecaster or auto_forecast)(history, horizon)
        method = fc.method
        future = fc.frame.set_index("day")
        # missing closed days of the month are estimated by the same weekday rule as the projection
        for day in missing:
            estimate = same_weekday_mean(history, day, weeks)
            if math.isnan(estimate):
                estimate = float(history.dropna().iloc[-SEASON_DAYS * weeks :].mean())
            daily.loc[daily["day"] == day, ["forecast_usd", "sd"]] = [estimate, _sd_of(future)]
        future_days = daily["day"] >= pd.Timestamp(today)
        daily.loc[future_days, "forecast_usd"] = (
            future["mean"].reindex(daily.loc[future_days, "day"]).to_numpy()
        )
        daily.loc[future_days, "sd"] = _sd_column(future).reindex(daily.loc[future_days, "day"]).to_numpy()
        missing_estimate = float(daily.loc[daily["day"].isin(missing), "forecast_usd"].sum())
        remaining = float(daily.loc[future_days, "forecast_usd"].sum())
        projected = spent + missing_estimate + remaining
        total_sd = math.sqrt(float((daily["sd"].fillna(0.0) ** 2).sum()))
        if daily.loc[daily["forecast_usd"].notna(), "sd"].isna().any():
            total_sd = math.nan
        bands = {
            lvl: (projected - z_value(lvl) * total_sd, projected + z_value(lvl) * total_sd) for lvl in levels
        }

    for level in levels:
        half = z_value(level) * daily["sd"]
        daily[f"lo_{level}"] = daily["forecast_usd"] - half
        daily[f"hi_{level}"] = daily["forecast_usd"] + half
    # cumulative: actuals (missing days count their estimate) and, from today, the forecast
    per_day = daily["actual_usd"].where(daily["actual_usd"].notna(), daily["forecast_usd"])
    daily["cumulative_usd"] = per_day.cumsum()
    cum_sd = np.sqrt((daily["sd"].fillna(0.0) ** 2).cumsum())
    for level in levels:
        daily[f"cum_lo_{level}"] = daily["cumulative_usd"] - z_value(level) * cum_sd
        daily[f"cum_hi_{level}"] = daily["cumulative_usd"] + z_value(level) * cum_sd
    daily = daily.drop(columns="sd")
    daily["day"] = daily["day"].dt.date
    return MonthProjection(
        today=today,
        month_start=first,
        month_end=last,
        spent_usd=spent,
        today_so_far_usd=today_so_far,
        missing_days=tuple(d.date() for d in missing),
        missing_estimate_usd=missing_estimate,
        remaining_usd=remaining,
        projected_usd=projected,
        bands=bands,
        daily=daily,
        method=method,
    )


def _sd_column(future: pd.DataFrame) -> pd.Series:
    """A forecast day's sd: given, or read back from its 95% band (for forecasters without `sd`)."""
    if "sd" in future:
        return future["sd"]
    return (future["hi_95"] - future["lo_95"]) / (2 * z_value(95))


def _sd_of(future: pd.DataFrame) -> float:
    col = _sd_column(future)
    return float(col.iloc[0]) if len(col) else math.nan


# ---- budgets --------------------------------------------------------------------------------------------
def budget_scope(service: str, region: str) -> str:
    return f"{service or 'all services'} · {region or 'all regions'}"


@dataclass(frozen=True)
class BudgetStatus:
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
    state: BudgetState
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
) -> BudgetStatus:
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
    state: BudgetState
    if math.isnan(p.projected_usd):
        state, reason = "no data", "no billing history for this budget's scope"
    elif p.spent_usd > limit:
        state = "red"
        reason = f"spent {_usd(p.spent_usd)}, over the {_usd(limit)} budget since {overrun}"
    elif p.projected_usd > limit:
        state = "red"
        reason = (
            f"projected {_usd(p.projected_usd)} ({projected_consumed:.0%} of {_usd(limit)}); "
            f"overrun expected on {overrun}"
        )
    elif projected_consumed > AMBER_FRACTION or (not math.isnan(hi) and hi > limit):
        state = "amber"
        band = f"; the 80% band reaches {_usd(hi)}" if not math.isnan(hi) else ""
        reason = f"projected {_usd(p.projected_usd)} is {projected_consumed:.0%} of {_usd(limit)}{band}"
    else:
        state = "green"
        reason = f"projected {_usd(p.projected_usd)} is {projected_consumed:.0%} of {_usd(limit)}"
    return BudgetStatus(
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


def budget_statuses(
    billing: pd.DataFrame,
    budgets: Sequence[BudgetLike],
    today: date,
    forecaster: Forecaster | None = None,
) -> list[BudgetStatus]:
    return [budget_status(billing, b, today, forecaster) for b in budgets]


def budgets_projected_to_overrun(
    billing: pd.DataFrame,
    budgets: Sequence[BudgetLike],
    today: date,
    forecaster: Forecaster | None = None,
) -> list[BudgetStatus]:
    """Budgets whose spend exceeds them, or is projected to, within this month (earliest first).
    Overview and Triage show these as guardrail alerts."""
    return overrunning(budget_statuses(billing, budgets, today, forecaster))


def overrunning(statuses: Sequence[BudgetStatus]) -> list[BudgetStatus]:
    """The statuses with an overrun date this month, earliest first."""
    return sorted((s for s in statuses if s.overrun_date), key=lambda s: (s.overrun_date, s.name))


def budget_alert_text(status: BudgetStatus) -> str:
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


def budget_table(statuses: Sequence[BudgetStatus]) -> pd.DataFrame:
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


# ---- day-over-day, week-over-week, anomalies ----------------------------------------------------------
def _pct(change: float, base: float) -> float:
    """Percentage change; undefined (NaN) when the base is not a positive spend (zero, credit, missing)."""
    return change / base * 100 if base > 0 else math.nan


CHANGE_COLUMNS: tuple[str, ...] = (
    "day",
    "cost_usd",
    "dod_usd",
    "dod_pct",
    "wow_usd",
    "wow_pct",
    "expected_usd",
    "lo_usd",
    "hi_usd",
    "anomaly",
    "direction",
)


def daily_changes(
    billing: pd.DataFrame,
    today: date,
    days: int,
    service: str = "",
    region: str = "",
    level: int = ANOMALY_LEVEL,
    weeks: int = DEFAULT_WEEKS,
) -> pd.DataFrame:
    """For each of the last `days` closed days: spend, change vs the day before and the same weekday a
    week before, the expectation (same-weekday mean of the `weeks` earlier weeks) with its `level`% band
    (robust spread of the residuals of the `weeks + 1` weeks before), and an anomaly flag when the spend
    is outside that band by at least ANOMALY_MIN_USD."""
    first = today - timedelta(days=days)
    window = timedelta(days=SEASON_DAYS * (weeks + 1))
    yesterday = today - timedelta(days=1)
    actual = daily_totals(billing, first - 2 * window, yesterday, service, region)
    model = model_series(billing, first - 2 * window, yesterday, service, region)
    resid = residuals(model, weeks)
    z = z_value(level)
    rows = []
    for day in actual.index[actual.index >= pd.Timestamp(first)]:
        cost = actual[day]
        prev = actual.get(day - pd.Timedelta(days=1), math.nan)
        week = actual.get(day - pd.Timedelta(days=SEASON_DAYS), math.nan)
        expected = same_weekday_mean(model, day, weeks)
        sd = robust_sd(resid[(resid.index < day) & (resid.index >= day - window)])
        lo, hi = expected - z * sd, expected + z * sd
        outside = bool(
            not math.isnan(cost)
            and not math.isnan(sd)
            and (cost > hi or cost < lo)
            and abs(cost - expected) >= ANOMALY_MIN_USD
        )
        rows.append(
            {
                "day": day.date(),
                "cost_usd": cost,
                "dod_usd": cost - prev,
                "dod_pct": _pct(cost - prev, prev),
                "wow_usd": cost - week,
                "wow_pct": _pct(cost - week, week),
                "expected_usd": expected,
                "lo_usd": lo,
                "hi_usd": hi,
                "anomaly": outside,
                "direction": ("above" if cost > hi else "below") if outside else "",
            }
        )
    return pd.DataFrame(rows, columns=list(CHANGE_COLUMNS))


def anomalies_by(
    billing: pd.DataFrame, today: date, days: int, by: Literal["service", "region"] = "service"
) -> pd.DataFrame:
    """Anomalous days of each service (or region) in the last `days` closed days, newest first."""
    b = normalise_billing(billing)
    frames = []
    for value in sorted(b[by].unique()):
        scope = {"service": value} if by == "service" else {"region": value}
        ch = daily_changes(b, today, days, **scope)
        ch = ch[ch["anomaly"]]
        if not ch.empty:
            frames.append(ch.assign(**{by: value}))
    if not frames:
        return pd.DataFrame(columns=["day", by, *CHANGE_COLUMNS[1:]])
    out = pd.concat(frames, ignore_index=True)
    cols = ["day", by, *[c for c in out.columns if c not in ("day", by)]]
    return out[cols].sort_values(["day", by], ascending=[False, True], kind="stable").reset_index(drop=True)


# ---- top movers -------------------------------------------------------------------------------------------
def top_movers(
    billing: pd.DataFrame, today: date, by: Literal["service", "region"] = "service", n: int = 5
) -> pd.DataFrame:
    """Largest changes (by absolute USD) between this week (the 7 closed days to yesterday) and the 7
    days before, per service or region."""
    b = normalise_billing(billing)
    this_first = today - timedelta(days=SEASON_DAYS)
    prev_first = today - timedelta(days=2 * SEASON_DAYS)
    this = b[(b["day"] >= this_first) & (b["day"] < today)].groupby(by)["cost_usd"].sum()
    prev = b[(b["day"] >= prev_first) & (b["day"] < this_first)].groupby(by)["cost_usd"].sum()
    frame = pd.DataFrame({"this_week_usd": this, "last_week_usd": prev}).fillna(0.0)
    frame["change_usd"] = frame["this_week_usd"] - frame["last_week_usd"]
    frame["change_pct"] = [
        _pct(c, p) for c, p in zip(frame["change_usd"], frame["last_week_usd"], strict=True)
    ]
    frame = frame.rename_axis(by).reset_index()
    order = frame["change_usd"].abs().sort_values(ascending=False, kind="stable").index
    return frame.loc[order].head(n).reset_index(drop=True)


# ---- unit economics -----------------------------------------------------------------------------------------
def daily_requests(metrics: pd.DataFrame, step: timedelta = timedelta(minutes=1)) -> pd.DataFrame:
    """Requests per UTC day and region from a tidy frame's requests_per_second: the sum over its points
    of rate x step (at a 1-minute step, rate x 60 per minute). Columns day (date), region, requests."""
    rps = metrics[metrics["metric"] == "requests_per_second"]
    if rps.empty:
        return pd.DataFrame({"day": [], "region": [], "requests": []})
    day = pd.to_datetime(rps["ts"], utc=True).dt.tz_convert(UTC).dt.date
    out = (
        (rps["value"] * step.total_seconds())
        .groupby([day.rename("day"), rps["region"].rename("region")])
        .sum()
        .rename("requests")
        .reset_index()
    )
    return out


ALL_REGIONS = "all regions"


@dataclass(frozen=True)
class UnitCosts:
    """by_region: region, cost_usd, requests_millions, usd_per_million_requests (last row: all regions,
    including costs without a region such as Cost Explorer's 'global'); daily: the same per day and
    region. Only days with both billing rows and traffic count."""

    by_region: pd.DataFrame
    daily: pd.DataFrame


def unit_costs(
    billing: pd.DataFrame,
    metrics: pd.DataFrame,
    first: date,
    last: date,
    step: timedelta = timedelta(minutes=1),
) -> UnitCosts:
    """Cost per million requests per region over days first..last (pass closed days only: today's bill
    and traffic are both partial, but not over the same minutes)."""
    b = normalise_billing(billing)
    b = b[(b["day"] >= first) & (b["day"] <= last)]
    req = daily_requests(metrics, step)
    if not req.empty:
        req = req[(req["day"] >= first) & (req["day"] <= last)]
    cost = b.groupby(["day", "region"])["cost_usd"].sum().rename("cost_usd").reset_index()
    daily = cost.merge(req, on=["day", "region"], how="inner")
    daily["requests_millions"] = daily["requests"] / 1e6
    daily["usd_per_million_requests"] = _per_million(daily["cost_usd"], daily["requests_millions"])
    daily = daily.drop(columns="requests").sort_values(["day", "region"]).reset_index(drop=True)
    per_region = daily.groupby("region")[["cost_usd", "requests_millions"]].sum().reset_index()
    # the total adds costs not tied to a traffic region (e.g. 'global') on the days counted
    counted_days = set(daily["day"])
    total_cost = float(b.loc[b["day"].isin(counted_days), "cost_usd"].sum())
    total_req = float(per_region["requests_millions"].sum())
    total = pd.DataFrame(
        {"region": [ALL_REGIONS], "cost_usd": [total_cost], "requests_millions": [total_req]}
    )
    by_region = pd.concat([per_region, total], ignore_index=True) if len(per_region) else total
    by_region["usd_per_million_requests"] = _per_million(
        by_region["cost_usd"], by_region["requests_millions"]
    )
    return UnitCosts(by_region=by_region, daily=daily)


def _per_million(cost: pd.Series, millions: pd.Series) -> pd.Series:
    return (cost / millions.where(millions > 0)).astype("float64")


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
    delta_usd_per_month: float  # per 30 days

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
    """Same, from a capacity simulation (core/capacity.py's SimulationResult, read by duck typing:
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
