"""Overview lists break-glass failovers nobody has countersigned, until a second approver signs (issue 18)."""

from __future__ import annotations

from datetime import UTC, datetime

from streamlit.testing.v1 import AppTest

from connectors.sandbox_executor import SandboxExecutor
from core.actions import ActionService
from core.auth import Identity
from core.config import load_config
from core.ports import Change
from tests.conftest import REPO_ROOT
from tests.core.actions.support import declare_sev1

BOB = Identity("bob@example.com", "Bob", "demo")
ERIN = Identity("erin@example.com", "Erin", "demo")


def test_unsigned_break_glass_is_on_overview_until_countersigned(app_config) -> None:
    cfg = load_config(app_config.path)
    service = ActionService(app_config.store, cfg, SandboxExecutor(app_config.store, cfg))
    now = datetime.now(UTC)
    incident_id = declare_sev1(app_config.store, cfg.region_codes, now)
    outcome = service.break_glass(
        BOB,
        "api-dns-failover-eu",
        Change(weights={"eu-central-1": 1.0, "eu-west-1": 0.0}),
        "down",
        incident_id,
    )
    at = AppTest.from_file(str(REPO_ROOT / "pages" / "overview.py"), default_timeout=120)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    banners = " ".join(w.value for w in at.warning)
    assert (
        f"Unsigned break-glass failover #{outcome.action.id} api-dns-failover-eu by bob@example.com"
        in banners
    )
    assert "eu-west-1 API down" in banners and "countersign due by" in banners

    service.countersign(ERIN, outcome.action.id, "agreed")
    at.run()
    assert "break-glass" not in " ".join([w.value for w in at.warning] + [e.value for e in at.error])
