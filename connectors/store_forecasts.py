"""Forecast snapshots in the embedded store, so the weekly review can compare a forecast with what happened.

A snapshot is one forecast as it was shown: metric, region, when it was made, the model (with its fitted
parameters), the horizon and step, notes, any what-if adjustments (growth override, known events), and
its frame of ts / mean / bands. Two tables, created on first use:
`forecast_snapshots` (one row per snapshot) and `forecast_snapshot_points` (one row per forecast step;
a column per band, added when a new level first appears). Times are stored as UTC epoch seconds, like
the metrics table.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import sqlite_utils

from core import db as store_db

SNAPSHOTS_TABLE = "forecast_snapshots"
POINTS_TABLE = "forecast_snapshot_points"


@dataclass(frozen=True)
class ForecastSnapshot:
    id: int
    metric: str
    region: str
    created_at: datetime  # UTC
    model: str  # label with fitted parameters
    model_key: str
    horizon: int  # steps
    step: timedelta
    history_end: datetime | None  # last observed point the forecast was made from (UTC)
    notes: tuple[str, ...]
    adjustments: dict[str, Any]  # e.g. {"growth_pct_per_month": 5, "events": [...]}
    created_by: str
    frame: pd.DataFrame  # ts (UTC), mean, lo_<L>, hi_<L>


def _ensure_tables(db: sqlite_utils.Database) -> None:
    """Create the tables when missing, on a write connection of their own (core.db.store_write), never
    inside another session's transaction on the shared connection."""
    if {SNAPSHOTS_TABLE, POINTS_TABLE} <= set(db.table_names()):
        return
    with store_db.store_write(db) as conn:
        ensure_forecast_tables(sqlite_utils.Database(conn))


def ensure_forecast_tables(db: sqlite_utils.Database) -> None:
    if SNAPSHOTS_TABLE not in db.table_names():
        db[SNAPSHOTS_TABLE].create(
            {
                "id": int,
                "metric": str,
                "region": str,
                "created_at": int,
                "model": str,
                "model_key": str,
                "horizon": int,
                "step_s": int,
                "history_end": int,
                "notes": str,
                "adjustments": str,
                "created_by": str,
            },
            pk="id",
            not_null={"metric", "region", "created_at", "model", "horizon", "step_s"},
        )
        db[SNAPSHOTS_TABLE].create_index(["metric", "region", "created_at"])
    if POINTS_TABLE not in db.table_names():
        db[POINTS_TABLE].create(
            {
                "snapshot_id": int,
                "ts": int,
                "mean": float,
                "lo_80": float,
                "hi_80": float,
                "lo_95": float,
                "hi_95": float,
            },
            pk=("snapshot_id", "ts"),
            foreign_keys=[("snapshot_id", SNAPSHOTS_TABLE, "id")],
        )


def _epoch(value: datetime | pd.Timestamp) -> int:
    ts = pd.Timestamp(value)
    if ts.tzinfo is None:
        raise ValueError("times must be timezone-aware (UTC)")
    return int(ts.timestamp())


def _value_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c == "mean" or c.startswith(("lo_", "hi_"))]


