"""Faults and untrusted text on the pages (issue 19 items 8, 9, 19; docs/ARCHITECTURE.md, "Threat model"):
a damaged store or row ends in a message naming it and the rest keeps working; text typed by people or
sent by sources is shown as text, never as markdown (no remote image, no live link)."""

from __future__ import annotations

import sqlite3
import tomllib
from pathlib import Path

import pytest
import tomli_w
from streamlit.testing.v1 import AppTest

from core.ports import Change
from tests.conftest import REPO_ROOT
from tests.pages.test_actions_page import BOB, CAROL, ECS, PageWorld, world  # noqa: F401 (fixture)

PAGE_FILES = ["overview", "triage", "slo", "cdn", "costs", "forecast", "capacity", "actions", "review"]
EVIL = "![pixel](https://evil.example.com/p.png) [Approve here](https://phish.example.com/login) www.evil.example"


def markdown_of(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption]
    parts += [e.value for kind in (at.error, at.warning, at.info, at.success) for e in kind]
    return "\n".join(parts)


def assert_inert(text: str) -> None:
    """No markdown image, no link, no autolinked URL survives."""
    assert "![" not in text and "](" not in text, text
    assert "https://" not in text and "www.evil" not in text, text


# ---- item 9: markdown injection --------------------------------------------------------------------
def test_an_action_reason_is_shown_to_the_approver_as_text(world: PageWorld):  # noqa: F811
    action = world.service().propose(CAROL, ECS, Change(desired=12), f"launch {EVIL}")
    at = world.page("bob@example.com")
    shown = markdown_of(at)
    assert f"#{action.id}" in shown and "Approve here" in shown and "pixel" in shown
    assert_inert(shown)


def _failing_source_script() -> None:
    from core.ports import SourceError, empty_metrics_frame
    from pages import _ui as ui

    def fetch():
        raise SourceError(
            "Prometheus ![x](https://evil.example.com/x.png)",
            "upstream said: [log in again](https://phish.example.com) www.evil.example",
        )

    ui.load_last_good(("faults", 1), fetch, empty_metrics_frame, "Prometheus")


def test_a_source_error_banner_shows_the_sources_text_as_text():
    at = AppTest.from_function(_failing_source_script, default_timeout=60)
    at.run()
    assert not at.exception
    banner = " ".join(e.value for e in at.error)
    assert "is unavailable" in banner and "log in again" in banner
    assert_inert(banner)


def test_a_runbook_title_is_text_and_its_link_stays_http(app_config) -> None:
    data = tomllib.loads(app_config.path.read_text())
    data["runbook"].append({"title": f"Failover {EVIL}", "url": "https://runbooks.example.com/x(1)"})
    app_config.path.write_text(tomli_w.dumps(data))
    at = AppTest.from_file(str(REPO_ROOT / "dashboard.py"), default_timeout=120)
    at.run()
    at.switch_page("pages/triage.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    links = [m.value for m in at.markdown if "runbooks.example.com/x" in m.value]
    assert len(links) == 1
    title, url = links[0].split("](", 1)
    assert_inert(title)
    assert url == "<https://runbooks.example.com/x%281%29>)"


# ---- item 8: damaged rows on the Actions page --------------------------------------------------------
def test_a_damaged_actions_row_is_named_and_the_page_keeps_working(world: PageWorld):  # noqa: F811
    good = world.service().propose(CAROL, ECS, Change(desired=12), "launch")
    bad = world.service().propose(CAROL, "api-eu-west-1", Change(desired=6), "small")
    worse = world.service().propose(CAROL, "api-us-west-2", Change(min_instances=5), "floor")
    with sqlite3.connect(world.store) as conn:
        conn.execute("UPDATE actions SET plan = '{not json' WHERE id = ?", [bad.id])
        conn.execute("UPDATE actions SET proposed_at = 'last tuesday' WHERE id = ?", [worse.id])
    at = world.page("bob@example.com")
    warnings = " ".join(w.value for w in at.warning)
    assert f"action \\#{bad.id}" in warnings and f"action \\#{worse.id}" in warnings
    assert f"approve_{good.id}" in {b.key for b in at.button}  # the readable proposal is still there
    assert len(at.get("download_button")) == 2  # the history and audit exports survive


def test_a_damaged_audit_row_leaves_the_audit_tab_and_its_export_working(world: PageWorld):  # noqa: F811
    world.service().propose(CAROL, ECS, Change(desired=12), '=HYPERLINK("https://evil.example.com")')
    with sqlite3.connect(world.store) as conn:
        conn.execute(
            "INSERT INTO audit (seq, at, actor, role, event, action_id, target, reason, detail, prev_hash, "
            "hash) VALUES (2, 'not a time', 'x', 'x', 'x', NULL, '', 'r', '{bad', 'p', 'h2')"
        )
    at = world.page("bob@example.com")
    warnings = " ".join(w.value for w in at.warning)
    assert "audit entry \\#2" in warnings and "timestamp" in warnings and "JSON" in warnings
    assert any("chain" in e.value for e in at.error)  # the badge says the chain is broken
    audit_table = next(d.value for d in at.dataframe if "hash" in d.value.columns)
    assert list(audit_table["seq"]) == [2, 1]


# ---- item 8: a damaged store file, on every page -----------------------------------------------------
@pytest.fixture
def through_dashboard(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run switched-to pages through dashboard.py's st.navigation, as a server does once pages/_ui.py has
    left the legacy pages/ mode. AppTest resets that mode before every run, which would run the page file
    on its own and skip dashboard.py (and its page guard) after at.switch_page."""
    from streamlit.runtime.pages_manager import PagesManager

    original = PagesManager.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    monkeypatch.setattr(PagesManager, "__init__", init)


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
@pytest.mark.parametrize("name", PAGE_FILES)
def test_a_damaged_store_file_is_a_message_naming_the_store_on_every_page(
    app_config, through_dashboard: None, name: str, damage: str
) -> None:
    store = Path(app_config.store)
    if damage == "garbage":
        store.write_bytes(b"this is not an SQLite database\n" * 4096)
    else:
        data = store.read_bytes()
        store.write_bytes(data[: len(data) // 3])
    for suffix in ("-wal", "-shm"):
        Path(f"{store}{suffix}").unlink(missing_ok=True)
    at = AppTest.from_file(str(REPO_ROOT / "dashboard.py"), default_timeout=120)
    at.run()
    at.switch_page(f"pages/{name}.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    shown = " ".join(e.value for e in at.error) + " ".join(w.value for w in at.warning)
    assert str(store.name) in shown.replace("\\", ""), shown
