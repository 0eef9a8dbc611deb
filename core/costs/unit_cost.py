"""Unit economics: requests per day and region from the metrics, and the cost per million requests per
region (only days with both billing rows and traffic count)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, timedelta

import pandas as pd

from core.costs.billing import normalise_billing


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
