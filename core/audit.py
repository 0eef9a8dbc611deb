"""Append-only, hash-chained audit log of everything that touches production (or tried to).

Each entry's `hash` is SHA-256 over the previous entry's hash followed by the canonical JSON of this entry
(sorted keys, no whitespace, every column except `hash`, including `seq` and `prev_hash`), so editing,
deleting or reordering any entry breaks the chain from that entry on. The table refuses UPDATE and DELETE
(SQLite triggers); `verify_chain()` catches anyone who bypasses them with direct file access, and the
chain head is also kept in `audit_head` so dropping the newest entries is caught too.

Writers call `append()` on a connection that is already inside a write transaction (BEGIN IMMEDIATE), so
an entry commits or rolls back together with the state change it describes, and concurrent writers are
serialised by SQLite's write lock (the chain stays linear).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core import db, export

AUDIT_TABLE = "audit"
AUDIT_HEAD_TABLE = "audit_head"
GENESIS_HASH = "0" * 64
CSV_COLUMNS: tuple[str, ...] = (
    "seq",
    "at",
    "actor",
    "role",
    "event",
    "action_id",
    "target",
    "reason",
    "detail",
    "prev_hash",
    "hash",
)

_SCHEMA: tuple[str, ...] = (
    f"""CREATE TABLE IF NOT EXISTS {AUDIT_TABLE} (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        at TEXT NOT NULL,
        actor TEXT NOT NULL,
        role TEXT NOT NULL,
        event TEXT NOT NULL,
        action_id INTEGER,
        target TEXT NOT NULL,
        reason TEXT NOT NULL,
        detail TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL UNIQUE
    )""",
    f"CREATE INDEX IF NOT EXISTS audit_action_id ON {AUDIT_TABLE}(action_id)",
    f"""CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON {AUDIT_TABLE}
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END""",
    f"""CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON {AUDIT_TABLE}
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END""",
    f"""CREATE TABLE IF NOT EXISTS {AUDIT_HEAD_TABLE} (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        seq INTEGER NOT NULL,
        hash TEXT NOT NULL
    )""",
)


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    at: datetime
    actor: str
    role: str
    event: str
    action_id: int | None
    target: str
    reason: str
    detail: dict[str, Any]
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class ChainStatus:
    ok: bool
    entries: int
    first_broken: int | None = None  # seq of the first entry that does not verify
    problem: str = ""

    def summary(self) -> str:
        if self.ok:
            return f"Audit chain intact: {self.entries} entries verified (SHA-256)."
        return f"Audit chain BROKEN at entry #{self.first_broken}: {self.problem}"


def canonical_json(value: Any) -> str:
    """Sorted keys, no whitespace, UTF-8 kept as is: the same value always gives the same bytes."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def format_ts(ts: datetime) -> str:
    """UTC ISO 8601 with microseconds and a Z, the one timestamp format of the log."""
    if ts.tzinfo is None:
        raise ValueError("audit timestamps must be timezone-aware")
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry_hash(prev_hash: str, body: Mapping[str, Any]) -> str:
    return hashlib.sha256((prev_hash + canonical_json(dict(body))).encode("utf-8")).hexdigest()


def ensure_audit_schema(conn: sqlite3.Connection) -> None:
    """Create the tables and the append-only triggers (DDL is transactional in SQLite, so this is safe
    inside the caller's transaction)."""
    for statement in _SCHEMA:
        conn.execute(statement)


def append(
    conn: sqlite3.Connection,
    *,
    at: datetime,
    actor: str,
    role: str,
    event: str,
    target: str = "",
    action_id: int | None = None,
    reason: str = "",
    detail: Mapping[str, Any] | None = None,
) -> AuditEntry:
    """Append one entry inside the caller's write transaction and return it."""
    if not conn.in_transaction:
        raise RuntimeError("audit.append needs a write transaction (BEGIN IMMEDIATE) on this connection")
    head = conn.execute(f"SELECT seq, hash FROM {AUDIT_TABLE} ORDER BY seq DESC LIMIT 1").fetchone()
    prev_hash = head[1] if head else GENESIS_HASH
    # AUTOINCREMENT never reuses a seq, so the next one is max(seq ever used) + 1
    seq_row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = ?", [AUDIT_TABLE]).fetchone()
    seq = (seq_row[0] if seq_row else 0) + 1
    body = {
        "seq": seq,
        "at": format_ts(at),
        "actor": actor,
        "role": role,
        "event": event,
        "action_id": action_id,
        "target": target,
        "reason": reason,
        "detail": json.loads(canonical_json(dict(detail or {}))),
        "prev_hash": prev_hash,
    }
    digest = entry_hash(prev_hash, body)
    conn.execute(
        f"INSERT INTO {AUDIT_TABLE} (seq, at, actor, role, event, action_id, target, reason, detail, "
        "prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            seq,
            body["at"],
            actor,
            role,
            event,
            action_id,
            target,
            reason,
            canonical_json(body["detail"]),
            prev_hash,
            digest,
        ],
    )
    conn.execute(
        f"INSERT INTO {AUDIT_HEAD_TABLE} (id, seq, hash) VALUES (1, ?, ?) "
        "ON CONFLICT(id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
        [seq, digest],
    )
    return AuditEntry(
        seq,
        at.astimezone(UTC),
        actor,
        role,
        event,
        action_id,
        target,
        reason,
        body["detail"],
        prev_hash,
        digest,
    )


