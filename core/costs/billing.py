"""Billing frames and calendar days: UTC days and months, how much history to load, the billing contract
normalised, filtered and summed per day (a day with no rows at all is missing, NaN), and the per-day
spend by service or region for stacked charts."""

from __future__ import annotations

import calendar
import math
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Literal

import numpy as np
import pandas as pd

SEASON_DAYS = 7
DEFAULT_WEEKS = 4  # same-weekday observations averaged for a forecast


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
    # a frame already holding dates (the stores' and this function's output) is not parsed again: the
    # Costs page and the review normalise the same bill dozens of times (~20 ms of date parsing each)
    if not (out["day"].dtype == object and all(type(d) is date for d in out["day"].to_numpy())):
        out["day"] = pd.to_datetime(out["day"].astype(str)).dt.date
    for column in ("service", "region"):
        if out[column].dtype != _STR:  # already text (a normalised frame): not converted again
            out[column] = out[column].astype(str)
    out["cost_usd"] = out["cost_usd"].astype("float64")
    return out


_STR = pd.Series(["x"], dtype=object).astype(str).dtype  # the dtype astype(str) gives text columns


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
    days = _DayPositions(normalise_billing(billing), first, last)
    keep = days.inside
    if service:
        keep = keep & (days.billing["service"] == service).to_numpy(dtype=bool)
    if region:
        keep = keep & (days.billing["region"] == region).to_numpy(dtype=bool)
    return days.totals(keep)


def daily_totals_by(
    billing: pd.DataFrame, first: date, last: date, by: Literal["service", "region"]
) -> dict[str, pd.Series]:
    """daily_totals of each service (or region) in the bill, reading the days once (the anomalies per
    service or region): the same series as daily_totals(billing, first, last, service=value)."""
    days = _DayPositions(normalise_billing(billing), first, last)
    column = days.billing[by]
    return {
        value: days.totals(days.inside & (column == value).to_numpy(dtype=bool))
        for value in sorted(column.unique())
    }


class _DayPositions:
    """A normalised bill's rows placed on the days first..last by position, in numpy: the projections,
    the changes and the anomalies ask for dozens of daily series a page (converting the days with
    pd.to_datetime per series took ~40 ms each; numpy's own date parsing ~12 ms)."""

    def __init__(self, billing: pd.DataFrame, first: date, last: date):
        self.billing = billing
        self.index = _days(first, last)
        days = billing["day"].to_numpy()
        self.position = (
            np.fromiter((d.toordinal() for d in days), dtype="int64", count=len(days)) - first.toordinal()
        )
        self.inside = (self.position >= 0) & (self.position < len(self.index))
        self.with_rows = np.unique(self.position[self.inside])  # days with any billing row

    def totals(self, keep: np.ndarray) -> pd.Series:
        """The net spend per day of the rows in `keep`: NaN on days without any row, else 0 + theirs."""
        out = np.full(len(self.index), np.nan)
        out[self.with_rows] = 0.0
        if keep.any():
            # pandas' group sum, as before (compensated: the same figures to the last bit)
            sums = pd.Series(self.billing["cost_usd"].to_numpy()[keep]).groupby(self.position[keep]).sum()
            out[sums.index.to_numpy()] = sums.to_numpy()
        return pd.Series(out, index=self.index, dtype="float64", name="cost_usd")


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
    return as_model_series(daily_totals(billing, first, last, service, region), billing, first, last)


def as_model_series(totals: pd.Series, billing: pd.DataFrame, first: date, last: date) -> pd.Series:
    """model_series from daily_totals already read for first..last (a copy; `totals` is left as is)."""
    s = totals.copy()
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
