"""core/db.py: the pragmas every connection gets and the all-or-nothing transaction."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from core import db


def test_open_file_creates_the_folder_and_sets_wal_busy_timeout_and_foreign_keys(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "store.sqlite"
    conn = db.open_file(path)
    try:
        assert path.exists()
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == db.BUSY_TIMEOUT_S * 1000
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    finally:
        conn.close()
    # a later short-lived connection inherits WAL from the file and gets the same per-connection pragmas
    with db.read_connection(path) as again:
        assert again.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert again.execute("PRAGMA foreign_keys").fetchone()[0] == 1


def test_a_failed_transaction_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite"
    with db.write_transaction(path) as conn:
        conn.execute("CREATE TABLE t (k TEXT PRIMARY KEY)")
        conn.execute("INSERT INTO t VALUES ('kept')")
    with pytest.raises(sqlite3.IntegrityError), db.write_transaction(path) as conn:
        conn.execute("INSERT INTO t VALUES ('half')")
        conn.execute("INSERT INTO t VALUES ('kept')")  # duplicate key: the whole block rolls back
    with db.read_connection(path) as conn:
        assert [r[0] for r in conn.execute("SELECT k FROM t ORDER BY k")] == ["kept"]
        assert db.has_table(conn, "t") and not db.has_table(conn, "missing")


def test_transaction_on_an_open_connection_commits_or_rolls_back(tmp_path: Path) -> None:
    conn = db.open_file(tmp_path / "store.sqlite")
    try:
        conn.execute("CREATE TABLE t (n INTEGER)")
        with db.transaction(conn):
            conn.execute("INSERT INTO t VALUES (1)")
        with pytest.raises(RuntimeError, match="boom"), db.transaction(conn, immediate=False):
            conn.execute("INSERT INTO t VALUES (2)")
            raise RuntimeError("boom")
        assert not conn.in_transaction
        assert [r[0] for r in conn.execute("SELECT n FROM t")] == [1]
    finally:
        conn.close()


def test_file_path_names_the_file_and_refuses_an_in_memory_database(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite"
    conn = db.connect(path)
    try:
        assert Path(db.file_path(conn)) == path
        assert db.file_path(path) == str(path)
    finally:
        conn.close()
    with pytest.raises(ValueError, match="file database"):
        db.file_path(sqlite3.connect(":memory:"))