@contextmanager
def write_transaction(path: Path | str) -> Iterator[sqlite3.Connection]:
    """A fresh connection inside BEGIN IMMEDIATE (core.db.write_transaction) with the audit tables
    ensured, committed on success."""
    with db.write_transaction(path) as conn:
        ensure_audit_schema(conn)
        yield conn


read_connection = db.read_connection


def record(path: Path | str, **fields: Any) -> AuditEntry:
    """Append one entry in its own transaction (refused attempts, which change nothing else)."""
    with write_transaction(path) as conn:
        return append(conn, **fields)


def _row_to_entry(row: sqlite3.Row | tuple) -> AuditEntry:
    seq, at, actor, role, event, action_id, target, reason, detail, prev_hash, digest = row
    return AuditEntry(
        seq,
        datetime.strptime(at, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC),
        actor,
        role,
        event,
        action_id,
        target,
        reason,
        json.loads(detail),
        prev_hash,
        digest,
    )


def entries(path: Path | str, *, action_id: int | None = None, limit: int | None = None) -> list[AuditEntry]:
    """Entries oldest first (optionally for one action, or only the newest `limit`)."""
    return [_row_to_entry(r) for r in stored_rows(path, action_id=action_id, limit=limit)]


def _has_table(conn: sqlite3.Connection) -> bool:
    return db.has_table(conn, AUDIT_TABLE)


def verify_chain(path: Path | str) -> ChainStatus:
    """Recompute every hash in order: ok, or the first entry whose content, link or position is wrong."""
    with read_connection(path) as conn:
        if not _has_table(conn):
            return ChainStatus(True, 0)
        rows = conn.execute(f"SELECT {', '.join(CSV_COLUMNS)} FROM {AUDIT_TABLE} ORDER BY seq").fetchall()
        head = conn.execute(f"SELECT seq, hash FROM {AUDIT_HEAD_TABLE} WHERE id = 1").fetchone()
    prev_hash = GENESIS_HASH
    expected_seq = 1
    for row in rows:
        seq, at, actor, role, event, action_id, target, reason, detail_text, stored_prev, stored_hash = row
        if seq != expected_seq:
            return ChainStatus(
                False, len(rows), seq, f"entries before #{seq} are missing (expected #{expected_seq})"
            )
        if stored_prev != prev_hash:
            return ChainStatus(False, len(rows), seq, "its link to the previous entry does not match")
        try:
            detail = json.loads(detail_text)
        except json.JSONDecodeError:
            return ChainStatus(False, len(rows), seq, "its detail is not valid JSON")
        body = {
            "seq": seq,
            "at": at,
            "actor": actor,
            "role": role,
            "event": event,
            "action_id": action_id,
            "target": target,
            "reason": reason,
            "detail": detail,
            "prev_hash": stored_prev,
        }
        if entry_hash(prev_hash, body) != stored_hash:
            return ChainStatus(False, len(rows), seq, "its content was changed after it was written")
        prev_hash = stored_hash
        expected_seq += 1
    if rows and (head is None or head[0] != rows[-1][0] or head[1] != prev_hash):
        last = rows[-1][0]
        return ChainStatus(
            False, len(rows), last, "the newest entries were removed (chain head does not match)"
        )
    if not rows and head is not None:
        return ChainStatus(False, 0, head[0], "all entries were removed (chain head does not match)")
    return ChainStatus(True, len(rows))


def stored_rows(
    path: Path | str, *, action_id: int | None = None, limit: int | None = None
) -> list[tuple[Any, ...]]:
    """The entries as stored (CSV_COLUMNS order, oldest first), without parsing any of them: what the
    Actions page's audit tab and the CSV export show, so one row with a bad timestamp or bad JSON
    (a damaged or tampered file) cannot take the log and its export down (issue 19 item 8)."""
    sql = f"SELECT {', '.join(CSV_COLUMNS)} FROM {AUDIT_TABLE}"
    params: list[Any] = []
    if action_id is not None:
        sql += " WHERE action_id = ?"
        params.append(action_id)
    sql += " ORDER BY seq DESC"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    with read_connection(path) as conn:
        if not _has_table(conn):
            return []
        rows = conn.execute(sql, params).fetchall()
    return [tuple(r) for r in reversed(rows)]


def to_csv(path: Path | str, *, action_id: int | None = None) -> str:
    """The log (or one action's part of it) as CSV, oldest first, with the hashes so it can be re-verified.
    The stored text is written as is, through core/export.py (a cell a spreadsheet would evaluate gets a
    leading `'`; remove one leading `'` to get the hashed text back)."""
    return export.rows_to_csv(CSV_COLUMNS, stored_rows(path, action_id=action_id))
