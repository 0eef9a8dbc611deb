"""The weekly review's notes and decisions, kept in the store per (ISO week, section)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlite_utils

from core import db as store_db
from core.report import Week

NOTES_TABLE = "review_notes"


def ensure_notes_table(db: Any) -> None:
    """The table's DDL, here with every statement against it (before, the first upsert made it up)."""
    if NOTES_TABLE not in db.table_names():
        db[NOTES_TABLE].create(
            {"week": str, "section": str, "text": str, "author": str, "updated_at": str},
            pk=("week", "section"),
            not_null={"week", "section"},
        )


def load_notes(db: Any, week: Week) -> dict[str, str]:
    if db is None or NOTES_TABLE not in db.table_names():
        return {}
    rows = db.execute(f"SELECT section, text FROM {NOTES_TABLE} WHERE week = ?", [week.label]).fetchall()
    return {section: text for section, text in rows}


def save_note(
    db: Any, week: Week, section: str, text: str, author: str = "", now: datetime | None = None
) -> None:
    """Insert or replace the note of (week, section), committed on its own connection before returning
    (core.db.store_write): never inside another session's transaction on the shared connection."""
    with store_db.store_write(db) as conn:
        ensure_notes_table(sqlite_utils.Database(conn))  # DDL too, never on the shared connection
        conn.execute(
            f"INSERT INTO {NOTES_TABLE} (week, section, text, author, updated_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT(week, section) DO UPDATE SET text = excluded.text, author = excluded.author, "
            "updated_at = excluded.updated_at",
            [week.label, section, text, author, (now or datetime.now(UTC)).isoformat()],
        )
