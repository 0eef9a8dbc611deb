"""Day-over-day and week-over-week changes with anomaly flags (outside the weekly-seasonal band), the
anomalous days per service or region, and the top movers week over week."""

from __future__ import annotations

import math
from datetime import date, timedelta
from typing import Literal

import pandas as pd

from core.costs.billing import (
    DEFAULT_WEEKS,
    SEASON_DAYS,
    as_model_series,
    daily_totals,
    daily_totals_by,
    model_series,
    normalise_billing,
)
from core.costs.forecasters import _same_weekday_mean, residuals, robust_sd, z_value

ANOMALY_LEVEL = 95  # a day outside this band of its expectation is flagged
ANOMALY_MIN_USD = 1.0  # a day must also be this far from its expectation: cents are not anomalies


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
    return _changes(actual, model, first, level, weeks)


def _changes(actual: pd.Series, model: pd.Series, first: date, level: int, weeks: int) -> pd.DataFrame:
    """daily_changes from the scope's daily totals and model series (one daily index, reaching two
    windows before `first`)."""
    window = timedelta(days=SEASON_DAYS * (weeks + 1))
    resid = residuals(model, weeks)
    z = z_value(level)
    # the days are read by position in numpy arrays (actual and model share one daily index): the anomalies
    # per service and region run this for every one of them (~0.1 s each with Series lookups per day)
    costs, model_values = actual.to_numpy(dtype="float64"), model.to_numpy(dtype="float64")
    resid_days, resid_values = resid.index, resid.to_numpy(dtype="float64")
    rows = []
    for i in range(actual.index.searchsorted(pd.Timestamp(first)), len(actual)):
        day = actual.index[i]
        cost = costs[i]
        prev = costs[i - 1] if i >= 1 else math.nan
        week = costs[i - SEASON_DAYS] if i >= SEASON_DAYS else math.nan
        expected = _same_weekday_mean(model_values, i, weeks)
        # the residuals of the window before the day: [day - window, day)
        sd = robust_sd(resid_values[resid_days.searchsorted(day - window) : resid_days.searchsorted(day)])
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
    # the same tables as daily_changes(b, today, days, service=value) for each value, the bill's days
    # read once for all of them
    first = today - timedelta(days=days)
    start, yesterday = (
        first - 2 * timedelta(days=SEASON_DAYS * (DEFAULT_WEEKS + 1)),
        today - timedelta(days=1),
    )
    frames = []
    for value, actual in daily_totals_by(b, start, yesterday, by).items():
        model = as_model_series(actual, b, start, yesterday)
        ch = _changes(actual, model, first, ANOMALY_LEVEL, DEFAULT_WEEKS)
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
