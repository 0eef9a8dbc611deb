"""PrometheusSource against a real, backfilled Prometheus: long ranges fetched as day pieces (closed days
kept), aggregate_range (core.ports.RangeAggregateSource) and aggregate_slots (the SLO budgets): the figures Prometheus computes equal core.timeseries.summarise_metrics over the points a
full-resolution query_range returns (docs/ARCHITECTURE.md, "Data contracts")."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from connectors import prometheus
from connectors.prometheus import PrometheusSource, aggregate_query
from core.config import load_config
from core.health import health_aggregates
from core.kpi import kpi_aggregates
from core.ports import (
    ACROSS_REGIONS,
    ACROSS_REGIONS_OPS,
    AcrossRegionsSource,
    RangeAggregate,
    RangeAggregateSource,
    SlotAggregateSource,
    SourceError,
    WindowAggregateSource,
)
from core.slo import (
    budget_slot,
    burn_down,
    error_budget,
    lookback,
    metric_grid,
    metrics_for,
    slo_counts,
    slo_window_aggregates,
    slos_from_config,
    slot_aggregates,
    slot_counts,
    slots_fit,
)
from core.slo.slots import SLOT_POINTS
from core.timeseries import across_regions, aggregates_table, summarise_range
from tests.conftest import SHIPPED_CONFIG
from tests.connectors.promdata import CDN_QUERIES, openmetrics

pytestmark = pytest.mark.slow

REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-1"]
END = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=1)
START = END - timedelta(days=1)
CFG = load_config(SHIPPED_CONFIG)
QUERIES = dict(CFG.prometheus.queries) | CDN_QUERIES


@pytest.fixture(scope="module")
def source(prometheus_factory) -> PrometheusSource:
    server = prometheus_factory(
        openmetrics(REGIONS, START - timedelta(hours=1), END, interval_s=60, cdn=True)
    )
    config = replace(CFG.prometheus, url=server.url, queries=QUERIES, scrape_interval=timedelta(seconds=60))
    return PrometheusSource(config, REGIONS)


def test_prometheus_is_a_range_aggregate_source(source) -> None:
    assert isinstance(source, RangeAggregateSource)


def test_aggregates_equal_the_reference_over_the_full_resolution_points(source) -> None:
    start, end = END - timedelta(hours=12), END
    slo_windows = slo_window_aggregates(slos_from_config(CFG.slo), CFG.burn_rate_rule)
    wanted = tuple(dict.fromkeys((*health_aggregates(CFG), *kpi_aggregates(), *slo_windows)))
    got = aggregates_table(source.aggregate_range(wanted, start, end, REGIONS[:2]))
    # the reference: every point at the resolution the subqueries use (the same 60 s grid); the rule
    # windows reach back before `start` (up to the data's first point)
    first = min(a.first(start, end) for a in wanted)
    frame = source.query_range(
        sorted({m for a in wanted for m in a.metrics}), first, end, timedelta(seconds=60), REGIONS[:2]
    )
    expected = aggregates_table(summarise_range(frame, wanted, start, end))
    assert any(k.endswith("[300s]") for k in expected.columns)  # the 5-minute rule window is there
    assert sorted(got.index) == sorted(REGIONS[:2])  # only the asked regions
    assert set(expected.columns) <= set(got.columns)
    for key in expected.columns:
        for region in REGIONS[:2]:
            assert got.at[region, key] == pytest.approx(expected.at[region, key], rel=1e-6), (key, region)


def test_a_window_holds_its_steps_whatever_the_seconds_of_its_end(source) -> None:
    """A figure over the `window` before `end` holds the steps in (end - window, end]: 20 s past the
    minute gives the minute's figures (it lost the window's first step: 5 of 6 steps in 30 minutes at a
    5-minute resolution made the Overview's SLO column read short windows)."""
    slo_windows = slo_window_aggregates(slos_from_config(CFG.slo), CFG.burn_rate_rule)
    start = END - timedelta(hours=1)
    at_minute = aggregates_table(source.aggregate_range(slo_windows, start, END, REGIONS))
    later = aggregates_table(source.aggregate_range(slo_windows, start, END + timedelta(seconds=20), REGIONS))
    assert len(at_minute.columns) == len(slo_windows)
    pd.testing.assert_frame_equal(later[at_minute.columns], at_minute, rtol=1e-9)


