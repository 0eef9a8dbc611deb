"""Append-only, hash-chained audit log of everything that touches production (or tried to).

Each entry's `hash` is SHA-256 over the previous entry's hash followed by the canonical JSON of this entry
(sorted keys, no whitespace, every column except `hash`, including `seq` and `prev_hash`), so editing,
deleting or reordering any entry breaks the chain from that entry on. The table refuses UPDATE and DELETE
(SQLite triggers); `verify_chain()` catches anyone who bypasses them with direct file access, and the
chain head is also kept in `audit_head` so dropping the newest entries is caught too.

Writers call `append()` on a connection that is already inside a write transaction (BEGIN IMMEDIATE), so
an entry commits or rolls back together with the state change it describes, and concurrent writers are
serialised by SQLite's write lock (the chain stays linear).

Anyone who can write the database file can drop the triggers and recompute a plain SHA-256 chain, so two
things live outside the database (issue 19 items 2 and 5; docs/ARCHITECTURE.md, "The guarded path"):

- a key: with `[audit] hmac_key` in secrets.toml or `HEADROOM_AUDIT_KEY` in the environment, every hash is
  HMAC-SHA256 under that key, so a forged or rewritten entry cannot be given a valid hash without it;
  without a key the chain is unkeyed SHA-256 and `ChainStatus.summary()` says so;
- an anchor: after every committed append the chain head (seq + hash) is written, atomically and only
  ever forwards, to a file (`[audit] anchor_path`) meant to be shipped elsewhere; `verify_chain()` checks
  the database against it, so deleting the newest entries, moving the head back, rebuilding the chain or
  deleting the whole database (a restarted, empty log) is caught.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import os
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core import db, export

AUDIT_TABLE = "audit"
AUDIT_HEAD_TABLE = "audit_head"
GENESIS_HASH = "0" * 64
AUDIT_KEY_ENV = "HEADROOM_AUDIT_KEY"
TRIGGERS = ("audit_no_update", "audit_no_delete")
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

# PostgreSQL (issue 14): the same columns; seq is given by the writer from the head row, which exists from
# the migration on (seq 0 = empty) so that every writer can lock it (SELECT ... FOR UPDATE) and two
# replicas can never fork the chain; UPDATE, DELETE and TRUNCATE are refused by triggers.
_SCHEMA_PG: tuple[str, ...] = (
    f"""CREATE TABLE IF NOT EXISTS {AUDIT_TABLE} (
        seq BIGINT PRIMARY KEY,
        at TEXT NOT NULL,
        actor TEXT NOT NULL,
        role TEXT NOT NULL,
        event TEXT NOT NULL,
        action_id BIGINT,
        target TEXT NOT NULL,
        reason TEXT NOT NULL,
        detail TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL UNIQUE
    )""",
    f"CREATE INDEX IF NOT EXISTS audit_action_id ON {AUDIT_TABLE}(action_id)",
    f"""CREATE TABLE IF NOT EXISTS {AUDIT_HEAD_TABLE} (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        seq BIGINT NOT NULL,
        hash TEXT NOT NULL
    )""",
    f"INSERT INTO {AUDIT_HEAD_TABLE} (id, seq, hash) VALUES (1, 0, '{GENESIS_HASH}') ON CONFLICT (id) DO NOTHING",
    """CREATE OR REPLACE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $fn$
        BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $fn$""",
    f"""CREATE OR REPLACE TRIGGER audit_no_update BEFORE UPDATE ON {AUDIT_TABLE}
        FOR EACH ROW EXECUTE FUNCTION audit_append_only()""",
    f"""CREATE OR REPLACE TRIGGER audit_no_delete BEFORE DELETE ON {AUDIT_TABLE}
        FOR EACH ROW EXECUTE FUNCTION audit_append_only()""",
    f"""CREATE OR REPLACE TRIGGER audit_no_truncate BEFORE TRUNCATE ON {AUDIT_TABLE}
        FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only()""",
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
    keyed: bool = False  # verified with the HMAC key (False: plain SHA-256, recomputable by anyone)
    anchor_seq: int | None = None  # the outside anchor's head, when one was checked
    note: str = ""  # e.g. the newest entries are not in the anchor yet

    def summary(self) -> str:
        if not self.ok:
            return f"Audit chain BROKEN at entry #{self.first_broken}: {self.problem}"
        how = (
            "HMAC-SHA256"
            if self.keyed
            else "SHA-256, UNKEYED: anyone who can write the database could recompute it; set [audit] "
            f"hmac_key in secrets.toml or {AUDIT_KEY_ENV}"
        )
        text = f"Audit chain intact: {self.entries} entries verified ({how})."
        if self.anchor_seq is not None:
            text += f" Matches the outside anchor (head #{self.anchor_seq})."
        else:
            text += " No outside anchor checked ([audit] anchor_path)."
        return text + (f" {self.note}" if self.note else "")


@dataclass(frozen=True)
class ChainSettings:
    """What verifies a store's chain from outside it: the HMAC key and the anchor file."""

    key: bytes | None = None
    anchor_path: Path | None = None


