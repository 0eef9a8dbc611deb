"""BillingSource over AWS Cost Explorer (GetCostAndUsage, DAILY UnblendedCost by SERVICE and REGION).

Every GetCostAndUsage request is billed, so results are cached by day in the store's `costs` table and
a small `cost_explorer_days` table remembers, per day, when it was fetched, whether Cost Explorer still
called it Estimated, and how many rows / dollars it wrote. A day is *closed* once it was fetched after
it ended (UTC) and Cost Explorer no longer flagged it Estimated: closed days are never fetched again.
Open days (today, or still estimated) are fetched again after `refresh_open_days_after`. If anything
else rewrote a day's rows (e.g. the demo world), the row count / total no longer match the log and the
day is fetched again.

Cost Explorer's REGION dimension says "NoRegion" for global charges; those rows use region "global".

Shared by the replicas (issue 14): with a PostgreSQL store configured, `db` is its URL and the cache
(`costs` and `cost_explorer_days`, created by a versioned migration, component "billing_cache") lives
there, so a day one replica paid for is never bought again by another. Two replicas missing the same day
at the same moment do not both buy it: on PostgreSQL the re-check, the fetch and the write run under a
transaction-scoped advisory lock, so the second replica waits, then finds the day cached.

Paging follows NextPageToken at most `MAX_PAGES` pages and stops on a token seen before (aws_common.Pager).
An amount that is not a finite number (NaN, Infinity, 1e400) makes the whole fetch a SourceError naming
the day and service, and nothing of it is stored: a cost row that is not a number would poison every
total and forecast, and skipping it would understate the bill silently.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pandas as pd
import sqlite_utils

from connectors.aws_common import AwsCredentials, Pager, client_for, source_error
from connectors.store import COSTS_TABLE, cost_totals_by_day, read_costs, replace_costs
from core import db as store_db
from core import migrations
from core.config import CostExplorerConfig
from core.migrations import Migration
from core.ports import SourceError, SourceHealth

FETCH_LOG_TABLE = "cost_explorer_days"
METRIC = "UnblendedCost"
GLOBAL_REGION = "global"
_NO_REGION = {"NoRegion", "", "global", "Global"}


BILLING_CACHE_COMPONENT = "billing_cache"
# pg_advisory_xact_lock key the replicas' fetches share ("ce-days" in ASCII; any fixed 64-bit number)
FETCH_LOCK_KEY = 0x63652D64617973
# PostgreSQL: the cache's two tables (on SQLite, `costs` belongs to connectors/store.py's schema)
MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "costs and cost_explorer_days tables",
        lambda conn: [
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {COSTS_TABLE} (day TEXT NOT NULL, service TEXT NOT NULL, "
                "region TEXT NOT NULL, cost_usd DOUBLE PRECISION, PRIMARY KEY (day, service, region))"
            ),
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {FETCH_LOG_TABLE} (day TEXT PRIMARY KEY, fetched_at TEXT, "
                "estimated INTEGER, rows INTEGER, total_usd DOUBLE PRECISION)"
            ),
        ],
    ),
)

_LOG_UPSERT = (
    f"INSERT INTO {FETCH_LOG_TABLE} (day, fetched_at, estimated, rows, total_usd) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (day) DO UPDATE SET fetched_at = excluded.fetched_at, estimated = excluded.estimated, "
    "rows = excluded.rows, total_usd = excluded.total_usd"
)


def ensure_fetch_log(db: sqlite_utils.Database | str) -> None:
    if store_db.is_url(db):
        migrations.ensure_current(db, BILLING_CACHE_COMPONENT, MIGRATIONS)
        return
    if FETCH_LOG_TABLE not in db.table_names():
        db[FETCH_LOG_TABLE].create(
            {"day": str, "fetched_at": str, "estimated": int, "rows": int, "total_usd": float},
            pk="day",
        )


class CostExplorerSource:
    """BillingSource: daily unblended cost by service and region, cached by day in the store."""

    def __init__(
        self,
        config: CostExplorerConfig,
        db: sqlite_utils.Database | str,
        credentials: AwsCredentials | None = None,
        client: Any | None = None,
        name: str = "AWS Cost Explorer",
    ):
        self.config = config
        self.db = db
        self.name = name
        self.client = client or client_for("ce", config, credentials)
        ensure_fetch_log(db)
        self._lock = threading.Lock()
        self._last_success: datetime | None = None
        self._last_latency: float | None = None
        self._last_error: str | None = None

    # -- BillingSource ------------------------------------------------------------------------------
    def daily_costs(self, start: date, end: date, now: datetime | None = None) -> pd.DataFrame:
        """Billing frame for days start..end inclusive (no future days); fetches only what is missing."""
        now = now or datetime.now(UTC)
        today = now.date()
        last = min(end, today)
        if last >= start:
            stale = self.days_to_fetch(start, last, now)
            if stale:
                # one fetch at a time: per process (two tabs) and, on PostgreSQL, across replicas
                with self._lock, self._replicas_one_at_a_time() as held:
                    stale = self.days_to_fetch(start, last, now)
                    if stale:
                        self._fetch_and_store(min(stale), max(stale), now, held)
        return self._read(start, end)

    @contextmanager
    def _replicas_one_at_a_time(self) -> Iterator[Any]:
        """On a PostgreSQL store: a write transaction holding the fetch lock until it commits, which is
        also where the fetched days are written (so the lock is released only once they are visible).
        On SQLite: nothing (one process; BEGIN IMMEDIATE would block every writer during the HTTP call)."""
        if not store_db.is_url(self.db):
            yield None
            return
        with store_db.write_transaction(self.db) as conn:
            conn.execute("SELECT pg_advisory_xact_lock(?)", [FETCH_LOCK_KEY]).fetchone()
            yield conn

    def health(self) -> SourceHealth:
        with store_db.store_read(self.db) as conn:
            row = conn.execute(
                f"SELECT COUNT(*), MIN(day), MAX(day), MAX(fetched_at) FROM {FETCH_LOG_TABLE}"
            ).fetchone()
        cached = f"{row[0]} day(s) cached ({row[1]} to {row[2]})" if row and row[0] else "nothing cached yet"
        if self._last_error:
            return SourceHealth(self.name, "down", self._last_error, self._last_success, self._last_latency)
        state = "ok" if row and row[0] else "unknown"
        last = self._last_success
        if last is None and row and row[3]:
            last = datetime.fromisoformat(row[3])
        return SourceHealth(self.name, state, cached, last, self._last_latency)

    # -- cache logic ---------------------------------------------------------------------------------
    def days_to_fetch(self, start: date, end: date, now: datetime) -> list[date]:
        """Days in start..end that are missing, changed behind our back, or open and due a refresh."""
        with store_db.store_read(self.db) as conn:
            logged = conn.execute(
                f"SELECT day, fetched_at, estimated, rows, total_usd FROM {FETCH_LOG_TABLE} "
                "WHERE day >= ? AND day <= ?",
                [start.isoformat(), end.isoformat()],
            ).fetchall()
        log = {r[0]: tuple(r[1:]) for r in logged}
        present = cost_totals_by_day(self.db, start, end)
        refresh = self.config.refresh_open_days_after
        due: list[date] = []
        day = start
        while day <= end:
            key = day.isoformat()
            entry = log.get(key)
            if entry is None:
                due.append(day)
            else:
                fetched_at, estimated, rows, total = (
                    datetime.fromisoformat(entry[0]),
                    entry[1],
                    entry[2],
                    entry[3],
                )
                count, amount = present.get(key, (0, 0.0))
                closed = not estimated and fetched_at >= datetime.combine(
                    day + timedelta(days=1), datetime.min.time(), UTC
                )
                intact = count == rows and abs(amount - total) < 0.005
                if not intact or (not closed and now - fetched_at >= refresh):
                    due.append(day)
            day += timedelta(days=1)
        return due

    def _fetch_and_store(self, first: date, last: date, now: datetime, conn: Any = None) -> None:
        """Fetch first..last and replace those days in the cache, in `conn`'s transaction when given."""
        t0 = time.perf_counter()
        groups, estimated = self._fetch(first, last)
        rows: dict[tuple[str, str, str], float] = {}
        first_s, last_s = first.isoformat(), last.isoformat()
        for (day, service, region), amount in groups:
            if not first_s <= day <= last_s:
                continue  # only the asked days are written, so every cached row has its log entry
            key = (day, service, region)
            rows[key] = rows.get(key, 0.0) + amount
        fetched_at = now.isoformat()
        days = [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]
        # one transaction: the cache and its log agree or neither changes
        with nullcontext(conn) if conn is not None else store_db.store_write(self.db) as conn:
            replace_costs(conn, days[0], days[-1], [(d, s, r, c) for (d, s, r), c in rows.items()])
            per_day: dict[str, tuple[int, float]] = {}
            for (d, _, _), c in rows.items():
                n, total = per_day.get(d, (0, 0.0))
                per_day[d] = (n + 1, total + c)
            conn.executemany(
                _LOG_UPSERT,
                [
                    (
                        d,
                        fetched_at,
                        int(d in estimated or d >= now.date().isoformat()),
                        *per_day.get(d, (0, 0.0)),
                    )
                    for d in days
                ],
            )
        self._last_success = datetime.now(UTC)
        self._last_latency = time.perf_counter() - t0
        self._last_error = None

    def _fetch(self, first: date, last: date) -> tuple[list[tuple[tuple[str, str, str], float]], set[str]]:
        """All groups for first..last (GetCostAndUsage's End is exclusive), following NextPageToken."""
        request: dict[str, Any] = {
            "TimePeriod": {"Start": first.isoformat(), "End": (last + timedelta(days=1)).isoformat()},
            "Granularity": "DAILY",
            "Metrics": [METRIC],
            "GroupBy": [{"Type": "DIMENSION", "Key": "SERVICE"}, {"Type": "DIMENSION", "Key": "REGION"}],
        }
        groups: list[tuple[tuple[str, str, str], float]] = []
        estimated: set[str] = set()
        token: str | None = None
        pager = Pager(self.name, "GetCostAndUsage", "NextPageToken")
        while True:
            kwargs = dict(request, NextPageToken=token) if token else request
            try:
                resp = self.client.get_cost_and_usage(**kwargs)
            except Exception as exc:
                err = source_error(self.name, "GetCostAndUsage", exc, self.config.max_attempts)
                self._last_error = err.message
                raise err from None
            for period in resp.get("ResultsByTime", []):
                day = period.get("TimePeriod", {}).get("Start", "")[:10]
                if not day:
                    continue
                if period.get("Estimated"):
                    estimated.add(day)
                for group in period.get("Groups", []):
                    keys = group.get("Keys", [])
                    service = keys[0] if keys else "unknown"
                    region = keys[1] if len(keys) > 1 else ""
                    region = GLOBAL_REGION if region in _NO_REGION else region
                    cost = group.get("Metrics", {}).get(METRIC, {})
                    try:
                        amount = float(cost.get("Amount", "0"))
                    except (TypeError, ValueError):
                        err = SourceError(
                            self.name,
                            f"GetCostAndUsage returned a non-numeric amount {cost.get('Amount')!r} for {service} on {day}",
                            query="GetCostAndUsage",
                        )
                        self._last_error = err.message
                        raise err from None
                    if not math.isfinite(amount):
                        err = SourceError(
                            self.name,
                            f"GetCostAndUsage returned an amount that is not a finite number, "
                            f"{cost.get('Amount')!r}, for {service} on {day}; nothing of this fetch was stored",
                            query="GetCostAndUsage",
                        )
                        self._last_error = err.message
                        raise err
                    groups.append(((day, service, region), amount))
            token = resp.get("NextPageToken")
            try:
                if not pager.more(token):
                    return groups, estimated
            except SourceError as err:
                self._last_error = err.message
                raise

    def _read(self, start: date, end: date) -> pd.DataFrame:
        try:
            return read_costs(self.db, start, end)
        except Exception as exc:
            raise SourceError(self.name, f"could not read cached costs from the store: {exc}") from exc
