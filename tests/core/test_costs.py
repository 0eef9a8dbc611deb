"""core/costs against hand-computed figures.

The base bill (EC2 in us-east-1) follows a weekly cycle in November 2026 (Nov 2 is a Monday):
  Sun Nov 1: 25 (the first day of data: partial, counted but left out of the model)
  week 1 (Nov 2-8):   Mon-Fri 100, Sat-Sun 40
  week 2 (Nov 9-15):  Mon-Fri 110, Sat-Sun 40
  week 3 (Nov 16-22): Mon-Fri 120 but Wed Nov 18 = 150, Sat-Sun 40
plus S3 in eu-west-1 at 5 every day Nov 1-22. "Today" is Mon Nov 23 (open; its partial rows are shown
but not projected from).

Model residuals (actual - mean of earlier same weekdays, EC2): week 2 weekdays +10 (x5), weekends 0 (x2);
week 3 Mon/Tue/Thu/Fri 120 - 105 = +15 (x4), Wed 150 - 105 = +45, weekends 0 (x2). Sorted |r|:
0,0,0,0,10,10,10,10,10,15,15,15,15,45 -> median 10 -> daily sd = 1.4826 x 10.
Forecast Nov 23-30 (mean of the earlier same weekdays): Mon 110, Tue 110, Wed (150+110+100)/3 = 120,
Thu 110, Fri 110, Sat 40, Sun 40, Mon 110 -> 750.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest

from core import costs
from core.config import Budget
from core.units import DAYS_PER_MONTH

TODAY = date(2026, 11, 23)
EC2, S3 = "EC2", "S3"
USE1, EUW1 = "us-east-1", "eu-west-1"
Z80, Z95 = 1.2815515655446004, 1.959963984540054
SD = 1.4826 * 10
WEEKLY = costs.weekly_seasonal_forecast  # the hand-checkable projection model


def ec2_cost(day: date) -> float:
    if day == date(2026, 11, 1):
        return 25.0
    week = (day - date(2026, 11, 2)).days // 7
    if day.weekday() >= 5:
        return 40.0
    if day == date(2026, 11, 18):
        return 150.0
    return 100.0 + 10.0 * week


def bill(
    extra: list[tuple[str, str, str, float]] | None = None, drop: set[date] | None = None
) -> pd.DataFrame:
    rows = []
    day = date(2026, 11, 1)
    while day <= date(2026, 11, 22):
        if day not in (drop or set()):
            rows.append((day.isoformat(), EC2, USE1, ec2_cost(day)))
            rows.append((day.isoformat(), S3, EUW1, 5.0))
        day += timedelta(days=1)
    rows.append(("2026-11-23", EC2, USE1, 33.0))  # today so far (partial)
    rows += extra or []
    frame = pd.DataFrame(rows, columns=["day", "service", "region", "cost_usd"])
    frame["day"] = pd.to_datetime(frame["day"]).dt.date
    return frame


# ---- days and months --------------------------------------------------------------------------------
def test_utc_today_uses_the_utc_calendar_day():
    # 23:30 on Nov 30 in New York (UTC-5) is already Dec 1 in UTC: a December bill day
    assert costs.utc_today(datetime(2026, 11, 30, 23, 30, tzinfo=timezone(timedelta(hours=-5)))) == date(
        2026, 12, 1
    )
    # 08:59 on Dec 1 in Tokyo (UTC+9) is still Nov 30 in UTC
    assert costs.utc_today(datetime(2026, 12, 1, 8, 59, tzinfo=timezone(timedelta(hours=9)))) == date(
        2026, 11, 30
    )
    with pytest.raises(ValueError, match="timezone-aware"):
        costs.utc_today(datetime(2026, 12, 1, 0, 0))


def test_month_bounds_across_lengths():
    assert costs.month_bounds(date(2026, 11, 23)) == (date(2026, 11, 1), date(2026, 11, 30))
    assert costs.month_bounds(date(2026, 12, 31)) == (date(2026, 12, 1), date(2026, 12, 31))
    assert costs.month_bounds(date(2028, 2, 10)) == (date(2028, 2, 1), date(2028, 2, 29))
    assert costs.month_bounds(date(2027, 2, 10)) == (date(2027, 2, 1), date(2027, 2, 28))
    # five weeks before the month: 4 weeks for the weekday means, 1 for the first residuals
    assert costs.history_start(TODAY) == date(2026, 9, 27)


def test_z_values():
    assert costs.z_value(80) == pytest.approx(Z80)
    assert costs.z_value(95) == pytest.approx(Z95)


# ---- daily totals ----------------------------------------------------------------------------------------
def test_daily_totals_missing_days_are_nan_but_a_filter_with_no_rows_is_zero():
    b = bill(drop={date(2026, 11, 12)})
    total = costs.daily_totals(b, date(2026, 11, 11), date(2026, 11, 13))
    assert total.tolist()[0] == 115.0 and math.isnan(total.tolist()[1]) and total.tolist()[2] == 115.0
    # a day with rows, none of them Lambda: a real $0 for a Lambda budget; the missing day stays unknown
    lam = costs.daily_totals(b, date(2026, 11, 11), date(2026, 11, 13), service="Lambda")
    assert lam.tolist()[0] == 0.0 and math.isnan(lam.tolist()[1]) and lam.tolist()[2] == 0.0
    # string days (as SQLite returns them) are accepted
    as_text = b.assign(day=b["day"].astype(str))
    assert costs.daily_totals(as_text, date(2026, 11, 11), date(2026, 11, 11), region=USE1).tolist() == [
        110.0
    ]


def test_daily_totals_nets_credits():
    b = bill(extra=[("2026-11-18", S3, EUW1, -65.0)])
    assert costs.daily_totals(b, date(2026, 11, 18), date(2026, 11, 18)).tolist() == [150.0 + 5.0 - 65.0]
    assert costs.daily_totals(b, date(2026, 11, 18), date(2026, 11, 18), service=S3).tolist() == [-60.0]


def test_daily_totals_by_gives_each_scope_what_daily_totals_gives_it():
    """The anomalies read every service's (region's) days in one pass: each series must be the one
    daily_totals gives that scope, missing days, credits and $0 days included."""
    b = bill(
        extra=[("2026-11-18", S3, EUW1, -65.0), ("2026-11-20", "Lambda", USE1, 2.5)],
        drop={date(2026, 11, 12)},
    )
    b["day"] = pd.to_datetime(b["day"].astype(str)).dt.date
    first, last = date(2026, 10, 30), date(2026, 11, 22)
    for by in ("service", "region"):
        per_value = costs.billing.daily_totals_by(b, first, last, by)
        assert list(per_value) == sorted(b[by].unique())
        for value, series in per_value.items():
            pd.testing.assert_series_equal(series, costs.daily_totals(b, first, last, **{by: value}))
    lam = costs.billing.daily_totals_by(b, first, last, "service")["Lambda"]
    assert lam[pd.Timestamp("2026-11-20")] == 2.5 and lam[pd.Timestamp("2026-11-19")] == 0.0
    assert math.isnan(lam[pd.Timestamp("2026-11-12")]) and math.isnan(lam[pd.Timestamp("2026-10-30")])


def test_anomalies_by_equal_each_scopes_daily_changes():
    b = bill(extra=[("2026-11-18", S3, EUW1, 40.0)])
    got = costs.anomalies_by(b, TODAY, 14, "service")
    for service in sorted(b["service"].unique()):
        changes = costs.daily_changes(b, TODAY, 14, service=service)
        flagged = changes[changes["anomaly"]].reset_index(drop=True)
        mine = got[got["service"] == service].drop(columns="service").reset_index(drop=True)
        pd.testing.assert_frame_equal(mine[list(flagged.columns)], flagged, check_dtype=False)
    assert (got["service"] == S3).any()  # the S3 jump on the 18th is flagged


# ---- the weekly-seasonal model ---------------------------------------------------------------------------
def test_same_weekday_mean_and_residual_spread():
    s = costs.model_series(bill(), date(2026, 9, 27), date(2026, 11, 22), service=EC2)
    assert math.isnan(s[pd.Timestamp("2026-11-01")])  # first day of data blanked
    assert costs.same_weekday_mean(s, pd.Timestamp("2026-11-18")) == 105.0
    assert costs.same_weekday_mean(s, pd.Timestamp("2026-11-25")) == pytest.approx(120.0)
    assert costs.same_weekday_mean(s, pd.Timestamp("2026-11-08")) != costs.same_weekday_mean(
        s, pd.Timestamp("2026-11-15")
    )  # Sun Nov 8 has no earlier Sunday in the model (Nov 1 is blanked): NaN
    r = costs.residuals(s)
    assert sorted(np.abs(r).tolist()) == [0, 0, 0, 0, 10, 10, 10, 10, 10, 15, 15, 15, 15, 45]
    assert costs.robust_sd(r) == pytest.approx(SD)
    assert math.isnan(costs.robust_sd([1.0, 2.0]))  # too few residuals for a band


def test_weekly_seasonal_forecast_means_and_band():
    s = costs.model_series(bill(), date(2026, 9, 27), date(2026, 11, 22), service=EC2)
    fc = costs.weekly_seasonal_forecast(s, 8)
    assert [d.date() for d in fc.frame["day"]] == [date(2026, 11, 23) + timedelta(days=i) for i in range(8)]
    assert fc.frame["mean"].tolist() == pytest.approx([110, 110, 120, 110, 110, 40, 40, 110])
    assert fc.frame["hi_80"].tolist() == pytest.approx((fc.frame["mean"] + Z80 * SD).tolist())
    assert fc.frame["lo_95"].tolist() == pytest.approx((fc.frame["mean"] - Z95 * SD).tolist())


def test_forecast_with_under_a_week_falls_back_to_the_recent_mean_and_needs_data():
    idx = pd.date_range("2026-11-20", periods=3, freq="D", name="day")
    s = pd.Series([10.0, 20.0, 30.0], index=idx)
    fc = costs.weekly_seasonal_forecast(s, 8)
    # Fri/Sat/Sun seen once each: the next Mon-Thu fall back to the mean 20; Fri 10, Sat 20, Sun 30
    assert fc.frame["mean"].tolist() == [20.0, 20.0, 20.0, 20.0, 10.0, 20.0, 30.0, 20.0]
    assert fc.frame["sd"].isna().all()  # no residuals, no band
    with pytest.raises(ValueError, match="no billing history"):
        costs.weekly_seasonal_forecast(s * np.nan, 3)


# ---- month to date and end-of-month projection ----------------------------------------------------------
def test_month_projection_one_scope():
    p = costs.project_month(bill(), TODAY, service=EC2, forecaster=WEEKLY)
    spent = 25 + (500 + 80) + (550 + 80) + (4 * 120 + 150 + 80)
    assert p.spent_usd == pytest.approx(spent) == pytest.approx(1945.0)
    assert p.today_so_far_usd == 33.0
    assert p.remaining_usd == pytest.approx(750.0)
    assert p.projected_usd == pytest.approx(2695.0)
    half80 = Z80 * SD * 8  # 8 forecast days, their spreads added up (errors taken as correlated)
    assert p.bands[80] == pytest.approx((2695.0 - half80, 2695.0 + half80))
    assert p.lo_80 == pytest.approx(2695.0 - half80) and p.hi_80 == pytest.approx(2695.0 + half80)
    assert p.bands[95] == pytest.approx((2695.0 - Z95 * SD * 8, 2695.0 + Z95 * SD * 8))
    assert p.missing_days == ()
    d = p.daily.set_index("day")
    assert len(d) == 30 and d.index[0] == date(2026, 11, 1) and d.index[-1] == date(2026, 11, 30)
    assert d.loc[date(2026, 11, 22), "cumulative_usd"] == pytest.approx(1945.0)
    assert d.loc[date(2026, 11, 25), "cumulative_usd"] == pytest.approx(1945.0 + 110 + 110 + 120)
    assert d.loc[date(2026, 11, 30), "cum_hi_80"] == pytest.approx(2695.0 + half80)
    assert d.loc[date(2026, 11, 24), "cum_hi_95"] == pytest.approx(1945 + 220 + Z95 * SD * 2)
    assert math.isnan(d.loc[date(2026, 11, 23), "actual_usd"])  # today is not an actual
    assert d.loc[date(2026, 11, 23), "forecast_usd"] == pytest.approx(110.0)


def test_month_projection_all_scopes_adds_the_flat_service():
    p = costs.project_month(bill(), TODAY, forecaster=WEEKLY)
    assert p.spent_usd == pytest.approx(1945.0 + 22 * 5)
    assert p.projected_usd == pytest.approx(2695.0 + 22 * 5 + 8 * 5)
    assert p.today_so_far_usd == 33.0


def test_missing_day_is_estimated_not_counted_as_zero():
    # Thu Nov 12 has no rows at all: estimated as the earlier Thursday (Nov 5: 100). Nov 19's residual
    # becomes 120 - 100 = 20 and Nov 12's goes; sorted |r| 0,0,0,0,10,10,10,10,15,15,15,20,45: median 10
    p = costs.project_month(bill(drop={date(2026, 11, 12)}), TODAY, service=EC2, forecaster=WEEKLY)
    assert p.missing_days == (date(2026, 11, 12),)
    assert p.spent_usd == pytest.approx(1945.0 - 110.0)
    assert p.missing_estimate_usd == pytest.approx(100.0)
    assert p.remaining_usd == pytest.approx(750.0)  # Thu Nov 26: mean(120, 100), the gap skipped
    assert p.projected_usd == pytest.approx(1835.0 + 100.0 + 750.0)
    half95 = Z95 * SD * 9  # the estimated day is uncertain too
    assert p.bands[95] == pytest.approx((2685.0 - half95, 2685.0 + half95))
    d = p.daily.set_index("day")
    assert math.isnan(d.loc[date(2026, 11, 12), "actual_usd"])
    assert d.loc[date(2026, 11, 12), "forecast_usd"] == pytest.approx(100.0)
    assert d.loc[date(2026, 11, 12), "cumulative_usd"] == pytest.approx(605 + 110 * 3 + 100)


def test_credit_nets_month_to_date_and_moves_the_weekday_forecast():
    b = bill(extra=[("2026-11-18", S3, EUW1, -65.0)])
    p = costs.project_month(b, TODAY, forecaster=WEEKLY)
    assert p.spent_usd == pytest.approx(1945.0 + 110.0 - 65.0)
    # total on Wed Nov 18 is 90: Wed Nov 25 = (90 + 115 + 105) / 3; other days as before + 5
    assert p.remaining_usd == pytest.approx(115 + 115 + 310 / 3 + 115 + 115 + 45 + 45 + 115)
    # residual of Nov 18 becomes 90 - 110 = -20: sorted |r| still has median 10
    assert p.bands[80][1] - p.projected_usd == pytest.approx(Z80 * SD * 8)
    assert costs.project_month(b, TODAY, service=S3, forecaster=WEEKLY).spent_usd == pytest.approx(
        110.0 - 65.0
    )


def test_first_day_of_a_month_projects_the_whole_month_from_the_previous_one():
    # flat weekly cycle Oct 26 - Nov 30 (Mon-Fri 100, Sat-Sun 40), today Tue Dec 1 with 30 so far
    rows, day = [], date(2026, 10, 26)
    while day <= date(2026, 11, 30):
        rows.append((day, EC2, USE1, 40.0 if day.weekday() >= 5 else 100.0))
        day += timedelta(days=1)
    rows.append((date(2026, 12, 1), EC2, USE1, 30.0))
    b = pd.DataFrame(rows, columns=["day", "service", "region", "cost_usd"])
    p = costs.project_month(b, date(2026, 12, 1), forecaster=WEEKLY)
    assert (p.month_start, p.month_end) == (date(2026, 12, 1), date(2026, 12, 31))
    assert p.spent_usd == 0.0 and p.today_so_far_usd == 30.0 and p.missing_days == ()
    # December 2026: 23 weekdays, 8 weekend days (Sat/Sun 5-6, 12-13, 19-20, 26-27)
    assert p.projected_usd == pytest.approx(23 * 100 + 8 * 40)
    assert p.bands[80] == pytest.approx((2620.0, 2620.0))  # a perfectly regular bill: zero spread
    # the last day of November: one day left to project
    last = costs.project_month(b, date(2026, 11, 30), forecaster=WEEKLY)
    assert last.spent_usd == pytest.approx(
        sum(c for d, _, _, c in rows if date(2026, 11, 1) <= d < date(2026, 11, 30))
    )
    assert last.remaining_usd == pytest.approx(100.0)  # Mon Nov 30


def test_partial_month_of_data_is_not_missing_before_the_data_began():
    # billing starts (mid-day) on Tue Nov 10; Nov 1-9 are before the history, not gaps
    b = bill()
    b = b[b["day"] >= date(2026, 11, 10)]
    p = costs.project_month(b, TODAY, service=EC2, forecaster=WEEKLY)
    assert p.missing_days == ()
    assert p.spent_usd == pytest.approx(4 * 110 + 80 + 4 * 120 + 150 + 80)
    # model: Nov 10 blanked; Tue Nov 24 = Nov 17 only (120); Mon 23/30 = Nov 16 (120); Wed 25 =
    # mean(150, 110) = 130; Thu/Fri 115; Sat/Sun 40
    assert p.remaining_usd == pytest.approx(120 + 120 + 130 + 115 + 115 + 40 + 40 + 120)


def test_no_history_means_no_projection():
    p = costs.project_month(bill().iloc[:0], TODAY, forecaster=WEEKLY)
    assert p.spent_usd == 0.0 and math.isnan(p.projected_usd) and p.method == "no billing history"


# ---- budgets ------------------------------------------------------------------------------------------
def budget(name: str, usd: float, service: str = EC2, region: str = "") -> Budget:
    return Budget(name=name, monthly_usd=usd, service=service, region=region)


def test_budget_states_and_overrun_dates():
    b = bill()
    # cumulative EC2 from Nov 22 (1945): 2055, 2165, 2285, 2395, 2505, 2545, 2585, 2695 (Nov 30)
    red = costs.budget_status(b, budget("tight", 2600), TODAY, forecaster=WEEKLY)
    assert red.state == "red" and red.overrun_date == date(2026, 11, 30) and not red.already_over
    assert red.consumed == pytest.approx(1945 / 2600) and red.projected_consumed == pytest.approx(2695 / 2600)
    assert "2026-11-30" in red.reason
    # actual cumulative: ... Nov 20: 1865, Nov 21: 1905 > 1900
    over = costs.budget_status(b, budget("blown", 1900), TODAY, forecaster=WEEKLY)
    assert over.state == "red" and over.overrun_date == date(2026, 11, 21) and over.already_over
    amber = costs.budget_status(b, budget("close", 2950), TODAY, forecaster=WEEKLY)  # 2695 / 2950 = 91% > 90%
    assert amber.state == "amber" and amber.overrun_date is None
    green = costs.budget_status(
        b, budget("roomy", 3100), TODAY, forecaster=WEEKLY
    )  # 87%, 80% band up to 2847
    assert green.state == "green" and green.projected_hi_80 == pytest.approx(2695 + Z80 * SD * 8)
    scoped = costs.budget_status(
        b, budget("s3 in eu", 100, service=S3, region=EUW1), TODAY, forecaster=WEEKLY
    )
    assert scoped.spent_usd == pytest.approx(110.0) and scoped.state == "red"
    assert scoped.overrun_date == date(2026, 11, 21)  # 5 a day: exactly 100 after Nov 20, 105 > 100
    assert scoped.scope == "S3 · eu-west-1"
    nothing = costs.budget_status(
        b, budget("other region", 10, service="", region="ap-south-1"), TODAY, forecaster=WEEKLY
    )
    assert nothing.state == "green" and nothing.spent_usd == 0.0  # a real $0 scope, not missing data
    empty = costs.budget_status(b.iloc[:0], budget("no bill", 10), TODAY, forecaster=WEEKLY)
    assert empty.state == "no data"


def test_amber_when_only_the_band_crosses_the_budget():
    """A forecaster with a wide band (given as lo/hi 95 only): mean 10 a day, sd 50 a day."""

    def wide(history: pd.Series, horizon: int) -> costs.DailyForecast:
        days = pd.date_range(history.index[-1] + pd.Timedelta(days=1), periods=horizon, freq="D")
        f = pd.DataFrame({"day": days, "mean": 10.0})
        f["lo_95"], f["hi_95"] = 10.0 - Z95 * 50, 10.0 + Z95 * 50
        return costs.DailyForecast(f, "test")

    # S3 spent 110 by Nov 22; + 8 x 10 = 190 projected; 80% band +- Z80 x 50 x 8 = +-513
    s = costs.budget_status(bill(), budget("s3", 250, service=S3), TODAY, forecaster=wide)
    assert s.projected_usd == pytest.approx(190.0)
    assert s.projected_hi_80 == pytest.approx(190.0 + Z80 * 50 * 8)
    assert s.state == "amber" and s.projection.method == "test"  # 76% of budget, but the band reaches 703


def test_budgets_projected_to_overrun_lists_red_ones_earliest_first():
    budgets = [budget("roomy", 3100), budget("tight", 2600), budget("blown", 1900), budget("close", 2950)]
    at_risk = costs.budgets_projected_to_overrun(bill(), budgets, TODAY, forecaster=WEEKLY)
    assert [s.name for s in at_risk] == ["blown", "tight"]
    texts = [costs.budget_alert_text(s) for s in at_risk]
    assert "over budget since 2026-11-21" in texts[0] and "$1,945 spent of $1,900" in texts[0]
    assert "projected $2,695 of $2,600, overrun expected on 2026-11-30" in texts[1]
    table = costs.budget_table(costs.budget_statuses(bill(), budgets, TODAY, forecaster=WEEKLY))
    assert table["state"].tolist() == ["green", "red", "red", "amber"]
    assert table.loc[1, "consumed_pct"] == pytest.approx(1945 / 2600 * 100)
    assert table.loc[1, "projected_eom_usd"] == pytest.approx(2695.0)


# ---- changes and anomalies ----------------------------------------------------------------------------
def test_daily_changes_day_over_day_week_over_week_and_the_anomaly():
    ch = costs.daily_changes(bill(), TODAY, 7, service=EC2).set_index("day")
    assert list(ch.index) == [date(2026, 11, 16) + timedelta(days=i) for i in range(7)]
    mon = ch.loc[date(2026, 11, 16)]
    assert (mon.cost_usd, mon.dod_usd, mon.wow_usd) == (120.0, 80.0, 10.0)
    assert mon.dod_pct == pytest.approx(200.0) and mon.wow_pct == pytest.approx(100 / 11)
    # residuals before Nov 16: 10 x5, 0 x2 -> median 10: band 105 +- 1.96 x 14.826
    assert (mon.lo_usd, mon.hi_usd) == pytest.approx((105 - Z95 * SD, 105 + Z95 * SD))
    assert not mon.anomaly
    wed = ch.loc[date(2026, 11, 18)]
    assert wed.expected_usd == 105.0 and wed.anomaly and wed.direction == "above"  # 150 > 134.06
    assert (wed.dod_usd, wed.wow_usd) == (30.0, 40.0)
    # Sat Nov 21: residuals before it 0,0,10,10,10,10,10,15,15,15,15,45: median (10 + 10) / 2
    sat = ch.loc[date(2026, 11, 21)]
    assert sat.hi_usd == pytest.approx(40 + Z95 * SD) and not sat.anomaly
    assert ch["anomaly"].sum() == 1


def test_changes_around_a_missing_day_and_small_or_negative_moves():
    ch = costs.daily_changes(bill(drop={date(2026, 11, 19)}), TODAY, 7, service=EC2).set_index("day")
    assert math.isnan(ch.loc[date(2026, 11, 19), "cost_usd"]) and not ch.loc[date(2026, 11, 19), "anomaly"]
    assert math.isnan(ch.loc[date(2026, 11, 20), "dod_usd"])  # no day before to compare with
    # a flat $5 service: 50 cents off is outside a zero-width band but under ANOMALY_MIN_USD
    b = bill(extra=[("2026-11-19", S3, EUW1, 0.5)])
    assert not costs.daily_changes(b, TODAY, 7, service=S3)["anomaly"].any()
    # a credit turning S3 negative is an anomaly below; its percentage change has no positive base
    b = bill(extra=[("2026-11-18", S3, EUW1, -65.0)])
    ch = costs.daily_changes(b, TODAY, 7, service=S3).set_index("day")
    assert ch.loc[date(2026, 11, 18), "direction"] == "below"
    assert ch.loc[date(2026, 11, 19), "dod_usd"] == 65.0 and math.isnan(ch.loc[date(2026, 11, 19), "dod_pct"])
    found = costs.anomalies_by(b, TODAY, 7, "service")
    assert found[["day", "service", "direction"]].values.tolist() == [
        [date(2026, 11, 18), EC2, "above"],
        [date(2026, 11, 18), S3, "below"],
    ]
    assert costs.anomalies_by(bill().iloc[:0], TODAY, 7, "region").empty


# ---- top movers -------------------------------------------------------------------------------------------
def test_top_movers_this_week_against_last_week():
    b = bill(extra=[("2026-11-18", S3, EUW1, -65.0), ("2026-11-20", "Lambda", USE1, 7.0)])
    movers = costs.top_movers(b, TODAY, "service").set_index("service")
    assert list(movers.index) == [EC2, S3, "Lambda"]  # by |change|: 80, 65, 7
    assert movers.loc[EC2].tolist()[:3] == [710.0, 630.0, 80.0]
    assert movers.loc[EC2, "change_pct"] == pytest.approx(80 / 630 * 100)
    assert movers.loc[S3, "this_week_usd"] == -30.0 and movers.loc[S3, "change_pct"] == pytest.approx(
        -65 / 35 * 100
    )
    assert movers.loc["Lambda", "last_week_usd"] == 0.0 and math.isnan(movers.loc["Lambda", "change_pct"])
    assert len(costs.top_movers(b, TODAY, "region", n=1)) == 1
    assert costs.top_movers(b, TODAY, "region", n=1)["region"].tolist() == [USE1]  # 80 + 7


# ---- unit economics -----------------------------------------------------------------------------------------
def rps_frame(step: timedelta, tz: str) -> pd.DataFrame:
    """us-east-1 at 100 req/s and eu-west-1 at 50 req/s on Nov 21-22 (UTC), then 1e6 req/s from
    00:00 UTC on Nov 23, which must not leak into Nov 22; timestamps given in another time zone."""
    ts = pd.date_range("2026-11-21 00:00", "2026-11-23 00:59", freq=step, tz="UTC")
    frames = []
    for region, rate in ((USE1, 100.0), (EUW1, 50.0)):
        values = np.where(ts >= pd.Timestamp("2026-11-23", tz="UTC"), 1e6, rate)
        frames.append(
            pd.DataFrame(
                {"ts": ts.tz_convert(tz), "region": region, "metric": "requests_per_second", "value": values}
            )
        )
    return pd.concat(frames, ignore_index=True)


def unit_bill() -> pd.DataFrame:
    rows = []
    for day in ("2026-11-20", "2026-11-21", "2026-11-22"):  # Nov 20 has no traffic data: not counted
        rows += [(day, EC2, USE1, 86.4), (day, EC2, EUW1, 21.6), (day, "CloudFront", "global", 12.96)]
    return pd.DataFrame(rows, columns=["day", "service", "region", "cost_usd"])


@pytest.mark.parametrize("step", [timedelta(minutes=1), timedelta(minutes=5)])
def test_cost_per_million_requests_per_region(step):
    # per day: 100 req/s x 86,400 s = 8.64 M (us-east-1), 4.32 M (eu-west-1)
    metrics = rps_frame(step, "Asia/Tokyo")
    req = costs.daily_requests(metrics, step).set_index(["day", "region"])["requests"]
    assert req[(date(2026, 11, 22), USE1)] == pytest.approx(8.64e6)
    assert req[(date(2026, 11, 23), USE1)] == pytest.approx(1e6 * 3600)  # 00:00-00:59 UTC only
    u = costs.unit_costs(unit_bill(), metrics, date(2026, 11, 20), date(2026, 11, 22), step)
    by = u.by_region.set_index("region")
    assert by.loc[USE1, "cost_usd"] == pytest.approx(2 * 86.4)
    assert by.loc[USE1, "requests_millions"] == pytest.approx(2 * 8.64)
    assert by.loc[USE1, "usd_per_million_requests"] == pytest.approx(10.0)
    assert by.loc[EUW1, "usd_per_million_requests"] == pytest.approx(5.0)
    # all regions: (86.4 + 21.6 + 12.96) / 12.96 M per day, the global CDN cost included
    assert by.loc[costs.ALL_REGIONS, "usd_per_million_requests"] == pytest.approx(120.96 / 12.96)
    assert list(u.daily["day"].unique()) == [date(2026, 11, 21), date(2026, 11, 22)]


def test_unit_costs_without_traffic():
    u = costs.unit_costs(
        unit_bill(), rps_frame(timedelta(minutes=1), "UTC").iloc[:0], date(2026, 11, 20), date(2026, 11, 22)
    )
    assert u.daily.empty
    row = u.by_region.set_index("region").loc[costs.ALL_REGIONS]
    assert row["cost_usd"] == 0.0 and math.isnan(row["usd_per_million_requests"])


# ---- scenarios against the run rate --------------------------------------------------------------------------
def test_run_rate_is_the_mean_of_the_last_closed_week():
    assert costs.run_rate(bill(), TODAY, service=EC2) == pytest.approx(710 / 7)
    # with a day missing, the mean of the six days there are
    assert costs.run_rate(bill(drop={date(2026, 11, 18)}), TODAY, service=EC2) == pytest.approx(560 / 6)
    assert math.isnan(costs.run_rate(bill().iloc[:0], TODAY))


def test_scenario_cost_reproduces_the_miyabi_figure_against_a_run_rate():
    # 10 tasks 24/7 for 30 days at $0.04048 per task-hour = $291.46
    s = costs.scenario_cost(10 * 24 * 30, 0.04048, 24 * 30, run_rate_usd_per_day=12.0)
    assert s.cost_usd == pytest.approx(291.456)
    assert s.usd_per_day == pytest.approx(9.7152)
    assert s.delta_usd_per_day == pytest.approx(9.7152 - 12.0)
    assert s.delta_pct == pytest.approx((9.7152 - 12.0) / 12.0 * 100)
    assert s.delta_usd_per_month == pytest.approx((9.7152 - 12.0) * DAYS_PER_MONTH)
    with pytest.raises(ValueError):
        costs.scenario_cost(1, 1, 0, 1)


def test_a_scenario_month_is_the_730_hour_month_the_actions_page_uses():
    # one $1/h instance around the clock against a $0 run rate: $24 a day, $730 a month (730 h, as
    # core.actions prices a month), not $720 (30 days)
    s = costs.scenario_cost(24.0, 1.0, 24.0, run_rate_usd_per_day=0.0)
    assert s.delta_usd_per_day == pytest.approx(24.0)
    assert s.delta_usd_per_month == pytest.approx(730.0)


def test_scenario_cost_from_a_capacity_simulation():
    from core.capacity import Fleet, TargetTracking, simulate

    # 100 req/s for a day at 50 req/s per instance and a 0.5 target: 4 instances all day (utilisation
    # stays exactly on target), 96 instance-hours at $0.0857 = $8.2272
    demand = pd.Series(100.0, index=pd.date_range("2026-11-23", periods=1440, freq="min", tz=UTC))
    fleet = Fleet(capacity_per_instance=50.0, min_instances=1, max_instances=20, price_per_hour=0.0857)
    sim = simulate(demand, fleet, TargetTracking(target_utilization=0.5))
    s = costs.scenario_cost_from_simulation(sim, run_rate_usd_per_day=10.0)
    assert s.hours == 24.0 and s.instance_hours == pytest.approx(96.0)
    assert s.cost_usd == pytest.approx(8.2272) and s.usd_per_day == pytest.approx(8.2272)
    assert s.delta_usd_per_day == pytest.approx(8.2272 - 10.0)
    assert s.delta_usd_per_month == pytest.approx((8.2272 - 10.0) * DAYS_PER_MONTH)


def test_saved_scenarios_against_the_run_rate_of_their_region():
    # EC2 in us-east-1 ran 710 in the week to Nov 22: 101.43 a day
    saved = pd.DataFrame(
        {
            "name": ["week plan", "no run", "half day"],
            "region": [USE1, USE1, EUW1],
            "window_start": pd.to_datetime(["2026-11-16 00:00", None, "2026-11-22 00:00"], utc=True),
            "window_end": pd.to_datetime(["2026-11-23 00:00", None, "2026-11-22 12:00"], utc=True),
            "cost_usd": [350.0, math.nan, 3.0],
        }
    )
    out = costs.saved_scenarios_vs_run_rate(saved, bill(), TODAY, EC2).set_index("name")
    assert list(out.index) == ["week plan", "half day"]  # saved without a run: nothing to price
    assert out.loc["week plan", "usd_per_day"] == pytest.approx(50.0)
    assert out.loc["week plan", "run_rate_usd_per_day"] == pytest.approx(710 / 7)
    assert out.loc["week plan", "delta_usd_per_month"] == pytest.approx((50 - 710 / 7) * DAYS_PER_MONTH)
    assert out.loc["half day", "usd_per_day"] == pytest.approx(6.0)  # 3 over 12 hours
    # no EC2 in eu-west-1 on days with a bill: a $0 run rate, so no percentage
    assert out.loc["half day", "run_rate_usd_per_day"] == 0.0 and math.isnan(out.loc["half day", "delta_pct"])
    assert costs.saved_scenarios_vs_run_rate(saved.iloc[:0], bill(), TODAY, EC2).empty


def test_daily_spend_by_fills_days_orders_by_spend_and_folds_the_tail():
    b = bill(extra=[("2026-11-20", "Lambda", USE1, 7.0), ("2026-11-20", "SQS", USE1, 1.0)])
    wide = costs.daily_spend_by(b, date(2026, 11, 20), date(2026, 11, 24), "service", top=2)
    assert list(wide.columns) == [EC2, S3, costs.OTHER]  # EC2 280, S3 10, then Lambda + SQS folded
    assert list(wide.index) == [date(2026, 11, 20) + timedelta(days=i) for i in range(5)]
    assert wide.loc[date(2026, 11, 20)].tolist() == [120.0, 5.0, 8.0]
    assert wide.loc[date(2026, 11, 24)].tolist() == [0.0, 0.0, 0.0]  # no rows: drawn as nothing
    by_region = costs.daily_spend_by(b, date(2026, 11, 21), date(2026, 11, 22), "region")
    assert list(by_region.columns) == [USE1, EUW1] and by_region[USE1].tolist() == [40.0, 40.0]


def test_load_start_covers_the_projection_and_the_first_shown_day():
    # the first shown day needs 4 weeks for its expectation and 5 weeks of residuals, each needing 4
    # earlier weeks: 70 days before it, which also covers the projection's 5 weeks before Nov 1
    assert costs.load_start(TODAY, 7) == date(2026, 9, 7)
    assert costs.load_start(TODAY, 30) == date(2026, 8, 15)
    assert costs.load_start(date(2026, 12, 31), 1) == date(2026, 10, 21)


def test_region_filter_keeps_regionless_costs_only_with_every_region():
    b = unit_bill()
    known = [USE1, EUW1]
    assert set(costs.billing_in_regions(b, [USE1, EUW1], known)["region"]) == {USE1, EUW1, "global"}
    assert set(costs.billing_in_regions(b, [EUW1], known)["region"]) == {EUW1}


def test_equivalent_instances():
    # 24 instances x 24 h x $0.0857 = $49.3632 a day
    assert costs.equivalent_instances(49.3632, 0.0857) == pytest.approx(24.0)
    assert costs.equivalent_instances(10.0, 0.0) == 0.0 and costs.equivalent_instances(math.nan, 1.0) == 0.0


def test_pages_loading_different_ranges_agree():
    """Overview loads from history_start, Costs from further back: same projection and states."""
    rows, day = [], date(2026, 8, 1)
    while day <= TODAY:
        cost = (100.0 if day.weekday() < 5 else 40.0) + (day.toordinal() % 5)  # some noise for a band
        rows.append((day, EC2, USE1, cost))
        day += timedelta(days=1)
    full = pd.DataFrame(rows, columns=["day", "service", "region", "cost_usd"])
    short = full[full["day"] >= costs.history_start(TODAY)]
    a, b = costs.project_month(full, TODAY), costs.project_month(short, TODAY)
    assert a.projected_usd == pytest.approx(b.projected_usd)
    assert a.bands[80] == pytest.approx(b.bands[80]) and a.bands[95] == pytest.approx(b.bands[95])
    ca, cb = (
        costs.daily_changes(full, TODAY, 7),
        costs.daily_changes(full[full["day"] >= costs.load_start(TODAY, 7)], TODAY, 7),
    )
    pd.testing.assert_frame_equal(ca, cb)
    # a bill that truly begins inside the window has its (possibly partial) first day left out
    begins = full[full["day"] >= date(2026, 10, 5)]
    assert math.isnan(
        costs.model_series(begins, costs.history_start(TODAY), TODAY)[pd.Timestamp("2026-10-05")]
    )
    assert not math.isnan(
        costs.model_series(short, costs.history_start(TODAY), TODAY)[pd.Timestamp("2026-09-27")]
    )


def test_empty_scope_has_no_changes_to_flag():
    ch = costs.daily_changes(bill(), TODAY, 7, region="ap-south-1")  # rows every day, none in this region
    assert (ch["cost_usd"] == 0.0).all() and not ch["anomaly"].any()
    nothing = costs.daily_changes(bill().iloc[:0], TODAY, 7)
    assert len(nothing) == 7 and nothing["cost_usd"].isna().all() and not nothing["anomaly"].any()


# ---- the default projection: core.forecast ----------------------------------------------------------------
def weekly_pattern(first: date, last: date) -> pd.DataFrame:
    rows, day = [], first
    while day <= last:
        rows.append((day, EC2, USE1, 40.0 if day.weekday() >= 5 else 100.0))
        day += timedelta(days=1)
    return pd.DataFrame(rows, columns=["day", "service", "region", "cost_usd"])


def test_default_projection_uses_core_forecast():
    # a perfectly weekly bill: the backtest picks seasonal naive (zero error), which repeats the week.
    # Nov 1-22: 15 weekdays x 100 + 7 weekend days x 40 = 1780; Nov 23-30: Mon-Fri 500, Sat-Sun 80,
    # Mon 100 -> 680; its backtest errors are zero, so is the band
    p = costs.project_month(weekly_pattern(date(2026, 10, 26), date(2026, 11, 22)), TODAY)
    assert "core.forecast" in p.method and "seasonal naive" in p.method
    assert p.spent_usd == pytest.approx(1780.0)
    assert p.projected_usd == pytest.approx(2460.0)
    assert p.bands[80] == pytest.approx((2460.0, 2460.0))


def test_auto_forecast_aligns_days_after_a_missing_last_day_and_falls_back_when_short():
    idx = pd.date_range("2026-10-01", periods=30, freq="D", name="day")
    flat = pd.Series(50.0, index=idx)
    flat.iloc[-1] = math.nan  # Oct 30 missing: the forecast still starts on Oct 31
    fc = costs.auto_forecast(flat, 3)
    assert [d.date() for d in fc.frame["day"]] == [date(2026, 10, 31), date(2026, 11, 1), date(2026, 11, 2)]
    assert fc.frame["mean"].tolist() == pytest.approx([50.0] * 3)  # a constant is its own forecast
    assert fc.frame["sd"].tolist() == pytest.approx([0.0] * 3)
    short = pd.Series([10.0, 20.0, 30.0], index=idx[:3])  # under two weeks: the weekly-seasonal rule
    pd.testing.assert_frame_equal(costs.auto_forecast(short, 5).frame, WEEKLY(short, 5).frame)


def test_auto_forecast_backtests_the_daily_candidates_unless_told_otherwise(monkeypatch):
    """The month's projections choose among DAILY_CANDIDATES (cheap on ~40 daily points); None asks
    core.forecast for every candidate. The choice is read from what core.forecast was asked."""
    import core.forecast

    asked: list[object] = []
    real = core.forecast.forecast

    def spy(*args, **kwargs):
        asked.append(kwargs.get("candidates"))
        return real(*args, **kwargs)

    monkeypatch.setattr(core.forecast, "forecast", spy)
    idx = pd.date_range("2026-10-01", periods=40, freq="D", name="day")
    rng = np.random.default_rng(7)
    spend = pd.Series(100.0 + 30.0 * (idx.day_of_week < 5) + rng.normal(0, 3, len(idx)), index=idx)
    narrow = costs.auto_forecast(spend, 10)
    full = costs.auto_forecast(spend, 10, candidates=None)
    assert asked == [costs.DAILY_CANDIDATES, None]
    assert len(narrow.frame) == len(full.frame) == 10
    assert narrow.frame["day"].tolist() == full.frame["day"].tolist()
    # both are forecasts of the same weekly pattern: weekdays above weekends
    for fc in (narrow, full):
        weekday = fc.frame["day"].dt.day_of_week < 5
        assert fc.frame.loc[weekday, "mean"].min() > fc.frame.loc[~weekday, "mean"].max()
