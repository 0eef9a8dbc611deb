"""Embedded SQLite store (sqlite-utils): metrics, costs, events, and the tables other modules own.

Metrics are kept wide (one row per minute x region, one column per canonical metric): 35 days x 6
regions is 302k rows instead of 4M tidy rows, inserts in seconds, and a range query aggregates by step
in SQL so a 30-day chart reads a few thousand rows. Other modules create their own tables through
`open_db()` (forecast snapshots, scenarios, actions, audit, review notes).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd
import sqlite_utils

from core.config import CANONICAL_METRICS
from core.ports import (
    SourceError,
    SourceHealth,
    empty_billing_frame,
    empty_metrics_frame,
    tidy_metrics,
)

METRICS_TABLE = "metrics"
COSTS_TABLE = "costs"
EVENTS_TABLE = "events"
META_TABLE = "meta"

# How each metric combines when several minutes fall into one step: rates, ratios and latencies are
# averaged (a step's p95 is approximated by the mean of minute p95s, the usual dashboard compromise);
# instance counts and queue depth take the step's maximum so a short spike is not averaged away.
_STEP_AGGREGATE = {m: "AVG" for m in CANONICAL_METRICS} | {"instances": "MAX", "queue_depth": "MAX"}


def open_db(path: Path | str) -> sqlite_utils.Database:
    """Open (creating if needed) the store with WAL and a busy timeout so several sessions can share it."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(p), timeout=30, check_same_thread=False, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=30000")
    db = sqlite_utils.Database(conn)
    ensure_schema(db)
    return db


def ensure_schema(db: sqlite_utils.Database) -> None:
    if METRICS_TABLE not in db.table_names():
        columns: dict[str, type] = {"ts": int, "region": str} | {m: float for m in CANONICAL_METRICS}
        db[METRICS_TABLE].create(columns, pk=("ts", "region"), not_null={"ts", "region"})
    else:  # a store from before a metric joined the contract (latency_p90_ms): add its column
        have = {c.name for c in db[METRICS_TABLE].columns}
        for metric in CANONICAL_METRICS:
            if metric not in have:
                db.execute(f'ALTER TABLE {METRICS_TABLE} ADD COLUMN "{metric}" FLOAT')
    if COSTS_TABLE not in db.table_names():
        db[COSTS_TABLE].create(
            {"day": str, "service": str, "region": str, "cost_usd": float},
            pk=("day", "service", "region"),
        )
    if EVENTS_TABLE not in db.table_names():
        # incidents, deploys and other change annotations (the demo writes its incidents here)
        db[EVENTS_TABLE].create(
            {
                "id": int,
                "start_ts": int,
                "end_ts": int,
                "region": str,
                "kind": str,
                "title": str,
                "detail": str,
            },
            pk="id",
        )
    if META_TABLE not in db.table_names():
        db[META_TABLE].create({"key": str, "value": str}, pk="key")


def get_meta(db: sqlite_utils.Database, key: str) -> str | None:
    row = db.execute(f"SELECT value FROM {META_TABLE} WHERE key = ?", [key]).fetchone()
    return None if row is None else row[0]


def set_meta(db: sqlite_utils.Database, key: str, value: str) -> None:
    db[META_TABLE].upsert({"key": key, "value": value}, pk="key")


def _epoch(dt: datetime) -> int:
    if dt.tzinfo is None:
        raise ValueError("datetimes must be timezone-aware (UTC)")
    return int(dt.timestamp())


