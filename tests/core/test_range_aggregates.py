"""Range-wide figures computed where the data lives (core.ports.RangeAggregate): the reference
semantics (core.timeseries.summarise_metrics) by hand, and the SLO alert column the Overview builds from
per-window sums agreeing with the grid-based region_slo_states (docs/ARCHITECTURE.md, "Data contracts")."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from core.config import DEFAULT_BURN_RATE_RULES
from core.ports import RangeAggregate, tidy_metrics
from core.slo import (
    SLO,
    region_slo_states,
    region_slo_states_from_aggregates,
    rule_windows,
    slo_window_aggregates,
)
from core.timeseries import aggregates_table, summarise_metrics
from tests.core.test_slo import MIN, T0, frame_of


def test_range_aggregate_checks_its_fields() -> None:
    with pytest.raises(ValueError, match="stat"):
        RangeAggregate("requests_per_second", "median")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="threshold"):
        RangeAggregate("latency_p95_ms", "mean", threshold=300.0)
    with pytest.raises(ValueError, match="weight"):
        RangeAggregate("latency_p95_ms", "weighted_sum")
    assert (
        RangeAggregate("latency_p95_ms", "share_above", threshold=300.0).key
        == "share_above(latency_p95_ms>300)"
    )


def test_summarise_metrics_by_hand() -> None:
    frame = frame_of(
        {
            "a": {
                "requests_per_second": [10.0, 30.0, None, 20.0],
                "latency_p95_ms": [100.0, 400.0, 500.0, np.nan],
            },
            "b": {"requests_per_second": [5.0, 5.0, 5.0, 5.0]},
        }
    )
    wanted = [
        RangeAggregate("requests_per_second", "mean"),
        RangeAggregate("requests_per_second", "max"),
        RangeAggregate("requests_per_second", "sum"),
        RangeAggregate("requests_per_second", "last"),
        RangeAggregate("latency_p95_ms", "share_above", threshold=300.0),
        RangeAggregate("latency_p95_ms", "weighted_sum", weight="requests_per_second"),
        RangeAggregate("latency_p95_ms", "weight_sum", weight="requests_per_second"),
    ]
    t = aggregates_table(summarise_metrics(frame, wanted))
    assert t.at["a", "mean(requests_per_second)"] == pytest.approx(20.0)
    assert t.at["a", "max(requests_per_second)"] == 30.0
    assert t.at["a", "sum(requests_per_second)"] == 60.0
    assert t.at["a", "last(requests_per_second)"] == 20.0
    assert t.at["a", "share_above(latency_p95_ms>300)"] == pytest.approx(2 / 3)  # NaN is not a step
    # only the steps where both are finite: 10 x 100 + 30 x 400, over 10 + 30 requests
    assert t.at["a", "weighted_sum(latency_p95_ms*requests_per_second)"] == pytest.approx(13_000.0)
    assert t.at["a", "weight_sum(latency_p95_ms*requests_per_second)"] == pytest.approx(40.0)
    assert t.at["b", "mean(requests_per_second)"] == 5.0
    assert np.isnan(t.at["b", "share_above(latency_p95_ms>300)"])  # b has no latency at all
    last_two = RangeAggregate("requests_per_second", "sum", window=2 * MIN)
    # (end - 2 min, end]: the last two minutes; region a has no point at minute 2
    assert aggregates_table(summarise_metrics(frame, [last_two])).at["a", last_two.key] == 20.0
    assert aggregates_table(summarise_metrics(frame, [last_two])).at["b", last_two.key] == 10.0


def test_slo_states_from_window_sums_agree_with_the_grid() -> None:
    minutes = 3 * 24 * 60 + 60
    quiet = [0.0] * minutes
    burst = [0.0] * (minutes - 20) + [5.0] * 20  # the last 20 minutes: 5% errors in region a
    frame = frame_of(
        {
            "a": {
                "requests_per_second": [100.0] * minutes,
                "errors_per_second": burst,
                "latency_p95_ms": [100.0] * minutes,
            },
            "b": {
                "requests_per_second": [100.0] * minutes,
                "errors_per_second": [0.05] * minutes,
                "latency_p95_ms": [100.0] * (minutes - 90) + [900.0] * 90,
            },
            "c": {
                "requests_per_second": [50.0] * minutes,
                "errors_per_second": quiet,
                "latency_p95_ms": [100.0] * minutes,
            },
        }
    )
    at = T0 + (minutes - 1) * MIN
    slos = [
        SLO("avail", 0.999, timedelta(days=28), "requests_per_second", bad="errors_per_second"),
        SLO("lat", 0.99, timedelta(days=28), "latency_p95_ms", threshold=300.0, budgeting="timeslices"),
    ]
    regions = ["a", "b", "c", "d"]
    expected = region_slo_states(frame, slos, at, regions, DEFAULT_BURN_RATE_RULES)
    wanted = slo_window_aggregates(slos, DEFAULT_BURN_RATE_RULES)
    assert len(wanted) == len(rule_windows()) * 3  # avail: bad + total; latency: share above
    got = region_slo_states_from_aggregates(
        summarise_metrics(frame, wanted, at), slos, regions, DEFAULT_BURN_RATE_RULES
    )
    assert list(got["alert"]) == list(expected["alert"])
    assert list(got["worst_slo"]) == list(expected["worst_slo"])
    assert got["current_burn"].to_numpy() == pytest.approx(expected["current_burn"].to_numpy(), nan_ok=True)
    assert list(got["alert"]) == ["page", "page", "ok", "no data"]  # the case is not trivial


def test_a_window_without_points_gives_no_figures() -> None:
    frame = tidy_metrics(
        pd.DataFrame(
            {
                "ts": pd.to_datetime(["2026-01-01T00:00Z", "2026-01-01T00:01Z"]),
                "region": "a",
                "metric": "requests_per_second",
                "value": [1.0, 2.0],
            }
        )
    )
    later = pd.Timestamp("2026-01-02T00:00Z")
    wanted = [
        RangeAggregate("requests_per_second", stat, window=timedelta(minutes=5))
        for stat in ("last", "sum", "count", "max")
    ]
    assert summarise_metrics(frame, wanted, later).empty
    counted = aggregates_table(summarise_metrics(frame, [RangeAggregate("requests_per_second", "count")]))
    assert counted.at["a", "count(requests_per_second)"] == 2
