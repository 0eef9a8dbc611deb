"""Two replicas, one PostgreSQL (issue 14 item 5): two `streamlit run dashboard.py` servers share one
`[store] url`, and two people, each in their own Chromium context on a different replica, click
"Execute now" on the same approved action at the same moment. Exactly one change reaches the target
(the sandbox executor, and AWS served by a real moto_server), both pages end with an outcome, and the
audit chain both replicas appended to verifies (docs/ARCHITECTURE.md, "Deployment")."""

from __future__ import annotations

import os
import re
import shutil
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from core import audit
from core.actions import ActionService
from core.auth import Identity
from core.config import HeadroomConfig, load_config
from core.ports import ActionExecutor, Change
from headroom.wiring import build_executor
from tests.conftest import PostgresServer, StreamlitServer, start_streamlit, stop_streamlit, write_config
from tests.e2e.browser import WAIT_MS, act_as, click_tab, no_exception, open_page

pytestmark = pytest.mark.slow

TARGET = "api-us-east-1"  # an ECS service in both worlds: approval_step 5, so +6 needs an approver
CAROL = Identity("carol@example.com", "Carol", "demo")  # operator: proposes, and executes on replica A
BOB = Identity("bob@example.com", "Bob", "demo")  # approver
AWS_SERVICES = ("ecs", "autoscaling", "application-autoscaling", "route53")
AWS_TEST_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}
# who clicks on which replica: two different people, neither of them the approver
CLICKERS = (("Carol (operator)", "carol@example.com"), ("Erin (approver)", "erin@example.com"))


@dataclass
class RaceWorld:
    executor_kind: str
    url: str  # the shared PostgreSQL store
    cfg: HeadroomConfig
    executor: ActionExecutor  # the test's own view of the target (the same sandbox / moto)
    replicas: tuple[StreamlitServer, StreamlitServer]

    def desired(self) -> int | None:
        return self.executor.current(_target(self.cfg)).desired


def _target(cfg: HeadroomConfig):
    from core.actions import executor_target

    return executor_target(next(t for t in cfg.target if t.name == TARGET))


def _fresh_database(server: PostgresServer, name: str) -> str:
    import psycopg

    with psycopg.connect(server.url(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return server.url(name)


@pytest.fixture(params=["sandbox", "aws"])
def race_world(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    demo_store: Path,
    postgres_server: PostgresServer,
) -> Iterator[RaceWorld]:
    kind = request.param
    url = _fresh_database(postgres_server, f"race_{kind}_{os.getpid()}")
    overrides: dict[str, Any] = {
        "demo": {"refresh_after": "3650d"},  # the copied demo world is used as it is (ends DEMO_END)
        "store": {"url": url},
        "sources": {"executor": kind},
    }
    env: dict[str, str] = {}
    if kind == "aws":
        from tests.connectors.moto_world import seed

        moto = request.getfixturevalue("moto_server")
        urllib.request.urlopen(
            urllib.request.Request(f"{moto}/moto-api/reset", method="POST"), timeout=10
        ).close()
        env = dict(AWS_TEST_CREDENTIALS)
        os.environ.update(env)  # for seed() and the test's own executor; removed below
        seed(moto)
        overrides["aws"] = {"region_name": "us-east-1", "endpoint_urls": dict.fromkeys(AWS_SERVICES, moto)}
    # one demo world (the session's), copied to each replica's own disk: like separate machines, the
    # replicas share only the database (the sandbox's fleet included, connectors/sandbox_executor.py)
    configs = []
    for name in ("replica-a", "replica-b"):
        directory = tmp_path / name
        directory.mkdir()
        shutil.copy(demo_store, directory / "headroom.db")
        configs.append(write_config(directory, overrides))
    cfg = load_config(configs[0])
    with ThreadPoolExecutor(2) as pool:
        replicas = tuple(pool.map(lambda path: start_streamlit(path, env), configs))
    try:
        yield RaceWorld(
            kind,
            url,
            cfg,
            build_executor(cfg, cfg.store_path(), {}, shared_store=url),
            replicas,  # type: ignore[arg-type]
        )
    finally:
        for server in replicas:
            stop_streamlit(server)
        for key in env:
            os.environ.pop(key, None)


def _approved_action(world: RaceWorld) -> tuple[int, int]:
    """Carol proposes desired +6 (beyond the approval step) and Bob approves it, through the same
    service the pages use, on the shared database. Returns (action id, the desired count asked for)."""
    service = ActionService(world.url, world.cfg, world.executor)
    before = world.desired()
    assert before is not None
    wanted = before + 6
    action = service.propose(CAROL, TARGET, Change(desired=wanted), "two-replica race")
    assert action.state == "proposed", action
    assert service.approve(BOB, action.id, "go").state == "approved"
    return action.id, wanted


def _ready_to_execute(chromium: Any, base_url: str, who: str) -> tuple[Any, Any]:
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    open_page(page, f"{base_url}/actions", "Acting as")
    act_as(page, who)
    click_tab(page, "Ready to run (1)")
    page.get_by_role("button", name="Execute now").wait_for(timeout=WAIT_MS)
    return context, page


def test_two_people_on_two_replicas_execute_the_same_action_once(race_world: RaceWorld, chromium) -> None:
    world = race_world
    action_id, wanted = _approved_action(world)
    opened = [
        _ready_to_execute(chromium, server.url, who)
        for server, (who, _) in zip(world.replicas, CLICKERS, strict=True)
    ]
    pages = [page for _, page in opened]
    try:
        # both clicks are dispatched before either outcome is awaited: the replicas race on the database
        for page in pages:
            page.get_by_role("button", name="Execute now").click(no_wait_after=True)
        outcome = re.compile(
            rf"Action #{action_id} (succeeded|is already being executed|already ran|failed)"
            rf"|Execution refused"
        )
        texts = []
        for page, (who, _) in zip(pages, CLICKERS, strict=True):
            page.get_by_text(outcome).first.wait_for(timeout=WAIT_MS)
            no_exception(page, f"/actions ({who})")
            texts.append(page.get_by_text(outcome).first.inner_text())
    finally:
        for context, _ in opened:
            context.close()

    # one page ran it; the other was told it already ran or is running (never an error, never twice)
    ran = [t for t in texts if f"Action #{action_id} succeeded" in t]
    repeat = [
        t for t in texts if re.search(rf"Action #{action_id} (is already being executed|already ran)", t)
    ]
    assert len(ran) == 1 and len(repeat) == 1, texts

    entries = audit.entries(world.url, action_id=action_id)
    events = [e.event for e in entries]
    assert events.count("execute") == 1 and events.count("succeeded") == 1, events
    executed_by = next(e.actor for e in entries if e.event == "execute")
    assert executed_by in {email for _, email in CLICKERS}
    assert world.desired() == wanted  # the target really moved, read back from it
    if world.executor_kind == "sandbox":
        from connectors.sandbox_executor import sandbox_changes

        assert len(sandbox_changes(world.url, TARGET)) == 1  # the shared fleet, in PostgreSQL
    status = audit.verify_chain(world.url)
    assert status.ok, status.summary()
