"""connectors/store_forecasts.py: snapshots round-trip through a real SQLite store file and a real PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from connectors.store import open_db
from connectors.store_forecasts import (
    POINTS_TABLE,
    SNAPSHOTS_TABLE,
    latest_snapshot,
    list_snapshots,
    load_snapshot,
    save_snapshot,
)
from core import db as store_db
from core.forecast import forecast

T0 = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, tmp_path):
    """The same tests on the embedded store and on a real PostgreSQL (issue 14)."""
    if request.param == "sqlite":
        return open_db(tmp_path / "store.db")
    return request.getfixturevalue("postgres_url")


def _count(db, table: str) -> int:
    with store_db.store_read(db) as conn:
        return conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


def _history(days: int = 6, seed: int = 0) -> pd.Series:
    t = np.arange(days * 24)
    rng = np.random.default_rng(seed)
    values = 200 + 50 * np.sin(2 * np.pi * t / 24) + rng.normal(0, 3, t.size)
    return pd.Series(values, index=pd.date_range(T0, periods=t.size, freq="h"))


def test_a_saved_forecast_loads_back_identically(db):
    result = forecast(_history(), 24, season_lengths=(24,), model="ets_additive")
    made = datetime(2026, 3, 7, 9, 30, tzinfo=UTC)
    sid = save_snapshot(
        db,
        "requests_per_second",
        "eu-west-1",
        result.frame,
        result.model,
        model_key=result.model_key,
        history_end=result.history_end,
        notes=result.notes,
        adjustments={"growth_pct_per_month": 5.0},
        created_by="ana@example.com",
        created_at=made,
    )
    snap = load_snapshot(db, sid)
    pd.testing.assert_frame_equal(snap.frame, result.frame)
    assert (snap.metric, snap.region, snap.model, snap.model_key) == (
        "requests_per_second",
        "eu-west-1",
        result.model,
        "ets_additive",
    )
    assert snap.created_at == made and snap.history_end == result.history_end
    assert snap.horizon == 24 and snap.step == timedelta(hours=1)
    assert snap.adjustments == {"growth_pct_per_month": 5.0} and snap.created_by == "ana@example.com"
    assert snap.notes == result.notes


def test_listing_filters_and_orders_newest_first(db):
    frame = forecast(_history(), 12, season_lengths=(24,), model="seasonal_naive").frame
    ids = {}
    for i, (metric, region) in enumerate(
        [
            ("requests_per_second", "eu-west-1"),
            ("requests_per_second", "us-east-1"),
            ("cpu_utilization", "eu-west-1"),
        ]
    ):
        ids[(metric, region)] = save_snapshot(
            db, metric, region, frame, "m", created_at=T0 + timedelta(days=i)
        )
    newer = save_snapshot(
        db, "requests_per_second", "eu-west-1", frame, "m2", created_at=T0 + timedelta(days=5)
    )

    listed = list_snapshots(db, metric="requests_per_second", region="eu-west-1")
    assert list(listed["id"]) == [newer, ids[("requests_per_second", "eu-west-1")]]
    assert (
        listed["first_ts"].iloc[0] == frame["ts"].iloc[0]
        and listed["last_ts"].iloc[0] == frame["ts"].iloc[-1]
    )
    assert str(listed["created_at"].dt.tz) == "UTC"
    assert len(list_snapshots(db)) == 4
    assert list(list_snapshots(db, since=T0 + timedelta(days=1), until=T0 + timedelta(days=2))["region"]) == [
        "eu-west-1",
        "us-east-1",
    ]


def test_latest_snapshot_before_a_date_is_the_forecast_we_had_then(db):
    frame = forecast(_history(), 12, season_lengths=(24,), model="seasonal_naive").frame
    week_ago = save_snapshot(db, "requests_per_second", "eu-west-1", frame, "old", created_at=T0)
    save_snapshot(db, "requests_per_second", "eu-west-1", frame, "new", created_at=T0 + timedelta(days=7))
    assert (
        latest_snapshot(db, "requests_per_second", "eu-west-1", made_before=T0 + timedelta(days=3)).id
        == week_ago
    )
    assert latest_snapshot(db, "requests_per_second", "eu-west-1").model == "new"
    assert latest_snapshot(db, "requests_per_second", "ap-south-1") is None


def test_extra_band_levels_get_their_own_columns_and_old_snapshots_keep_theirs(db):
    default = forecast(_history(), 6, season_lengths=(24,), model="seasonal_naive")
    wide = forecast(_history(), 6, season_lengths=(24,), model="seasonal_naive", levels=(50, 99))
    a = save_snapshot(db, "requests_per_second", "eu-west-1", default.frame, default.model)
    b = save_snapshot(db, "requests_per_second", "eu-west-1", wide.frame, wide.model)
    assert list(load_snapshot(db, a).frame.columns) == ["ts", "mean", "lo_80", "hi_80", "lo_95", "hi_95"]
    pd.testing.assert_frame_equal(load_snapshot(db, b).frame, wide.frame)


def test_a_bad_frame_stores_nothing(db):
    frame = forecast(_history(), 6, season_lengths=(24,), model="seasonal_naive").frame
    duplicated = pd.concat([frame, frame.iloc[[0]]], ignore_index=True)  # same ts twice: primary key clash
    with pytest.raises(Exception, match="UNIQUE"):
        save_snapshot(db, "requests_per_second", "eu-west-1", duplicated, "m")
    assert _count(db, SNAPSHOTS_TABLE) == 0 and _count(db, POINTS_TABLE) == 0
    with pytest.raises(ValueError, match="'ts' and 'mean'"):
        save_snapshot(db, "requests_per_second", "eu-west-1", frame.drop(columns="mean"), "m")
    naive = frame.assign(ts=frame["ts"].dt.tz_localize(None))
    with pytest.raises(ValueError, match="timezone-aware"):
        save_snapshot(db, "requests_per_second", "eu-west-1", naive, "m")


def test_loading_an_unknown_snapshot_names_it(db):
    with pytest.raises(KeyError, match="no forecast snapshot with id 42"):
        load_snapshot(db, 42)
