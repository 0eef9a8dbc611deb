"""The weekly review's notes and decisions, kept in the store per (ISO week, section).

`db` is the store: the embedded SQLite (a sqlite_utils.Database or a file path) or a shared PostgreSQL
named by its URL (issue 14), where the table is created by a versioned migration (core/migrations.py,
component "review_notes")."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlite_utils

from core import db as store_db
from core import migrations
from core.migrations import Migration
from core.report import Week

NOTES_TABLE = "review_notes"

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "review_notes table",
        lambda conn: conn.execute(
            f"CREATE TABLE IF NOT EXISTS {NOTES_TABLE} (week TEXT NOT NULL, section TEXT NOT NULL, text TEXT, "
            "author TEXT, updated_at TEXT, PRIMARY KEY (week, section))"
        ),
    ),
)


def ensure_notes_table(db: Any) -> None:
    """The table's DDL, here with every statement against it (before, the first upsert made it up)."""
    if store_db.is_url(db):
        migrations.ensure_current(db, NOTES_TABLE, MIGRATIONS)
        return
    if NOTES_TABLE not in db.table_names():
        db[NOTES_TABLE].create(
            {"week": str, "section": str, "text": str, "author": str, "updated_at": str},
            pk=("week", "section"),
            not_null={"week", "section"},
        )


def load_notes(db: Any, week: Week) -> dict[str, str]:
    if db is None:
        return {}
    if store_db.is_url(db):
        ensure_notes_table(db)
    with store_db.store_read(db) as conn:
        if not store_db.has_table(conn, NOTES_TABLE):
            return {}
        rows = conn.execute(
            f"SELECT section, text FROM {NOTES_TABLE} WHERE week = ?", [week.label]
        ).fetchall()
    return {section: text for section, text in rows}


def save_note(
    db: Any, week: Week, section: str, text: str, author: str = "", now: datetime | None = None
) -> None:
    """Insert or replace the note of (week, section), committed on its own connection before returning
    (core.db.store_write): never inside another session's transaction on the shared connection."""
    if store_db.is_url(db):
        ensure_notes_table(db)
    with store_db.store_write(db) as conn:
        if not store_db.is_postgres(conn):
            ensure_notes_table(sqlite_utils.Database(conn))  # DDL too, never on the shared connection
        conn.execute(
            f"INSERT INTO {NOTES_TABLE} (week, section, text, author, updated_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT(week, section) DO UPDATE SET text = excluded.text, author = excluded.author, "
            "updated_at = excluded.updated_at",
            [week.label, section, text, author, (now or datetime.now(UTC)).isoformat()],
        )
