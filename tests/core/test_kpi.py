"""core/kpi.py: the Overview's KPI tiles, by hand (moved from tests/core/test_slo.py with core/kpi.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pytest

from core.kpi import kpi_cost_days, kpi_summary
from tests.core.test_slo import frame_of


def test_kpi_summary_by_hand() -> None:
    current = frame_of(
        {
            "a": {
                "requests_per_second": [30.0, 30.0],
                "errors_per_second": [0.3, 0.0],
                "latency_p95_ms": [100.0, 100.0],
                "cdn_hit_ratio": [0.9, 0.9],
                "cdn_requests_per_second": [30.0, 30.0],
            },
            "b": {
                "requests_per_second": [10.0, 10.0],
                "errors_per_second": [0.1, 0.1],
                "latency_p95_ms": [300.0, 300.0],
                "cdn_hit_ratio": [0.5, 0.5],
                "cdn_requests_per_second": [10.0, 10.0],
            },
        }
    )
    previous = frame_of({"a": {"requests_per_second": [20.0], "errors_per_second": [0.0]}})
    costs = pd.DataFrame(
        {"day": ["d1", "d1", "d2"], "service": "s", "region": "a", "cost_usd": [10.0, 20.0, 50.0]}
    )
    kpis = {k.key: k for k in kpi_summary(current, previous, costs, costs.iloc[:1])}
    # 0.5 errors/s of 80 req/s summed over two minutes: 30 / 4800
    assert kpis["error_rate"].value == pytest.approx(0.5 * 60 / 4800)
    assert kpis["availability"].value == pytest.approx(1 - 0.5 * 60 / 4800)
    assert kpis["availability"].previous == pytest.approx(1.0)
    assert kpis["rps"].value == pytest.approx(40.0)
    assert kpis["rps"].change == pytest.approx(20.0)
    assert kpis["rps"].change_fraction == pytest.approx(1.0)
    # request-weighted: (30 x 100 + 10 x 300) / 40
    assert kpis["p95"].value == pytest.approx(150.0)
    assert kpis["p95"].previous is None and kpis["p95"].change is None
    assert kpis["p50"].value is None
    assert kpis["cdn_hit_ratio"].value == pytest.approx((30 * 0.9 + 10 * 0.5) / 40)
    assert kpis["cost_per_day"].value == pytest.approx(40.0)  # (30 + 50) / 2 days
    assert kpis["cost_per_day"].previous == pytest.approx(10.0)
    assert not kpis["cost_per_day"].higher_is_better and kpis["availability"].higher_is_better


def test_kpi_cost_days_are_whole_closed_days_as_long_as_the_range() -> None:
    end = datetime(2026, 3, 8, 12, 0, tzinfo=UTC)
    # a week ending mid-day on Mar 8: the 7 closed days Mar 1-7, and the 7 before them
    assert kpi_cost_days(end - timedelta(days=7), end) == (
        (date(2026, 3, 1), date(2026, 3, 7)),
        (date(2026, 2, 22), date(2026, 2, 28)),
    )
    # a range shorter than a day still stands for one whole day: yesterday, and the day before it
    assert kpi_cost_days(end - timedelta(hours=3), end) == (
        (date(2026, 3, 7), date(2026, 3, 7)),
        (date(2026, 3, 6), date(2026, 3, 6)),
    )


def test_p90_kpi_is_request_weighted_like_the_other_percentiles() -> None:
    current = frame_of(
        {
            "a": {"requests_per_second": [30.0, 30.0], "latency_p90_ms": [80.0, 80.0]},
            "b": {"requests_per_second": [10.0, 10.0], "latency_p90_ms": [200.0, 200.0]},
        }
    )
    previous = frame_of({"a": {"requests_per_second": [20.0], "latency_p90_ms": [100.0]}})
    kpis = {k.key: k for k in kpi_summary(current, previous)}
    # (30 x 80 + 10 x 200) / 40 = 110 ms, 10 ms more than the previous period's 100
    assert kpis["p90"].value == pytest.approx(110.0) and kpis["p90"].change == pytest.approx(10.0)
    assert (
        kpis["p90"].label == "p90 latency" and kpis["p90"].unit == "ms" and not kpis["p90"].higher_is_better
    )


def test_latency_tiles_without_the_fallback_means_are_the_same_and_ask_a_mean_only_without_weight() -> None:
    """The Overview asks the latency means only for a tile with no request weight (each is a month-long
    histogram subquery on Prometheus): the tiles come out the same as with every figure asked."""
    from core.kpi import kpi_aggregates, kpi_fallback_means, kpi_summary_from_aggregates
    from core.timeseries import summarise_metrics

    weighted = frame_of(
        {
            "a": {
                "requests_per_second": [30.0, 30.0],
                "latency_p90_ms": [80.0, 80.0],
                "latency_p95_ms": [90.0, 95.0],
            },
            "b": {"requests_per_second": [10.0, 10.0], "latency_p90_ms": [200.0, 200.0]},
        }
    )
    unweighted = frame_of({"a": {"latency_p90_ms": [100.0, 120.0]}, "b": {"latency_p90_ms": [300.0]}})
    lean = kpi_aggregates(fallback_means=False)
    assert not [a for a in lean if a.stat == "mean" and a.metric.startswith("latency_")]
    for frame in (weighted, unweighted):
        first = summarise_metrics(frame, lean)
        means = kpi_fallback_means(first)
        asked = pd.concat([first, summarise_metrics(frame, means)]) if means else first
        full = summarise_metrics(frame, kpi_aggregates())
        got = {k.key: k.value for k in kpi_summary_from_aggregates(asked, asked)}
        want = {k.key: k.value for k in kpi_summary_from_aggregates(full, full)}
        assert got == pytest.approx(want, nan_ok=True)
        if frame is weighted:  # requests weigh p90 and p95: no mean needed (p50, p99, CDN: no data)
            assert {a.metric for a in means} == {"latency_p50_ms", "latency_p99_ms", "cdn_hit_ratio"}
            assert got["p90"] == pytest.approx(110.0)
        else:  # no requests at all: the plain mean of the regions' means
            assert {a.metric for a in means} >= {"latency_p90_ms"}
            assert got["p90"] == pytest.approx((110.0 + 300.0) / 2)
