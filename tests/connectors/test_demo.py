"""The demo world: deterministic, realistic ranges, the incidents present, billing consistent with usage."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from connectors.demo import demo_incidents, generate_world
from core.config import CANONICAL_METRICS, load_config
from tests.conftest import DEMO_END, SHIPPED_CONFIG


@pytest.fixture(scope="module")
def world():
    cfg = load_config(SHIPPED_CONFIG)
    metrics, billing, events = generate_world(cfg, DEMO_END)
    return cfg, metrics, billing, events


def test_shape_six_regions_at_least_35_days_every_metric(world) -> None:
    cfg, metrics, _, _ = world
    assert set(metrics["region"]) == set(cfg.region_codes)
    assert cfg.demo.days >= 35
    assert len(metrics) == cfg.demo.days * 1440 * 6
    assert set(CANONICAL_METRICS) <= set(metrics.columns)
    assert metrics[list(CANONICAL_METRICS)].notna().all().all()
    assert metrics["ts"].diff().dropna().isin([0, 60]).all()  # 1-minute resolution
    assert int(metrics["ts"].max()) == int(DEMO_END.timestamp())


def test_deterministic_for_the_same_seed_and_end(world) -> None:
    cfg, metrics, billing, _ = world
    again, billing_again, _ = generate_world(cfg, DEMO_END)
    pd.testing.assert_frame_equal(metrics, again)
    pd.testing.assert_frame_equal(billing, billing_again)
    other, _, _ = generate_world(cfg, DEMO_END, seed=cfg.demo.seed + 1)
    assert not np.allclose(other["requests_per_second"], metrics["requests_per_second"])


def test_values_in_realistic_ranges(world) -> None:
    _, m, _, _ = world
    for col in ("cpu_utilization", "memory_utilization", "cdn_hit_ratio"):
        assert m[col].between(0, 1).all(), col
    assert (m["requests_per_second"] > 0).all()
    assert (m["errors_per_second"] <= m["requests_per_second"]).all()
    assert (m["latency_p50_ms"] < m["latency_p95_ms"] * 1.5).mean() > 0.99
    assert (m["cdn_bytes_origin_per_second"] <= m["cdn_bytes_edge_per_second"]).all()
    # the autoscaler keeps CPU near the 0.6 target most of the time
    assert 0.5 < m["cpu_utilization"].median() < 0.68


def test_diurnal_cycle_in_local_time(world) -> None:
    _, m, _, _ = world
    tokyo = m[m["region"] == "ap-northeast-1"]
    local_hour = pd.to_datetime(tokyo["ts"], unit="s", utc=True).dt.tz_convert("Asia/Tokyo").dt.hour
    by_hour = tokyo.groupby(local_hour.to_numpy())["requests_per_second"].mean()
    assert by_hour.idxmax() in range(12, 18)  # afternoon peak in Tokyo time
    assert by_hour.idxmin() in range(0, 7)
    assert by_hour.max() / by_hour.min() > 2


def test_weekends_quieter_and_traffic_grows(world) -> None:
    _, m, _, _ = world
    us = m[m["region"] == "us-east-1"]
    when = pd.to_datetime(us["ts"], unit="s", utc=True).dt.tz_convert("America/New_York")
    weekend = us["requests_per_second"][when.dt.day_of_week >= 5].mean()
    weekday = us["requests_per_second"][when.dt.day_of_week < 5].mean()
    assert weekend < 0.9 * weekday
    first_week = us["requests_per_second"].iloc[: 7 * 1440].mean()
    last_week = us["requests_per_second"].iloc[-7 * 1440 - 120 : -120].mean()
    assert last_week > first_week


def _window(m: pd.DataFrame, region: str, start: datetime, end: datetime) -> pd.DataFrame:
    return m[(m["region"] == region) & (m["ts"] >= start.timestamp()) & (m["ts"] < end.timestamp())]


def test_incidents_are_present_in_the_data(world) -> None:
    cfg, m, _, events = world
    incidents = {i.kind + ":" + i.region: i for i in demo_incidents(DEMO_END, cfg.region_codes)}
    assert {e.title for e in events} >= {i.title for i in incidents.values()}

    spike = incidents["error_spike:us-east-1"]
    inside = _window(m, "us-east-1", spike.start, spike.end)
    assert (inside["errors_per_second"] / inside["requests_per_second"]).mean() > 0.04

    outage = incidents["outage:eu-central-1"]
    down = _window(m, "eu-central-1", outage.start, outage.end)
    before = _window(m, "eu-central-1", outage.start - timedelta(hours=1), outage.start)
    assert down["requests_per_second"].mean() < 0.1 * before["requests_per_second"].mean()
    ireland_during = _window(m, "eu-west-1", outage.start, outage.end)["requests_per_second"].mean()
    ireland_before = _window(m, "eu-west-1", outage.start - timedelta(hours=1), outage.start)[
        "requests_per_second"
    ].mean()
    assert ireland_during > 1.3 * ireland_before  # traffic shifted to the neighbour

    purge = incidents["cdn_purge:us-west-2"]
    assert (
        _window(m, "us-west-2", purge.start, purge.start + timedelta(minutes=10))["cdn_hit_ratio"].max() < 0.5
    )

    ongoing = incidents["latency_regression:ap-southeast-1"]
    assert ongoing.end == DEMO_END
    now = _window(m, "ap-southeast-1", ongoing.start, ongoing.end + timedelta(minutes=1))
    assert now["latency_p95_ms"].median() > 300  # over the latency SLO threshold: burning now
    assert (now["errors_per_second"] / now["requests_per_second"]).mean() > 0.015
    assert m["queue_depth"].max() > 500  # queue bursts


def test_billing_consistent_with_usage(world) -> None:
    cfg, m, billing, _ = world
    assert set(billing.columns) == {"day", "service", "region", "cost_usd"}
    assert billing["day"].nunique() in (cfg.demo.days, cfg.demo.days + 1)
    fleet = cfg.fleet_for("us-east-1")
    day = billing["day"].iloc[len(billing) // 2]
    day_start = datetime.fromisoformat(day).replace(tzinfo=UTC)
    minutes = _window(m, "us-east-1", day_start, day_start + timedelta(days=1))
    expected_compute = minutes["instances"].sum() / 60 * fleet.price_per_hour
    got = billing[
        (billing["day"] == day)
        & (billing["region"] == "us-east-1")
        & (billing["service"] == "Amazon Elastic Compute Cloud - Compute")
    ]["cost_usd"].item()
    assert got == pytest.approx(expected_compute, rel=1e-3)
    per_region = billing.groupby("region")["cost_usd"].sum()
    assert per_region.idxmax() == "us-east-1"  # the biggest region costs most


def test_demo_p90_lies_between_p50_and_p95(demo_store) -> None:
    """latency_p90_ms joined the metrics contract (issue 18): the demo world writes it, ordered."""
    from connectors.store import StoreMetricsSource, open_db
    from core.timeseries import pivot_metric

    src = StoreMetricsSource(open_db(demo_store))
    start, end = src.data_bounds()
    frame = src.query_range(
        ["latency_p50_ms", "latency_p90_ms", "latency_p95_ms"],
        end - timedelta(hours=6),
        end,
        timedelta(minutes=1),
    )
    p50, p90, p95 = (pivot_metric(frame, m) for m in ("latency_p50_ms", "latency_p90_ms", "latency_p95_ms"))
    assert not p90.empty and ((p50 < p90) & (p90 < p95)).all().all()
