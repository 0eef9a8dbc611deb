"""Embedded SQLite store (sqlite-utils): owner of the metrics, costs, events and meta tables.

Every statement against these four tables lives here (the demo world and the Cost Explorer cache write
through `replace_world` / `replace_costs`). Metrics are kept wide (one row per minute x region, one column
per canonical metric): 35 days x 6 regions is 302k rows instead of 4M tidy rows, inserts in seconds, and a
range query aggregates by step in SQL so a 30-day chart reads a few thousand rows. Other tables live in
the same file but belong to their own modules (docs/ARCHITECTURE.md, "Store").
"""

from __future__ import annotations

import gc
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import sqlite_utils

from core import db as store_db
from core.config import CANONICAL_METRICS
from core.ports import (
    RangeAggregate,
    SourceError,
    SourceHealth,
    empty_billing_frame,
    empty_metrics_frame,
)
from core.timeseries import summarise_range

METRICS_TABLE = "metrics"
COSTS_TABLE = "costs"
EVENTS_TABLE = "events"
META_TABLE = "meta"

# How each metric combines when several minutes fall into one step: rates, ratios and latencies are
# averaged (a step's p95 is approximated by the mean of minute p95s, the usual dashboard compromise);
# instance counts and queue depth take the step's maximum so a short spike is not averaged away.
_STEP_AGGREGATE = {m: "AVG" for m in CANONICAL_METRICS} | {"instances": "MAX", "queue_depth": "MAX"}


def open_db(path: Path | str) -> sqlite_utils.Database:
    """Open (creating if needed) the store with core.db's pragmas (WAL, busy timeout, foreign keys) so
    several sessions can share it."""
    db = sqlite_utils.Database(store_db.open_file(path))
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
    with store_db.store_write(db) as conn:
        conn.execute(
            f"INSERT INTO {META_TABLE} (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [key, value],
        )


def _epoch(dt: datetime) -> int:
    if dt.tzinfo is None:
        raise ValueError("datetimes must be timezone-aware (UTC)")
    return int(dt.timestamp())


