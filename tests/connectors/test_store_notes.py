"""connectors/store_notes.py: the weekly review's notes, on the embedded store and on a real PostgreSQL
(issue 14), with the table made by a versioned migration on PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from connectors.store import open_db
from connectors.store_notes import NOTES_TABLE, load_notes, save_note
from core import migrations
from core.report import Week

WEEK, OTHER = Week.parse("2026-W10"), Week.parse("2026-W11")


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, tmp_path):
    if request.param == "sqlite":
        return open_db(tmp_path / "store.db")
    return request.getfixturevalue("postgres_url")


def test_a_store_without_notes_has_none(db) -> None:
    assert load_notes(db, WEEK) == {}
    assert load_notes(None, WEEK) == {}


def test_notes_are_kept_per_week_and_section_and_replaced(db) -> None:
    t = datetime(2026, 3, 4, tzinfo=UTC)
    save_note(db, WEEK, "capacity", "add 4 tasks", author="ana@example.com", now=t)
    save_note(db, WEEK, "costs", "reserved instances", now=t)
    save_note(db, OTHER, "capacity", "hold", now=t)
    save_note(db, WEEK, "capacity", "add 6 tasks", now=t)
    assert load_notes(db, WEEK) == {"capacity": "add 6 tasks", "costs": "reserved instances"}
    assert load_notes(db, OTHER) == {"capacity": "hold"}


def test_sessions_saving_at_once_all_land(db) -> None:
    barrier = threading.Barrier(8)

    def save(i: int) -> None:
        barrier.wait()
        save_note(db, WEEK, f"section-{i}", f"note {i}")

    threads = [threading.Thread(target=save, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert load_notes(db, WEEK) == {f"section-{i}": f"note {i}" for i in range(8)}


def test_postgres_table_comes_from_a_recorded_migration(postgres_url: str) -> None:
    save_note(postgres_url, WEEK, "capacity", "x")
    assert migrations.schema_version(postgres_url, NOTES_TABLE) == 1
