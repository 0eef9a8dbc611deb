"""Month-to-date spend and the end-of-month projection with its bands: closed days are actuals, missing
closed days are estimated, today and the rest of the month are forecast; a sum of days gets the sum of
their spreads (day errors taken as fully correlated: see _month_bands)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import pandas as pd

from core.costs.billing import (
    DEFAULT_WEEKS,
    SEASON_DAYS,
    _data_days,
    _days,
    daily_totals,
    history_start,
    model_series,
    month_bounds,
    normalise_billing,
)
from core.costs.forecasters import LEVELS, Forecaster, auto_forecast, same_weekday_mean, z_value


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
    yesterday = today - timedelta(days=1)
    in_month = daily_totals(billing, first, yesterday, service, region)
    today_so_far = float(daily_totals(billing, today, today, service, region).fillna(0.0).sum())
    spent = float(in_month.fillna(0.0).sum())
    missing = _missing_days(in_month, billing)
    # the model sees a fixed window, so pages that load different ranges agree
    history = model_series(billing, history_start(today, weeks), yesterday, service, region)

    daily = pd.DataFrame({"day": _days(first, last)})
    daily["actual_usd"] = in_month.reindex(daily["day"]).to_numpy()
    daily["forecast_usd"] = math.nan
    daily["sd"] = math.nan
    if history.dropna().empty:
        method = "no billing history"
        remaining = missing_estimate = projected = math.nan
        bands = {lvl: (math.nan, math.nan) for lvl in levels}
    else:
        fc = (forecaster or auto_forecast)(history, (last - today).days + 1)
        method = fc.method
        _fill_forecast(daily, fc.frame.set_index("day"), history, missing, today, weeks)
        missing_estimate = float(daily.loc[daily["day"].isin(missing), "forecast_usd"].sum())
        remaining = float(daily.loc[daily["day"] >= pd.Timestamp(today), "forecast_usd"].sum())
        projected = spent + missing_estimate + remaining
        bands = _month_bands(daily, projected, levels)
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
        daily=_with_day_bands_and_cumulative(daily, levels),
        method=method,
    )


def _missing_days(in_month: pd.Series, billing: pd.DataFrame) -> pd.DatetimeIndex:
    """Closed days of the month without any billing row, after the data began (days before it are
    simply before the history, not gaps)."""
    bounds = _data_days(billing)
    missing = in_month[in_month.isna()].index
    return missing[missing > pd.Timestamp(bounds[0])] if bounds else missing[:0]


def _fill_forecast(
    daily: pd.DataFrame,
    future: pd.DataFrame,
    history: pd.Series,
    missing: pd.DatetimeIndex,
    today: date,
    weeks: int,
) -> None:
    """Fill `daily`'s forecast_usd and sd in place: missing closed days with their estimate, today to
    the month's end with the forecast (`future`, indexed by day)."""
    # missing closed days of the month are estimated by the same weekday rule as the projection
    for day in missing:
        estimate = same_weekday_mean(history, day, weeks)
        if math.isnan(estimate):
            estimate = float(history.dropna().iloc[-SEASON_DAYS * weeks :].mean())
        daily.loc[daily["day"] == day, ["forecast_usd", "sd"]] = [estimate, _sd_of(future)]
    future_days = daily["day"] >= pd.Timestamp(today)
    daily.loc[future_days, "forecast_usd"] = future["mean"].reindex(daily.loc[future_days, "day"]).to_numpy()
    daily.loc[future_days, "sd"] = _sd_column(future).reindex(daily.loc[future_days, "day"]).to_numpy()


def _month_bands(
    daily: pd.DataFrame, projected: float, levels: Sequence[int]
) -> dict[int, tuple[float, float]]:
    """The projected total's band per level: the days' spreads added up, as if their errors were fully
    correlated; unknown when a forecast day has no spread. Spend forecasts miss in runs (a level shift
    lasts days), so adding the spreads in quadrature, as for independent days, gave bands that held the
    real month total only 46% / 63% of the time at 80% / 95% on M4 and NAB daily sums; added up they
    hold it 88% / 94% (M4) and 86% / 98% (NAB) (bench/cost_projection_accuracy.py)."""
    total_sd = float(daily["sd"].fillna(0.0).sum())
    if daily.loc[daily["forecast_usd"].notna(), "sd"].isna().any():
        total_sd = math.nan
    return {lvl: (projected - z_value(lvl) * total_sd, projected + z_value(lvl) * total_sd) for lvl in levels}


def _with_day_bands_and_cumulative(daily: pd.DataFrame, levels: Sequence[int]) -> pd.DataFrame:
    """The day bands (lo/hi per level), the cumulative spend and its bands; `sd` dropped, `day` as date."""
    daily = daily.copy()
    for level in levels:
        half = z_value(level) * daily["sd"]
        daily[f"lo_{level}"] = daily["forecast_usd"] - half
        daily[f"hi_{level}"] = daily["forecast_usd"] + half
    # cumulative: actuals (missing days count their estimate) and, from today, the forecast
    per_day = daily["actual_usd"].where(daily["actual_usd"].notna(), daily["forecast_usd"])
    daily["cumulative_usd"] = per_day.cumsum()
    cum_sd = daily["sd"].fillna(0.0).cumsum()  # added up, as the month's total (_month_bands)
    for level in levels:
        daily[f"cum_lo_{level}"] = daily["cumulative_usd"] - z_value(level) * cum_sd
        daily[f"cum_hi_{level}"] = daily["cumulative_usd"] + z_value(level) * cum_sd
    daily = daily.drop(columns="sd")
    daily["day"] = daily["day"].dt.date
    return daily


def _sd_column(future: pd.DataFrame) -> pd.Series:
    """A forecast day's sd: given, or read back from its 95% band (for forecasters without `sd`)."""
    if "sd" in future:
        return future["sd"]
    return (future["hi_95"] - future["lo_95"]) / (2 * z_value(95))


def _sd_of(future: pd.DataFrame) -> float:
    col = _sd_column(future)
    return float(col.iloc[0]) if len(col) else math.nan
