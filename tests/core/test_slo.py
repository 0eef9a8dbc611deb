"""core/slo/: every formula against values computed by hand, the edges, and properties (hypothesis)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.config import BurnRateRule, SLOConfig, load_config
from core.ports import tidy_metrics
from core.slo import (
    GLOBAL,
    SLO,
    alert_state,
    burn_down,
    burn_rate,
    burn_rate_series,
    burn_rates,
    burning_now,
    deploy_markers,
    error_budget,
    fastest_burning,
    format_duration,
    format_window,
    metric_grid,
    region_slo_states,
    reports_table,
    sli,
    sli_detail,
    slo_counts,
    slo_report,
    slo_reports,
    slos_from_config,
    time_to_exhaustion,
)

T0 = datetime(2026, 3, 1, 0, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)

AVAILABILITY = SLO("avail", 0.99, timedelta(minutes=10), "requests_per_second", bad="errors_per_second")
LATENCY = SLO("lat", 0.9, timedelta(minutes=10), "latency_p95_ms", budgeting="timeslices", threshold=300.0)


def frame_of(
    data: Mapping[str, Mapping[str, Sequence[float | None]]], start: datetime = T0, step: timedelta = MIN
) -> pd.DataFrame:
    """{region: {metric: values}} -> tidy frame; value i is at start + i * step; None leaves a gap."""
    rows = [
        {"ts": start + i * step, "region": region, "metric": metric, "value": v}
        for region, metrics in data.items()
        for metric, values in metrics.items()
        for i, v in enumerate(values)
        if v is not None
    ]
    return tidy_metrics(pd.DataFrame(rows, columns=["ts", "region", "metric", "value"]))


def at_minute(i: int) -> datetime:
    return T0 + i * MIN


# ---- definitions --------------------------------------------------------------------------------
def test_slo_rejects_incomplete_or_contradictory_definitions() -> None:
    with pytest.raises(ValueError, match="objective"):
        SLO("x", 1.0, timedelta(days=1), "requests_per_second", bad="errors_per_second")
    with pytest.raises(ValueError, match="not both"):
        SLO("x", 0.99, timedelta(days=1), "requests_per_second", good="a", bad="b")
    with pytest.raises(ValueError, match="needs"):
        SLO("x", 0.99, timedelta(days=1), "requests_per_second")
    with pytest.raises(ValueError, match="timeslices"):
        SLO("x", 0.99, timedelta(days=1), "latency_p95_ms", threshold=300.0)
    with pytest.raises(ValueError, match="window"):
        SLO("x", 0.99, timedelta(0), "requests_per_second", bad="errors_per_second")


def test_slos_from_the_shipped_config() -> None:
    slos = {s.name: s for s in slos_from_config(load_config().slo)}
    checkout = slos["checkout-availability"]
    assert checkout.regions == ("us-east-1", "eu-west-1")
    assert checkout.window == timedelta(days=30)
    assert slos["api-latency-p95"].threshold == 300.0
    assert slos["api-latency-p95"].budgeting == "timeslices"
    # the latency SLI also needs traffic, to weight regions in the global figure
    assert set(slos["api-latency-p95"].metrics) == {"latency_p95_ms", "requests_per_second"}
    cfg = SLOConfig(
        name="c", objective=0.995, window="7d", total="requests_per_second", good="errors_per_second"
    )
    assert SLO.from_config(cfg).good == "errors_per_second"


def test_budget_minutes_by_hand() -> None:
    # 0.1% of 28 days = 40.32 minutes; 0.001% of 30 days = 0.432 minutes; 10% of 30 days = 72 hours
    assert SLO("a", 0.999, timedelta(days=28), "r", bad="e").budget_minutes == pytest.approx(40.32)
    assert SLO("a", 0.99999, timedelta(days=30), "r", bad="e").budget_minutes == pytest.approx(0.432)
    assert SLO("a", 0.9, timedelta(days=30), "r", bad="e").budget_minutes == pytest.approx(72 * 60)


# ---- ratio SLIs ---------------------------------------------------------------------------------
def test_ratio_sli_counts_events_as_rate_times_step() -> None:
    # 10 req/s for 10 minutes = 6000 requests; 1 err/s in two minutes = 120 bad -> 1 - 120/6000 = 0.98
    frame = frame_of(
        {"r1": {"requests_per_second": [10.0] * 11, "errors_per_second": [0, 0, 0, 1, 1] + [0] * 6}}
    )
    detail = sli_detail(frame, AVAILABILITY, at_minute(0), at_minute(10))
    assert detail.sli == pytest.approx(0.98)
    assert detail.bad == pytest.approx(120.0)
    assert detail.total == pytest.approx(6000.0)
    assert detail.coverage == pytest.approx(1.0)
    assert not detail.partial


def test_window_holds_samples_after_start_up_to_and_including_end() -> None:
    # the sample at ts describes the minute ending at ts: (start, end] excludes minute 0, includes minute 2
    frame = frame_of(
        {"r1": {"requests_per_second": [1.0, 1.0, 1.0, 1.0], "errors_per_second": [1.0, 0, 0.5, 0]}}
    )
    assert sli(frame, AVAILABILITY, at_minute(0), at_minute(2)) == pytest.approx(1 - 30 / 120)
    assert sli(frame, AVAILABILITY, at_minute(2), at_minute(3)) == pytest.approx(1.0)


def test_good_over_total_is_the_complement_of_bad() -> None:
    slo = SLO("g", 0.99, timedelta(minutes=10), "requests_per_second", good="cdn_requests_per_second")
    frame = frame_of({"r1": {"requests_per_second": [4.0, 4.0], "cdn_requests_per_second": [3.0, 4.0]}})
    assert sli(frame, slo, at_minute(-1), at_minute(1)) == pytest.approx(7 / 8)


def test_no_traffic_is_undefined_not_perfect() -> None:
    frame = frame_of({"r1": {"requests_per_second": [0.0] * 5, "errors_per_second": [0.0] * 5}})
    assert sli(frame, AVAILABILITY, at_minute(0), at_minute(4)) is None
    assert burn_rate(frame, AVAILABILITY, timedelta(minutes=3), at_minute(4)) is None
    status = error_budget(frame, AVAILABILITY, at_minute(4))
    assert status.remaining_fraction is None and status.minutes_remaining is None and status.sli is None
    assert alert_state(frame, AVAILABILITY, at_minute(4)).level == "no data"
    # a window before any data, and an empty frame, are undefined too
    assert sli(frame, AVAILABILITY, at_minute(-30), at_minute(-20)) is None
    assert sli(frame.iloc[0:0], AVAILABILITY, at_minute(0), at_minute(4)) is None


def test_gaps_are_neither_good_nor_bad_and_lower_the_coverage() -> None:
    # minutes 3 and 4 missing: 8 of 10 minutes known, 480 requests, 60 bad -> SLI 1 - 60/480
    requests = [1.0, 1.0, 1.0, None, None, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]
    errors = [0, 0, 0, None, None, 1.0, 0, 0, 0, 0, 0]
    frame = frame_of({"r1": {"requests_per_second": requests, "errors_per_second": errors}})
    detail = sli_detail(frame, AVAILABILITY, at_minute(0), at_minute(10))
    assert detail.sli == pytest.approx(1 - 60 / 480)
    assert detail.coverage == pytest.approx(0.8)
    assert not detail.partial  # the data spans the window; it only has holes


def test_missing_bad_sample_counts_as_zero_but_missing_good_leaves_the_minute_unknown() -> None:
    frame = frame_of({"r1": {"requests_per_second": [2.0, 2.0, 2.0], "errors_per_second": [None, 1.0, None]}})
    assert sli(frame, AVAILABILITY, at_minute(-1), at_minute(2)) == pytest.approx(1 - 60 / 360)
    good_slo = SLO("g", 0.99, timedelta(minutes=10), "requests_per_second", good="cdn_requests_per_second")
    frame = frame_of(
        {"r1": {"requests_per_second": [2.0, 2.0, 2.0], "cdn_requests_per_second": [None, 1.0, None]}}
    )
    detail = sli_detail(frame, good_slo, at_minute(-1), at_minute(2))
    assert detail.sli == pytest.approx(0.5)  # only minute 1 is known: 60 good of 120
    assert detail.coverage == pytest.approx(1 / 3)


def test_bad_larger_than_total_is_capped() -> None:
    frame = frame_of({"r1": {"requests_per_second": [1.0, 1.0], "errors_per_second": [3.0, 0.0]}})
    assert sli(frame, AVAILABILITY, at_minute(-1), at_minute(1)) == pytest.approx(0.5)


def test_window_longer_than_the_data_is_flagged() -> None:
    # 5 minutes of data, a 10-minute SLO window: figures cover half of it and say so
    frame = frame_of({"r1": {"requests_per_second": [1.0] * 5, "errors_per_second": [0.0] * 5}})
    status = error_budget(frame, AVAILABILITY, at_minute(4))
    assert status.partial
    assert status.coverage == pytest.approx(0.5)
    assert status.data_start == T0
    rates, partial = burn_rates(
        frame, AVAILABILITY, [timedelta(minutes=2), timedelta(minutes=30)], at_minute(4)
    )
    assert partial == (timedelta(minutes=30),)
    assert rates[timedelta(minutes=2)] == pytest.approx(0.0)
    # a window running past the newest sample is partial too
    assert sli_detail(frame, AVAILABILITY, at_minute(0), at_minute(8)).partial


def test_five_minute_steps_count_300_seconds_of_events() -> None:
    frame = frame_of(
        {"r1": {"requests_per_second": [2.0, 2.0, 2.0], "errors_per_second": [0.0, 0.2, 0.0]}},
        step=timedelta(minutes=5),
    )
    detail = sli_detail(frame, AVAILABILITY, at_minute(0), at_minute(10))
    assert detail.total == pytest.approx(1200.0)
    assert detail.bad == pytest.approx(60.0)


# ---- burn rate and budget -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("objective", "expected"), [(0.9, 0.2), (0.99, 2.0), (0.999, 20.0), (0.9999, 200.0), (0.99999, 2000.0)]
)
def test_burn_rate_is_error_ratio_over_allowed_ratio(objective: float, expected: float) -> None:
    slo = SLO("b", objective, timedelta(days=28), "requests_per_second", bad="errors_per_second")
    frame = frame_of({"r1": {"requests_per_second": [50.0] * 11, "errors_per_second": [1.0] * 11}})
    assert burn_rate(frame, slo, timedelta(minutes=10), at_minute(10)) == pytest.approx(expected)


def test_error_budget_occurrences_by_hand() -> None:
    # 10 minutes x 10 req/s = 6000 requests, objective 0.99 -> 60 bad requests allowed; 15 bad seen
    errors = [0.0] * 11
    errors[4] = 0.25  # 15 bad requests in minute 4
    frame = frame_of({"r1": {"requests_per_second": [10.0] * 11, "errors_per_second": errors}})
    status = error_budget(frame, AVAILABILITY, at_minute(10), region="r1")
    assert status.unit == "events"
    assert status.total == pytest.approx(60.0)
    assert status.consumed == pytest.approx(15.0)
    assert status.remaining_fraction == pytest.approx(0.75)
    assert status.events_remaining == pytest.approx(45.0)
    # 1% of 10 minutes = 0.1 minute of full outage; three quarters of it left
    assert status.minutes_total == pytest.approx(0.1)
    assert status.minutes_remaining == pytest.approx(0.075)
    assert status.sli == pytest.approx(1 - 15 / 6000)
    assert status.window_start == at_minute(0) and status.at == at_minute(10)
    assert not status.exhausted and not status.partial


def test_overspent_budget_goes_negative() -> None:
    frame = frame_of({"r1": {"requests_per_second": [10.0] * 11, "errors_per_second": [0.3] * 11}})
    status = error_budget(frame, AVAILABILITY, at_minute(10))
    # 3% errors against 1% allowed: 3x the budget consumed
    assert status.remaining_fraction == pytest.approx(-2.0)
    assert status.exhausted


def test_latency_timeslices_by_hand() -> None:
    # a minute is good when p95 <= 300 ms: 400 and 301 are bad, 300 is good
    p95 = [100.0, 400.0, 250.0, 300.0, 301.0, 120.0, 130.0, 140.0, 150.0, 160.0, 170.0]
    frame = frame_of({"r1": {"latency_p95_ms": p95}})
    detail = sli_detail(frame, LATENCY, at_minute(-1), at_minute(10))
    assert detail.sli == pytest.approx(9 / 11)
    assert detail.bad == pytest.approx(2.0)  # minutes
    status = error_budget(frame, LATENCY, at_minute(10))
    assert status.unit == "minutes"
    # window (0, 10]: minutes 1..10 -> 400 and 301 bad; budget 10% of 10 min = 1 minute; 2 spent
    assert status.total == pytest.approx(1.0)
    assert status.consumed == pytest.approx(2.0)
    assert status.remaining_fraction == pytest.approx(-1.0)
    assert status.events_remaining is None
    assert burn_rate(frame, LATENCY, timedelta(minutes=4), at_minute(4)) == pytest.approx((2 / 4) / 0.1)


def test_latency_budget_is_against_the_whole_window_even_with_gaps() -> None:
    # 4 known minutes of a 10-minute window, one bad: SLI is 3/4 of what was measured; one minute of
    # the 1-minute budget is spent
    frame = frame_of({"r1": {"latency_p95_ms": [None] * 7 + [100.0, 500.0, 100.0, 100.0]}})
    status = error_budget(frame, LATENCY, at_minute(10))
    assert status.sli == pytest.approx(0.75)
    assert status.consumed == pytest.approx(1.0)
    assert status.remaining_fraction == pytest.approx(0.0)
    assert status.partial and status.coverage == pytest.approx(0.4)


def test_latency_five_minute_slices_spend_five_minutes_each() -> None:
    slo = SLO("l", 0.9, timedelta(hours=1), "latency_p95_ms", budgeting="timeslices", threshold=300.0)
    frame = frame_of({"r1": {"latency_p95_ms": [100.0] * 11 + [400.0]}}, step=timedelta(minutes=5))
    status = error_budget(frame, slo, T0 + timedelta(minutes=55))
    assert status.consumed == pytest.approx(5.0)
    assert status.total == pytest.approx(6.0)


def test_ratio_timeslices_judge_each_minute_against_the_objective() -> None:
    slo = SLO(
        "rt",
        0.99,
        timedelta(minutes=10),
        "requests_per_second",
        bad="errors_per_second",
        budgeting="timeslices",
    )
    frame = frame_of({"r1": {"requests_per_second": [100.0] * 3, "errors_per_second": [0.5, 2.0, 1.0]}})
    # minute ratios 0.995, 0.98, 0.99: only the middle one misses 0.99
    assert sli(frame, slo, at_minute(-1), at_minute(2)) == pytest.approx(2 / 3)


# ---- global: traffic-weighted -------------------------------------------------------------------
def test_global_ratio_sli_sums_events_not_ratios() -> None:
    # big: 1000 requests, 10 bad (1%); small: 10 requests, 5 bad (50%)
    frame = frame_of(
        {
            "big": {"requests_per_second": [1000 / 60], "errors_per_second": [10 / 60]},
            "small": {"requests_per_second": [10 / 60], "errors_per_second": [5 / 60]},
        }
    )
    window = (at_minute(-1), at_minute(0))
    assert sli(frame, AVAILABILITY, *window) == pytest.approx(1 - 15 / 1010)
    assert sli(frame, AVAILABILITY, *window, region="small") == pytest.approx(0.5)
    assert sli(frame, AVAILABILITY, *window, region=GLOBAL) == pytest.approx(1 - 15 / 1010)
    assert sli(frame, AVAILABILITY, *window, region="elsewhere") is None


def test_global_latency_weights_regions_by_their_requests() -> None:
    # fast region serves 90 req/s with good minutes, slow one 10 req/s with bad minutes: 10% bad, not 50%
    frame = frame_of(
        {
            "fast": {"latency_p95_ms": [100.0] * 4, "requests_per_second": [90.0] * 4},
            "slow": {"latency_p95_ms": [900.0] * 4, "requests_per_second": [10.0] * 4},
        }
    )
    assert sli(frame, LATENCY, at_minute(0), at_minute(3)) == pytest.approx(0.9)
    assert sli(frame, LATENCY, at_minute(0), at_minute(3), region="slow") == pytest.approx(0.0)
    # without traffic data the regions' minutes count equally
    no_traffic = frame[frame["metric"] == "latency_p95_ms"]
    assert sli(no_traffic, LATENCY, at_minute(0), at_minute(3)) == pytest.approx(0.5)
    # global bad minutes: traffic-weighted mean of the regions' bad minutes (0 and 3) = 0.3
    assert sli_detail(frame, LATENCY, at_minute(0), at_minute(3)).bad == pytest.approx(0.3)


def test_slo_regions_restrict_the_scope() -> None:
    slo = SLO(
        "c", 0.99, timedelta(minutes=10), "requests_per_second", bad="errors_per_second", regions=("a",)
    )
    frame = frame_of(
        {
            "a": {"requests_per_second": [1.0], "errors_per_second": [0.0]},
            "b": {"requests_per_second": [1.0], "errors_per_second": [1.0]},
        }
    )
    assert sli(frame, slo, at_minute(-1), at_minute(0)) == pytest.approx(1.0)
    assert sli(frame, slo, at_minute(-1), at_minute(0), region="b") is None


# ---- alerts -------------------------------------------------------------------------------------
OBJ99 = SLO("o", 0.99, timedelta(days=28), "requests_per_second", bad="errors_per_second")
DAYS3 = 3 * 1440


def errors_frame(error_ratio_by_minute: np.ndarray, rps: float = 100.0) -> pd.DataFrame:
    n = len(error_ratio_by_minute)
    ts = [T0 + i * MIN for i in range(n)]
    requests = pd.DataFrame({"ts": ts, "region": "r1", "metric": "requests_per_second", "value": rps})
    errors = pd.DataFrame(
        {"ts": ts, "region": "r1", "metric": "errors_per_second", "value": rps * error_ratio_by_minute}
    )
    return tidy_metrics(pd.concat([requests, errors]))


def test_fast_burn_pages_on_the_1h_5m_pair() -> None:
    ratio = np.zeros(DAYS3 + 1)
    ratio[-60:] = 0.2  # 20% errors for the last hour: burn 20
    frame = errors_frame(ratio)
    at = at_minute(DAYS3)
    state = alert_state(frame, OBJ99, at)
    assert state.burn_rates[timedelta(hours=1)] == pytest.approx(20.0)
    assert state.burn_rates[timedelta(minutes=5)] == pytest.approx(20.0)
    assert state.burn_rates[timedelta(hours=6)] == pytest.approx(20 / 6)
    assert state.burn_rates[timedelta(days=3)] == pytest.approx(20 / 72)
    assert state.page and not state.ticket and state.level == "page"
    assert [e.firing for e in state.rules] == [True, False, False, False]
    assert state.partial_windows == ()


def test_page_resets_when_the_short_window_recovers() -> None:
    ratio = np.zeros(DAYS3 + 1)
    ratio[-60:-5] = 0.2  # bad until 5 minutes ago: 1h burn 18.3 but the 5m window is clean
    state = alert_state(errors_frame(ratio), OBJ99, at_minute(DAYS3))
    assert state.burn_rates[timedelta(hours=1)] == pytest.approx(20 * 55 / 60)
    assert state.burn_rates[timedelta(minutes=5)] == pytest.approx(0.0)
    assert not state.page and state.level == "ok"


def test_slow_burn_opens_a_ticket() -> None:
    ratio = np.zeros(DAYS3 + 1)
    ratio[-1440:] = 0.035  # burn 3.5 for the last day: over 3 (24h/2h) and, over 3 days, 1.17 > 1
    state = alert_state(errors_frame(ratio), OBJ99, at_minute(DAYS3))
    assert state.burn_rates[timedelta(hours=24)] == pytest.approx(3.5)
    assert state.burn_rates[timedelta(days=3)] == pytest.approx(3.5 / 3)
    assert state.ticket and not state.page and state.level == "ticket"
    assert [e.firing for e in state.rules] == [False, False, True, True]


def test_six_hour_page_rule() -> None:
    ratio = np.zeros(DAYS3 + 1)
    ratio[-360:] = 0.08  # burn 8 for 6 hours: over 6 on 6h/30m, under 14.4 on 1h/5m
    state = alert_state(errors_frame(ratio), OBJ99, at_minute(DAYS3))
    # 24h: 8 x 6/24 = 2 < 3 and 3d: 8 x 6/72 = 0.67 < 1, so no ticket
    assert state.burn_rates[timedelta(hours=24)] == pytest.approx(2.0)
    assert [e.firing for e in state.rules] == [False, True, False, False]
    assert state.page and not state.ticket and state.level == "page"


def test_rules_are_configurable_and_short_data_is_reported() -> None:
    ratio = np.full(120, 0.015)  # two hours of 1.5% errors: burn 1.5
    rules = (BurnRateRule("ticket", timedelta(hours=1), timedelta(minutes=10), 1.2),)
    state = alert_state(errors_frame(ratio), OBJ99, at_minute(119), rules=rules)
    assert state.ticket and not state.page
    assert set(state.burn_rates) == {timedelta(hours=1), timedelta(minutes=10)}
    default = alert_state(errors_frame(ratio), OBJ99, at_minute(119))
    assert timedelta(days=3) in default.partial_windows and timedelta(hours=1) not in default.partial_windows


def test_time_to_exhaustion_by_hand() -> None:
    assert time_to_exhaustion(0.5, 2.0, timedelta(days=28)) == timedelta(days=7)
    assert time_to_exhaustion(0.25, 14.4, timedelta(days=30)) == timedelta(hours=12.5)
    assert time_to_exhaustion(0.0, 3.0, timedelta(days=28)) == timedelta(0)
    assert time_to_exhaustion(-0.5, 3.0, timedelta(days=28)) == timedelta(0)
    assert time_to_exhaustion(0.5, 0.0, timedelta(days=28)) is None
    assert time_to_exhaustion(None, 2.0, timedelta(days=28)) is None


def test_report_combines_budget_burn_and_exhaustion() -> None:
    slo = SLO("o", 0.99, timedelta(hours=2), "requests_per_second", bad="errors_per_second")
    ratio = np.zeros(121)
    ratio[-60:] = 0.005  # 0.5% over the last hour: burn 0.5; 2 h window budget: 1% x 12000 x 60 s
    rep = slo_report(errors_frame(ratio), slo, at_minute(120))
    assert rep.current_burn == pytest.approx(0.5)
    assert rep.budget.remaining_fraction == pytest.approx(0.75)
    # 0.75 of a 2-hour window at burn 0.5 lasts 3 hours
    assert rep.time_to_exhaustion == timedelta(hours=3)


# ---- series -------------------------------------------------------------------------------------
def test_burn_down_runs_from_full_to_the_current_remaining_budget() -> None:
    slo = SLO("o", 0.99, timedelta(minutes=60), "requests_per_second", bad="errors_per_second")
    ratio = np.zeros(61)
    ratio[31:41] = 0.018  # 10 minutes at 1.8% errors: 0.3% of the hour's requests, 30% of its budget
    frame = errors_frame(ratio)
    down = burn_down(frame, slo, at_minute(60), points=1000)
    assert len(down) == 61
    assert down["ts"].iloc[0] == at_minute(0) and down["ts"].iloc[-1] == at_minute(60)
    assert down["remaining_fraction"].iloc[0] == pytest.approx(1.0)
    assert down["remaining_fraction"].iloc[35] == pytest.approx(1 - 0.15)
    assert down["remaining_fraction"].iloc[-1] == pytest.approx(0.7)
    assert down["remaining_fraction"].iloc[-1] == pytest.approx(
        error_budget(frame, slo, at_minute(60)).remaining_fraction
    )
    assert down["ideal_fraction"].iloc[30] == pytest.approx(0.5)
    assert (np.diff(down["remaining_fraction"]) <= 1e-12).all()
    assert len(burn_down(frame, slo, at_minute(60), points=10)) <= 11
    assert burn_down(frame.iloc[0:0], slo, at_minute(60)).empty


def test_burn_rate_series_matches_point_burn_rates() -> None:
    ratio = np.zeros(121)
    ratio[61:] = 0.02  # minutes 61..120
    frame = errors_frame(ratio)
    series = burn_rate_series(frame, OBJ99, timedelta(minutes=30), at_minute(60), at_minute(120))
    assert series["ts"].iloc[-1] == at_minute(120)
    for ts, value in zip(series["ts"], series["burn_rate"], strict=True):
        assert value == pytest.approx(burn_rate(frame, OBJ99, timedelta(minutes=30), ts.to_pydatetime()))
    assert series["burn_rate"].iloc[0] == pytest.approx(0.0)
    assert series["burn_rate"].iloc[-1] == pytest.approx(2.0)


def test_counts_and_grids_give_the_same_answers_as_frames() -> None:
    ratio = np.linspace(0, 0.02, 200)
    frame = errors_frame(ratio)
    at = at_minute(199)
    from_frame = burn_rate(frame, OBJ99, timedelta(hours=1), at)
    assert burn_rate(slo_counts(frame, OBJ99), OBJ99, timedelta(hours=1), at) == pytest.approx(from_frame)
    assert burn_rate(metric_grid(frame), OBJ99, timedelta(hours=1), at) == pytest.approx(from_frame)
    with pytest.raises(ValueError, match="built for SLO"):
        burn_rate(slo_counts(frame, OBJ99), AVAILABILITY, timedelta(hours=1), at)
    with pytest.raises(ValueError, match="timezone"):
        sli(frame, OBJ99, datetime(2026, 3, 1), datetime(2026, 3, 2))


# ---- tables for the pages -----------------------------------------------------------------------
def two_region_frame() -> pd.DataFrame:
    n = DAYS3 + 1
    hot = np.zeros(n)
    hot[-60:] = 0.3
    frames = []
    for region, ratio in (("calm", np.full(n, 0.001)), ("hot", hot)):
        f = errors_frame(ratio)
        f["region"] = region
        frames.append(f)
    return tidy_metrics(pd.concat(frames))


def test_reports_rank_what_burns_and_colour_regions() -> None:
    frame = two_region_frame()
    at = at_minute(DAYS3)
    reports = slo_reports(frame, [OBJ99], at)
    assert [r.region for r in reports] == ["calm", "hot", GLOBAL]
    table = reports_table(reports)
    assert list(table["alert"]) == ["ok", "page", "page"]
    assert table.loc[1, "burn_1h"] == pytest.approx(30.0)
    # global 1h burn: (0.001 + 0.3) / 2 of equal traffic -> 0.1505 / 0.01
    assert table.loc[2, "burn_1h"] == pytest.approx(15.05)
    ranked = burning_now(reports)
    assert [r.region for r in ranked] == ["hot", GLOBAL]
    states = region_slo_states(frame, [OBJ99], at, ["calm", "hot", "nowhere"])
    assert list(states["alert"]) == ["ok", "page", "no data"]
    assert states.loc[1, "worst_slo"] == "o"


def test_fastest_burning_keeps_global_and_the_fastest_regions_in_their_order() -> None:
    """The SLOs page's cards above CARD_MAX_REGIONS regions: global plus the fastest burns, alert level
    first (a paging region beats a faster-burning one that does not page), in the reports' order."""
    from dataclasses import replace

    frame = two_region_frame()
    at = at_minute(DAYS3)
    calm, hot, everywhere = slo_reports(frame, [OBJ99], at)
    ok_fast = replace(calm, region="ok-fast", current_burn=50.0)  # faster than hot, but does not page
    quiet = replace(calm, region="quiet", current_burn=None)
    reports = [calm, quiet, hot, ok_fast, everywhere]
    assert [r.region for r in fastest_burning(reports, 2)] == ["hot", "ok-fast", GLOBAL]
    assert [r.region for r in fastest_burning(reports, 1)] == ["hot", GLOBAL]
    assert [r.region for r in fastest_burning(reports, 0)] == [GLOBAL]
    assert [r.region for r in fastest_burning(reports, 9)] == ["calm", "quiet", "hot", "ok-fast", GLOBAL]