def test_windows_from_disjoint_pieces_equal_one_query_per_window(source) -> None:
    """aggregate_windows (the alerts panel's burn-rate windows): the windows cut into disjoint pieces and
    summed (shares weighted by their step counts) give each window's own figures, one slot ending at the
    evaluation time, at the resolution of the longest window."""
    assert isinstance(source, WindowAggregateSource)
    figures = slot_aggregates(slos_from_config(CFG.slo))
    assert figures is not None
    windows = sorted({w for r in CFG.burn_rate_rule for w in (r.long_window, r.short_window)})
    at = END + timedelta(seconds=20)
    got = source.aggregate_windows(figures, at, windows, REGIONS)
    assert sorted(got) == windows
    for window in windows:
        one = source.aggregate_slots(figures, at - window, at, window, REGIONS)
        mine = got[window]
        assert (mine.end, mine.slot, mine.slots, mine.resolution) == (one.end, window, 1, one.resolution)
        order = ["region", "aggregate"]
        expected = one.frame.sort_values(order, ignore_index=True)
        assert len(expected) == len(REGIONS) * len(figures), window
        pd.testing.assert_frame_equal(mine.frame.sort_values(order, ignore_index=True), expected, rtol=1e-9)
    with pytest.raises(ValueError, match="without a window"):
        source.aggregate_windows([replace(figures[0], window=timedelta(hours=1))], at, windows)


def test_a_metric_across_regions_is_the_points_of_every_region_combined(source) -> None:
    """query_range_across (core.ports.AcrossRegionsSource): Prometheus's sum / avg / max over regions is
    core.timeseries.across_regions over every region's points (what the Overview's "all regions" line
    draws without fetching every region)."""
    assert isinstance(source, AcrossRegionsSource)
    start, end, step = END - timedelta(hours=6), END, timedelta(minutes=2)
    ops = {m: ACROSS_REGIONS_OPS[m] for m in ("requests_per_second", "cpu_utilization", "latency_p95_ms")}
    got = source.query_range_across(ops, start, end, step, REGIONS)
    assert set(got["region"]) == {ACROSS_REGIONS} and set(got["metric"]) == set(ops)
    assert set(ops.values()) == {"sum", "avg", "max"}
    expected = across_regions(source.query_range(list(ops), start, end, step, REGIONS), ops)
    assert len(got) == len(expected) > 3 * 170
    pd.testing.assert_frame_equal(
        got.sort_values(["metric", "ts"], ignore_index=True),
        expected.sort_values(["metric", "ts"], ignore_index=True),
        rtol=1e-9,
    )
    with pytest.raises(ValueError, match="median"):
        source.query_range_across({"requests_per_second": "median"}, start, end, step)


def test_peak_and_last_are_what_the_data_says(source) -> None:
    start, end = END - timedelta(hours=6), END
    got = aggregates_table(
        source.aggregate_range(
            [RangeAggregate("requests_per_second", "max"), RangeAggregate("instances", "last")], start, end
        )
    )
    # promdata: region i has 3 + i instances up; its request rate, 200s plus 503s (0.02 % (1 + i) of the
    # 200s), is (100 + 40 i) (1 + 0.3 sin) (1 + 0.0002 (1 + i)): at most 1.3 x 100 x 1.0002 in us-east-1,
    # reached when the 6-hour window holds the wave's crest (06:00 UTC)
    assert got.at["eu-west-1", "last(instances)"] == 4
    assert got.at["ap-southeast-1", "last(instances)"] == 5
    assert 0 < got.at["us-east-1", "max(requests_per_second)"] <= 1.3 * 100.0 * 1.0002 + 1e-6