_SETTINGS: dict[str, ChainSettings] = {}
_SETTINGS_LOCK = threading.Lock()
# heads appended inside a not yet committed transaction, by connection: exported after the commit
_PENDING_HEADS: dict[int, tuple[int, str]] = {}


def store_locator(store: Any) -> str:
    """The key a store's chain settings are kept under: its absolute file path (or its URL)."""
    location = db.file_path(store)
    return location if db.is_url(location) else os.path.abspath(location)


def resolve_key(secret: str | bytes | None = None, environ: Mapping[str, str] | None = None) -> bytes | None:
    """The HMAC key: `[audit] hmac_key` from secrets.toml when given, else HEADROOM_AUDIT_KEY, else None
    (unkeyed). Never read from the database or the config file."""
    value = secret if secret else (environ if environ is not None else os.environ).get(AUDIT_KEY_ENV, "")
    if not value:
        return None
    key = value.encode("utf-8") if isinstance(value, str) else bytes(value)
    if len(key) < 16:
        raise ValueError(
            f"the audit HMAC key ([audit] hmac_key / {AUDIT_KEY_ENV}) is {len(key)} bytes; use at least 16 "
            "(e.g. `python -c 'import secrets; print(secrets.token_hex(32))'`)"
        )
    return key


def configure(store: Any, *, key: bytes | None, anchor_path: Path | str | None) -> ChainSettings:
    """Set the key and anchor of the chain in `store` (a path, URL or database object)."""
    settings = ChainSettings(key, Path(anchor_path) if anchor_path else None)
    with _SETTINGS_LOCK:
        _SETTINGS[store_locator(store)] = settings
    return settings


def configure_default(store: Any, *, key: bytes | None, anchor_path: Path | str | None) -> ChainSettings:
    """configure() unless the store already has settings (the composition root's, with secrets, win)."""
    with _SETTINGS_LOCK:
        existing = _SETTINGS.get(store_locator(store))
    return existing or configure(store, key=key, anchor_path=anchor_path)


def settings_for(store: Any) -> ChainSettings:
    try:
        locator = store_locator(store)
    except ValueError:  # an in-memory database: nothing outside it to anchor to
        return ChainSettings()
    with _SETTINGS_LOCK:
        return _SETTINGS.get(locator, ChainSettings())


