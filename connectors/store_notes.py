"""The weekly review's notes and decisions, kept in the store per (ISO week, section).

`db` is the store: the embedded SQLite (a sqlite_utils.Database or a file path) or a shared PostgreSQL
named by its URL (issue 14), where the table is created by a versioned migration (core/migrations.py,
component "review_notes").

`record_note` is how a person saves one: only a signed-in user whose role may propose changes (operator,
approver, admin) may record decisions; the note keeps its author, and the save (or the refused attempt) is
an audit entry written in the same transaction (issue 19 item 15; docs/ARCHITECTURE.md, "Threat model")."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlite_utils

from core import audit, migrations
from core import db as store_db
from core.auth import Identity, allowed
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


_UPSERT = (
    f"INSERT INTO {NOTES_TABLE} (week, section, text, author, updated_at) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT(week, section) DO UPDATE SET text = excluded.text, author = excluded.author, "
    "updated_at = excluded.updated_at"
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


def _week_column(db: Any, week: Week, column: str) -> dict[str, Any]:
    """section -> `column` (text or author) of this week's notes; {} before the first note."""
    if db is None:
        return {}
    if store_db.is_url(db):
        ensure_notes_table(db)
    with store_db.store_read(db) as conn:
        if not store_db.has_table(conn, NOTES_TABLE):
            return {}
        rows = conn.execute(
            f"SELECT section, {column} FROM {NOTES_TABLE} WHERE week = ?", [week.label]
        ).fetchall()
    return dict(rows)


def load_notes(db: Any, week: Week) -> dict[str, str]:
    return _week_column(db, week, "text")


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
        conn.execute(_UPSERT, [week.label, section, text, author, (now or datetime.now(UTC)).isoformat()])


class NoteRefused(Exception):
    """A refused attempt to save a note (already written to the audit log); `message` is for a human."""

    def __init__(self, message: str):
        self.message = message
        super().__init__(message)


def record_note(
    store: Any, week: Week, section: str, text: str, actor: Identity, role: str, now: datetime | None = None
) -> None:
    """Save a person's note on one section of a week's review, with its audit entry, in one transaction.
    Raises NoteRefused (audited) for someone not signed in or without at least the operator role."""
    at = now or datetime.now(UTC)
    path = store_db.file_path(store)  # the SQLite file or the PostgreSQL URL: the chain's own store
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
    if store_db.is_url(path):
        ensure_notes_table(path)  # PostgreSQL: the versioned migration, before the transaction
    with audit.write_transaction(path) as conn:
        if not store_db.is_postgres(conn):
            ensure_notes_table(sqlite_utils.Database(conn))  # inside the transaction, as save_note does
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
    return {section: author or "" for section, author in _week_column(db, week, "author").items()}