def test_one_instant_query_per_figure_and_repeats_are_cached(source) -> None:
    source.clear_cache()
    start, end = END - timedelta(hours=3), END
    wanted = [RangeAggregate("requests_per_second", "mean"), RangeAggregate("errors_per_second", "sum")]
    before = source.http_requests
    source.aggregate_range(wanted, start, end)
    assert source.http_requests - before == 2
    source.aggregate_range(wanted, start, end)
    assert source.http_requests - before == 2


def test_a_registered_aggregate_template_wins(source) -> None:
    """The hook for recording rules (issue 12): a template per RangeAggregate.key replaces the subquery."""
    key = RangeAggregate("requests_per_second", "max").key
    rule = 'sum by (region) (max_over_time(up{region=~"$regions"}[$range]))'
    hooked = PrometheusSource(source.config, REGIONS, aggregate_queries={key: rule})
    got = aggregates_table(
        hooked.aggregate_range([RangeAggregate("requests_per_second", "max")], END - timedelta(hours=1), END)
    )
    assert got.at["us-east-1", key] == 3  # the count of `up` series, not a request rate
    assert "[3600s]" in aggregate_query(
        RangeAggregate("requests_per_second", "max"), QUERIES, {key: rule}, ["us-east-1"], 3600, 60
    )


def test_a_bad_template_becomes_a_source_error_naming_the_query(source) -> None:
    broken = PrometheusSource(
        replace(
            source.config,
            queries=QUERIES | {"requests_per_second": 'sum by (region) (rate(nope{region=~"$regions"}[5m])'},
        ),
        REGIONS,
    )
    with pytest.raises(SourceError) as err:
        broken.aggregate_range([RangeAggregate("requests_per_second", "mean")], END - timedelta(hours=1), END)
    assert "Prometheus" in err.value.source and "nope" in (err.value.query or "")


# ---- long ranges: day pieces, closed days kept -------------------------------------------------------
LONG_END = END
LONG_START = END - timedelta(days=9)


@pytest.fixture(scope="module")
def long_prom(prometheus_factory):
    return prometheus_factory(
        openmetrics(REGIONS[:2], LONG_START - timedelta(days=1), LONG_END, interval_s=300),
        scrape_interval="300s",
    )


def keep_the_ranges_end_open(monkeypatch) -> None:
    """A piece is open while it ended less than CLOSED_AFTER_S ago. LONG_END is fixed when this module is
    imported, and under xdist a test may run many minutes later (CI: 11), when every piece has closed and
    a rerun asks nothing. Measured from now, the range's end is kept 'just ended', as a page sees it."""
    ended_ago = time.time() - LONG_END.timestamp()
    monkeypatch.setattr(prometheus, "CLOSED_AFTER_S", max(prometheus.CLOSED_AFTER_S, ended_ago + 600))


def long_source(url: str, **overrides) -> PrometheusSource:
    queries = {m: q.replace("[5m]", "[15m]") for m, q in QUERIES.items()}
    config = replace(
        CFG.prometheus, url=url, queries=queries, scrape_interval=timedelta(seconds=300), **overrides
    )
    return PrometheusSource(config, REGIONS[:2])


def test_a_long_range_in_day_pieces_equals_one_request(long_prom, monkeypatch) -> None:
    metrics = ["requests_per_second", "latency_p95_ms"]
    pieces = long_source(long_prom.url).query_range(metrics, LONG_START, LONG_END, timedelta(minutes=5))
    monkeypatch.setattr(prometheus, "SPLIT_LONGER_THAN_S", 10**9)
    whole = long_source(long_prom.url).query_range(metrics, LONG_START, LONG_END, timedelta(minutes=5))
    assert len(whole) > 9 * 288
    pd.testing.assert_frame_equal(pieces, whole)


