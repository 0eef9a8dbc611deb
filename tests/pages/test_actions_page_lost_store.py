"""AppTest of the Actions page on a shared PostgreSQL store that goes away while a person has the page
open (issue 14 item 4): the click is refused with a banner naming the store, nothing is queued, and the
same click works once the database is back."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from streamlit.testing.v1 import AppTest

from connectors.sandbox_executor import SandboxExecutor
from connectors.store import open_db
from core.actions import ActionService
from core.auth import Identity
from core.config import load_config
from core.ports import Change
from tests.conftest import REPO_ROOT, write_config

PAGE = str(REPO_ROOT / "pages" / "actions.py")
ECS = "api-us-east-1"
CAROL = Identity("carol@example.com", "Carol", "demo")


def _allow_connections(postgres_server, url: str, allowed: bool) -> None:
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(postgres_server.url(), autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {str(allowed).lower()}')
        if not allowed:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [name])


def texts(at: AppTest) -> str:
    return " ".join([e.value for e in at.error] + [s.value for s in at.success] + [i.value for i in at.info])


def test_a_click_while_the_database_is_away_is_refused_with_a_banner_and_nothing_queued(
    tmp_path: Path, postgres_url: str, postgres_server, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_config(tmp_path, {"demo": {"refresh_after": "3650d"}, "store": {"url": postgres_url}})
    monkeypatch.setenv("HEADROOM_CONFIG", str(path))
    cfg = load_config(path)
    local = open_db(cfg.store_path())
    service = ActionService(postgres_url, cfg, SandboxExecutor(postgres_url, cfg, metrics=local))
    action = service.propose(CAROL, ECS, Change(desired=12), "launch")  # 6 -> 12: needs an approver
    assert action.state == "proposed"

    bob = AppTest.from_file(PAGE, default_timeout=60)
    bob.session_state["demo_user"] = "bob@example.com"
    bob.run()
    assert not bob.exception and f"approve_{action.id}" in {b.key for b in bob.button}

    _allow_connections(postgres_server, postgres_url, False)
    try:
        bob.button(key=f"approve_{action.id}").click().run()
        assert not bob.exception, [e.value for e in bob.exception]
        shown = texts(bob)
        assert "The store cannot be reached: cannot connect to the store at postgresql" in shown, shown
        assert "Actions are refused until it is back" in shown
    finally:
        _allow_connections(postgres_server, postgres_url, True)
    assert service.get(action.id).state == "proposed"  # refused, not queued for later

    bob.run()  # the database is back: the page works again, saying what the click during the outage got
    assert "Approval refused" in texts(bob) and "Nothing was changed" in texts(bob)
    bob.button(key=f"approve_{action.id}").click().run()
    assert not bob.exception
    assert "approved; it can run until" in texts(bob)
    assert (
        service.get(action.id).state == "approved" and service.get(action.id).approved_by == "bob@example.com"
    )
