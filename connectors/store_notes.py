"""The weekly review's notes and decisions, kept in the store per (ISO week, section).

`record_note` is how a person saves one: only a signed-in user whose role may propose changes (operator,
approver, admin) may record decisions; the note keeps its author, and the save (or the refused attempt) is
an audit entry written in the same transaction (issue 19 item 15; docs/ARCHITECTURE.md, "Threat model")."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from core import audit
from core.auth import Identity, allowed
from core.db import file_path
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


class NoteRefused(Exception):
    """A refused attempt to save a note (already written to the audit log); `message` is for a human."""

    def __init__(self, message: str):
        self.message = message
        super().__init__(message)


_UPSERT = (
    f"INSERT INTO {NOTES_TABLE} (week, section, text, author, updated_at) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT(week, section) DO UPDATE SET text = excluded.text, author = excluded.author, "
    "updated_at = excluded.updated_at"
)
# the same shape as ensure_notes_table's (sqlite-utils) table, for a store that has none yet
_CREATE = (
    f"CREATE TABLE IF NOT EXISTS {NOTES_TABLE} (week TEXT NOT NULL, section TEXT NOT NULL, text TEXT, "
    "author TEXT, updated_at TEXT, PRIMARY KEY (week, section))"
)


def record_note(
    store: Any, week: Week, section: str, text: str, actor: Identity, role: str, now: datetime | None = None
) -> None:
    """Save a person's note on one section of a week's review, with its audit entry, in one transaction.
    Raises NoteRefused (audited) for someone not signed in or without at least the operator role."""
    at = now or datetime.now(UTC)
    path = file_path(store)
    target = f"review {week.label}/{section}"
    if not actor.signed_in or not allowed(role, "propose"):
        who = "not signed in" if not actor.signed_in else f"role {role}"
        message = (
            f"Only signed-in operators, approvers and admins can record review decisions ({who}); "
            "nothing was saved."
        )
        audit.record(
            path,
            at=at,
            actor=actor.email or "(not signed in)",
            role=role,
            event="denied",
            target=target,
            reason=message,
            detail={"attempt": "note", "code": "forbidden", "week": week.label, "section": section},
        )
        raise NoteRefused(message)
    with audit.write_transaction(path) as conn:
        conn.execute(_CREATE)
        conn.execute(_UPSERT, [week.label, section, text, actor.email, at.isoformat()])
        audit.append(
            conn,
            at=at,
            actor=actor.email,
            role=role,
            event="note",
            target=target,
            reason="review notes saved",
            detail={"week": week.label, "section": section, "text": text},
        )


def note_authors(db: Any, week: Week) -> dict[str, str]:
    """Who last saved each section's note of this week (section -> e-mail; '' when unknown)."""
    if db is None or NOTES_TABLE not in db.table_names():
        return {}
    rows = db.execute(f"SELECT section, author FROM {NOTES_TABLE} WHERE week = ?", [week.label]).fetchall()
    return {section: author or "" for section, author in rows}
