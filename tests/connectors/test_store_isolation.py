"""Issue 19 item 4: every write of a table owner commits on its own connection (core.db.store_write), so a
write made while another session holds a transaction on the shared store connection (the demo world's
regeneration used to) is durable once reported saved, and never fails with "cannot start a transaction
within a transaction"."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime

import pandas as pd
import pytest

from connectors.store import open_db
from connectors.store_forecasts import list_snapshots, save_snapshot
from connectors.store_notes import load_notes, save_note
from connectors.store_scenarios import list_scenarios, save_scenario
from core import db as store_db
from core.capacity import Fleet, KubernetesHPA, Scenario
from core.report import Week


def _while_another_session_holds_a_transaction(db, write: Callable[[], None]) -> BaseException | None:
    """Thread A opens a transaction on the shared connection and holds it; thread B writes; then A rolls
    back (as a killed process would lose it). Returns what B raised, if anything."""
    began, written = threading.Event(), threading.Event()
    raised: list[BaseException] = []

    def holder() -> None:
        db.conn.execute("BEGIN")
        db.conn.execute("SELECT COUNT(*) FROM meta").fetchone()
        began.set()
        assert written.wait(30)
        db.conn.execute("ROLLBACK")

    def writer() -> None:
        assert began.wait(30)
        try:
            write()
        except BaseException as exc:  # noqa: BLE001 - what the writer raised is the test's subject
            raised.append(exc)
        finally:
            written.set()

    threads = [threading.Thread(target=holder), threading.Thread(target=writer)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return raised[0] if raised else None


@pytest.fixture
def db(tmp_path):
    return open_db(tmp_path / "store.db")


def test_a_note_saved_during_another_sessions_transaction_is_durable(db, tmp_path) -> None:
    week = Week.parse("2026-W10")
    error = _while_another_session_holds_a_transaction(
        db, lambda: save_note(db, week, "capacity", "keep 20% headroom", author="ana@example.com")
    )
    assert error is None
    # a fresh process's view of the file: the note survived the other session's rollback
    reopened = open_db(tmp_path / "store.db")
    assert load_notes(reopened, week) == {"capacity": "keep 20% headroom"}


def test_a_snapshot_saved_during_another_sessions_transaction_is_stored(db, tmp_path) -> None:
    frame = pd.DataFrame(
        {"ts": pd.date_range(datetime(2026, 3, 1, tzinfo=UTC), periods=3, freq="h"), "mean": [1.0, 2.0, 3.0]}
    )
    error = _while_another_session_holds_a_transaction(
        db, lambda: save_snapshot(db, "requests_per_second", "us-east-1", frame, "naive")
    )
    assert error is None  # before: OperationalError: cannot start a transaction within a transaction
    assert len(list_snapshots(open_db(tmp_path / "store.db"))) == 1


def test_a_scenario_saved_during_another_sessions_transaction_is_durable(db, tmp_path) -> None:
    plan = Scenario("plan a", "us-east-1", Fleet(50, 6, 90, 180, 0.0857), KubernetesHPA(0.6))
    error = _while_another_session_holds_a_transaction(db, lambda: save_scenario(db, plan))
    assert error is None
    assert list(list_scenarios(open_db(tmp_path / "store.db"))["name"]) == ["plan a"]


def test_store_write_on_an_in_memory_store_uses_its_one_connection() -> None:
    import sqlite_utils

    mem = sqlite_utils.Database(memory=True)
    mem.execute("CREATE TABLE t (x INTEGER)")
    with store_db.store_write(mem) as conn:
        conn.execute("INSERT INTO t VALUES (1)")
    assert mem.execute("SELECT x FROM t").fetchall() == [(1,)]
