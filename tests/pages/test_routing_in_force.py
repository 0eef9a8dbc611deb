"""After an executed failover (sandbox), the N+1 tables on Triage and Capacity are computed with the
routing in force, not the config's (issue 15: the drained region still took a share of every other
region's traffic in both tables)."""

from __future__ import annotations

import pandas as pd
from streamlit.testing.v1 import AppTest

from tests.conftest import REPO_ROOT

DRAINED = "ap-southeast-1"


def run_failover(app_config) -> None:
    from connectors.sandbox_executor import SandboxExecutor
    from connectors.store import open_db
    from core.actions import ActionService
    from core.auth import Identity
    from core.config import load_config
    from core.ports import Change

    cfg = load_config(app_config.path)
    service = ActionService(app_config.store, cfg, SandboxExecutor(open_db(app_config.store), cfg))
    carol, bob = Identity("carol@example.com", "Carol", "demo"), Identity("bob@example.com", "Bob", "demo")
    weights = {r.code: r.routing_weight for r in cfg.region} | {DRAINED: 0.0}
    proposal = service.propose(carol, "api-dns-weights", Change(weights=weights), f"page in {DRAINED}")
    service.approve(bob, proposal.id)
    assert service.execute(carol, proposal.id).action.state == "succeeded"


def loss_table(at: AppTest) -> pd.DataFrame:
    return next(d.value for d in at.dataframe if "taken_by" in d.value.columns)


def open_page(page: str) -> AppTest:
    at = AppTest.from_file(str(REPO_ROOT / "dashboard.py"), default_timeout=180)
    at.run()
    at.switch_page(page)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def takes_a_share(table: pd.DataFrame, region: str) -> bool:
    others = table[table["failed_region"] != region]
    return others["taken_by"].astype(str).str.contains(region).any()


def test_the_n_plus_1_tables_use_the_sandboxs_routing_after_a_failover(app_config) -> None:
    for page in ("pages/triage.py", "pages/capacity.py"):  # before: the config's routing
        assert takes_a_share(loss_table(open_page(page)), DRAINED), page
    run_failover(app_config)
    for page in ("pages/triage.py", "pages/capacity.py"):
        at = open_page(page)
        assert not takes_a_share(loss_table(at), DRAINED), f"{page}: the drained region still takes traffic"
        captions = " ".join(c.value for c in at.caption)
        assert "With the routing in force (sandbox)" in captions and f"{DRAINED} drained" in captions, page