class StoreMetricsSource:
    """MetricsSource over the embedded store: the embedded default (demo world) and a cache for others."""

    def __init__(self, db: sqlite_utils.Database, name: str = "demo (embedded SQLite)"):
        self.db = db
        self.name = name
        self._last_success: datetime | None = None
        self._last_latency: float | None = None

    def data_bounds(self) -> tuple[datetime, datetime] | None:
        row = self.db.execute(f"SELECT MIN(ts), MAX(ts) FROM {METRICS_TABLE}").fetchone()
        if row is None or row[0] is None:
            return None
        return datetime.fromtimestamp(row[0], UTC), datetime.fromtimestamp(row[1], UTC)

    def query_range(
        self,
        metrics: Sequence[str],
        start: datetime,
        end: datetime,
        step: timedelta,
        regions: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        unknown = [m for m in metrics if m not in CANONICAL_METRICS]
        if unknown:
            raise ValueError(f"unknown metric(s) {unknown}; known: {', '.join(CANONICAL_METRICS)}")
        if not metrics:
            return empty_metrics_frame()
        t0 = time.perf_counter()
        step_s = max(60, int(step.total_seconds()))
        # bucket timestamps to the step, aligned to the epoch like Prometheus does
        select = ", ".join(f'{_STEP_AGGREGATE[m]}("{m}") AS "{m}"' for m in metrics)
        sql = (
            f"SELECT (ts / {step_s}) * {step_s} AS bucket, region, {select} FROM {METRICS_TABLE} "
            "WHERE ts >= ? AND ts <= ?"
        )
        params: list[object] = [_epoch(start), _epoch(end)]
        if regions is not None:
            if not regions:
                return empty_metrics_frame()
            sql += f" AND region IN ({', '.join('?' for _ in regions)})"
            params.extend(regions)
        sql += " GROUP BY bucket, region ORDER BY bucket, region"
        try:
            wide = pd.read_sql_query(sql, self.db.conn, params=params)
        except (sqlite3.Error, pd.errors.DatabaseError) as exc:
            raise SourceError(self.name, f"could not read metrics from the embedded store: {exc}") from exc
        self._last_latency = time.perf_counter() - t0
        self._last_success = datetime.now(UTC)
        if wide.empty:
            return empty_metrics_frame()
        long = wide.melt(id_vars=["bucket", "region"], var_name="metric", value_name="value").dropna(
            subset=["value"]
        )
        long["ts"] = pd.to_datetime(long["bucket"], unit="s", utc=True)
        return tidy_metrics(long)

    def health(self) -> SourceHealth:
        try:
            bounds = self.data_bounds()
        except sqlite3.Error as exc:
            return SourceHealth(self.name, "down", f"store unreadable: {exc}")
        if bounds is None:
            return SourceHealth(self.name, "down", "the store holds no metrics yet")
        age = datetime.now(UTC) - bounds[1]
        detail = f"data {bounds[0]:%Y-%m-%d %H:%M} to {bounds[1]:%Y-%m-%d %H:%M} UTC"
        state = "ok" if age < timedelta(hours=1) else "degraded"
        if state == "degraded":
            detail += f" (newest point is {age.total_seconds() / 3600:.1f} h old)"
        return SourceHealth(self.name, state, detail, self._last_success, self._last_latency)


class StoreBillingSource:
    """BillingSource over the store's costs table (demo billing, and the Cost Explorer cache)."""

    def __init__(self, db: sqlite_utils.Database, name: str = "demo billing (embedded SQLite)"):
        self.db = db
        self.name = name

    def daily_costs(self, start: date, end: date) -> pd.DataFrame:
        """Costs for days start..end inclusive."""
        try:
            frame = pd.read_sql_query(
                f"SELECT day, service, region, cost_usd FROM {COSTS_TABLE} WHERE day >= ? AND day <= ? "
                "ORDER BY day, service, region",
                self.db.conn,
                params=[start.isoformat(), end.isoformat()],
            )
        except (sqlite3.Error, pd.errors.DatabaseError) as exc:
            raise SourceError(self.name, f"could not read costs from the embedded store: {exc}") from exc
        if frame.empty:
            return empty_billing_frame()
        frame["day"] = pd.to_datetime(frame["day"]).dt.date
        frame["cost_usd"] = frame["cost_usd"].astype("float64")
        return frame

    def health(self) -> SourceHealth:
        row = self.db.execute(f"SELECT MIN(day), MAX(day), COUNT(*) FROM {COSTS_TABLE}").fetchone()
        if not row or not row[2]:
            return SourceHealth(self.name, "down", "no billing rows yet")
        return SourceHealth(self.name, "ok", f"{row[2]} rows, {row[0]} to {row[1]}")


def read_events(db: sqlite_utils.Database, start: datetime, end: datetime) -> pd.DataFrame:
    """Incidents and change annotations overlapping [start, end], times as UTC datetimes."""
    frame = pd.read_sql_query(
        f"SELECT * FROM {EVENTS_TABLE} WHERE end_ts >= ? AND start_ts <= ? ORDER BY start_ts",
        db.conn,
        params=[_epoch(start), _epoch(end)],
    )
    for col in ("start_ts", "end_ts"):
        frame[col] = pd.to_datetime(frame[col], unit="s", utc=True)
    return frame


ACTIONS_TABLE = "actions"  # created and owned by core/actions.py; read here only for change markers


def read_action_markers(
    db: sqlite_utils.Database, start: datetime, end: datetime, target_regions: dict[str, str] | None = None
) -> pd.DataFrame:
    """Executed actions (scaling, failover) in [start, end] as change markers shaped like read_events():
    start_ts, end_ts, region, kind ('action'), title, detail. Empty when no actions table exists yet."""
    columns = ["start_ts", "end_ts", "region", "kind", "title", "detail"]
    empty = pd.DataFrame(
        {c: pd.Series([], dtype="datetime64[ns, UTC]" if c.endswith("_ts") else object) for c in columns}
    )
    if ACTIONS_TABLE not in db.table_names():
        return empty
    have = {c.name for c in db[ACTIONS_TABLE].columns}
    if not {"target", "kind", "state", "reason", "started_at", "finished_at"} <= have:
        return empty
    rows = db.execute(
        f"SELECT target, kind, state, reason, started_at, finished_at FROM {ACTIONS_TABLE} "
        "WHERE started_at IS NOT NULL AND started_at <= ? AND COALESCE(finished_at, started_at) >= ? "
        "ORDER BY started_at",
        [_epoch(end), _epoch(start)],
    ).fetchall()
    if not rows:
        return empty
    regions = target_regions or {}
    frame = pd.DataFrame(
        {
            # a marker at the moment the change was made
            "start_ts": pd.to_datetime([r[4] for r in rows], unit="s", utc=True),
            "end_ts": pd.to_datetime([r[4] for r in rows], unit="s", utc=True),
            "region": [regions.get(r[0], "") for r in rows],
            "kind": "action",
            "title": [f"{r[1]} {r[0]} ({r[2]})" for r in rows],
            "detail": [r[3] or "" for r in rows],
        }
    )
    return frame[columns]