def test_formatting_helpers() -> None:
    assert [format_window(w) for w in (timedelta(minutes=5), timedelta(hours=6), timedelta(days=3))] == [
        "5m",
        "6h",
        "3d",
    ]
    assert format_duration(None) == "not burning"
    assert format_duration(timedelta(0)) == "exhausted"
    assert format_duration(timedelta(minutes=12)) == "12 min"
    assert format_duration(timedelta(hours=2, minutes=5)) == "2 h 5 min"
    assert format_duration(timedelta(days=3, hours=4)) == "3 d 4 h"


# ---- properties ---------------------------------------------------------------------------------
objectives = st.sampled_from([0.9, 0.95, 0.99, 0.995, 0.999, 0.9995, 0.9999, 0.99999])
# request rates as monitoring reports them: idle, or at least a thousandth of a request per second
rate = st.one_of(st.just(0.0), st.floats(0.001, 500.0))
rates = st.lists(rate, min_size=3, max_size=30)


@settings(max_examples=60, deadline=None)
@given(objective=objectives, requests=rates, data=st.data())
def test_budget_remaining_is_monotone_in_errors(objective: float, requests: list[float], data) -> None:
    n = len(requests)
    shares = data.draw(st.lists(st.floats(0.0, 1.0), min_size=n, max_size=n))
    minute = data.draw(st.integers(0, n - 1))
    extra = data.draw(st.floats(0.0, 1.0))
    slo = SLO("p", objective, timedelta(minutes=n), "requests_per_second", bad="errors_per_second")
    errors = [r * s for r, s in zip(requests, shares, strict=True)]
    more = list(errors)
    more[minute] = errors[minute] + (requests[minute] - errors[minute]) * extra
    at = at_minute(n - 1)
    before = error_budget(
        frame_of({"r": {"requests_per_second": requests, "errors_per_second": errors}}), slo, at
    )
    after = error_budget(
        frame_of({"r": {"requests_per_second": requests, "errors_per_second": more}}), slo, at
    )
    if before.remaining_fraction is None:
        assert after.remaining_fraction is None and sum(requests) == 0
        return
    assert after.remaining_fraction <= before.remaining_fraction + 1e-9
    # and it is exactly 1 - (1 - SLI) / (1 - objective)
    assert before.remaining_fraction == pytest.approx(1 - (1 - before.sli) / (1 - objective), abs=1e-6)


