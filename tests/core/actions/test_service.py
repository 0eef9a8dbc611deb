"""ActionService transitions: roles, the two-person rule, expiry, guardrails, the dry run, audit."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from connectors.sandbox_executor import SandboxExecutor
from core import audit
from core.actions import ActionRefused, ActionService, drain_region, routing_shares
from core.auth import ANONYMOUS, Identity
from core.config import config_from_dict
from core.ports import Change, SourceError, Target, TargetState
from tests.core.actions.support import (
    AAS,
    ALICE,
    ASG,
    BOB,
    CAROL,
    DAVE,
    ECS,
    ERIN,
    FAILOVER,
    MALLORY,
    T0,
    WEIGHTS,
    World,
    big_approved,
    make_config,
    make_world,
    shipped_dict,
)


# ---- the happy paths --------------------------------------------------------------------------------
def test_operator_proposes_approver_approves_and_it_runs_exactly_once(world: World):
    action = world.service.propose(CAROL, ECS, Change(desired=12), "Black Friday in two hours")
    assert (action.state, action.needs_approval, action.proposed_by) == (
        "proposed",
        True,
        "carol@example.com",
    )
    approved = world.service.approve(BOB, action.id, "looks right")
    assert approved.state == "approved" and approved.approved_by == "bob@example.com"
    assert approved.expires_at == T0 + timedelta(minutes=30)
    outcome = world.service.execute(CAROL, action.id)
    assert outcome.ran and outcome.action.state == "succeeded"
    assert outcome.action.before.desired == 6 and outcome.action.after.desired == 12
    assert world.executor.current(Target(ECS, "ecs_service", "us-east-1")).desired == 12
    assert world.changes() == 1
    assert world.audit_events(action.id) == ["propose", "approve", "execute", "succeeded"]
    assert audit.verify_chain(world.path).ok


def test_small_scaling_by_an_operator_runs_without_approval_through_the_same_path(world: World):
    action = world.service.propose(CAROL, ECS, Change(desired=9), "a little more headroom")
    assert action.state == "approved" and not action.needs_approval and action.approved_by is None
    outcome = world.service.execute(CAROL, action.id)
    assert outcome.ran and outcome.action.state == "succeeded"
    assert world.audit_events(action.id) == ["propose", "execute", "succeeded"]
    entry = audit.entries(world.path, action_id=action.id)[1]
    assert entry.detail["approved_by"] == "policy (within approval step)"


def test_failover_always_needs_approval_even_for_an_admin(world: World):
    action = world.service.propose(
        ALICE, FAILOVER, Change(weights={"eu-central-1": 1.0, "eu-west-1": 0.0}), "eu-west-1 is down"
    )
    assert action.state == "proposed" and action.needs_approval
    with pytest.raises(ActionRefused) as exc:
        world.service.execute(ALICE, action.id)
    assert exc.value.code == "not_approved"
    world.service.approve(ERIN, action.id)
    assert world.service.execute(ALICE, action.id).action.state == "succeeded"
    state = world.executor.current(
        Target(
            FAILOVER, "route53_failover", "eu-west-1", {"primary": "eu-west-1", "secondary": "eu-central-1"}
        )
    )
    assert state.weights == {"eu-west-1": 0.0, "eu-central-1": 1.0}


def test_draining_a_region_shifts_its_share_to_the_others(world: World):
    current = world.service.plan(WEIGHTS, Change(weights={"eu-west-1": 0.0})).current
    change = Change(weights=drain_region(current.weights, "eu-west-1"))
    action = world.service.propose(CAROL, WEIGHTS, change, "drain eu-west-1 for the DB migration")
    world.service.approve(BOB, action.id)
    after = world.service.execute(CAROL, action.id).action.after
    shares = routing_shares(after.weights)
    assert shares["eu-west-1"] == 0.0
    assert sum(shares.values()) == pytest.approx(1.0)
    before_shares = routing_shares(current.weights)
    ratio = shares["us-east-1"] / before_shares["us-east-1"]
    assert shares["ap-southeast-1"] / before_shares["ap-southeast-1"] == pytest.approx(ratio)


# ---- roles: core refuses whatever the page shows -----------------------------------------------------
@pytest.mark.parametrize("who", [DAVE, MALLORY, ANONYMOUS], ids=["viewer", "unknown", "anonymous"])
def test_viewers_cannot_propose(world: World, who: Identity):
    with pytest.raises(ActionRefused) as exc:
        world.service.propose(who, ECS, Change(desired=8), "I want more")
    assert exc.value.code == "forbidden"
    # the roles named are the ones core.auth.PERMISSIONS grants
    assert (
        exc.value.message == "Your role (viewer) cannot propose changes; operators, approvers and admins can."
    )
    assert world.service.list_actions() == []
    denied = audit.entries(world.path)[-1]
    assert (denied.event, denied.detail["attempt"], denied.role) == ("denied", "propose", "viewer")


@pytest.mark.parametrize("who", [DAVE, CAROL, MALLORY], ids=["viewer", "operator", "unknown"])
def test_viewer_and_operator_cannot_approve_or_reject(world: World, who: Identity):
    action = world.service.propose(ALICE, ECS, Change(desired=12), "scale for launch")
    for call in (
        lambda: world.service.approve(who, action.id),
        lambda: world.service.reject(who, action.id, "no"),
    ):
        with pytest.raises(ActionRefused) as exc:
            call()
        assert exc.value.code == "forbidden"
        assert exc.value.message.endswith("; approvers and admins can.")
    assert world.service.get(action.id).state == "proposed"
    assert world.audit_events(action.id) == ["propose", "denied", "denied"]


def test_viewer_cannot_execute_even_an_approved_action(world: World):
    action_id = big_approved(world)
    for who in (DAVE, MALLORY, ANONYMOUS):
        with pytest.raises(ActionRefused) as exc:
            world.service.execute(who, action_id)
        assert exc.value.code == "forbidden"
    assert world.service.get(action_id).state == "approved"
    assert world.changes() == 0


def test_operator_cannot_execute_what_needs_approval(world: World):
    action = world.service.propose(CAROL, ECS, Change(desired=12), "scale for launch")
    with pytest.raises(ActionRefused) as exc:
        world.service.execute(CAROL, action.id)
    assert exc.value.code == "not_approved"
    assert world.changes() == 0 and world.service.get(action.id).state == "proposed"


@pytest.mark.parametrize("who", [BOB, ALICE], ids=["approver", "admin"])
def test_self_approval_is_refused_for_everyone(world: World, who: Identity):
    action = world.service.propose(who, ECS, Change(desired=12), "scale for launch")
    with pytest.raises(ActionRefused) as exc:
        world.service.approve(who, action.id)
    assert exc.value.code == "self_approval"
    with pytest.raises(ActionRefused) as exc:
        world.service.reject(who, action.id, "changed my mind")
    assert exc.value.code == "self_approval"
    # the same person with different capitalisation is still the same person
    with pytest.raises(ActionRefused):
        world.service.approve(Identity(who.email.upper(), source="demo"), action.id)
    assert world.service.get(action.id).state == "proposed"


def test_cancel_only_by_proposer_or_admin_and_needs_a_reason(world: World):
    action = world.service.propose(CAROL, ECS, Change(desired=12), "scale for launch")
    with pytest.raises(ActionRefused) as exc:
        world.service.cancel(BOB, action.id, "not yours")
    assert exc.value.code == "forbidden"
    with pytest.raises(ActionRefused) as exc:
        world.service.cancel(CAROL, action.id, "  ")
    assert exc.value.code == "reason"
    assert world.service.cancel(CAROL, action.id, "traffic forecast changed").state == "cancelled"
    with pytest.raises(ActionRefused) as exc:
        world.service.approve(BOB, action.id)
    assert exc.value.code == "state"
    other = world.service.propose(CAROL, ECS, Change(desired=12), "again")
    assert world.service.cancel(ALICE, other.id, "admin override").state == "cancelled"


def test_reject_closes_a_proposal_with_a_reason(world: World):
    action = world.service.propose(CAROL, ECS, Change(desired=12), "scale for launch")
    with pytest.raises(ActionRefused) as exc:
        world.service.reject(BOB, action.id, "")
    assert exc.value.code == "reason"
    rejected = world.service.reject(BOB, action.id, "the forecast does not show this peak")
    assert (rejected.state, rejected.closed_by) == ("rejected", "bob@example.com")
    with pytest.raises(ActionRefused) as exc:
        world.service.execute(CAROL, action.id)
    assert exc.value.code == "state"


# ---- expiry -----------------------------------------------------------------------------------------
def test_expired_proposal_cannot_be_approved(world: World):
    action = world.service.propose(CAROL, ECS, Change(desired=12), "scale for launch")
    world.clock.advance(minutes=30, seconds=1)
    with pytest.raises(ActionRefused) as exc:
        world.service.approve(BOB, action.id)
    assert exc.value.code == "expired" and "expired at 2026-11-23 12:30:00 UTC" in exc.value.message
    assert world.service.get(action.id).state == "expired"
    assert world.audit_events(action.id) == ["propose", "expire", "denied"]


def test_expired_approval_cannot_be_executed(world: World):
    action_id = big_approved(world)
    world.clock.advance(minutes=31)
    with pytest.raises(ActionRefused) as exc:
        world.service.execute(CAROL, action_id)
    assert exc.value.code == "expired"
    assert world.changes() == 0
    assert world.service.get(action_id).state == "expired"


def test_approval_is_valid_for_the_configured_expiry(tmp_path: Path):
    data = shipped_dict()
    data["auth"]["approval_expiry"] = "5m"
    w = make_world(tmp_path, config_from_dict(data))
    action_id = big_approved(w)
    w.clock.advance(minutes=4, seconds=59)
    assert w.service.execute(CAROL, action_id).action.state == "succeeded"


def test_expire_stale_closes_overdue_proposals_and_approvals(world: World):
    pending = world.service.propose(CAROL, ECS, Change(desired=12), "a")
    approved = world.service.propose(CAROL, ASG, Change(desired=4), "b")  # within the approval step
    assert approved.state == "approved"
    world.clock.advance(minutes=29)
    assert world.service.expire_stale() == []
    world.clock.advance(minutes=2)
    assert sorted(world.service.expire_stale()) == [pending.id, approved.id]
    assert {a.state for a in world.service.list_actions()} == {"expired"}


# ---- guardrails -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("target", "change", "code", "text"),
    [
        (ECS, Change(desired=95), "bounds", "outside 6..90"),
        (ECS, Change(desired=4), "bounds", "outside 6..90"),
        (ECS, Change(desired=13), "step", "x2.17"),
        (ASG, Change(desired=12, max_instances=20), "step", "step of 10"),
        (ASG, Change(min_instances=9, max_instances=8), "bounds", "min 9 would exceed max 8"),
        (ECS, Change(min_instances=6, max_instances=20), "invalid", "cannot change max, min"),
        (AAS, Change(desired=10), "invalid", "cannot change desired"),
        (ECS, Change(desired=6), "no_change", "already is in this state"),
        (ECS, Change(), "invalid", "sets nothing"),
        (WEIGHTS, Change(weights={"mars-north-1": 1.0}), "invalid", "unknown record set"),
        (FAILOVER, Change(weights={"eu-west-1": 0.0}), "invalid", "every record would have weight 0"),
    ],
)
def test_guardrail_refusals(world: World, target: str, change: Change, code: str, text: str):
    with pytest.raises(ActionRefused) as exc:
        world.service.propose(ALICE, target, change, "testing the guardrails")
    assert exc.value.code == code
    assert text in exc.value.message
    assert world.service.list_actions() == []
    assert world.audit_events()[-1] == "denied"


def test_draining_every_weighted_region_is_refused(world: World):
    current = world.service.plan(WEIGHTS, Change(weights={})).current
    with pytest.raises(ActionRefused) as exc:
        world.service.propose(ALICE, WEIGHTS, Change(weights=dict.fromkeys(current.weights, 0.0)), "all off")
    assert "nowhere to go" in exc.value.message


def test_reason_is_required(world: World):
    with pytest.raises(ActionRefused) as exc:
        world.service.propose(CAROL, ECS, Change(desired=8), "   ")
    assert exc.value.code == "reason"
    assert "reason is required" in exc.value.message


def test_unknown_target_is_refused(world: World):
    with pytest.raises(ActionRefused) as exc:
        world.service.propose(CAROL, "prod-db", Change(desired=8), "why not")
    assert exc.value.code == "unknown_target"


def test_cooldown_between_changes_to_a_target(world: World):
    first = world.service.propose(CAROL, ECS, Change(desired=9), "step one")
    world.service.execute(CAROL, first.id)
    world.clock.advance(minutes=4)
    with pytest.raises(ActionRefused) as exc:
        world.service.propose(CAROL, ECS, Change(desired=11), "step two")
    assert exc.value.code == "cooldown" and "cooldown ends at 2026-11-23 12:05:00 UTC" in exc.value.message
    # another target is not affected
    assert world.service.propose(CAROL, ASG, Change(desired=4), "other target").state == "approved"
    world.clock.advance(minutes=1)
    assert world.service.propose(CAROL, ECS, Change(desired=11), "step two").state == "approved"


def test_cooldown_is_checked_again_at_execution(world: World):
    first = world.service.propose(CAROL, ECS, Change(desired=9), "step one")
    world.service.execute(CAROL, first.id)
    world.clock.advance(minutes=6)
    second = world.service.propose(CAROL, ECS, Change(desired=16), "step two")
    world.service.approve(BOB, second.id)
    # the config is tightened to a 30 min cooldown before the approved change runs
    stricter = ActionService(
        world.path, make_config(**{ECS: {"cooldown": "30m"}}), world.executor, clock=world.clock
    )
    with pytest.raises(ActionRefused) as exc:
        stricter.execute(CAROL, second.id)
    assert exc.value.code == "cooldown" and "12:30:00 UTC" in exc.value.message
    assert world.changes() == 1


def test_freeze_window_refuses_proposals(tmp_path: Path):
    freeze = [{"start": "2026-11-23T11:00:00Z", "end": "2026-11-23T13:00:00Z", "reason": "release freeze"}]
    w = make_world(tmp_path, make_config(**{ECS: {"freeze": freeze}}))
    with pytest.raises(ActionRefused) as exc:
        w.service.propose(CAROL, ECS, Change(desired=8), "need capacity")
    assert exc.value.code == "freeze"
    assert "release freeze" in exc.value.message and "2026-11-23 13:00:00 UTC" in exc.value.message
    w.clock.advance(hours=1)  # 13:00: the window has ended
    assert w.service.propose(CAROL, ECS, Change(desired=8), "need capacity").state == "approved"


def test_freeze_that_starts_after_approval_refuses_execution(tmp_path: Path):
    freeze = [{"start": "2026-11-23T12:10:00Z", "end": "2026-11-23T18:00:00Z", "reason": "game day"}]
    w = make_world(tmp_path, make_config(**{ECS: {"freeze": freeze}}))
    action_id = big_approved(w)
    w.clock.advance(minutes=15)
    with pytest.raises(ActionRefused) as exc:
        w.service.execute(CAROL, action_id)
    assert exc.value.code == "freeze"
    assert w.changes() == 0 and w.service.get(action_id).state == "approved"


def test_unreadable_freeze_window_refuses_rather_than_guesses(tmp_path: Path):
    freeze = [{"start": "next tuesday", "end": "2026-11-23T18:00:00Z"}]
    w = make_world(tmp_path, make_config(**{ECS: {"freeze": freeze}}))
    with pytest.raises(ActionRefused) as exc:
        w.service.propose(CAROL, ECS, Change(desired=8), "need capacity")
    assert exc.value.code == "freeze" and "cannot be read" in exc.value.message


def test_guardrails_are_rechecked_against_the_state_at_execution(world: World):
    action_id = big_approved(world, desired=12)
    # the target moved on its own since the proposal: 6 -> 5 makes 12 a x2.4 step
    with world.executor._tx() as conn:
        conn.execute("UPDATE sandbox_targets SET desired = 5 WHERE target = ?", [ECS])
    with pytest.raises(ActionRefused) as exc:
        world.service.execute(CAROL, action_id)
    assert exc.value.code in ("step", "bounds")
    assert world.changes() == 0


def test_one_open_action_per_target_and_idempotent_submit(world: World):
    first = world.service.propose(CAROL, ECS, Change(desired=12), "launch", request_id="form-1")
    again = world.service.propose(CAROL, ECS, Change(desired=12), "launch", request_id="form-1")
    assert again.id == first.id
    with pytest.raises(ActionRefused) as exc:
        world.service.propose(BOB, ECS, Change(desired=11), "launch, from another tab", request_id="form-2")
    assert exc.value.code == "open_action" and f"#{first.id}" in exc.value.message
    assert len(world.service.list_actions()) == 1
    assert world.audit_events().count("propose") == 1


def test_plan_lists_every_guardrail_with_pass_or_fail(world: World):
    plan = world.service.plan(ECS, Change(desired=13), "launch")
    names = [c.name for c in plan.checks]
    assert names == [
        "reason given",
        "change is valid for this target",
        "current state read",
        "within target bounds 6..90",
        "largest step 20",
        "step factor x2",
        "is a change",
        "cooldown",
        "freeze windows",
        "no other open action on this target",
    ]
    assert [c.name for c in plan.failed] == ["step factor x2"]
    assert plan.current.desired == 6 and plan.after.desired == 13 and plan.size == 7
    assert plan.needs_approval and "larger than the approval step (5)" in plan.approval_reason


def test_prediction_of_utilisation_and_cost_or_a_note_why_not(world: World):
    # a day of demand at 5-minute steps peaking at 400 req/s in us-east-1 (50 req/s per instance at 100%)
    index = pd.date_range(T0 - timedelta(hours=24), T0, freq="5min", tz="UTC")
    demand = pd.Series(200.0 + 200.0 * np.sin(np.linspace(0, np.pi, len(index))), index=index)
    plan = world.service.plan(ECS, Change(desired=12), "x", demand=demand)
    try:
        import core.capacity  # noqa: F401
    except ImportError:
        assert plan.prediction is None and "core.capacity" in plan.prediction_note
        return
    p = plan.prediction
    assert p is not None, plan.prediction_note
    # 6 instances serve 300 req/s at most: the peak saturates them; 12 serve 600 req/s
    assert p.utilisation_before == pytest.approx(1.0, abs=0.02)
    assert p.utilisation_after == pytest.approx(400 / 600, abs=0.03)
    price = next(f for f in world.service.cfg.fleet if f.name == ECS).price_per_hour
    assert p.cost_per_month_before_usd == pytest.approx(6 * price * 730, rel=0.01)
    assert p.cost_per_month_after_usd == pytest.approx(12 * price * 730, rel=0.01)
    no_demand = world.service.plan(ECS, Change(desired=12), "x")
    assert no_demand.prediction is None and "No recent demand" in no_demand.prediction_note
    failover = world.service.plan(WEIGHTS, Change(weights={"eu-west-1": 0.0}), "x", demand=demand)
    assert failover.prediction is None and "scaling" in failover.prediction_note


def test_unreadable_target_fails_the_plan_and_refuses(tmp_path: Path):
    class Unreachable(SandboxExecutor):
        """The sandbox with its outside system gone (what a network outage looks like to core)."""

        def current(self, target: Target) -> TargetState:
            raise SourceError("aws ecs", "could not connect to the endpoint")

    path = tmp_path / "store.db"
    cfg = make_config()
    w = make_world(tmp_path, cfg, executor=Unreachable(path, cfg))
    with pytest.raises(ActionRefused) as exc:
        w.service.propose(CAROL, ECS, Change(desired=8), "need capacity")
    assert exc.value.code == "target_unreadable" and "could not connect" in exc.value.message


def test_executor_failure_ends_failed_with_the_reason(tmp_path: Path):
    class FailingApply(SandboxExecutor):
        def apply(self, target: Target, change: Change) -> TargetState:
            raise SourceError("aws ecs", "update_service failed: AccessDeniedException: not authorised")

    path = tmp_path / "store.db"
    cfg = make_config()
    w = make_world(tmp_path, cfg, executor=FailingApply(path, cfg))
    action = w.service.propose(CAROL, ECS, Change(desired=9), "more")
    outcome = w.service.execute(CAROL, action.id)
    assert outcome.ran and outcome.action.state == "failed"
    assert "AccessDeniedException" in outcome.action.error
    assert w.audit_events(action.id) == ["propose", "execute", "failed"]
    # a repeat click does not retry a failed action
    assert not w.service.execute(CAROL, action.id).ran
