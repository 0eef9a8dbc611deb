"""Issue 19 item 5 through ActionService: the app anchors the chain beside the store by default, so
deleting the database files while it runs is reported as a restarted log, never "intact: 0 entries"."""

from __future__ import annotations

import json
from pathlib import Path

from core import audit
from core.ports import Change
from tests.core.actions.support import CAROL, ECS, make_world


def test_deleting_the_store_while_running_is_a_restarted_log(tmp_path: Path) -> None:
    w = make_world(tmp_path)
    w.service.propose(CAROL, ECS, Change(desired=8), "morning peak")
    anchor = tmp_path / "store.audit-anchor.json"
    assert json.loads(anchor.read_text())["seq"] == len(audit.entries(w.path)) >= 1
    assert audit.verify_chain(w.path).ok

    for p in tmp_path.glob("store.db*"):
        p.unlink()
    again = make_world(tmp_path)  # the next page load: a new, empty store
    status = audit.verify_chain(again.path)
    assert not status.ok
    assert "restarted or truncated" in status.summary()
