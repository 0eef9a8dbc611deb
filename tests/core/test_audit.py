"""Audit log: append-only, SHA-256 chained, tamper evident, exportable."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core import audit

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def _fill(path: Path, n: int = 5) -> list[audit.AuditEntry]:
    out = []
    for i in range(n):
        out.append(
            audit.record(
                path,
                at=T0 + timedelta(seconds=i),
                actor=f"user{i}@example.com",
                role="operator",
                event="propose",
                target="api-us-east-1",
                action_id=i + 1,
                reason=f"reason {i}",
                detail={"change": {"desired": 10 + i}, "weights": {"b": 0.5, "a": 1.25}},
            )
        )
    return out


def test_canonical_json_has_sorted_keys_and_no_whitespace():
    assert audit.canonical_json({"b": 1, "a": [1, {"d": 2, "c": "é"}]}) == '{"a":[1,{"c":"é","d":2}],"b":1}'


def test_first_entry_hash_is_sha256_of_genesis_plus_canonical_json(tmp_path: Path):
    entry = _fill(tmp_path / "s.db", 1)[0]
    body = {
        "seq": 1,
        "at": "2026-11-23T12:00:00.000000Z",
        "actor": "user0@example.com",
        "role": "operator",
        "event": "propose",
        "action_id": 1,
        "target": "api-us-east-1",
        "reason": "reason 0",
        "detail": {"change": {"desired": 10}, "weights": {"a": 1.25, "b": 0.5}},
        "prev_hash": "0" * 64,
    }
    text = json.dumps(body, sort_keys=True, separators=(",", ":"))
    assert entry.hash == hashlib.sha256(("0" * 64 + text).encode()).hexdigest()
    assert entry.prev_hash == "0" * 64


def test_chain_links_each_entry_to_the_previous(tmp_path: Path):
    path = tmp_path / "s.db"
    written = _fill(path)
    read = audit.entries(path)
    assert [e.seq for e in read] == [1, 2, 3, 4, 5]
    assert all(read[i].prev_hash == read[i - 1].hash for i in range(1, 5))
    assert [e.hash for e in read] == [e.hash for e in written]
    status = audit.verify_chain(path)
    assert status.ok and status.entries == 5 and status.first_broken is None


def test_empty_log_verifies(tmp_path: Path):
    assert audit.verify_chain(tmp_path / "none.db").ok


def test_update_and_delete_are_refused_by_the_database(tmp_path: Path):
    path = tmp_path / "s.db"
    _fill(path, 2)
    conn = sqlite3.connect(path)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("UPDATE audit SET reason = 'edited' WHERE seq = 1")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("DELETE FROM audit WHERE seq = 2")
    conn.close()
    assert audit.verify_chain(path).ok


def _bypass_triggers(path: Path, *statements: str) -> None:
    """What someone with write access to the file could do: drop the triggers and edit rows."""
    conn = sqlite3.connect(path)
    conn.execute("DROP TRIGGER audit_no_update")
    conn.execute("DROP TRIGGER audit_no_delete")
    for s in statements:
        conn.execute(s)
    conn.commit()
    conn.close()


def test_tampered_row_is_detected_at_that_entry(tmp_path: Path):
    path = tmp_path / "s.db"
    _fill(path)
    _bypass_triggers(path, "UPDATE audit SET reason = 'nothing to see' WHERE seq = 3")
    status = audit.verify_chain(path)
    assert not status.ok and status.first_broken == 3
    assert "changed" in status.problem and "#3" in status.summary()


def test_tampered_detail_and_rehashed_row_is_detected_at_the_next_entry(tmp_path: Path):
    path = tmp_path / "s.db"
    _fill(path)
    # the attacker recomputes entry 2's own hash, but entry 3 still links to the old one
    row = audit.entries(path)[1]
    body = {
        "seq": 2,
        "at": audit.format_ts(row.at),
        "actor": "root",
        "role": row.role,
        "event": row.event,
        "action_id": row.action_id,
        "target": row.target,
        "reason": row.reason,
        "detail": row.detail,
        "prev_hash": row.prev_hash,
    }
    forged = audit.entry_hash(row.prev_hash, body)
    _bypass_triggers(path, f"UPDATE audit SET actor = 'root', hash = '{forged}' WHERE seq = 2")
    status = audit.verify_chain(path)
    assert not status.ok and status.first_broken == 3


def test_deleted_entries_are_detected(tmp_path: Path):
    middle, last = tmp_path / "m.db", tmp_path / "l.db"
    _fill(middle)
    _fill(last)
    _bypass_triggers(middle, "DELETE FROM audit WHERE seq = 2")
    assert audit.verify_chain(middle).first_broken == 3
    _bypass_triggers(last, "DELETE FROM audit WHERE seq = 5")
    status = audit.verify_chain(last)
    assert not status.ok and "removed" in status.problem


def test_append_requires_a_write_transaction(tmp_path: Path):
    conn = sqlite3.connect(tmp_path / "s.db", isolation_level=None)
    with pytest.raises(RuntimeError, match="transaction"):
        audit.append(conn, at=T0, actor="a", role="viewer", event="x")


def test_entry_rolls_back_with_its_transaction(tmp_path: Path):
    path = tmp_path / "s.db"
    with pytest.raises(ValueError), audit.write_transaction(path) as conn:
        audit.append(conn, at=T0, actor="a", role="viewer", event="x")
        raise ValueError("the state change failed")
    assert audit.entries(path) == []
    assert audit.verify_chain(path).ok


def test_csv_export_round_trips_and_can_be_reverified(tmp_path: Path):
    path = tmp_path / "s.db"
    _fill(path, 3)
    rows = list(csv.DictReader(io.StringIO(audit.to_csv(path))))
    assert list(rows[0]) == list(audit.CSV_COLUMNS)
    assert [r["seq"] for r in rows] == ["1", "2", "3"]
    prev = "0" * 64
    for r in rows:  # an auditor can re-verify the chain from the CSV alone
        body = {
            "seq": int(r["seq"]),
            "at": r["at"],
            "actor": r["actor"],
            "role": r["role"],
            "event": r["event"],
            "action_id": int(r["action_id"]),
            "target": r["target"],
            "reason": r["reason"],
            "detail": json.loads(r["detail"]),
            "prev_hash": r["prev_hash"],
        }
        assert r["prev_hash"] == prev
        assert audit.entry_hash(prev, body) == r["hash"]
        prev = r["hash"]
    only_two = list(csv.DictReader(io.StringIO(audit.to_csv(path, action_id=2))))
    assert [r["action_id"] for r in only_two] == ["2"]
