"""Incidents and changes recorded by people (the Triage form), kept in the store and audited.

This module owns the `recorded_events` table (docs/ARCHITECTURE.md, "Tables and their owners"): its DDL
and every statement on it live here. A row is an incident (with a severity; open until it is resolved)
or a change (a deploy, a config push, a manual intervention). Each write lands in the same transaction
as its hash-chained audit entry (core/audit.py), so the record and who made it cannot diverge.

Break-glass (core/actions/break_glass.py) reads the open incidents from here: only an incident declared
in Headroom can justify an emergency change, never one typed into the request that uses it.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import pandas as pd

from core import audit, db
from core.ports import EVENT_COLUMNS, tidy_events

RECORDED_EVENTS_TABLE = "recorded_events"
EVENT_KINDS = ("incident", "change")
SEVERITIES = ("sev1", "sev2", "sev3", "sev4")
RecordedKind = Literal["incident", "change"]

_SCHEMA = f"""CREATE TABLE IF NOT EXISTS {RECORDED_EVENTS_TABLE} (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    severity TEXT NOT NULL DEFAULT '',
    region TEXT NOT NULL DEFAULT '',
    start_ts REAL NOT NULL,
    end_ts REAL,
    title TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '',
    recorded_by TEXT NOT NULL,
    recorded_at REAL NOT NULL
)"""


@dataclass(frozen=True)
class RecordedEvent:
    """An incident or change a person recorded. `end` None: an incident still open (a change is a
    moment: its end is its start)."""

    id: int
    kind: str
    severity: str
    region: str
    start: datetime
    end: datetime | None
    title: str
    detail: str
    recorded_by: str
    recorded_at: datetime

    def open_at(self, at: datetime) -> bool:
        """True for an incident declared at or before `at` and not resolved by then."""
        return self.kind == "incident" and self.start <= at and (self.end is None or self.end > at)

    @property
    def label(self) -> str:
        """'#3 sev1 eu-west-1: checkout down' for tables and audit entries."""
        sev = f" {self.severity}" if self.severity else ""
        where = f" {self.region}" if self.region else ""
        return f"#{self.id}{sev}{where}: {self.title}"


class RecordError(ValueError):
    """A recorded event that cannot be stored; the message names the field."""


# PostgreSQL: the same table, with its own id sequence and float8 seconds
_SCHEMA_PG = _SCHEMA.replace("INTEGER PRIMARY KEY AUTOINCREMENT", "BIGSERIAL PRIMARY KEY").replace(
    " REAL", " DOUBLE PRECISION"
)


def ensure_recorded_events_schema(conn: sqlite3.Connection) -> None:
    """Inside the caller's write transaction, on either store backend (core.db), beside the audit chain
    the records are entered in."""
    conn.execute(_SCHEMA_PG if db.is_postgres(conn) else _SCHEMA)


def _epoch(ts: datetime) -> float:
    if ts.tzinfo is None:
        raise RecordError(f"times must be timezone-aware UTC, got {ts!r}")
    return ts.timestamp()


def _dt(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def _row(row: tuple) -> RecordedEvent:
    start = _dt(row[4])
    recorded_at = _dt(row[9])
    assert start is not None and recorded_at is not None
    return RecordedEvent(
        row[0], row[1], row[2], row[3], start, _dt(row[5]), row[6], row[7], row[8], recorded_at
    )


_SELECT = (
    "SELECT id, kind, severity, region, start_ts, end_ts, title, detail, recorded_by, recorded_at "
    f"FROM {RECORDED_EVENTS_TABLE}"
)


def validate_event(
    kind: str,
    severity: str,
    region: str,
    start: datetime,
    end: datetime | None,
    title: str,
    regions: tuple[str, ...],
) -> None:
    """Raise RecordError naming the first bad field; nothing is written before this passes."""
    if kind not in EVENT_KINDS:
        raise RecordError(f"kind: expected one of {', '.join(EVENT_KINDS)}, got {kind!r}")
    if kind == "incident" and severity not in SEVERITIES:
        raise RecordError(f"severity: an incident needs one of {', '.join(SEVERITIES)}, got {severity!r}")
    if kind == "change" and severity:
        raise RecordError(f"severity: a change has no severity, got {severity!r}")
    if region and region not in regions:
        raise RecordError(f"region: unknown region {region!r} (known: {', '.join(regions)})")
    if not title.strip():
        raise RecordError("title: say what happened")
    if start.tzinfo is None or (end is not None and end.tzinfo is None):
        raise RecordError("start/end: times must be timezone-aware UTC")
    if end is not None and end < start:
        raise RecordError(f"end: {end:%Y-%m-%d %H:%M} is before the start {start:%Y-%m-%d %H:%M}")


def record_event(
    path: Path | str,
    *,
    actor: str,
    role: str,
    kind: str,
    title: str,
    start: datetime,
    now: datetime,
    regions: tuple[str, ...],
    severity: str = "",
    region: str = "",
    end: datetime | None = None,
    detail: str = "",
) -> RecordedEvent:
    """Store an incident or change and its audit entry in one transaction. A change without `end` is a
    moment (end = start); an incident without `end` stays open until resolve_incident()."""
    validate_event(kind, severity, region, start, end, title, regions)
    if kind == "change" and end is None:
        end = start
    with audit.write_transaction(path) as conn:
        ensure_recorded_events_schema(conn)
        cur = conn.execute(
            f"INSERT INTO {RECORDED_EVENTS_TABLE} (kind, severity, region, start_ts, end_ts, title, detail, "
            "recorded_by, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            [
                kind,
                severity,
                region,
                _epoch(start),
                None if end is None else _epoch(end),
                title.strip(),
                detail.strip(),
                actor,
                _epoch(now),
            ],
        )
        new_id = cur.fetchone()[0]
        event = _row(conn.execute(f"{_SELECT} WHERE id = ?", [new_id]).fetchone())
        audit.append(
            conn,
            at=now,
            actor=actor,
            role=role,
            event=f"record_{kind}",
            target=region,
            action_id=None,
            reason=event.title,
            detail={"recorded_event": event.id, "severity": severity, "start": audit.format_ts(start)},
        )
    return event


def resolve_incident(
    path: Path | str, event_id: int, *, actor: str, role: str, at: datetime
) -> RecordedEvent:
    """Close an open incident at `at` (audited). Raises RecordError if it is not an open incident."""
    with audit.write_transaction(path) as conn:
        ensure_recorded_events_schema(conn)
        row = conn.execute(f"{_SELECT} WHERE id = ?", [event_id]).fetchone()
        if row is None or row[1] != "incident":
            raise RecordError(f"id: there is no recorded incident #{event_id}")
        if row[5] is not None:
            raise RecordError(f"id: incident #{event_id} is already resolved")
        conn.execute(f"UPDATE {RECORDED_EVENTS_TABLE} SET end_ts = ? WHERE id = ?", [_epoch(at), event_id])
        event = _row(conn.execute(f"{_SELECT} WHERE id = ?", [event_id]).fetchone())
        audit.append(
            conn,
            at=at,
            actor=actor,
            role=role,
            event="resolve_incident",
            target=event.region,
            action_id=None,
            reason=event.title,
            detail={"recorded_event": event.id},
        )
    return event


def get_recorded_event(conn: sqlite3.Connection, event_id: int) -> RecordedEvent | None:
    """One recorded event (inside the caller's transaction); None when absent or no table yet."""
    if not _has_table(conn):
        return None
    row = conn.execute(f"{_SELECT} WHERE id = ?", [event_id]).fetchone()
    return None if row is None else _row(row)


def _has_table(conn: sqlite3.Connection) -> bool:
    return db.has_table(conn, RECORDED_EVENTS_TABLE)  # either backend


def list_recorded_events(path: Path | str, start: datetime, end: datetime) -> list[RecordedEvent]:
    """Recorded events overlapping [start, end] (an open incident overlaps everything after its start)."""
    with audit.read_connection(path) as conn:
        if not _has_table(conn):
            return []
        rows = conn.execute(
            f"{_SELECT} WHERE start_ts <= ? AND COALESCE(end_ts, ?) >= ? ORDER BY start_ts, id",
            [_epoch(end), _epoch(end), _epoch(start)],
        ).fetchall()
    return [_row(r) for r in rows]


def open_incidents(path: Path | str, at: datetime) -> list[RecordedEvent]:
    """Incidents open at `at`, most severe first."""
    events = [e for e in list_recorded_events(path, at, at) if e.open_at(at)]
    return sorted(events, key=lambda e: (e.severity, -e.start.timestamp()))


def events_frame(events: list[RecordedEvent], until: datetime) -> pd.DataFrame:
    """Recorded events as the events frame (EVENT_COLUMNS); an open incident runs until `until`.
    An incident's kind column says its severity ('incident sev1') so charts and counts can tell."""
    rows = [
        {
            "start_ts": e.start,
            "end_ts": e.end or max(until, e.start),
            "region": e.region,
            "kind": f"incident {e.severity}" if e.kind == "incident" else "change",
            "title": e.title,
            "detail": (e.detail + " " if e.detail else "") + f"(recorded by {e.recorded_by})",
        }
        for e in events
    ]
    return tidy_events(pd.DataFrame(rows, columns=list(EVENT_COLUMNS)))
