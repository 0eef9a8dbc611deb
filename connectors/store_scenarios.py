"""Saved capacity scenarios in the embedded store: save, load, list, rename, delete, and a
`marked_for_review` flag the weekly review reads (`scenarios_for_review`).

One row per scenario name: the scenario as JSON (core.capacity.Scenario.to_dict), the demand window it
was last run on, and that run's summary figures, so the review can show them without re-simulating.

`db` is the embedded SQLite (a sqlite_utils.Database or a file path) or a shared PostgreSQL named by its
URL (issue 14), where the table comes from a versioned migration (core/migrations.py, "scenarios").
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import sqlite_utils

from core import db as store_db
from core import migrations
from core.capacity import Scenario, SimulationSummary
from core.migrations import Migration

SCENARIOS_TABLE = "scenarios"
_COLUMNS = {
    "name": str,
    "spec": str,  # Scenario.to_dict() as JSON
    "region": str,
    "policy": str,
    "marked_for_review": int,
    "created_at": str,  # ISO 8601 UTC
    "updated_at": str,
    "window_start": str,  # the demand window of the last run (ISO 8601 UTC), "" if unknown
    "window_end": str,
    "summary": str,  # SimulationSummary.as_dict() of the last run as JSON, "" if not run
}


_PG_TYPES = {str: "TEXT", int: "INTEGER"}
MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "scenarios table",
        lambda conn: conn.execute(
            f"CREATE TABLE IF NOT EXISTS {SCENARIOS_TABLE} ("
            + ", ".join(
                f"{c} {_PG_TYPES[t]}"
                + (" PRIMARY KEY" if c == "name" else " NOT NULL" if c == "spec" else "")
                for c, t in _COLUMNS.items()
            )
            + ")"
        ),
    ),
)


class ScenarioNotFound(KeyError):
    def __init__(self, name: str):
        super().__init__(name)
        self.name = name

    def __str__(self) -> str:
        return f"no saved scenario named {self.name!r}"


def ensure_scenarios_table(db: Any) -> None:
    if store_db.is_url(db):
        migrations.ensure_current(db, SCENARIOS_TABLE, MIGRATIONS)
        return
    if SCENARIOS_TABLE not in db.table_names():
        db[SCENARIOS_TABLE].create(_COLUMNS, pk="name", not_null={"name", "spec"})


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _iso(ts: datetime | pd.Timestamp | None) -> str:
    if ts is None:
        return ""
    t = pd.Timestamp(ts)
    t = t.tz_localize("UTC") if t.tz is None else t.tz_convert("UTC")
    return t.isoformat()


def save_scenario(
    db: sqlite_utils.Database,
    scenario: Scenario,
    *,
    summary: SimulationSummary | Mapping[str, Any] | None = None,
    window: tuple[datetime, datetime] | None = None,
    marked_for_review: bool | None = None,
    overwrite: bool = True,
) -> None:
    """Insert or replace the scenario named `scenario.name`. An existing row keeps its creation time and
    (unless `marked_for_review` is given) its review flag. overwrite=False refuses an existing name."""
    existing = _row(db, scenario.name)
    if existing is not None and not overwrite:
        raise ValueError(f"a scenario named {scenario.name!r} already exists")
    if isinstance(summary, SimulationSummary):
        summary = summary.as_dict()
    flag = (
        marked_for_review
        if marked_for_review is not None
        else bool(existing and existing["marked_for_review"])
    )
    now = _now()
    row = {
        "name": scenario.name,
        "spec": scenario.to_json(),
        "region": scenario.region,
        "policy": type(scenario.policy).__name__,
        "marked_for_review": int(flag),
        "created_at": existing["created_at"] if existing else now,
        "updated_at": now,
        "window_start": _iso(window[0]) if window else "",
        "window_end": _iso(window[1]) if window else "",
        "summary": json.dumps(dict(summary)) if summary is not None else "",
    }
    columns = ", ".join(row)
    updates = ", ".join(f"{c} = excluded.{c}" for c in row if c != "name")
    # its own connection and transaction (core.db.store_write), never the shared connection's
    if store_db.is_url(db):
        ensure_scenarios_table(db)
    with store_db.store_write(db) as conn:
        if not store_db.is_postgres(conn):
            ensure_scenarios_table(sqlite_utils.Database(conn))  # DDL too, never on the shared connection
        conn.execute(
            f"INSERT INTO {SCENARIOS_TABLE} ({columns}) VALUES ({', '.join('?' for _ in row)}) "
            f"ON CONFLICT(name) DO UPDATE SET {updates}",
            list(row.values()),
        )


def _rows(db: Any, where: str = "", params: list[Any] | None = None, order: str = "") -> list[dict[str, Any]]:
    if store_db.is_url(db):
        ensure_scenarios_table(db)
    with store_db.store_read(db) as conn:
        if not store_db.has_table(conn, SCENARIOS_TABLE):
            return []
        rows = conn.execute(
            f"SELECT {', '.join(_COLUMNS)} FROM {SCENARIOS_TABLE}"
            + (f" WHERE {where}" if where else "")
            + (f" ORDER BY {order}" if order else ""),
            params or [],
        ).fetchall()
    return [dict(zip(_COLUMNS, r, strict=True)) for r in rows]


def _row(db: Any, name: str) -> dict[str, Any] | None:
    rows = _rows(db, "name = ?", [name])
    return rows[0] if rows else None


def load_scenario(db: sqlite_utils.Database, name: str) -> Scenario:
    row = _row(db, name)
    if row is None:
        raise ScenarioNotFound(name)
    return Scenario.from_dict(json.loads(row["spec"]))


def list_scenarios(db: sqlite_utils.Database) -> pd.DataFrame:
    """One row per saved scenario, newest change first: name, region, policy, marked_for_review,
    created_at, updated_at (UTC datetimes), window_start, window_end, and the last run's cost_usd,
    minutes_unserved and peak_instances (NaN when it was saved without a run)."""
    columns = [
        "name",
        "region",
        "policy",
        "marked_for_review",
        "created_at",
        "updated_at",
        "window_start",
        "window_end",
        "cost_usd",
        "minutes_unserved",
        "peak_instances",
    ]
    rows = _rows(db, order="updated_at DESC, name")
    if not rows:
        return pd.DataFrame(columns=columns)
    out = []
    for r in rows:
        summary = json.loads(r["summary"]) if r["summary"] else {}
        out.append(
            {
                "name": r["name"],
                "region": r["region"],
                "policy": r["policy"],
                "marked_for_review": bool(r["marked_for_review"]),
                "created_at": r["created_at"],
                "updated_at": r["updated_at"],
                "window_start": r["window_start"] or None,
                "window_end": r["window_end"] or None,
                "cost_usd": summary.get("cost_usd", float("nan")),
                "minutes_unserved": summary.get("minutes_unserved", float("nan")),
                "peak_instances": summary.get("peak_instances", float("nan")),
            }
        )
    frame = pd.DataFrame(out, columns=columns)
    for col in ("created_at", "updated_at", "window_start", "window_end"):
        frame[col] = pd.to_datetime(frame[col], utc=True, format="ISO8601")
    return frame


def rename_scenario(db: sqlite_utils.Database, old: str, new: str) -> None:
    new = new.strip()
    if not new:
        raise ValueError("the new name is empty")
    row = _row(db, old)
    if row is None:
        raise ScenarioNotFound(old)
    if new == old:
        return
    if _row(db, new) is not None:
        raise ValueError(f"a scenario named {new!r} already exists")
    spec = json.loads(row["spec"])
    spec["name"] = new
    with store_db.store_write(db) as conn:
        conn.execute(
            f"UPDATE {SCENARIOS_TABLE} SET name = ?, spec = ?, updated_at = ? WHERE name = ?",
            [new, json.dumps(spec, sort_keys=True), _now(), old],
        )


def delete_scenario(db: sqlite_utils.Database, name: str) -> None:
    if _row(db, name) is None:
        raise ScenarioNotFound(name)
    with store_db.store_write(db) as conn:
        conn.execute(f"DELETE FROM {SCENARIOS_TABLE} WHERE name = ?", [name])


def set_marked_for_review(db: sqlite_utils.Database, name: str, marked: bool) -> None:
    if _row(db, name) is None:
        raise ScenarioNotFound(name)
    with store_db.store_write(db) as conn:
        conn.execute(
            f"UPDATE {SCENARIOS_TABLE} SET marked_for_review = ?, updated_at = ? WHERE name = ?",
            [int(marked), _now(), name],
        )


def scenarios_for_review(db: sqlite_utils.Database) -> pd.DataFrame:
    """The saved scenarios marked for the weekly review (same columns as list_scenarios)."""
    frame = list_scenarios(db)
    return frame[frame["marked_for_review"]].reset_index(drop=True)
