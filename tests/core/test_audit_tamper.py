"""Issue 19 items 2 and 5: the audit chain against someone who can write the database file. With the HMAC
key (kept outside the database and config) and the outside anchor (the head exported after every entry),
every tamper below is detected by `verify_chain`; the count is `len(TAMPERS)` (docs/ARCHITECTURE.md,
"The guarded path")."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core import audit

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
KEY = b"k" * 32


def _fill(path: Path, n: int = 6, start: int = 0) -> None:
    for i in range(start, start + n):
        audit.record(
            path,
            at=T0 + timedelta(seconds=i),
            actor=f"user{i}@example.com",
            role="operator",
            event="propose",
            target="api-us-east-1",
            action_id=i + 1,
            reason=f"reason {i}",
            detail={"desired": 10 + i},
        )


@pytest.fixture
def chain(tmp_path: Path) -> Path:
    path = tmp_path / "store.db"
    audit.configure(path, key=KEY, anchor_path=tmp_path / "anchor" / "head.json")
    _fill(path)
    status = audit.verify_chain(path)
    assert status.ok and status.keyed and status.anchor_seq == 6, status
    return path


def _sql(path: Path, *statements: str, params: list | None = None) -> None:
    conn = sqlite3.connect(path)
    for s in statements:
        conn.execute(s, params or [])
    conn.commit()
    conn.close()


DROP_TRIGGERS = ("DROP TRIGGER audit_no_update", "DROP TRIGGER audit_no_delete")


def _rows(path: Path) -> list[dict]:
    conn = sqlite3.connect(path)
    rows = conn.execute(f"SELECT {', '.join(audit.CSV_COLUMNS)} FROM audit ORDER BY seq").fetchall()
    conn.close()
    return [dict(zip(audit.CSV_COLUMNS, r, strict=True)) for r in rows]


def _rebuild_chain(path: Path, rows: list[dict], key: bytes | None) -> None:
    """What an attacker with the file does after editing: recompute every hash and the head, then put
    the triggers back so nothing looks touched."""
    conn = sqlite3.connect(path)
    for t in DROP_TRIGGERS:
        conn.execute(t.replace("DROP TRIGGER", "DROP TRIGGER IF EXISTS"))
    conn.execute("DELETE FROM audit")
    prev = audit.GENESIS_HASH
    for r in rows:
        body = {k: r[k] for k in audit.CSV_COLUMNS if k != "hash"} | {"detail": json.loads(r["detail"])}
        body["prev_hash"] = prev
        digest = audit.entry_hash(prev, body, key)
        conn.execute(
            f"INSERT INTO audit ({', '.join(audit.CSV_COLUMNS)}) VALUES ({', '.join('?' for _ in audit.CSV_COLUMNS)})",
            [*(body[k] if k != "detail" else r["detail"] for k in audit.CSV_COLUMNS[:-2]), prev, digest],
        )
        prev = digest
    conn.execute("UPDATE audit_head SET seq = ?, hash = ?", [rows[-1]["seq"] if rows else 0, prev])
    conn.commit()
    conn.close()
    audit.ensure_audit_schema(sqlite3.connect(path, isolation_level=None))  # triggers back


def drop_triggers(path: Path) -> None:
    _sql(path, *DROP_TRIGGERS)


def delete_newest(path: Path) -> None:
    _sql(path, *DROP_TRIGGERS, "DELETE FROM audit WHERE seq >= 5")


def delete_newest_and_move_head_back(path: Path) -> None:
    rows = _rows(path)
    _sql(
        path,
        *DROP_TRIGGERS,
        "DELETE FROM audit WHERE seq >= 5",
        f"UPDATE audit_head SET seq = 4, hash = '{rows[3]['hash']}'",
    )


def move_head_back_only(path: Path) -> None:
    rows = _rows(path)
    _sql(path, f"UPDATE audit_head SET seq = 3, hash = '{rows[2]['hash']}'")


def rewrite_old_row_and_recompute_unkeyed(path: Path) -> None:
    rows = _rows(path)
    rows[1]["reason"] = "nothing to see"
    _rebuild_chain(path, rows, None)


def append_forged_row_recomputed(path: Path) -> None:
    rows = _rows(path)
    forged = dict(rows[-1], seq=7, actor="root", reason="forged approval", event="approve")
    _rebuild_chain(path, [*rows, forged], None)


def rewrite_newest_and_recompute_with_a_guessed_key(path: Path) -> None:
    rows = _rows(path)
    rows[-1]["actor"] = "mallory@example.com"
    _rebuild_chain(path, rows, b"guessed-key-guessed-key")


def truncate_and_rebuild_shorter_chain(path: Path) -> None:
    """Drop the last two entries and rebuild a consistent shorter chain, triggers restored."""
    _rebuild_chain(path, _rows(path)[:4], None)


def delete_middle_entry(path: Path) -> None:
    _sql(path, *DROP_TRIGGERS, "DELETE FROM audit WHERE seq = 3")


def empty_the_log(path: Path) -> None:
    _sql(path, *DROP_TRIGGERS, "DELETE FROM audit", "DELETE FROM audit_head")


def delete_the_database_files(path: Path) -> None:
    """Issue 19 item 5: the files go while the app runs; the next load makes a new, empty store."""
    for p in path.parent.glob(path.name + "*"):
        p.unlink()
    sqlite3.connect(path).close()


def delete_database_then_app_appends_again(path: Path) -> None:
    """The restarted log gets new entries: the anchor must not be moved back to them."""
    delete_the_database_files(path)
    _fill(path, 2)


TAMPERS: list[Callable[[Path], None]] = [
    drop_triggers,
    delete_newest,
    delete_newest_and_move_head_back,
    move_head_back_only,
    rewrite_old_row_and_recompute_unkeyed,
    append_forged_row_recomputed,
    rewrite_newest_and_recompute_with_a_guessed_key,
    truncate_and_rebuild_shorter_chain,
    delete_middle_entry,
    empty_the_log,
    delete_the_database_files,
    delete_database_then_app_appends_again,
]


@pytest.mark.parametrize("tamper", TAMPERS, ids=[t.__name__ for t in TAMPERS])
def test_every_tamper_is_detected(chain: Path, tamper: Callable[[Path], None]) -> None:
    tamper(chain)
    status = audit.verify_chain(chain)
    assert not status.ok, f"{tamper.__name__} went undetected: {status.summary()}"
    assert status.summary().startswith("Audit chain BROKEN")


def test_a_restarted_log_says_so(chain: Path) -> None:
    delete_the_database_files(chain)
    status = audit.verify_chain(chain)
    assert not status.ok and "restarted or truncated" in status.problem
    assert "Audit chain intact" not in status.summary()


def test_the_anchor_never_moves_backwards(chain: Path, tmp_path: Path) -> None:
    anchor = tmp_path / "anchor" / "head.json"
    before = json.loads(anchor.read_text())
    delete_database_then_app_appends_again(chain)
    after = json.loads(anchor.read_text())
    assert (after["seq"], after["hash"]) == (before["seq"], before["hash"]) == (6, before["hash"])


def test_the_anchor_follows_every_committed_entry_and_not_a_rolled_back_one(
    chain: Path, tmp_path: Path
) -> None:
    anchor = tmp_path / "anchor" / "head.json"
    _fill(chain, 1, start=6)
    assert json.loads(anchor.read_text())["seq"] == 7
    with pytest.raises(RuntimeError), audit.write_transaction(chain) as conn:
        audit.append(conn, at=T0, actor="a", role="viewer", event="x")
        raise RuntimeError("the state change failed")
    assert json.loads(anchor.read_text())["seq"] == 7
    assert audit.verify_chain(chain).ok


def test_a_keyed_chain_does_not_verify_without_or_with_another_key(chain: Path) -> None:
    assert audit.verify_chain(chain, key=b"another-key-another-key").ok is False


def test_without_a_key_the_badge_says_unkeyed(tmp_path: Path) -> None:
    path = tmp_path / "plain.db"
    audit.configure(path, key=None, anchor_path=None)
    _fill(path, 2)
    status = audit.verify_chain(path)
    assert status.ok and not status.keyed
    assert "UNKEYED" in status.summary() and "No outside anchor" in status.summary()


def test_key_comes_from_secrets_then_environment_and_is_checked() -> None:
    assert audit.resolve_key("s" * 20, {audit.AUDIT_KEY_ENV: "e" * 20}) == b"s" * 20
    assert audit.resolve_key(None, {audit.AUDIT_KEY_ENV: "e" * 20}) == b"e" * 20
    assert audit.resolve_key(None, {}) is None
    with pytest.raises(ValueError, match="HEADROOM_AUDIT_KEY"):
        audit.resolve_key("short", {})


def test_an_unreadable_anchor_is_reported_not_ignored(chain: Path, tmp_path: Path) -> None:
    (tmp_path / "anchor" / "head.json").write_text("{not json")
    status = audit.verify_chain(chain)
    assert not status.ok and "anchor" in status.problem


def test_append_many_writes_the_same_chain_as_one_append_each(tmp_path: Path, store_locator: str) -> None:
    from core import migrations

    migrations.migrate(store_locator)
    fields = [
        {"at": T0 + timedelta(seconds=i), "actor": "a", "role": "system", "event": "e", "detail": {"i": i}}
        for i in range(5)
    ]
    audit.configure(store_locator, key=KEY, anchor_path=tmp_path / "batch-anchor.json")
    with audit.write_transaction(store_locator) as conn:
        batched = audit.append_many(conn, fields[:3])
    with audit.write_transaction(store_locator) as conn:
        single = [audit.append(conn, **f) for f in fields[3:]]
    written = batched + single
    assert [e.seq for e in written] == [1, 2, 3, 4, 5]
    assert all(written[i].prev_hash == written[i - 1].hash for i in range(1, 5))
    assert [e.hash for e in audit.entries(store_locator)] == [e.hash for e in written]
    status = audit.verify_chain(store_locator)
    assert status.ok and status.keyed and status.anchor_seq == 5