@settings(max_examples=60, deadline=None)
@given(objective=objectives, n=st.integers(2, 20), data=st.data())
def test_latency_budget_remaining_is_monotone_in_slow_minutes(objective: float, n: int, data) -> None:
    p95 = data.draw(st.lists(st.floats(1.0, 1000.0), min_size=n, max_size=n))
    slo = SLO("l", objective, timedelta(minutes=n), "latency_p95_ms", budgeting="timeslices", threshold=300.0)
    slower = [v * 2 for v in p95]
    at = at_minute(n - 1)
    before = error_budget(frame_of({"r": {"latency_p95_ms": p95}}), slo, at)
    after = error_budget(frame_of({"r": {"latency_p95_ms": slower}}), slo, at)
    assert after.remaining_fraction <= before.remaining_fraction + 1e-9


@settings(max_examples=60, deadline=None)
@given(data=st.data(), n_regions=st.integers(2, 5), n=st.integers(1, 10), latency=st.booleans())
def test_global_sli_lies_between_the_regional_extremes(data, n_regions: int, n: int, latency: bool) -> None:
    regions = {}
    for k in range(n_regions):
        requests = data.draw(st.lists(rate, min_size=n, max_size=n))
        shares = data.draw(st.lists(st.floats(0.0, 1.0), min_size=n, max_size=n))
        p95 = data.draw(st.lists(st.floats(1.0, 1000.0), min_size=n, max_size=n))
        regions[f"r{k}"] = {
            "requests_per_second": requests,
            "errors_per_second": [r * s for r, s in zip(requests, shares, strict=True)],
            "latency_p95_ms": p95,
        }
    slo = LATENCY if latency else AVAILABILITY
    frame = frame_of(regions)
    window = (at_minute(-1), at_minute(n - 1))
    regional = [sli(frame, slo, *window, region=r) for r in regions]
    defined = [v for v in regional if v is not None]
    overall = sli(frame, slo, *window)
    if not defined:
        assert overall is None
        return
    if overall is None:  # latency: every region with minutes had no traffic to weight it
        assert latency
        return
    assert min(defined) - 1e-9 <= overall <= max(defined) + 1e-9


