"""The one way Headroom opens its SQLite store and runs a transaction (docs/ARCHITECTURE.md, "Store").

Every module that owns a table (connectors/store*.py, connectors/cost_explorer.py, the sandbox executor,
core/audit.py, the actions store) opens connections and writes through these helpers, so the pragmas and
the transaction discipline are the same everywhere:

- connections are in autocommit mode (`isolation_level=None`): a transaction is always explicit, via
  `transaction()`, never one the sqlite3 module opened silently before a DML statement;
- a 30 s busy timeout, so several Streamlit sessions and the CLI can share one file;
- foreign keys enforced (SQLite leaves them off per connection unless asked);
- WAL journal and synchronous=NORMAL on the long-lived store connection (`open_file`); WAL is a property
  of the file, so the short-lived per-operation connections (`connect`) inherit it.

Writers that must be atomic use `BEGIN IMMEDIATE`: the write lock is taken at once, so two writers never
both read a state and then race to change it. Stdlib only (core must not import connectors/).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

BUSY_TIMEOUT_S = 30


def connect(path: Path | str) -> sqlite3.Connection:
    """A connection to an existing or new file with Headroom's per-connection pragmas."""
    conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_S * 1000}")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


def open_file(path: Path | str) -> sqlite3.Connection:
    """The long-lived store connection: creates the parent folder, switches the file to WAL so readers
    never block the writer, and relaxes fsync to NORMAL (safe with WAL: a crash loses at most the last
    transactions, never corrupts)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    conn = connect(p)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


@contextmanager
def transaction(conn: sqlite3.Connection, immediate: bool = True) -> Iterator[sqlite3.Connection]:
    """BEGIN (IMMEDIATE by default) ... COMMIT on `conn`; ROLLBACK on any exception, which propagates.
    Nothing is half-written: either every statement in the block lands or none does."""
    conn.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


@contextmanager
def write_transaction(path: Path | str) -> Iterator[sqlite3.Connection]:
    """A fresh connection inside BEGIN IMMEDIATE, committed on success and closed after. A connection per
    transaction keeps threads (Streamlit sessions) from sharing one transaction state."""
    conn = connect(path)
    try:
        with transaction(conn):
            yield conn
    finally:
        conn.close()


@contextmanager
def store_write(store: Any) -> Iterator[sqlite3.Connection]:
    """A write transaction for a table owner given the shared store (a sqlite_utils.Database, a
    connection or a path): on its OWN connection when the store is a file, so a write never runs inside
    another session's transaction on the shared connection (issue 19 item 4: a note saved while another
    session regenerated the demo world joined that transaction, was reported saved and was lost; a
    forecast snapshot raised "cannot start a transaction within a transaction"). An in-memory store has
    no file to reopen: its one connection is used (nothing else can share it across processes)."""
    try:
        path = file_path(store)
    except ValueError:
        with transaction(getattr(store, "conn", store)) as conn:
            yield conn
        return
    with write_transaction(path) as conn:
        yield conn


@contextmanager
def read_connection(path: Path | str) -> Iterator[sqlite3.Connection]:
    """A fresh connection for reads, closed after."""
    conn = connect(path)
    try:
        yield conn
    finally:
        conn.close()


def file_path(store: Any) -> str:
    """The file behind a path, a sqlite_utils.Database or a sqlite3.Connection; ValueError for an
    in-memory database (per-operation connections need a file to reopen)."""
    if isinstance(store, str | Path):
        return str(store)
    conn = getattr(store, "conn", store)
    row = conn.execute("PRAGMA database_list").fetchone()
    if not row or not row[2]:
        raise ValueError("this store must be a file database (not in-memory)")
    return row[2]


def has_table(conn: sqlite3.Connection, name: str) -> bool:
    return (
        conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name = ?", [name]).fetchone()
        is not None
    )
