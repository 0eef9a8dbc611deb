"""The weekly review's recorded decisions (issue 19 item 15): only signed-in operators and above may save
them, each note keeps its author, and every save (or refused attempt) is in the audit log."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime
from pathlib import Path

import pytest
import tomli_w
from streamlit.testing.v1 import AppTest

from connectors.store import open_db
from connectors.store_notes import NoteRefused, load_notes, note_authors, record_note
from core import audit
from core.auth import ANONYMOUS, Identity
from core.report import Week
from tests.conftest import REPO_ROOT

WEEK = Week.parse("2026-W47")
CAROL = Identity("carol@example.com", "Carol", "demo")
DAVE = Identity("dave@example.com", "Dave", "demo")
AT = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Path:
    path = tmp_path / "store.db"
    open_db(path).conn.close()
    return path


def test_an_operators_note_keeps_its_author_and_is_audited(store: Path):
    record_note(store, WEEK, "traffic", "Decision: raise us-east-1 max to 110", CAROL, "operator", AT)
    db = open_db(store)
    assert load_notes(db, WEEK) == {"traffic": "Decision: raise us-east-1 max to 110"}
    assert note_authors(db, WEEK) == {"traffic": "carol@example.com"}
    entry = audit.entries(store)[-1]
    assert (entry.event, entry.actor, entry.role) == ("note", "carol@example.com", "operator")
    assert entry.detail == {
        "week": "2026-W47",
        "section": "traffic",
        "text": "Decision: raise us-east-1 max to 110",
    }
    assert audit.verify_chain(store).ok


@pytest.mark.parametrize(
    ("who", "role"), [(ANONYMOUS, "viewer"), (DAVE, "viewer")], ids=["anonymous", "viewer"]
)
def test_a_visitor_or_viewer_cannot_overwrite_recorded_decisions(store: Path, who: Identity, role: str):
    record_note(store, WEEK, "traffic", "Decision: raise us-east-1 max to 110", CAROL, "operator", AT)
    with pytest.raises(NoteRefused) as exc:
        record_note(store, WEEK, "traffic", "nothing was decided", who, role, AT)
    assert "nothing was saved" in exc.value.message
    assert load_notes(open_db(store), WEEK) == {"traffic": "Decision: raise us-east-1 max to 110"}
    denied = audit.entries(store)[-1]
    assert (denied.event, denied.detail["attempt"], denied.role) == ("denied", "note", role)


def test_in_oidc_mode_a_visitor_who_is_not_signed_in_cannot_save_notes(app_config) -> None:
    data = tomllib.loads(app_config.path.read_text())
    data["auth"] = {**data.get("auth", {}), "mode": "oidc"}
    app_config.path.write_text(tomli_w.dumps(data))
    at = AppTest.from_file(str(REPO_ROOT / "pages" / "review.py"), default_timeout=180)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("read-only" in i.value and "not signed in" in i.value for i in at.info)
    areas = [t for t in at.text_area if t.key and t.key.startswith("review_note_")]
    assert areas and all(t.disabled for t in areas)
    buttons = [b for b in at.button if "Save notes" in b.label]
    assert buttons and all(b.disabled for b in buttons)