# ---- the anchor file ------------------------------------------------------------------------------
def read_anchor(path: Path) -> tuple[int, str] | None:
    """(seq, hash) recorded in the anchor file, None when there is none; ValueError when unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return int(data["seq"]), str(data["hash"])
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"the audit anchor {path} is unreadable: {exc}") from exc


def export_anchor(path: Path, seq: int, digest: str) -> bool:
    """Write (seq, hash) to the anchor atomically (temp file + rename), only ever forwards: an anchor
    at or past `seq` is kept, so a truncated or restarted log never overwrites the evidence. Processes
    and threads serialise on a lock file beside it. True when written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            current = read_anchor(path)
        except ValueError:
            current = None  # unreadable: replaced by the good head (verify reported it meanwhile)
        if current is not None and current[0] >= seq:
            return False
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        payload = {"seq": seq, "hash": digest, "written_at": format_ts(datetime.now(UTC))}
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(canonical_json(payload) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        return True


def canonical_json(value: Any) -> str:
    """Sorted keys, no whitespace, UTF-8 kept as is: the same value always gives the same bytes."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def format_ts(ts: datetime) -> str:
    """UTC ISO 8601 with microseconds and a Z, the one timestamp format of the log."""
    if ts.tzinfo is None:
        raise ValueError("audit timestamps must be timezone-aware")
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry_hash(prev_hash: str, body: Mapping[str, Any], key: bytes | None = None) -> str:
    """SHA-256 (unkeyed) or HMAC-SHA256 under `key` over the previous hash + the canonical JSON."""
    message = (prev_hash + canonical_json(dict(body))).encode("utf-8")
    if key:
        return hmac.new(key, message, hashlib.sha256).hexdigest()
    return hashlib.sha256(message).hexdigest()


def ensure_audit_schema(conn: Any) -> None:
    """Create the tables and the append-only triggers (DDL is transactional in SQLite and PostgreSQL, so
    this is safe inside the caller's transaction; on PostgreSQL it runs from core/migrations.py)."""
    for statement in _SCHEMA_PG if db.is_postgres(conn) else _SCHEMA:
        conn.execute(statement)


def _next_position(conn: Any) -> tuple[int, str]:
    """(seq, prev_hash) of the next entry, read inside the caller's write transaction."""
    if db.is_postgres(conn):
        # the head row, locked until this transaction ends: a second replica waits here, then links
        # its entry to this one (write_transaction already took the lock; this re-reads it)
        head = conn.execute(f"SELECT seq, hash FROM {AUDIT_HEAD_TABLE} WHERE id = 1 FOR UPDATE").fetchone()
        return int(head[0]) + 1, head[1]
    head = conn.execute(f"SELECT seq, hash FROM {AUDIT_TABLE} ORDER BY seq DESC LIMIT 1").fetchone()
    prev_hash = head[1] if head else GENESIS_HASH
    # AUTOINCREMENT never reuses a seq, so the next one is max(seq ever used) + 1
    seq_row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = ?", [AUDIT_TABLE]).fetchone()
    return (seq_row[0] if seq_row else 0) + 1, prev_hash


_INSERT = (
    f"INSERT INTO {AUDIT_TABLE} (seq, at, actor, role, event, action_id, target, reason, detail, "
    "prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def append(
    conn: Any,
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
    fields = {
        "at": at,
        "actor": actor,
        "role": role,
        "event": event,
        "target": target,
        "action_id": action_id,
        "reason": reason,
        "detail": detail,
    }
    return append_many(conn, [fields])[-1]


def append_many(conn: Any, entries: Sequence[Mapping[str, Any]]) -> list[AuditEntry]:
    """Append entries (each append()'s keyword arguments) in order inside the caller's write transaction,
    with one head read, one batched insert and one head update: the same chain as one append() each."""
    if not conn.in_transaction:
        raise RuntimeError("audit.append needs a write transaction (BEGIN IMMEDIATE) on this connection")
    if not entries:
        return []
    seq, prev_hash = _next_position(conn)
    key = settings_for(conn).key
    rows, written = [], []
    for fields in entries:
        at = fields["at"]
        body = {
            "seq": seq,
            "at": format_ts(at),
            "actor": fields["actor"],
            "role": fields["role"],
            "event": fields["event"],
            "action_id": fields.get("action_id"),
            "target": fields.get("target", ""),
            "reason": fields.get("reason", ""),
            "detail": json.loads(canonical_json(dict(fields.get("detail") or {}))),
            "prev_hash": prev_hash,
        }
        digest = entry_hash(prev_hash, body, key)
        rows.append(
            [
                seq,
                body["at"],
                body["actor"],
                body["role"],
                body["event"],
                body["action_id"],
                body["target"],
                body["reason"],
                canonical_json(body["detail"]),
                prev_hash,
                digest,
            ]
        )
        written.append(
            AuditEntry(
                seq,
                at.astimezone(UTC),
                body["actor"],
                body["role"],
                body["event"],
                body["action_id"],
                body["target"],
                body["reason"],
                body["detail"],
                prev_hash,
                digest,
            )
        )
        seq, prev_hash = seq + 1, digest
    if len(rows) == 1:
        conn.execute(_INSERT, rows[0])
    else:
        conn.executemany(_INSERT, rows)
    last = written[-1]
    conn.execute(
        f"INSERT INTO {AUDIT_HEAD_TABLE} (id, seq, hash) VALUES (1, ?, ?) "
        "ON CONFLICT(id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
        [last.seq, last.hash],
    )
    _PENDING_HEADS[id(conn)] = (last.seq, last.hash)
    return written


@contextmanager
def write_transaction(path: Path | str) -> Iterator[sqlite3.Connection]:
    """A fresh connection inside BEGIN IMMEDIATE (core.db.write_transaction) with the audit tables
    ensured, committed on success."""
    conn_id = None
    if db.is_url(path):
        from core import migrations  # core.migrations imports this module

        migrations.ensure_current(str(path))
    try:
        with db.write_transaction(path) as conn:
            conn_id = id(conn)
            if db.is_postgres(conn):
                # every guarded write takes the chain head's row lock first, so writers on all replicas
                # are serialised as BEGIN IMMEDIATE serialises them on SQLite
                conn.execute(f"SELECT seq FROM {AUDIT_HEAD_TABLE} WHERE id = 1 FOR UPDATE").fetchone()
            else:
                ensure_audit_schema(conn)
            yield conn
    except BaseException:
        _PENDING_HEADS.pop(conn_id, None)
        raise
    head = _PENDING_HEADS.pop(conn_id, None)
    anchor = settings_for(path).anchor_path
    if head is not None and anchor is not None:
        # committed: now the head may leave the database (never before: a rollback would leave the
        # anchor ahead of the log)
        export_anchor(anchor, *head)


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


def verify_chain(
    path: Path | str, *, key: bytes | None = None, anchor_path: Path | str | None = None
) -> ChainStatus:
    """Recompute every hash in order (under the store's HMAC key when one is configured), then check the
    head row, the outside anchor and the append-only triggers: ok, or the first entry whose content,
    link or position is wrong. `key` / `anchor_path` override the store's configured settings."""
    settings = settings_for(path)
    key = key if key is not None else settings.key
    anchor_file = Path(anchor_path) if anchor_path is not None else settings.anchor_path
    try:
        anchor = read_anchor(anchor_file) if anchor_file is not None else None
    except ValueError as exc:
        return ChainStatus(False, 0, None, str(exc), keyed=key is not None)
    with read_connection(path) as conn:
        if not _has_table(conn):
            rows, head, triggers = [], None, set(TRIGGERS)
        else:
            rows = conn.execute(f"SELECT {', '.join(CSV_COLUMNS)} FROM {AUDIT_TABLE} ORDER BY seq").fetchall()
            head = conn.execute(f"SELECT seq, hash FROM {AUDIT_HEAD_TABLE} WHERE id = 1").fetchone()
            triggers = _trigger_names(conn)
    status = _verify_rows(rows, head, key)
    if not status.ok:
        return status
    n = len(rows)
    keyed = key is not None
    note = ""
    if anchor is not None:
        anchor_seq, anchor_hash = anchor
        last = rows[-1][0] if rows else 0
        if not rows and anchor_seq > 0:
            return ChainStatus(
                False,
                0,
                1,
                f"the audit log was restarted or truncated: the outside anchor records {anchor_seq} "
                "entries, the database holds none",
                keyed,
                anchor_seq,
            )
        if last < anchor_seq:
            return ChainStatus(
                False,
                n,
                last + 1,
                f"entries #{last + 1}..#{anchor_seq} were removed: the outside anchor records head "
                f"#{anchor_seq}, the database ends at #{last}",
                keyed,
                anchor_seq,
            )
        if anchor_seq > 0 and rows[anchor_seq - 1][10] != anchor_hash:
            return ChainStatus(
                False,
                n,
                anchor_seq,
                f"entry #{anchor_seq} differs from the outside anchor (rewritten, or the chain was rebuilt)",
                keyed,
                anchor_seq,
            )
        if last > anchor_seq:
            note = f"The newest {last - anchor_seq} entries are not in the anchor yet."
    elif anchor_file is not None and rows:
        note = f"The anchor file {anchor_file.name} is missing; it is written again at the next entry."
    missing = [t for t in TRIGGERS if t not in triggers]
    if missing:
        return ChainStatus(
            False,
            n,
            rows[-1][0] if rows else None,
            f"the append-only triggers were dropped ({', '.join(missing)}): the log could be edited",
            keyed,
            anchor[0] if anchor else None,
        )
    return ChainStatus(True, n, keyed=keyed, anchor_seq=anchor[0] if anchor else None, note=note)


def _trigger_names(conn: Any) -> set[str]:
    if db.is_postgres(conn):
        rows = conn.execute(
            "SELECT tgname FROM pg_trigger WHERE tgrelid = to_regclass(?) AND NOT tgisinternal",
            [AUDIT_TABLE],
        ).fetchall()
        return {r[0] for r in rows}
    rows = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?", [AUDIT_TABLE]
    ).fetchall()
    return {r[0] for r in rows}


def _verify_rows(rows: list[Any], head: Any, key: bytes | None) -> ChainStatus:
    """The chain itself: positions, links and hashes, then the head row."""
    keyed = key is not None
    if head is not None and head[0] == 0:
        head = None  # PostgreSQL's head row of an empty chain
    prev_hash = GENESIS_HASH
    expected_seq = 1
    for row in rows:
        seq, at, actor, role, event, action_id, target, reason, detail_text, stored_prev, stored_hash = row
        if seq != expected_seq:
            return ChainStatus(
                False, len(rows), seq, f"entries before #{seq} are missing (expected #{expected_seq})", keyed
            )
        if stored_prev != prev_hash:
            return ChainStatus(False, len(rows), seq, "its link to the previous entry does not match", keyed)
        try:
            detail = json.loads(detail_text)
        except json.JSONDecodeError:
            return ChainStatus(False, len(rows), seq, "its detail is not valid JSON", keyed)
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
        if not hmac.compare_digest(entry_hash(prev_hash, body, key), stored_hash):
            problem = "its content was changed after it was written"
            if keyed:
                problem += " (or it was not written with this HMAC key)"
            return ChainStatus(False, len(rows), seq, problem, keyed)
        prev_hash = stored_hash
        expected_seq += 1
    if rows and (head is None or head[0] != rows[-1][0] or head[1] != prev_hash):
        last = rows[-1][0]
        return ChainStatus(
            False, len(rows), last, "the newest entries were removed (chain head does not match)", keyed
        )
    if not rows and head is not None:
        return ChainStatus(False, 0, head[0], "all entries were removed (chain head does not match)", keyed)
    return ChainStatus(True, len(rows), keyed=keyed)


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