def _read_wide(cursor: sqlite3.Cursor, metrics: list[str]) -> pd.DataFrame:
    """A (bucket, region, metric...) result as a frame, one column array each: pandas' read_sql_query
    builds a record array of the rows first (~0.3 s more for a month of minutes). NULL is NaN. The
    cyclic garbage collector is paused while the row tuples exist: 300k new tuples set off its full
    passes over every object the server holds, and tuples of numbers and strings hold no cycles."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        rows = cursor.fetchall()
        columns = list(zip(*rows, strict=True)) if rows else []
        del rows
    finally:
        if was_enabled:
            gc.enable()
    if not columns:
        return pd.DataFrame(columns=["bucket", "region", *metrics])
    frame = {
        "bucket": np.fromiter(columns[0], dtype="int64", count=len(columns[0])),
        "region": np.array(columns[1], dtype=object),
    }
    for name, values in zip(metrics, columns[2:], strict=True):
        frame[name] = np.array(values, dtype="float64")
    return pd.DataFrame(frame)


def _long_from_wide(wide: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    """The tidy metrics frame of a (bucket, region, one column per metric) result ordered by bucket and
    region: laid out row by row with the metrics in name order, it is already in tidy_metrics' order
    (ts, region, metric), so the melt and the sort of a million rows (~1 s for a month of minutes)
    are not needed. SQLite orders TEXT bytewise, as Python orders str."""
    if wide.empty:
        return empty_metrics_frame()
    names = sorted(set(metrics))
    values = wide[names].to_numpy(dtype="float64")
    keep = ~np.isnan(values).ravel()
    if not keep.any():
        return empty_metrics_frame()
    per_row = len(names)
    buckets = np.repeat(wide["bucket"].to_numpy(dtype="int64"), per_row)[keep]
    regions = np.repeat(wide["region"].astype(str).to_numpy(dtype=object), per_row)[keep]
    metric = np.tile(np.array(names, dtype=object), len(wide))[keep]
    return pd.DataFrame(
        {
            "ts": pd.to_datetime(buckets, unit="s", utc=True).astype("datetime64[ns, UTC]"),
            "region": pd.Series(regions, dtype=object),
            "metric": pd.Series(metric, dtype=object),
            "value": values.ravel()[keep],
        }
    )


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
        if regions is not None and not regions:
            return empty_metrics_frame()
        params: list[object] = [_epoch(start), _epoch(end)]
        try:
            # a step the stored points already sit on (1 minute over the store's minutes: the SLO pages
            # and the review read a month of them) makes every (bucket, region) one row: the same
            # figures read without GROUP BY, ~half the time of a 300k-row read
            on_grid = self._on_step_grid(step_s, params)
            if on_grid:
                select = ", ".join(f'"{m}"' for m in metrics)
                sql = f"SELECT ts AS bucket, region, {select} FROM {METRICS_TABLE} WHERE ts >= ? AND ts <= ?"
            else:
                select = ", ".join(f'{_STEP_AGGREGATE[m]}("{m}") AS "{m}"' for m in metrics)
                sql = (
                    f"SELECT (ts / {step_s}) * {step_s} AS bucket, region, {select} FROM {METRICS_TABLE} "
                    "WHERE ts >= ? AND ts <= ?"
                )
            if regions is not None:
                sql += f" AND region IN ({', '.join('?' for _ in regions)})"
                params.extend(regions)
            sql += (
                " ORDER BY bucket, region" if on_grid else " GROUP BY bucket, region ORDER BY bucket, region"
            )
            wide = _read_wide(self.db.conn.execute(sql, params), list(metrics))
        except sqlite3.Error as exc:
            raise SourceError(self.name, f"could not read metrics from the embedded store: {exc}") from exc
        self._last_latency = time.perf_counter() - t0
        self._last_success = datetime.now(UTC)
        return _long_from_wide(wide, list(metrics))

    def _on_step_grid(self, step_s: int, bounds: Sequence[object]) -> bool:
        """True when no stored point between the bounds (every region) is off the step's grid, so
        distinct timestamps fall in distinct buckets. Reads the (ts, region) key index only."""
        off = self.db.execute(
            f"SELECT 1 FROM {METRICS_TABLE} WHERE ts >= ? AND ts <= ? AND ts % {step_s} != 0 LIMIT 1",
            list(bounds),
        ).fetchone()
        return off is None

    def aggregate_range(
        self,
        aggregates: Sequence[RangeAggregate],
        start: datetime,
        end: datetime,
        regions: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """core.ports.RangeAggregateSource over the store's own minutes: the same figures Prometheus
        computes, from every stored point (reading them is local and cheap), so pages work on both."""
        metrics = sorted({m for a in aggregates for m in a.metrics})
        first = min((a.first(start, end) for a in aggregates), default=start)
        frame = self.query_range(metrics, first, end, timedelta(minutes=1), regions)
        return summarise_range(frame, aggregates, start, end)

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
            return read_costs(self.db, start, end)
        except (sqlite3.Error, pd.errors.DatabaseError) as exc:
            raise SourceError(self.name, f"could not read costs from the embedded store: {exc}") from exc

    def health(self) -> SourceHealth:
        row = self.db.execute(f"SELECT MIN(day), MAX(day), COUNT(*) FROM {COSTS_TABLE}").fetchone()
        if not row or not row[2]:
            return SourceHealth(self.name, "down", "no billing rows yet")
        return SourceHealth(self.name, "ok", f"{row[2]} rows, {row[0]} to {row[1]}")


# ---- costs: read and replace (the demo's bill and Cost Explorer's cache share the table) -------------
def read_costs(db: sqlite_utils.Database | str, start: date, end: date) -> pd.DataFrame:
    """The billing frame for days start..end inclusive (sqlite3 / pandas errors propagate: the caller
    names its source). `db` may also be the shared PostgreSQL URL (Cost Explorer's cache, issue 14)."""
    sql = (
        f"SELECT day, service, region, cost_usd FROM {COSTS_TABLE} WHERE day >= ? AND day <= ? "
        "ORDER BY day, service, region"
    )
    params = [start.isoformat(), end.isoformat()]
    if store_db.is_url(db):
        with store_db.store_read(db) as conn:
            rows = conn.execute(sql, params).fetchall()
        frame = pd.DataFrame([tuple(r) for r in rows], columns=["day", "service", "region", "cost_usd"])
    else:
        frame = pd.read_sql_query(sql, db.conn, params=params)
    if frame.empty:
        return empty_billing_frame()
    frame["day"] = pd.to_datetime(frame["day"]).dt.date
    frame["cost_usd"] = frame["cost_usd"].astype("float64")
    return frame


def cost_totals_by_day(
    db: sqlite_utils.Database | str, start: date, end: date
) -> dict[str, tuple[int, float]]:
    """{ISO day: (row count, dollars)} for days start..end that have rows (SQLite or a PostgreSQL URL)."""
    with store_db.store_read(db) as conn:
        rows = conn.execute(
            f"SELECT day, COUNT(*), SUM(cost_usd) FROM {COSTS_TABLE} WHERE day >= ? AND day <= ? GROUP BY day",
            [start.isoformat(), end.isoformat()],
        ).fetchall()
    return {r[0]: (r[1], r[2] or 0.0) for r in rows}


def replace_costs(
    conn: sqlite3.Connection, first_day: str, last_day: str, rows: Iterable[tuple[str, str, str, float]]
) -> None:
    """Replace the cost rows of days first_day..last_day (ISO) with `rows` (day, service, region,
    cost_usd). Runs on the caller's connection inside the caller's transaction, so the caller can write
    its own bookkeeping (Cost Explorer's fetch log) atomically with it."""
    if not conn.in_transaction:
        raise RuntimeError("replace_costs needs a transaction on this connection (core.db.transaction)")
    conn.execute(f"DELETE FROM {COSTS_TABLE} WHERE day >= ? AND day <= ?", [first_day, last_day])
    conn.executemany(f"INSERT INTO {COSTS_TABLE} (day, service, region, cost_usd) VALUES (?, ?, ?, ?)", rows)


# ---- the demo world: metrics, costs and events replaced together ----------------------------------------
def replace_world(
    db: sqlite_utils.Database,
    metrics: pd.DataFrame,
    billing: pd.DataFrame | None,
    events: Iterable[tuple[int, int, str, str, str, str]],
    on_metrics_stored: Callable[[], None] | None = None,
) -> None:
    """Replace every metrics and events row (and every costs row unless `billing` is None) in one
    transaction. `metrics` is wide (ts, region, one column per canonical metric); `events` are
    (start_ts, end_ts, region, kind, title, detail) tuples."""
    cols = ["ts", "region", *CANONICAL_METRICS]
    placeholders = ", ".join("?" for _ in cols)
    quoted = ", ".join(f'"{c}"' for c in cols)
    records = metrics[cols].itertuples(index=False, name=None)
    # its own connection (core.db.store_write): a regeneration never takes other sessions' writes into
    # its transaction (issue 19 item 4), and readers on the shared connection see the old world until
    # the commit (WAL)
    with store_db.store_write(db) as conn:
        conn.execute(f"DELETE FROM {METRICS_TABLE}")
        if billing is not None:
            conn.execute(f"DELETE FROM {COSTS_TABLE}")
        conn.execute(f"DELETE FROM {EVENTS_TABLE}")
        conn.executemany(f"INSERT INTO {METRICS_TABLE} ({quoted}) VALUES ({placeholders})", records)
        if on_metrics_stored:
            on_metrics_stored()
        if billing is not None:
            conn.executemany(
                f"INSERT INTO {COSTS_TABLE} (day, service, region, cost_usd) VALUES (?, ?, ?, ?)",
                billing[["day", "service", "region", "cost_usd"]].itertuples(index=False, name=None),
            )
        conn.executemany(
            f"INSERT INTO {EVENTS_TABLE} (start_ts, end_ts, region, kind, title, detail) VALUES (?, ?, ?, ?, ?, ?)",
            list(events),
        )


def latest_metric_value(conn: sqlite3.Connection, metric: str, region: str) -> float | None:
    """The newest non-null value of a canonical metric in a region, or None (also when the store has no
    metrics table: a store without the demo world). Takes a plain connection so a caller can read it
    inside its own transaction."""
    if metric not in CANONICAL_METRICS:
        raise ValueError(f"unknown metric {metric!r}; known: {', '.join(CANONICAL_METRICS)}")
    try:
        row = conn.execute(
            f'SELECT "{metric}" FROM {METRICS_TABLE} WHERE region = ? AND "{metric}" IS NOT NULL '
            "ORDER BY ts DESC LIMIT 1",
            [region],
        ).fetchone()
    except sqlite3.OperationalError:
        return None
    return None if row is None else row[0]


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


def read_action_markers(
    db: sqlite_utils.Database, start: datetime, end: datetime, target_regions: dict[str, str] | None = None
) -> pd.DataFrame:
    """Executed actions (scaling, failover) in [start, end] as change markers shaped like read_events():
    start_ts, end_ts, region, kind ('action'), title, detail. Empty when no actions table exists yet."""
    columns = ["start_ts", "end_ts", "region", "kind", "title", "detail"]
    empty = pd.DataFrame(
        {c: pd.Series([], dtype="datetime64[ns, UTC]" if c.endswith("_ts") else object) for c in columns}
    )
    from core.actions.store import changes_made_between  # the actions table's owner

    rows = changes_made_between(db.conn, start, end)
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
