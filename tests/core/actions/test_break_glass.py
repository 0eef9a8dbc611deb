"""Break-glass through ActionService (docs/ARCHITECTURE.md, "The guarded path"): an approver alone runs a
failover during a declared sev1; every refusal is audited and changes nothing; a second person
countersigns, late if after the deadline; unsigned ones are listed until signed."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core import audit
from core.actions import ActionRefused, unsigned_break_glass
from core.auth import Identity
from core.incidents import record_event, resolve_incident
from core.ports import Change, Target
from tests.core.actions.support import (
    ALICE,
    BOB,
    CAROL,
    DAVE,
    ECS,
    ERIN,
    FAILOVER,
    T0,
    World,
    make_config,
    make_world,
)

PROMOTE = Change(weights={"eu-central-1": 1.0, "eu-west-1": 0.0})
FAILOVER_TARGET = Target(
    FAILOVER, "route53_failover", "eu-west-1", {"primary": "eu-west-1", "secondary": "eu-central-1"}
)


def declare(world: World, severity: str = "sev1", minutes_ago: float = 10, kind: str = "incident") -> int:
    cfg = world.service.cfg
    event = record_event(
        world.path,
        actor="carol@example.com",
        role="operator",
        kind=kind,
        severity=severity if kind == "incident" else "",
        region="eu-west-1",
        title="eu-west-1 API down",
        start=T0 - timedelta(minutes=minutes_ago),
        now=T0,
        regions=cfg.region_codes,
    )
    return event.id


def refused(
    world: World, who: Identity, incident_id: int, change: Change = PROMOTE, target: str = FAILOVER
) -> str:
    before_changes = world.changes()
    with pytest.raises(ActionRefused) as exc:
        world.service.break_glass(who, target, change, "eu-west-1 is down", incident_id)
    assert world.changes() == before_changes  # nothing executed
    assert world.service.list_actions() == []  # nothing half-written
    denied = audit.entries(world.path)[-1]
    assert (denied.event, denied.detail["attempt"], denied.detail["code"]) == (
        "denied",
        "break_glass",
        exc.value.code,
    )
    return exc.value.code


def test_an_approver_alone_fails_over_during_a_sev1_and_it_is_marked_break_glass(world: World):
    incident = declare(world)
    outcome = world.service.break_glass(
        BOB, FAILOVER, PROMOTE, "eu-west-1 is down, promote Frankfurt", incident
    )
    assert outcome.ran and outcome.action.state == "succeeded"
    assert outcome.action.proposed_by == outcome.action.approved_by == "bob@example.com"
    assert world.executor.current(FAILOVER_TARGET).weights == {"eu-west-1": 0.0, "eu-central-1": 1.0}
    assert world.audit_events(outcome.action.id) == ["break_glass", "execute", "succeeded"]
    entry = audit.entries(world.path, action_id=outcome.action.id)[0]
    assert entry.detail["break_glass"] is True and entry.detail["incident_id"] == incident
    assert entry.detail["incident"] == f"#{incident} sev1 eu-west-1: eu-west-1 API down"
    assert entry.detail["countersign_due"].startswith("2026-11-24 12:00")  # 24 h, the shipped config
    assert audit.verify_chain(world.path).ok
    (pending,) = unsigned_break_glass(world.path)
    assert pending.action_id == outcome.action.id and pending.executed_by == "bob@example.com"
    assert not pending.overdue(T0) and pending.overdue(T0 + timedelta(hours=25))


@pytest.mark.parametrize("who", [CAROL, DAVE], ids=["operator", "viewer"])
def test_only_approvers_may_break_glass(world: World, who: Identity):
    assert refused(world, who, declare(world)) == "forbidden"


def test_no_incident_is_refused(world: World):
    assert refused(world, BOB, 999) == "no_incident"


def test_a_recorded_change_is_not_an_incident(world: World):
    assert refused(world, BOB, declare(world, kind="change")) == "no_incident"


@pytest.mark.parametrize("severity", ["sev2", "sev3"])
def test_a_non_sev1_incident_is_refused(world: World, severity: str):
    assert refused(world, BOB, declare(world, severity)) == "not_sev1"


def test_a_resolved_or_future_incident_is_refused(world: World):
    incident = declare(world, minutes_ago=60)
    resolve_incident(
        world.path, incident, actor="bob@example.com", role="approver", at=T0 - timedelta(minutes=5)
    )
    assert refused(world, BOB, incident) == "incident_closed"
    assert refused(world, BOB, declare(world, minutes_ago=-30)) == "incident_closed"


def test_scaling_is_not_break_glass(world: World):
    assert refused(world, BOB, declare(world), Change(desired=30), ECS) == "break_glass_kind"


def test_guardrails_still_apply(tmp_path):
    frozen = make_world(
        tmp_path,
        make_config(
            **{FAILOVER: {"freeze": [{"start": "2026-11-23T00:00:00Z", "end": "2026-11-24T00:00:00Z"}]}}
        ),
    )
    code = refused(frozen, BOB, declare(frozen))
    assert code == "freeze"


def test_an_invalid_routing_is_refused_even_in_an_emergency(world: World):
    nowhere = Change(weights={"eu-west-1": 0.0, "eu-central-1": 0.0})
    assert refused(world, BOB, declare(world), nowhere) == "invalid"


def test_countersign_by_a_second_approver_clears_it(world: World):
    action_id = world.service.break_glass(BOB, FAILOVER, PROMOTE, "down", declare(world)).action.id
    world.clock.advance(hours=2)
    signed = world.service.countersign(ERIN, action_id, "right call")
    assert signed.signed and signed.countersigned_by == "erin@example.com" and not signed.late
    assert unsigned_break_glass(world.path) == []
    assert world.audit_events(action_id)[-1] == "countersign"
    assert world.service.countersign(ALICE, action_id).countersigned_by == "erin@example.com"  # once


def test_self_countersign_is_refused(world: World):
    action_id = world.service.break_glass(BOB, FAILOVER, PROMOTE, "down", declare(world)).action.id
    with pytest.raises(ActionRefused) as exc:
        world.service.countersign(BOB, action_id)
    assert exc.value.code == "self_countersign"
    assert len(unsigned_break_glass(world.path)) == 1


def test_an_operator_cannot_countersign(world: World):
    action_id = world.service.break_glass(BOB, FAILOVER, PROMOTE, "down", declare(world)).action.id
    with pytest.raises(ActionRefused) as exc:
        world.service.countersign(CAROL, action_id)
    assert exc.value.code == "forbidden"


def test_countersign_of_a_normal_action_is_refused(world: World):
    action = world.service.propose(CAROL, ECS, Change(desired=9), "a little more")
    with pytest.raises(ActionRefused) as exc:
        world.service.countersign(BOB, action.id)
    assert exc.value.code == "not_break_glass"


def test_countersign_after_the_deadline_is_recorded_as_late(world: World):
    action_id = world.service.break_glass(BOB, FAILOVER, PROMOTE, "down", declare(world)).action.id
    world.clock.advance(hours=24, minutes=1)
    (pending,) = unsigned_break_glass(world.path)
    assert pending.overdue(world.clock())
    signed = world.service.countersign(ERIN, action_id)
    assert signed.signed and signed.late
    entry = audit.entries(world.path, action_id=action_id)[-1]
    assert entry.event == "countersign" and entry.detail["late"] is True


def test_the_normal_failover_still_needs_a_second_person(world: World):
    declare(world)  # a sev1 open does not relax propose/approve
    action = world.service.propose(BOB, FAILOVER, PROMOTE, "eu-west-1 is down")
    with pytest.raises(ActionRefused) as exc:
        world.service.approve(BOB, action.id)
    assert exc.value.code == "self_approval"
