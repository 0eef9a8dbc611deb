"""Versioned schema migrations for the shared store (issue 14; docs/ARCHITECTURE.md, "Tables and their
owners"). A small mechanism rather than Alembic: the DDL stays in each table's owner, and this module
only orders it into numbered versions recorded in `schema_version`.

- Run on start (`ensure_current`, once per process and store) and safe when two replicas start at once:
  on PostgreSQL the whole run holds a transaction-scoped advisory lock, so the second replica waits, then
  finds the schema current; on SQLite the run is one BEGIN IMMEDIATE transaction. DDL is transactional
  on both, so a failed migration leaves the previous version intact.
- A store whose schema is newer than this code (a newer replica migrated it) is refused with
  `SchemaTooNew`, naming both versions: an older replica must never write to it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from core import audit, db
from core.actions import store as actions_store

SCHEMA_VERSION_TABLE = "schema_version"
# pg_advisory_xact_lock key: any fixed 64-bit number, the same in every replica ("headroom" in ASCII)
MIGRATION_LOCK_KEY = 0x686561647230


class SchemaTooNew(RuntimeError):
    """The store was migrated by a newer Headroom: refuse to start rather than write an unknown schema."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    apply: Callable[[Any], None]


def _v1_guarded_path(conn: Any) -> None:
    audit.ensure_audit_schema(conn)
    actions_store.ensure_actions_schema(conn)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "the guarded path: actions, audit, audit_head, append-only triggers", _v1_guarded_path),
)
CURRENT_VERSION = MIGRATIONS[-1].version

_DONE: set[str] = set()
_DONE_LOCK = threading.Lock()


GUARDED_PATH = "guarded_path"


def _version_ddl() -> str:
    # one version sequence per component: the guarded path here, and each connector's shared tables
    # (connectors/store_notes.py, connectors/store_scenarios.py) with their own
    return (
        f"CREATE TABLE IF NOT EXISTS {SCHEMA_VERSION_TABLE} (component TEXT NOT NULL, version INTEGER NOT NULL, "
        "name TEXT NOT NULL, applied_at TEXT NOT NULL, PRIMARY KEY (component, version))"
    )


def schema_version(store: str, component: str = GUARDED_PATH) -> int:
    """The store's recorded version of `component` (0: never migrated)."""
    with db.read_connection(store) as conn:
        if not db.has_table(conn, SCHEMA_VERSION_TABLE):
            return 0
        row = conn.execute(
            f"SELECT MAX(version) FROM {SCHEMA_VERSION_TABLE} WHERE component = ?", [component]
        ).fetchone()
    return int(row[0] or 0)


def migrate(
    store: str, migrations: tuple[Migration, ...] = MIGRATIONS, component: str = GUARDED_PATH
) -> list[int]:
    """Apply every migration of `component` the store lacks, in order, in one transaction; the versions
    applied."""
    target = migrations[-1].version
    with db.write_transaction(store) as conn:
        if db.is_postgres(conn):
            # held until COMMIT: a second replica starting now waits here, then sees the new version
            conn.execute("SELECT pg_advisory_xact_lock(?)", [MIGRATION_LOCK_KEY]).fetchone()
        conn.execute(_version_ddl())
        row = conn.execute(
            f"SELECT MAX(version) FROM {SCHEMA_VERSION_TABLE} WHERE component = ?", [component]
        ).fetchone()
        current = int(row[0] or 0)
        if current > target:
            name = conn.execute(
                f"SELECT name FROM {SCHEMA_VERSION_TABLE} WHERE component = ? AND version = ?",
                [component, current],
            ).fetchone()[0]
            raise SchemaTooNew(
                f"the store at {_where(store)} has {component} schema version {current} ({name!r}), newer "
                f"than this Headroom's {target}: upgrade this replica (or restore a backup) before starting it"
            )
        applied = []
        now = datetime.now(UTC).isoformat(timespec="seconds")
        for m in migrations:
            if m.version > current:
                m.apply(conn)
                conn.execute(
                    f"INSERT INTO {SCHEMA_VERSION_TABLE} (component, version, name, applied_at) "
                    "VALUES (?, ?, ?, ?)",
                    [component, m.version, m.name, now],
                )
                applied.append(m.version)
    return applied


def ensure_current(
    store: str, component: str = GUARDED_PATH, migrations: tuple[Migration, ...] = MIGRATIONS
) -> None:
    """migrate() before the guarded path's first write: once per process for PostgreSQL; every time for a
    SQLite file (cheap, and a file deleted under a running app is recreated whole, issue 19 item 5)."""
    key = str(store)
    if not db.is_url(key):
        migrate(key, migrations, component)
        return
    done_key = f"{component}@{key}"
    with _DONE_LOCK:
        done = done_key in _DONE
    if done:
        # still reachable? A replica that lost the database must say so when a page builds its service
        # (db.StoreUnavailable -> the page's banner) and refuse to act, never queue anything locally
        with db.read_connection(key) as conn:
            conn.execute("SELECT 1").fetchone()
        return
    migrate(key, migrations, component)
    with _DONE_LOCK:
        _DONE.add(done_key)


def _where(store: str) -> str:
    return db.masked(store) if db.is_url(store) else str(store)
