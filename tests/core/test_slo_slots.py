"""core/slo/slots.py: counts built from per-slot sums give the budgets and burn-downs the full grid gives
(the SLOs page reads them from Prometheus's slot sums instead of every point: issue 17)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from core.ports import RangeAggregate, SlotAggregates, tidy_metrics
from core.slo import (
    GLOBAL,
    SLO,
    budget_slot,
    burn_down,
    error_budget,
    slo_counts,
    slot_aggregates,
    slot_counts,
    slots_fit,
)
from core.timeseries import summarise_metrics

START = datetime(2026, 6, 1, 0, 0, tzinfo=UTC)
DAYS = 3
REGIONS = ("ap-southeast-1", "eu-west-1", "us-east-1")
BAD = SLO("bad", 0.99, timedelta(days=2), "requests_per_second", bad="errors_per_second")
GOOD = SLO("good", 0.99, timedelta(days=2), "requests_per_second", good="good_per_second")
LATENCY = SLO("lat", 0.95, timedelta(days=1), "latency_p95_ms", budgeting="timeslices", threshold=300.0)
TWO_REGIONS = SLO(
    "two", 0.999, timedelta(days=2), "requests_per_second", bad="errors_per_second", regions=REGIONS[1:]
)
SLOS = (BAD, GOOD, LATENCY, TWO_REGIONS)


def generate(step_s: int = 60) -> pd.DataFrame:
    """Three regions of different size, diurnal traffic, random errors and slow steps, gaps, and one
    region whose data starts 1.5 days late (its 2-day windows are partial)."""
    rng = np.random.default_rng(3)
    ts = pd.date_range(START, START + timedelta(days=DAYS), freq=f"{step_s}s", tz="UTC")
    parts = []
    for i, region in enumerate(REGIONS):
        hours = (ts - ts[0]).total_seconds().to_numpy() / 3600
        rps = (100 + 50 * i) * (1 + 0.3 * np.sin(2 * np.pi * hours / 24))
        err = rps * rng.choice([0.0005, 0.02], size=len(ts), p=[0.97, 0.03])
        latency = np.where(rng.random(len(ts)) < 0.04, 450.0, 180.0)
        frame = pd.DataFrame(
            {
                "ts": ts,
                "requests_per_second": rps,
                "errors_per_second": err,
                "good_per_second": rps - err,
                "latency_p95_ms": latency,
            }
        )
        frame.loc[rng.random(len(ts)) < 0.02, "requests_per_second"] = np.nan  # scrape gaps
        frame.loc[rng.random(len(ts)) < 0.02, "latency_p95_ms"] = np.nan
        if i == 0:
            frame = frame[frame["ts"] > START + timedelta(days=1, hours=12)]
        long = frame.melt(id_vars="ts", var_name="metric", value_name="value").dropna()
        parts.append(long.assign(region=region))
    return tidy_metrics(pd.concat(parts, ignore_index=True))


def reference_slots(
    frame: pd.DataFrame, aggregates: tuple[RangeAggregate, ...], end: datetime, slot: timedelta, slots: int
) -> SlotAggregates:
    """What a SlotAggregateSource returns, computed here from every point (summarise_metrics per slot)."""
    parts = []
    for k in range(slots):
        slot_end = end - (slots - 1 - k) * slot
        inside = frame[(frame["ts"] > slot_end - slot) & (frame["ts"] <= slot_end)]
        part = summarise_metrics(inside, aggregates, slot_end)
        parts.append(part.assign(ts=pd.Timestamp(slot_end)))
    out = pd.concat(parts, ignore_index=True)[["ts", "region", "aggregate", "value"]]
    return SlotAggregates(out, end, slot, slots, timedelta(minutes=1))


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return generate()


@pytest.mark.parametrize("at_offset", [timedelta(0), timedelta(minutes=-7)])
def test_budgets_and_burn_downs_from_slots_equal_the_grid(frame, at_offset) -> None:
    at = START + timedelta(days=DAYS) + at_offset
    slot = budget_slot(SLOS, points=48)
    assert slot == timedelta(hours=1)
    wanted = slot_aggregates(SLOS)
    assert wanted is not None
    slots = reference_slots(frame, wanted, at, slot, 2 * 24 + 1)
    assert slots_fit(slots, SLOS)
    for slo in SLOS:
        grid_counts = slo_counts(frame, slo)
        counts = slot_counts(slots, slo)
        assert counts.regions == grid_counts.regions
        for region in (None, *grid_counts.regions):
            want, got = error_budget(grid_counts, slo, at, region), error_budget(counts, slo, at, region)
            where = (slo.name, region)
            assert got.sli == pytest.approx(want.sli, rel=1e-9), where
            assert got.remaining_fraction == pytest.approx(want.remaining_fraction, rel=1e-9), where
            assert got.consumed == pytest.approx(want.consumed, rel=1e-9), where
            assert got.total == pytest.approx(want.total, rel=1e-9), where
            assert got.coverage == pytest.approx(want.coverage, rel=1e-9), where
            assert got.partial == want.partial, where
            # the burn-down at the slots' ends is the grid's at the same times, and ends at the budget
            down = burn_down(counts, slo, at, region)
            full = burn_down(grid_counts, slo, at, region, points=100_000).set_index("ts")
            assert down["remaining_fraction"].iloc[-1] == pytest.approx(want.remaining_fraction, rel=1e-9)
            reference = full.loc[down["ts"], "remaining_fraction"].to_numpy()
            np.testing.assert_allclose(down["remaining_fraction"].to_numpy(), reference, rtol=1e-9)


def test_the_late_region_is_partial_and_global_figures_are_traffic_weighted(frame) -> None:
    at = START + timedelta(days=DAYS)
    slots = reference_slots(frame, slot_aggregates(SLOS), at, timedelta(hours=1), 49)
    late = error_budget(slot_counts(slots, BAD), BAD, at, REGIONS[0])
    assert late.partial and 0.2 < late.coverage < 0.8
    lat = slot_counts(slots, LATENCY)
    regional = [error_budget(lat, LATENCY, at, r).sli for r in REGIONS]
    overall = error_budget(lat, LATENCY, at, GLOBAL).sli
    assert min(regional) <= overall <= max(regional)


def test_budget_slot_divides_every_window_or_gives_up() -> None:
    assert budget_slot([BAD, LATENCY], points=240) == timedelta(minutes=30)
    month = SLO("m", 0.99, timedelta(days=30), "requests_per_second", bad="errors_per_second")
    four_weeks = SLO("w", 0.99, timedelta(days=28), "requests_per_second", bad="errors_per_second")
    slot = budget_slot([month, four_weeks], points=240)
    assert slot == timedelta(hours=3)  # 30 d / 3 h = 240 slots, and 3 h divides 28 d too
    odd = SLO("odd", 0.99, timedelta(minutes=50), "requests_per_second", bad="errors_per_second")
    assert budget_slot([odd]) is None


def test_a_ratio_judged_per_timeslice_needs_the_grid() -> None:
    ratio_slices = SLO(
        "rs", 0.99, timedelta(days=1), "requests_per_second", bad="errors_per_second", budgeting="timeslices"
    )
    assert slot_aggregates([BAD, ratio_slices]) is None
    empty = SlotAggregates(pd.DataFrame(), START, timedelta(hours=1), 0, timedelta(minutes=1))
    with pytest.raises(ValueError, match="'rs'"):
        slot_counts(empty, ratio_slices)
