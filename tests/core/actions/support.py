"""Shared setup for the guarded-path tests: the shipped config, a fixed clock, a sandbox-backed
ActionService on a fresh store, and the people of the demo config."""

from __future__ import annotations

import threading
import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from connectors.sandbox_executor import SandboxExecutor, sandbox_changes
from connectors.store import open_db
from core import audit
from core.actions import ActionService
from core.auth import Identity
from core.config import HeadroomConfig, config_from_dict
from core.ports import Change, Target, TargetState
from tests.conftest import REPO_ROOT

SHIPPED = REPO_ROOT / ".streamlit" / "headroom.toml"
T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)

ALICE = Identity("alice@example.com", "Alice", "demo")  # admin
BOB = Identity("bob@example.com", "Bob", "demo")  # approver
ERIN = Identity("erin@example.com", "Erin", "demo")  # approver
CAROL = Identity("carol@example.com", "Carol", "demo")  # operator
DAVE = Identity("dave@example.com", "Dave", "demo")  # viewer
MALLORY = Identity("mallory@example.com", "Mallory", "oidc")  # not configured -> viewer

ECS = "api-us-east-1"  # ecs_service 6..90, max_step 20, x2, approval_step 5; sandbox starts at desired 6
ASG = "api-ap-southeast-1"  # autoscaling_group 2..20, max_step 8, approval_step 4
AAS = "api-us-west-2"  # app_autoscaling 4..60
WEIGHTS = "api-dns-weights"
FAILOVER = "api-dns-failover-eu"


class Clock:
    def __init__(self, t: datetime):
        self.t = t

    def __call__(self) -> datetime:
        return self.t

    def advance(self, **kw: float) -> None:
        self.t += timedelta(**kw)


def shipped_dict() -> dict[str, Any]:
    return tomllib.loads(SHIPPED.read_text())


def make_config(**target_overrides: dict[str, Any]) -> HeadroomConfig:
    data = shipped_dict()
    for t in data["target"]:
        t.update(target_overrides.get(t["name"], {}))
    return config_from_dict(data)


@dataclass
class World:
    service: ActionService
    clock: Clock
    path: Path
    executor: SandboxExecutor

    def audit_events(self, action_id: int | None = None) -> list[str]:
        return [e.event for e in audit.entries(self.path, action_id=action_id)]

    def changes(self, target: str | None = None) -> int:
        return len(sandbox_changes(self.path, target))


def make_world(tmp_path: Path, cfg: HeadroomConfig | None = None, executor: Any = None) -> World:
    path = tmp_path / "store.db"
    open_db(path).conn.close()  # the store as the app creates it (metrics table empty: sandbox starts at min)
    cfg = cfg or make_config()
    clock = Clock(T0)
    sandbox = SandboxExecutor(path, cfg)
    service = ActionService(path, cfg, executor or sandbox, clock=clock)
    return World(service, clock, path, sandbox)


def big_approved(w: World, desired: int = 12) -> int:
    action = w.service.propose(CAROL, ECS, Change(desired=desired), "peak traffic expected")
    assert action.state == "proposed"
    w.service.approve(BOB, action.id, "ok")
    return action.id


class CountingSandbox(SandboxExecutor):
    """The real sandbox, counting apply() calls and slowed a little so racers overlap."""

    def __init__(self, *args: Any):
        super().__init__(*args)
        self.applies = 0
        self._lock = threading.Lock()

    def apply(self, target: Target, change: Change) -> TargetState:
        with self._lock:
            self.applies += 1
        threading.Event().wait(0.05)
        return super().apply(target, change)


def declare_sev1(
    store: Path | str,
    regions: tuple[str, ...],
    at: datetime,
    actor: str = "bob@example.com",
    role: str = "approver",
) -> int:
    """A sev1 incident in eu-west-1 that began a few minutes before `at`: what break-glass needs open."""
    from core.incidents import record_event

    return record_event(
        store,
        actor=actor,
        role=role,
        kind="incident",
        severity="sev1",
        region="eu-west-1",
        title="eu-west-1 API down",
        start=at - timedelta(minutes=5),
        now=at,
        regions=regions,
    ).id
