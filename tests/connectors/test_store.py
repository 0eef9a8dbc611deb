"""The store's MetricsSource / BillingSource: tidy frames, step aggregation, region filter, errors."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest

from connectors.demo import demo_world_end, ensure_demo_world
from connectors.store import StoreBillingSource, StoreMetricsSource, open_db, read_events
from core.config import load_config
from core.ports import METRICS_COLUMNS, MetricsSource, SourceError
from tests.conftest import DEMO_END, write_config


@pytest.fixture(scope="module")
def source(demo_store: Path) -> StoreMetricsSource:
    return StoreMetricsSource(open_db(demo_store))


def test_implements_the_protocol_and_tidy_contract(source: StoreMetricsSource) -> None:
    assert isinstance(source, MetricsSource)
    end = DEMO_END
    frame = source.query_range(
        ["requests_per_second", "instances"],
        end - timedelta(hours=2),
        end,
        timedelta(minutes=1),
        ["us-east-1", "eu-west-1"],
    )
    assert tuple(frame.columns) == METRICS_COLUMNS
    assert str(frame["ts"].dtype) == "datetime64[ns, UTC]"
    assert frame["value"].dtype == "float64"
    assert frame["ts"].is_monotonic_increasing
    assert set(frame["region"]) == {"us-east-1", "eu-west-1"}
    assert len(frame) == 121 * 2 * 2  # both ends inclusive, 2 regions, 2 metrics


def test_rows_are_in_tidy_order_without_missing_values(tmp_path: Path) -> None:
    """The frame is built row by row from the query's (bucket, region) order, not sorted afterwards:
    it must still be ordered by ts, region and metric name, with empty cells left out."""
    db = open_db(tmp_path / "x.db")
    t = int(DEMO_END.timestamp()) // 60 * 60
    db["metrics"].insert_all(
        [
            {"ts": t + 60, "region": "us-east-1", "requests_per_second": 5.0, "errors_per_second": None},
            {"ts": t, "region": "us-east-1", "requests_per_second": 1.0, "errors_per_second": 0.5},
            {"ts": t, "region": "eu-west-1", "requests_per_second": None, "errors_per_second": 0.25},
            {"ts": t + 60, "region": "ap-south-1", "requests_per_second": 7.0, "errors_per_second": 0.0},
        ]
    )
    frame = StoreMetricsSource(db).query_range(
        ["requests_per_second", "errors_per_second"],
        DEMO_END - timedelta(minutes=5),
        DEMO_END + timedelta(minutes=5),
        timedelta(minutes=1),
    )
    got = [(int(r.ts.timestamp()) - t, r.region, r.metric, r.value) for r in frame.itertuples()]
    assert got == [
        (0, "eu-west-1", "errors_per_second", 0.25),
        (0, "us-east-1", "errors_per_second", 0.5),
        (0, "us-east-1", "requests_per_second", 1.0),
        (60, "ap-south-1", "errors_per_second", 0.0),
        (60, "ap-south-1", "requests_per_second", 7.0),
        (60, "us-east-1", "requests_per_second", 5.0),
    ]
    assert tuple(frame.columns) == METRICS_COLUMNS
    assert str(frame["ts"].dtype) == "datetime64[ns, UTC]" and frame["value"].dtype == "float64"
    assert frame["region"].dtype == object and frame["metric"].dtype == object
    assert list(frame.index) == list(range(len(frame)))


def test_points_off_the_step_grid_are_still_grouped_per_step(tmp_path: Path) -> None:
    """Minutes already on the step's grid are read without GROUP BY; a store holding a point between
    minutes (a cache of a 15 s scrape) must still get one averaged row per (minute, region)."""
    db = open_db(tmp_path / "x.db")
    t = int(DEMO_END.timestamp()) // 60 * 60
    rows = [
        {"ts": t, "region": "us-east-1", "requests_per_second": 2.0, "instances": 3.0},
        {"ts": t + 60, "region": "us-east-1", "requests_per_second": 4.0, "instances": 3.0},
    ]
    db["metrics"].insert_all(rows)
    source = StoreMetricsSource(db)
    window = (DEMO_END - timedelta(minutes=5), DEMO_END + timedelta(minutes=5), timedelta(minutes=1))

    def values() -> list[tuple[int, str, float]]:
        frame = source.query_range(["requests_per_second", "instances"], *window)
        return [(int(r.ts.timestamp()) - t, r.metric, r.value) for r in frame.itertuples()]

    on_grid = values()
    assert on_grid == [
        (0, "instances", 3.0),
        (0, "requests_per_second", 2.0),
        (60, "instances", 3.0),
        (60, "requests_per_second", 4.0),
    ]
    db["metrics"].insert({"ts": t + 30, "region": "us-east-1", "requests_per_second": 6.0, "instances": 5.0})
    assert values() == [
        (0, "instances", 5.0),  # the step's maximum
        (0, "requests_per_second", 4.0),  # the step's mean of 2 and 6
        (60, "instances", 3.0),
        (60, "requests_per_second", 4.0),
    ]


def test_step_aggregation_averages_rates_and_maxes_instances(source: StoreMetricsSource) -> None:
    end = DEMO_END
    start = end - timedelta(hours=1)
    fine = source.query_range(
        ["requests_per_second", "instances"],
        start,
        end - timedelta(seconds=1),
        timedelta(minutes=1),
        ["us-west-2"],
    )
    coarse = source.query_range(
        ["requests_per_second", "instances"],
        start,
        end - timedelta(seconds=1),
        timedelta(minutes=15),
        ["us-west-2"],
    )
    assert len(coarse) == 4 * 2
    f = fine.pivot(index="ts", columns="metric", values="value")
    c = coarse.pivot(index="ts", columns="metric", values="value")
    buckets = f.index.floor("15min")
    assert c["requests_per_second"].to_numpy() == pytest.approx(
        f["requests_per_second"].groupby(buckets).mean().to_numpy()
    )
    assert c["instances"].to_numpy() == pytest.approx(f["instances"].groupby(buckets).max().to_numpy())


def test_thirty_days_at_chart_step_is_small(source: StoreMetricsSource) -> None:
    end = DEMO_END
    frame = source.query_range(["requests_per_second"], end - timedelta(days=30), end, timedelta(minutes=5))
    assert frame.groupby("region").size().max() <= 30 * 288 + 1


def test_empty_and_unknown(source: StoreMetricsSource) -> None:
    end = DEMO_END
    assert source.query_range(
        ["requests_per_second"], end + timedelta(minutes=1), end + timedelta(hours=1), timedelta(minutes=1)
    ).empty
    assert source.query_range(
        ["requests_per_second"], end - timedelta(hours=1), end, timedelta(minutes=1), []
    ).empty
    with pytest.raises(ValueError, match="unknown metric"):
        source.query_range(["bogus"], end - timedelta(hours=1), end, timedelta(minutes=1))


def test_broken_store_raises_source_error(tmp_path: Path) -> None:
    db = open_db(tmp_path / "x.db")
    db.conn.execute("DROP TABLE metrics")
    src = StoreMetricsSource(db)
    with pytest.raises(SourceError) as info:
        src.query_range(
            ["requests_per_second"], DEMO_END - timedelta(hours=1), DEMO_END, timedelta(minutes=1)
        )
    assert "embedded store" in info.value.message
    assert src.health().state == "down"


def test_billing_source_and_events(demo_store: Path) -> None:
    db = open_db(demo_store)
    costs = StoreBillingSource(db).daily_costs(date(2026, 11, 1), date(2026, 11, 7))
    assert list(costs.columns) == ["day", "service", "region", "cost_usd"]
    assert costs["day"].min() == date(2026, 11, 1) and costs["day"].max() == date(2026, 11, 7)
    assert (costs["cost_usd"] > 0).all()
    ev = read_events(db, DEMO_END - timedelta(days=35), DEMO_END)
    assert {"outage", "error_spike", "cdn_purge", "latency_regression", "deploy"} <= set(ev["kind"])


def test_ensure_demo_world_generates_once_and_refreshes_when_stale(tmp_path: Path) -> None:
    cfg = load_config(write_config(tmp_path, {"demo": {"days": 2}}))
    db = open_db(cfg.store_path())
    steps: list[float] = []
    assert ensure_demo_world(db, cfg, now=DEMO_END, progress=lambda f, _: steps.append(f)) is True
    assert steps[0] == 0.0 and steps[-1] == 1.0 and steps == sorted(steps)  # monotone progress
    assert demo_world_end(db) == DEMO_END
    assert ensure_demo_world(db, cfg, now=DEMO_END + timedelta(hours=1)) is False
    assert ensure_demo_world(db, cfg, now=DEMO_END + timedelta(hours=7)) is True
    count = db.execute("SELECT COUNT(*) FROM metrics").fetchone()[0]
    assert count == 2 * 1440 * 6  # replaced, not appended
    assert pd.Timestamp(demo_world_end(db)) == pd.Timestamp(DEMO_END + timedelta(hours=7))
    # a config change that alters the world (more days) regenerates it even when it is fresh
    longer = load_config(write_config(tmp_path, {"demo": {"days": 3}}))
    assert ensure_demo_world(db, longer, now=DEMO_END + timedelta(hours=7, minutes=5)) is True
    assert db.execute("SELECT COUNT(*) FROM metrics").fetchone()[0] == 3 * 1440 * 6


def test_demo_regeneration_keeps_a_real_billing_cache(tmp_path: Path) -> None:
    """With billing from Cost Explorer, the costs table is a paid-for cache: the demo must not wipe it."""
    cfg = load_config(write_config(tmp_path, {"demo": {"days": 1}, "sources": {"billing": "cost_explorer"}}))
    db = open_db(cfg.store_path())
    db["costs"].insert(
        {"day": "2026-11-01", "service": "Amazon CloudFront", "region": "us-east-1", "cost_usd": 12.5}
    )
    assert ensure_demo_world(db, cfg, now=DEMO_END) is True
    rows = db.execute("SELECT day, service, cost_usd FROM costs").fetchall()
    assert rows == [("2026-11-01", "Amazon CloudFront", 12.5)]
    assert db.execute("SELECT COUNT(*) FROM metrics").fetchone()[0] == 1440 * 6


def test_action_markers_read_the_actions_table_only_when_it_exists(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from connectors.store import read_action_markers

    db = open_db(tmp_path / "markers.db")
    start, end = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)
    assert read_action_markers(db, start, end).empty  # no actions table yet (core.actions creates it)
    db.execute(
        "CREATE TABLE actions (id INTEGER PRIMARY KEY, target TEXT, kind TEXT, state TEXT, reason TEXT)"
    )
    assert read_action_markers(db, start, end).empty  # not the columns it needs: no markers, no crash
    db.execute("DROP TABLE actions")
    db.execute(
        "CREATE TABLE actions (id INTEGER PRIMARY KEY, target TEXT, kind TEXT, state TEXT, reason TEXT, "
        "started_at REAL, finished_at REAL)"
    )
    noon = datetime(2026, 1, 1, 12, tzinfo=UTC).timestamp()
    rows = [
        ("api-eu", "scale", "succeeded", "peak", noon, noon + 30),
        ("dns", "failover", "failed", "", noon + 60, None),
        ("api-eu", "scale", "proposed", "never ran", None, None),
        ("api-eu", "scale", "succeeded", "last week", noon - 7 * 86400, noon - 7 * 86400 + 30),
    ]
    db.conn.executemany(
        "INSERT INTO actions (target, kind, state, reason, started_at, finished_at) VALUES (?, ?, ?, ?, ?, ?)",
        rows,
    )
    marks = read_action_markers(db, start, end, {"api-eu": "eu-west-1"})
    assert list(marks.columns) == ["start_ts", "end_ts", "region", "kind", "title", "detail"]
    assert list(marks["title"]) == ["scale api-eu (succeeded)", "failover dns (failed)"]
    assert list(marks["region"]) == ["eu-west-1", ""]
    assert list(marks["detail"]) == ["peak", ""]
    assert marks["start_ts"].iloc[0] == pd.Timestamp(noon, unit="s", tz="UTC")


def test_an_old_store_gets_the_new_metric_columns(tmp_path) -> None:
    """A store created before latency_p90_ms joined the contract gains its column on open."""
    import sqlite3

    from connectors.store import open_db
    from core.config import CANONICAL_METRICS

    path = tmp_path / "old.db"
    old = [m for m in CANONICAL_METRICS if m != "latency_p90_ms"]
    conn = sqlite3.connect(path)
    conn.execute(
        "CREATE TABLE metrics (ts INTEGER NOT NULL, region TEXT NOT NULL, "
        + ", ".join(f"{m} FLOAT" for m in old)
        + ", PRIMARY KEY (ts, region))"
    )
    conn.commit()
    conn.close()
    db = open_db(path)
    assert "latency_p90_ms" in {c.name for c in db["metrics"].columns}
