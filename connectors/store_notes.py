"""The weekly review's notes and decisions, kept in the store per (ISO week, section)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

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
    ensure_notes_table(db)
    db[NOTES_TABLE].upsert(
        {
            "week": week.label,
            "section": section,
            "text": text,
            "author": author,
            "updated_at": (now or datetime.now(UTC)).isoformat(),
        },
        pk=("week", "section"),
    )