def save_snapshot(
    db: sqlite_utils.Database,
    metric: str,
    region: str,
    frame: pd.DataFrame,
    model: str,
    *,
    model_key: str = "",
    horizon: int | None = None,
    step: timedelta | None = None,
    history_end: datetime | None = None,
    notes: Sequence[str] = (),
    adjustments: Mapping[str, Any] | None = None,
    created_by: str = "",
    created_at: datetime | None = None,
) -> int:
    """Store one forecast (all rows in one transaction) and return its id. `frame` needs ts (UTC) and
    mean; every lo_<L>/hi_<L> column is kept. step defaults to the frame's spacing."""
    if "ts" not in frame.columns or "mean" not in frame.columns:
        raise ValueError("a forecast frame needs 'ts' and 'mean' columns")
    if frame.empty:
        raise ValueError("the forecast frame is empty: nothing to save")
    _ensure_tables(db)
    ts = pd.DatetimeIndex(pd.to_datetime(frame["ts"]))
    if ts.tz is None:
        raise ValueError("forecast timestamps must be timezone-aware (UTC)")
    if step is None:
        step = (ts[1] - ts[0]).to_pytimedelta() if len(ts) > 1 else timedelta(0)
    columns = _value_columns(frame)
    created = created_at or datetime.now(UTC)
    meta = (
        metric,
        region,
        _epoch(created),
        model,
        model_key,
        int(horizon if horizon is not None else len(frame)),
        int(step.total_seconds()),
        _epoch(history_end) if history_end is not None else None,
        json.dumps(list(notes)),
        json.dumps(dict(adjustments or {}), default=str),
        created_by,
    )
    epochs = (ts.as_unit("ns").asi8 // 1_000_000_000).tolist()
    values = frame[columns].astype("float64").to_numpy()
    rows = [(e, *(None if v != v else float(v) for v in row)) for e, row in zip(epochs, values, strict=True)]
    # one transaction on its own connection (core.db.store_write): a snapshot is either stored whole or
    # not at all, and never inside another session's transaction on the shared connection
    with store_db.store_write(db) as conn:
        points = sqlite_utils.Database(conn)[POINTS_TABLE]
        for col in columns:
            if col not in points.columns_dict:
                points.add_column(col, float)
        cur = conn.execute(
            f"INSERT INTO {SNAPSHOTS_TABLE} (metric, region, created_at, model, model_key, horizon, step_s, "
            "history_end, notes, adjustments, created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            meta,
        )
        snapshot_id = int(cur.lastrowid)
        quoted = ", ".join(f'"{c}"' for c in columns)
        marks = ", ".join("?" for _ in columns)
        conn.executemany(
            f"INSERT INTO {POINTS_TABLE} (snapshot_id, ts, {quoted}) VALUES (?, ?, {marks})",
            [(snapshot_id, *r) for r in rows],
        )
    return snapshot_id


def list_snapshots(
    db: sqlite_utils.Database,
    metric: str | None = None,
    region: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> pd.DataFrame:
    """Snapshot metadata, newest first: id, metric, region, created_at (UTC), model, model_key, horizon,
    step_s, history_end, first_ts, last_ts (the forecast's time span), created_by."""
    _ensure_tables(db)
    where, params = [], []
    for column, value in (("metric", metric), ("region", region)):
        if value is not None:
            where.append(f"s.{column} = ?")
            params.append(value)
    if since is not None:
        where.append("s.created_at >= ?")
        params.append(_epoch(since))
    if until is not None:
        where.append("s.created_at <= ?")
        params.append(_epoch(until))
    sql = (
        "SELECT s.id, s.metric, s.region, s.created_at, s.model, s.model_key, s.horizon, s.step_s, "
        "s.history_end, MIN(p.ts) AS first_ts, MAX(p.ts) AS last_ts, s.created_by "
        f"FROM {SNAPSHOTS_TABLE} s LEFT JOIN {POINTS_TABLE} p ON p.snapshot_id = s.id"
        + (" WHERE " + " AND ".join(where) if where else "")
        + " GROUP BY s.id ORDER BY s.created_at DESC, s.id DESC"
    )
    frame = pd.read_sql_query(sql, db.conn, params=params)
    for col in ("created_at", "history_end", "first_ts", "last_ts"):
        frame[col] = pd.to_datetime(frame[col], unit="s", utc=True)
    return frame


def load_snapshot(db: sqlite_utils.Database, snapshot_id: int) -> ForecastSnapshot:
    """One snapshot with its frame; KeyError when there is no such id."""
    _ensure_tables(db)
    row = db.execute(
        f"SELECT id, metric, region, created_at, model, model_key, horizon, step_s, history_end, notes, "
        f"adjustments, created_by FROM {SNAPSHOTS_TABLE} WHERE id = ?",
        [int(snapshot_id)],
    ).fetchone()
    if row is None:
        raise KeyError(f"no forecast snapshot with id {snapshot_id}")
    points = pd.read_sql_query(
        f"SELECT * FROM {POINTS_TABLE} WHERE snapshot_id = ? ORDER BY ts", db.conn, params=[int(snapshot_id)]
    ).drop(columns="snapshot_id")
    points["ts"] = pd.to_datetime(points["ts"], unit="s", utc=True).astype("datetime64[ns, UTC]")
    # levels this snapshot did not have (added to the table by another snapshot) are all-NULL: drop them
    points = points.dropna(axis=1, how="all")
    levels = sorted({int(c[3:]) for c in points.columns if c.startswith("lo_")})
    ordered = ["ts", "mean"] + [c for lv in levels for c in (f"lo_{lv}", f"hi_{lv}") if c in points.columns]
    return ForecastSnapshot(
        id=row[0],
        metric=row[1],
        region=row[2],
        created_at=datetime.fromtimestamp(row[3], UTC),
        model=row[4],
        model_key=row[5] or "",
        horizon=row[6],
        step=timedelta(seconds=row[7]),
        history_end=datetime.fromtimestamp(row[8], UTC) if row[8] is not None else None,
        notes=tuple(json.loads(row[9] or "[]")),
        adjustments=json.loads(row[10] or "{}"),
        created_by=row[11] or "",
        frame=points[ordered].reset_index(drop=True),
    )


def latest_snapshot(
    db: sqlite_utils.Database, metric: str, region: str, made_before: datetime | None = None
) -> ForecastSnapshot | None:
    """The newest snapshot of metric/region made at or before `made_before` (e.g. 'the forecast we had a
    week ago'), or None."""
    listed = list_snapshots(db, metric=metric, region=region, until=made_before)
    return None if listed.empty else load_snapshot(db, int(listed["id"].iloc[0]))
