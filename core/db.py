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

PostgreSQL (issue 14): where a store is named by a `postgresql://` URL instead of a file path,
`write_transaction` / `read_connection` give a `PgConnection`: a SQLAlchemy Core connection (psycopg 3
driver, one pooled engine per URL) with the same small surface the table owners use on sqlite3
(`execute(sql, params)` with `?` placeholders, `executemany`, `in_transaction`), so each owner keeps one
set of statements and branches only where the dialects differ (`is_postgres(conn)`: DDL, RETURNING, the
chain head's row lock). SQLAlchemy is imported only when a URL is used: the embedded default never pays
for it.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

BUSY_TIMEOUT_S = 30
CONNECT_TIMEOUT_S = 5
URL_SCHEMES = ("postgresql://", "postgresql+psycopg://", "postgres://")


class StoreUnavailable(RuntimeError):
    """The PostgreSQL store cannot be reached or refused the login: a sentence naming the store (with the
    password masked) for the banner. Nothing was written."""


class IntegrityError(sqlite3.IntegrityError):
    """A constraint violation on PostgreSQL, raised as the sqlite3 type the table owners already catch
    (a repeated request id, a second open action on a target), so both backends share one handler."""


def is_url(locator: Any) -> bool:
    return isinstance(locator, str) and locator.startswith(URL_SCHEMES)


def masked(url: str) -> str:
    """The URL with any password replaced by ***, for messages and logs."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


_ENGINES: dict[str, Any] = {}
_ENGINES_LOCK = threading.Lock()


def engine_for(url: str) -> Any:
    """One pooled SQLAlchemy engine per URL (psycopg 3 driver), created on first use."""
    with _ENGINES_LOCK:
        engine = _ENGINES.get(url)
        if engine is None:
            import sqlalchemy

            driver_url = re.sub(r"^(postgresql|postgres)(\+psycopg)?://", "postgresql+psycopg://", url)
            engine = sqlalchemy.create_engine(
                driver_url,
                pool_pre_ping=True,  # a server restart between two page loads is not an error
                pool_size=5,
                max_overflow=10,
                connect_args={"connect_timeout": CONNECT_TIMEOUT_S, "application_name": "headroom"},
            )
            _ENGINES[url] = engine
        return engine


def dispose_engines() -> None:
    """Close every pooled PostgreSQL connection (tests, and a forked process before first use)."""
    with _ENGINES_LOCK:
        for engine in _ENGINES.values():
            engine.dispose()
        _ENGINES.clear()


def _to_pyformat(sql: str) -> str:
    # the owners write sqlite3's `?` placeholders; psycopg takes `%s` (and a literal % doubled)
    return sql.replace("%", "%%").replace("?", "%s")


class PgConnection:
    """The sqlite3-shaped surface of a SQLAlchemy connection to PostgreSQL (see the module docstring)."""

    dialect = "postgresql"

    def __init__(self, conn: Any, url: str):
        self._conn = conn
        self.url = url

    @property
    def in_transaction(self) -> bool:
        return bool(self._conn.in_transaction())

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        from sqlalchemy import exc

        try:
            if params is None or len(params) == 0:
                return self._conn.exec_driver_sql(sql)
            return self._conn.exec_driver_sql(_to_pyformat(sql), tuple(params))
        except exc.IntegrityError as error:
            raise _integrity_error(error) from error
        except exc.DBAPIError as error:
            if error.connection_invalidated:
                raise StoreUnavailable(
                    f"the store at {masked(self.url)} went away mid-transaction; nothing of this "
                    "transaction was committed"
                ) from error
            raise

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> Any:
        from sqlalchemy import exc

        batch = [tuple(r) for r in rows]
        if not batch:
            return None
        try:
            return self._conn.exec_driver_sql(_to_pyformat(sql), batch)
        except exc.IntegrityError as error:
            raise _integrity_error(error) from error


def _integrity_error(error: Any) -> IntegrityError:
    # worded like SQLite's own ("UNIQUE constraint failed: ...") so one handler reads both backends
    orig = getattr(error, "orig", error)
    prefix = "UNIQUE constraint failed: " if getattr(orig, "sqlstate", None) == "23505" else ""
    return IntegrityError(prefix + str(orig).strip())


def is_postgres(conn: Any) -> bool:
    return getattr(conn, "dialect", None) == "postgresql"


@contextmanager
def _pg_connection(url: str) -> Iterator[Any]:
    from sqlalchemy import exc

    try:
        raw = engine_for(url).connect()
    except (exc.OperationalError, exc.InterfaceError) as error:
        reason = str(getattr(error, "orig", error)).strip().splitlines()[0]
        raise StoreUnavailable(f"cannot connect to the store at {masked(url)}: {reason}") from None
    try:
        yield raw
    finally:
        raw.close()


@contextmanager
def _pg_write(url: str) -> Iterator[PgConnection]:
    with _pg_connection(url) as raw, raw.begin():
        yield PgConnection(raw, url)


@contextmanager
def _pg_read(url: str) -> Iterator[PgConnection]:
    with _pg_connection(url) as raw:
        try:
            yield PgConnection(raw, url)
        finally:
            if raw.in_transaction():
                raw.rollback()


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
def write_transaction(path: Path | str) -> Iterator[Any]:
    """A fresh connection inside BEGIN IMMEDIATE, committed on success and closed after. A connection per
    transaction keeps threads (Streamlit sessions) from sharing one transaction state. A PostgreSQL URL
    gives a pooled connection inside BEGIN ... COMMIT (READ COMMITTED; the guarded path serialises on the
    audit chain's head row, core/audit.py)."""
    if is_url(path):
        with _pg_write(str(path)) as pg:
            yield pg
        return
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
    if is_url(store):
        with _pg_write(store) as pg:
            yield pg
        return
    try:
        path = file_path(store)
    except ValueError:
        with transaction(getattr(store, "conn", store)) as conn:
            yield conn
        return
    with write_transaction(path) as conn:
        yield conn


@contextmanager
def store_read(store: Any) -> Iterator[Any]:
    """A connection for reads given the shared store: PostgreSQL for a URL, the store's own shared
    connection for a sqlite_utils.Database (reads need no transaction), a fresh one for a path."""
    if is_url(store):
        with _pg_read(store) as pg:
            yield pg
        return
    shared = getattr(store, "conn", None)
    if shared is not None:
        yield shared
        return
    with read_connection(store) as conn:
        yield conn


@contextmanager
def read_connection(path: Path | str) -> Iterator[Any]:
    """A fresh connection for reads, closed after (a pooled one for a PostgreSQL URL)."""
    if is_url(path):
        with _pg_read(str(path)) as pg:
            yield pg
        return
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
    if isinstance(store, PgConnection):
        return store.url
    conn = getattr(store, "conn", store)
    row = conn.execute("PRAGMA database_list").fetchone()
    if not row or not row[2]:
        raise ValueError("this store must be a file database (not in-memory)")
    return row[2]


def has_table(conn: Any, name: str) -> bool:
    if is_postgres(conn):
        return conn.execute("SELECT to_regclass(?)", [name]).fetchone()[0] is not None
    return (
        conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name = ?", [name]).fetchone()
        is not None
    )