# ---- the demo world -----------------------------------------------------------------------------
def test_demo_world_burns_in_ap_southeast_1_only(demo_store) -> None:
    from connectors.store import StoreMetricsSource, open_db
    from tests.conftest import DEMO_END

    cfg = load_config()
    slos = [s for s in slos_from_config(cfg.slo) if s.name in ("api-availability", "api-latency-p95")]
    db = open_db(demo_store)
    frame = StoreMetricsSource(db).query_range(
        ["requests_per_second", "errors_per_second", "latency_p95_ms"],
        DEMO_END - timedelta(days=3, minutes=1),
        DEMO_END,
        MIN,
    )
    db.conn.close()
    states = region_slo_states(frame, slos, DEMO_END, list(cfg.region_codes))
    by_region = dict(zip(states["region"], states["alert"], strict=True))
    assert by_region.pop("ap-southeast-1") == "page"
    assert set(by_region.values()) == {"ok"}
    burning = burning_now(slo_reports(frame, slos, DEMO_END))
    assert burning[0].region == "ap-southeast-1"
    # 2.5% errors against 0.1% allowed: a burn of about 25 over the last hour
    assert 15 < next(r.current_burn for r in burning if r.slo.name == "api-availability") < 40


def test_deploy_markers_from_the_config() -> None:
    from core.config import Deploy

    deploys = [
        Deploy(at="2026-03-01T10:00:00Z", description="api v3", region="eu-west-1"),
        Deploy(at="2026-03-01T11:30:00", description="api v3.1"),  # no zone: UTC
        Deploy(at="2026-02-01T10:00:00Z", description="too old"),
    ]
    marks = deploy_markers(deploys, at_minute(0), T0 + timedelta(hours=12))
    assert list(marks["title"]) == ["api v3", "api v3.1"]
    assert list(marks["start_ts"]) == [
        pd.Timestamp("2026-03-01 10:00", tz="UTC"),
        pd.Timestamp("2026-03-01 11:30", tz="UTC"),
    ]
    assert list(marks["region"]) == ["eu-west-1", ""]
    assert set(marks["kind"]) == {"deploy"}
    assert deploy_markers([], at_minute(0), at_minute(1)).empty
    with pytest.raises(ValueError, match="ISO 8601"):
        deploy_markers([Deploy(at="yesterday", description="x")], at_minute(0), at_minute(1))


def test_grid_newest_is_the_last_slot_with_a_value() -> None:
    """'Now' for a range past the data is the newest slot holding a value, not the grid's last slot."""
    ts = pd.date_range("2026-11-23 10:00", periods=5, freq="1min", tz="UTC")
    frame = pd.DataFrame(
        {"ts": ts, "region": "r1", "metric": "requests_per_second", "value": [1.0, 2.0, 3.0, np.nan, np.nan]}
    )
    assert metric_grid(frame).newest == ts[2].to_pydatetime()
    assert metric_grid(frame.iloc[0:0]).newest is None
