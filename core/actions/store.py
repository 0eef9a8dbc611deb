"""Every SQL statement on the actions table: the schema, reads, and the guarded writes. Each write is a
compare-and-set (`UPDATE ... WHERE id = ? AND state = ?`) whose row count says whether this caller won;
the caller (core/actions/service.py) runs it inside audit.write_transaction so the audit entry lands in
the same transaction. Times are stored as UTC epoch seconds, states and changes as JSON text."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from core.actions.types import (
    Action,
    _epoch,
    _ts,
    change_from_dict,
    change_to_dict,
    state_from_dict,
    state_to_dict,
)
from core.auth import normalise_email
from core.ports import Change, TargetState

ACTIONS_TABLE = "actions"

_SCHEMA: tuple[str, ...] = (
    f"""CREATE TABLE IF NOT EXISTS {ACTIONS_TABLE} (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        request_id TEXT UNIQUE,
        target TEXT NOT NULL,
        target_kind TEXT NOT NULL,
        kind TEXT NOT NULL,
        change TEXT NOT NULL,
        reason TEXT NOT NULL,
        state TEXT NOT NULL,
        needs_approval INTEGER NOT NULL,
        plan TEXT NOT NULL,
        proposed_by TEXT NOT NULL,
        proposed_at REAL NOT NULL,
        expires_at REAL,
        approved_by TEXT,
        approved_at REAL,
        closed_by TEXT,
        closed_note TEXT NOT NULL DEFAULT '',
        executed_by TEXT,
        started_at REAL,
        owner TEXT,
        finished_at REAL,
        before TEXT,
        after TEXT,
        error TEXT NOT NULL DEFAULT '',
        updated_at REAL NOT NULL
    )""",
    f"CREATE INDEX IF NOT EXISTS actions_state ON {ACTIONS_TABLE}(state)",
    f"CREATE INDEX IF NOT EXISTS actions_target ON {ACTIONS_TABLE}(target, finished_at)",
    # at most one open action per target, enforced by SQLite itself (two tabs proposing at once)
    f"""CREATE UNIQUE INDEX IF NOT EXISTS actions_one_open_per_target ON {ACTIONS_TABLE}(target)
        WHERE state IN ('proposed', 'approved', 'executing')""",
)


def db_file_path(store: Any) -> str:
    """A file path from a path or a sqlite_utils.Database / sqlite3.Connection opened on a file."""
    if isinstance(store, str | Path):
        return str(store)
    conn = getattr(store, "conn", store)
    row = conn.execute("PRAGMA database_list").fetchone()
    if not row or not row[2]:
        raise ValueError("the actions store must be a file database (not in-memory)")
    return row[2]


def ensure_actions_schema(conn: sqlite3.Connection) -> None:
    for statement in _SCHEMA:
        conn.execute(statement)


_COLUMNS = (
    "id",
    "request_id",
    "target",
    "target_kind",
    "kind",
    "change",
    "reason",
    "state",
    "needs_approval",
    "plan",
    "proposed_by",
    "proposed_at",
    "expires_at",
    "approved_by",
    "approved_at",
    "closed_by",
    "closed_note",
    "executed_by",
    "started_at",
    "owner",
    "finished_at",
    "before",
    "after",
    "error",
)


def _row_to_action(row: Sequence[Any]) -> Action:
    d = dict(zip(_COLUMNS, row, strict=True))
    return Action(
        id=d["id"],
        target=d["target"],
        target_kind=d["target_kind"],
        kind=d["kind"],
        change=change_from_dict(json.loads(d["change"])),
        reason=d["reason"],
        state=d["state"],
        needs_approval=bool(d["needs_approval"]),
        plan=json.loads(d["plan"]),
        proposed_by=d["proposed_by"],
        proposed_at=_ts(d["proposed_at"]),
        expires_at=_ts(d["expires_at"]),
        approved_by=d["approved_by"],
        approved_at=_ts(d["approved_at"]),
        closed_by=d["closed_by"],
        closed_note=d["closed_note"],
        executed_by=d["executed_by"],
        started_at=_ts(d["started_at"]),
        owner=d["owner"],
        finished_at=_ts(d["finished_at"]),
        before=state_from_dict(json.loads(d["before"])) if d["before"] else None,
        after=state_from_dict(json.loads(d["after"])) if d["after"] else None,
        error=d["error"],
        request_id=d["request_id"],
    )


_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM {ACTIONS_TABLE}"


# ---- reads -----------------------------------------------------------------------------------------
def read_action(conn: sqlite3.Connection, action_id: int) -> Action | None:
    row = conn.execute(f"{_SELECT} WHERE id = ?", [action_id]).fetchone()
    return None if row is None else _row_to_action(row)


def id_of_request(conn: sqlite3.Connection, request_id: str) -> int | None:
    """The action a form submit with this request id already created, if any."""
    row = conn.execute(f"SELECT id FROM {ACTIONS_TABLE} WHERE request_id = ?", [request_id]).fetchone()
    return row[0] if row else None


def query_actions(
    conn: sqlite3.Connection,
    *,
    states: Sequence[str] | None,
    target: str | None,
    person: str | None,
    since: datetime | None,
    until: datetime | None,
    limit: int,
) -> list[Action]:
    """Newest first, filtered by state, target, a person (proposer, approver or executor) and a
    proposal-time range."""
    sql = f"{_SELECT} WHERE 1=1"
    params: list[Any] = []
    if states:
        sql += f" AND state IN ({', '.join('?' for _ in states)})"
        params.extend(states)
    if target:
        sql += " AND target = ?"
        params.append(target)
    if person:
        sql += " AND (lower(proposed_by) = ? OR lower(approved_by) = ? OR lower(executed_by) = ?)"
        params.extend([normalise_email(person)] * 3)
    if since is not None:
        sql += " AND proposed_at >= ?"
        params.append(_epoch(since))
    if until is not None:
        sql += " AND proposed_at <= ?"
        params.append(_epoch(until))
    sql += " ORDER BY id DESC LIMIT ?"
    params.append(limit)
    return [_row_to_action(r) for r in conn.execute(sql, params).fetchall()]


def last_change_at(conn: sqlite3.Connection, target: str) -> datetime | None:
    """When the last change to this target finished (what the cooldown counts from)."""
    row = conn.execute(
        f"SELECT MAX(finished_at) FROM {ACTIONS_TABLE} WHERE target = ? AND state IN ('succeeded', 'failed')",
        [target],
    ).fetchone()
    return _ts(row[0]) if row and row[0] is not None else None


def open_action_ids(conn: sqlite3.Connection, target: str, exclude: int | None) -> list[int]:
    rows = conn.execute(
        f"SELECT id FROM {ACTIONS_TABLE} WHERE target = ? AND state IN ('proposed', 'approved', 'executing') "
        "AND id != ? ORDER BY id",
        [target, exclude if exclude is not None else -1],
    ).fetchall()
    return [r[0] for r in rows]


def overdue_ids(conn: sqlite3.Connection, now: datetime) -> list[int]:
    """Proposals and approvals whose expiry has passed."""
    rows = conn.execute(
        f"SELECT id FROM {ACTIONS_TABLE} WHERE state IN ('proposed', 'approved') AND expires_at <= ?",
        [_epoch(now)],
    ).fetchall()
    return [r[0] for r in rows]


def executing_actions(conn: sqlite3.Connection) -> list[Action]:
    rows = conn.execute(f"{_SELECT} WHERE state = 'executing' ORDER BY id").fetchall()
    return [_row_to_action(r) for r in rows]


# ---- writes (each a compare-and-set; True when this caller's update took effect) -------------------
def insert_proposal(
    conn: sqlite3.Connection,
    *,
    request_id: str | None,
    target: str,
    target_kind: str,
    kind: str,
    change: Change,
    reason: str,
    state: str,
    needs_approval: bool,
    plan: dict[str, Any],
    proposed_by: str,
    now: datetime,
    expires_at: datetime,
) -> int:
    """Insert a proposal (state proposed, or approved by policy); raises sqlite3.IntegrityError on a
    repeated request id or a second open action on the target. Returns the new id."""
    cur = conn.execute(
        f"INSERT INTO {ACTIONS_TABLE} (request_id, target, target_kind, kind, change, reason, state, "
        "needs_approval, plan, proposed_by, proposed_at, expires_at, approved_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            request_id,
            target,
            target_kind,
            kind,
            json.dumps(change_to_dict(change)),
            reason,
            state,
            int(needs_approval),
            json.dumps(plan, default=str),
            proposed_by,
            _epoch(now),
            _epoch(expires_at),
            _epoch(now) if state == "approved" else None,
            _epoch(now),
        ],
    )
    return int(cur.lastrowid)


def mark_expired(
    conn: sqlite3.Connection, action_id: int, from_state: str, closed_by: str, note: str, now: datetime
) -> bool:
    cur = conn.execute(
        f"UPDATE {ACTIONS_TABLE} SET state = 'expired', closed_by = ?, closed_note = ?, updated_at = ? "
        "WHERE id = ? AND state = ? AND expires_at <= ?",
        [closed_by, note, _epoch(now), action_id, from_state, _epoch(now)],
    )
    return cur.rowcount == 1


def close_action(
    conn: sqlite3.Connection,
    action_id: int,
    from_state: str,
    to_state: str,
    closed_by: str,
    note: str,
    now: datetime,
) -> bool:
    cur = conn.execute(
        f"UPDATE {ACTIONS_TABLE} SET state = ?, closed_by = ?, closed_note = ?, updated_at = ? "
        "WHERE id = ? AND state = ?",
        [to_state, closed_by, note, _epoch(now), action_id, from_state],
    )
    return cur.rowcount == 1


def mark_approved(
    conn: sqlite3.Connection, action_id: int, approver: str, now: datetime, expires_at: datetime
) -> bool:
    """proposed -> approved, only while unexpired and only by someone other than the proposer."""
    cur = conn.execute(
        f"UPDATE {ACTIONS_TABLE} SET state = 'approved', approved_by = ?, approved_at = ?, expires_at = ?, "
        "updated_at = ? WHERE id = ? AND state = 'proposed' AND expires_at > ? AND lower(proposed_by) != ?",
        [
            approver,
            _epoch(now),
            _epoch(expires_at),
            _epoch(now),
            action_id,
            _epoch(now),
            normalise_email(approver),
        ],
    )
    return cur.rowcount == 1


def claim_for_execute(
    conn: sqlite3.Connection,
    action_id: int,
    executed_by: str,
    owner: str,
    before: TargetState | None,
    now: datetime,
) -> bool:
    """approved -> executing: the exactly-once gate. Of any number of concurrent callers one wins."""
    cur = conn.execute(
        f"UPDATE {ACTIONS_TABLE} SET state = 'executing', executed_by = ?, started_at = ?, owner = ?, "
        "before = ?, updated_at = ? WHERE id = ? AND state = 'approved' AND expires_at > ? "
        "AND (needs_approval = 0 OR (approved_by IS NOT NULL AND lower(approved_by) != lower(proposed_by)))",
        [
            executed_by,
            _epoch(now),
            owner,
            json.dumps(state_to_dict(before)),
            _epoch(now),
            action_id,
            _epoch(now),
        ],
    )
    return cur.rowcount == 1


def record_result(
    conn: sqlite3.Connection,
    action_id: int,
    final: str,
    after: TargetState | None,
    error: str,
    now: datetime,
    owner: str,
) -> bool:
    """executing -> succeeded | failed, only by the process that claimed it."""
    cur = conn.execute(
        f"UPDATE {ACTIONS_TABLE} SET state = ?, finished_at = ?, after = ?, error = ?, updated_at = ? "
        "WHERE id = ? AND state = 'executing' AND owner = ?",
        [
            final,
            _epoch(now),
            json.dumps(state_to_dict(after)) if after else None,
            error,
            _epoch(now),
            action_id,
            owner,
        ],
    )
    return cur.rowcount == 1


def settle_abandoned(
    conn: sqlite3.Connection,
    action_id: int,
    outcome: str,
    read_back: TargetState | None,
    error: str,
    now: datetime,
    owner: str | None,
) -> bool:
    """executing -> succeeded | failed for an execution its owner left behind (owner may be NULL)."""
    cur = conn.execute(
        f"UPDATE {ACTIONS_TABLE} SET state = ?, finished_at = ?, after = ?, error = ?, updated_at = ? "
        "WHERE id = ? AND state = 'executing' AND owner IS ?",
        [
            outcome,
            _epoch(now),
            json.dumps(state_to_dict(read_back)) if read_back else None,
            error,
            _epoch(now),
            action_id,
            owner,
        ],
    )
    return cur.rowcount == 1


# ---- the weekly review -----------------------------------------------------------------------------
# the columns of the weekly review's "Actions taken" table
REVIEW_ACTION_COLUMNS = (
    "id",
    "kind",
    "target",
    "state",
    "reason",
    "proposed_by",
    "approved_by",
    "executed_by",
    "proposed_at",
    "finished_at",
    "error",
)


def actions_proposed_between(db: Any, start: datetime, end: datetime) -> pd.DataFrame | None:
    """Actions proposed in [start, end) with their outcome (None when no action was ever recorded)."""
    if db is None or ACTIONS_TABLE not in db.table_names():
        return None
    frame = pd.read_sql_query(
        f"SELECT {', '.join(REVIEW_ACTION_COLUMNS)} FROM {ACTIONS_TABLE} WHERE proposed_at >= ? AND proposed_at < ? ORDER BY id",
        db.conn,
        params=[start.timestamp(), end.timestamp()],
    )
    for col in ("proposed_at", "finished_at"):
        frame[col] = pd.to_datetime(frame[col], unit="s", utc=True)
    return frame


# ---- break-glass (docs/ARCHITECTURE.md, "The guarded path"): an approver's emergency failover during a
# declared sev1, countersigned afterwards. Its own table, so the actions table and execute() are untouched.
BREAK_GLASS_TABLE = "break_glass"

_BREAK_GLASS_SCHEMA = f"""CREATE TABLE IF NOT EXISTS {BREAK_GLASS_TABLE} (
    action_id INTEGER PRIMARY KEY,
    incident_id INTEGER NOT NULL,
    incident TEXT NOT NULL,
    executed_by TEXT NOT NULL,
    declared_at REAL NOT NULL,
    countersign_due REAL NOT NULL,
    countersigned_by TEXT,
    countersigned_at REAL,
    countersign_note TEXT NOT NULL DEFAULT '',
    late INTEGER NOT NULL DEFAULT 0
)"""

_BREAK_GLASS_COLUMNS = (
    "action_id, incident_id, incident, executed_by, declared_at, countersign_due, countersigned_by, "
    "countersigned_at, countersign_note, late"
)


def ensure_break_glass_schema(conn: sqlite3.Connection) -> None:
    conn.execute(_BREAK_GLASS_SCHEMA)


def approve_break_glass(
    conn: sqlite3.Connection, action_id: int, approver: str, now: datetime, expires_at: datetime
) -> bool:
    """proposed -> approved by the approver who raised it: only for a break-glass action (its row in
    the break_glass table must exist already), so the two-person rule of mark_approved stays intact."""
    cur = conn.execute(
        f"UPDATE {ACTIONS_TABLE} SET state = 'approved', approved_by = ?, approved_at = ?, expires_at = ?, "
        f"updated_at = ? WHERE id = ? AND state = 'proposed' AND id IN (SELECT action_id FROM {BREAK_GLASS_TABLE})",
        [approver, _epoch(now), _epoch(expires_at), _epoch(now), action_id],
    )
    return cur.rowcount == 1


def insert_break_glass(
    conn: sqlite3.Connection,
    *,
    action_id: int,
    incident_id: int,
    incident: str,
    executed_by: str,
    now: datetime,
    countersign_due: datetime,
) -> None:
    ensure_break_glass_schema(conn)
    conn.execute(
        f"INSERT INTO {BREAK_GLASS_TABLE} (action_id, incident_id, incident, executed_by, declared_at, "
        "countersign_due) VALUES (?, ?, ?, ?, ?, ?)",
        [action_id, incident_id, incident, executed_by, _epoch(now), _epoch(countersign_due)],
    )


def mark_countersigned(
    conn: sqlite3.Connection, action_id: int, signer: str, now: datetime, note: str, late: bool
) -> bool:
    """Countersign once, never by the person who broke the glass (checked here too)."""
    cur = conn.execute(
        f"UPDATE {BREAK_GLASS_TABLE} SET countersigned_by = ?, countersigned_at = ?, countersign_note = ?, "
        "late = ? WHERE action_id = ? AND countersigned_by IS NULL AND lower(executed_by) != ?",
        [signer, _epoch(now), note, int(late), action_id, normalise_email(signer)],
    )
    return cur.rowcount == 1


def read_break_glass_rows(
    conn: sqlite3.Connection, *, action_id: int | None = None, unsigned_only: bool = False
) -> list[tuple[Any, ...]]:
    """Raw break-glass rows joined with their action's target (oldest first); [] before the first one."""
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", [BREAK_GLASS_TABLE]
    ).fetchone()
    if exists is None:
        return []
    where, params = [], []
    if action_id is not None:
        where.append("b.action_id = ?")
        params.append(action_id)
    if unsigned_only:
        where.append("b.countersigned_by IS NULL")
    cols = ", ".join(f"b.{c.strip()}" for c in _BREAK_GLASS_COLUMNS.split(","))
    sql = (
        f"SELECT {cols}, a.target, a.state FROM {BREAK_GLASS_TABLE} b JOIN {ACTIONS_TABLE} a ON a.id = b.action_id"
        + (" WHERE " + " AND ".join(where) if where else "")
        + " ORDER BY b.declared_at, b.action_id"
    )
    return conn.execute(sql, params).fetchall()