def test_a_coarse_step_goes_in_pieces_of_several_days_that_equal_one_request(long_prom, monkeypatch) -> None:
    """A chart's 30-minute step over a long range: pieces of whole days holding PIECE_MIN_STEPS steps
    each (not one request per day of 48 points), and the same points as one request."""
    metrics = ["requests_per_second", "latency_p95_ms"]
    step = timedelta(minutes=30)
    start_s, end_s = prometheus.aligned_range(LONG_START, LONG_END, 1800)
    pieces = prometheus.day_pieces(start_s, end_s, 1800)
    assert all((b - a) // 1800 + 1 >= prometheus.PIECE_MIN_STEPS for a, b in pieces)
    assert all((b + 1800 - a) % 86400 == 0 for a, b in pieces)  # whole days: closed pieces stay closed
    assert 2 <= len(pieces) <= 3
    source = long_source(long_prom.url)
    split = source.query_range(metrics, LONG_START, LONG_END, step)
    assert source.http_requests == len(pieces) * len(metrics)
    monkeypatch.setattr(prometheus, "SPLIT_LONGER_THAN_S", 10**9)
    whole = long_source(long_prom.url).query_range(metrics, LONG_START, LONG_END, step)
    assert len(whole) > 9 * 48 * 2
    pd.testing.assert_frame_equal(split, whole)


def test_a_long_range_s_figures_from_pieces_equal_one_query_over_the_range(long_prom, monkeypatch) -> None:
    """aggregate_range over more than a week: every figure (means from sums and counts, shares weighted
    by their counts, peaks, last values, weighted sums) from 4-day pieces equals the one instant query
    over the whole range, and a rerun asks again only the pieces that are still open."""
    wanted = tuple(dict.fromkeys((*health_aggregates(CFG), *kpi_aggregates())))
    assert {a.stat for a in wanted} >= {
        "mean",
        "sum",
        "max",
        "last",
        "share_above",
        "weighted_sum",
        "weight_sum",
    }
    keep_the_ranges_end_open(monkeypatch)
    source = long_source(long_prom.url, cache_ttl=timedelta(0))  # no TTL cache: only closed pieces kept
    pieces = aggregates_table(source.aggregate_range(wanted, LONG_START, LONG_END, REGIONS[:2]))
    first_requests = source.http_requests
    split_longer_than_s = prometheus.SPLIT_LONGER_THAN_S
    monkeypatch.setattr(prometheus, "SPLIT_LONGER_THAN_S", 10**9)
    whole_source = long_source(long_prom.url)
    whole = aggregates_table(whole_source.aggregate_range(wanted, LONG_START, LONG_END, REGIONS[:2]))
    assert first_requests > 2 * whole_source.http_requests  # it did go in pieces
    assert sorted(pieces.index) == sorted(whole.index) == sorted(REGIONS[:2])
    assert set(pieces.columns) == set(whole.columns) and len(whole.columns) >= 10
    for key in whole.columns:
        for region in REGIONS[:2]:
            assert pieces.at[region, key] == pytest.approx(whole.at[region, key], rel=1e-9), (key, region)
    monkeypatch.setattr(prometheus, "SPLIT_LONGER_THAN_S", split_longer_than_s)
    again = aggregates_table(source.aggregate_range(wanted, LONG_START, LONG_END, REGIONS[:2]))
    pd.testing.assert_frame_equal(again, pieces)
    # the range's first piece (its span moves with the range) and the open one are asked again
    assert 0 < source.http_requests - first_requests <= first_requests / 2


def test_a_rerun_fetches_only_the_open_day(long_prom, monkeypatch) -> None:
    keep_the_ranges_end_open(monkeypatch)
    source = long_source(long_prom.url, cache_ttl=timedelta(0))  # no TTL cache: only closed days are kept
    metrics = ["requests_per_second", "errors_per_second"]
    step = prometheus.prometheus_step_seconds(
        LONG_START, LONG_END, timedelta(minutes=5), timedelta(seconds=300)
    )
    start_s, end_s = prometheus.aligned_range(LONG_START, LONG_END, step)
    pieces = prometheus.day_pieces(start_s, end_s, step)
    assert len(pieces) >= 9
    first = source.query_range(metrics, LONG_START, LONG_END, timedelta(minutes=5))
    assert source.http_requests == len(pieces) * len(metrics)
    second = source.query_range(metrics, LONG_START, LONG_END, timedelta(minutes=5))
    open_pieces = [p for p in pieces if p[1] >= datetime.now(UTC).timestamp() - prometheus.CLOSED_AFTER_S]
    assert 1 <= len(open_pieces) <= 2
    assert source.http_requests == (len(pieces) + len(open_pieces)) * len(metrics)
    pd.testing.assert_frame_equal(first, second)


@pytest.mark.parametrize("at_offset", [timedelta(0), timedelta(minutes=-7)])
def test_slo_budgets_from_slot_sums_equal_the_full_grid(long_prom, at_offset) -> None:
    """The SLOs page's budgets and burn-downs from aggregate_slots (a few hundred sums per region) are
    the ones the grid of every point over the SLO windows gives (issue 17)."""
    slos = [replace(s, window=timedelta(days=7)) for s in slos_from_config(CFG.slo)]
    at = LONG_END.replace(second=0, microsecond=0) + at_offset
    source = long_source(long_prom.url)
    wanted, slot = slot_aggregates(slos), budget_slot(slos)
    assert isinstance(source, SlotAggregateSource) and wanted is not None and slot is not None
    before = source.http_requests
    slots = source.aggregate_slots(wanted, at - lookback(slos), at, slot)
    assert slots_fit(slots, slos) and slots.resolution == timedelta(seconds=300)
    # one range query per figure and four days of slots (a month in one request would time out)
    assert source.http_requests - before == len(wanted) * -(-slots.slots // (4 * 86400 // 3600))
    assert slots.slot == timedelta(hours=1)
    assert slots.slots <= SLOT_POINTS + 1
    grid = metric_grid(source.query_range(metrics_for(slos), at - lookback(slos), at, timedelta(minutes=1)))
    assert grid.step == 300
    for slo in slos:
        want_counts, counts = slo_counts(grid, slo), slot_counts(slots, slo)
        assert counts.regions == want_counts.regions and counts.regions
        for region in (None, *counts.regions):
            want, got = error_budget(want_counts, slo, at, region), error_budget(counts, slo, at, region)
            where = (slo.name, region)
            assert want.sli is not None, where
            assert got.sli == pytest.approx(want.sli, rel=1e-9), where
            assert got.remaining_fraction == pytest.approx(want.remaining_fraction, rel=1e-6), where
            assert got.consumed == pytest.approx(want.consumed, rel=1e-6), where
            assert got.coverage == pytest.approx(want.coverage, rel=1e-9), where
            assert got.partial == want.partial, where
            down = burn_down(counts, slo, at, region)
            assert len(down) <= SLOT_POINTS + 1
            assert down["remaining_fraction"].iloc[-1] == pytest.approx(want.remaining_fraction, rel=1e-6)


def test_a_query_in_flight_is_joined_not_sent_twice(source, monkeypatch) -> None:
    """Two callers asking the same query at the same time (a page's prefetch and the part that needs it,
    pages/_ui.prefetch) send one request: the second waits for the first's answer."""
    source.clear_cache()
    figure = [RangeAggregate("requests_per_second", "mean")]
    start, end = END - timedelta(hours=2), END
    sent: list[str] = []
    joined = threading.Event()
    answers: dict[str, pd.DataFrame] = {}

    class Watched(dict):
        def get(self, key, default=None):  # the second caller finds the first's request in flight
            found = super().get(key, default)
            if found is not None:
                joined.set()
            return found

    monkeypatch.setattr(source, "_inflight", Watched())
    real = source._instant_one

    def first_waits_for_the_second(query: str, at_s: int):
        sent.append(query)
        if len(sent) == 1:
            second = threading.Thread(
                target=lambda: answers.setdefault("second", source.aggregate_range(figure, start, end))
            )
            second.start()
            assert joined.wait(30), "the second caller never looked for a request in flight"
            answers["thread"] = second  # joined below, once this answer is out
        return real(query, at_s)

    monkeypatch.setattr(source, "_instant_one", first_waits_for_the_second)
    first = source.aggregate_range(figure, start, end)
    answers.pop("thread").join(30)
    assert len(sent) == 1
    pd.testing.assert_frame_equal(answers["second"], first)
