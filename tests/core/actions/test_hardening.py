"""Issue 19 on the guarded path: an approval covers the change actually applied (a target that moved
since the proposal), bad values in a proposal are audited refusals, and a store locked past the busy
timeout is a clear refusal (docs/ARCHITECTURE.md, "The guarded path")."""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path

import pytest

from core import audit, db
from core.actions import ActionRefused
from core.ports import Change
from tests.core.actions.support import BOB, CAROL, ECS, WEIGHTS, World


def _move(w: World, target: str, desired: int) -> None:
    """What an autoscaler does between the proposal and the execution: the target's desired count moves."""
    with w.executor._tx() as conn:
        conn.execute("UPDATE sandbox_targets SET desired = ? WHERE target = ?", [desired, target])


def _desired(w: World, target: str) -> int:
    return w.service.plan(target, Change(desired=1), "probe").current.desired


# ---- item 1: approval bypass through a moving target ----------------------------------------------
def test_policy_approval_does_not_cover_a_larger_step_after_the_target_moved(world: World):
    world.service.plan(ECS, Change(desired=7), "seed the sandbox row")
    _move(world, ECS, 35)
    action = world.service.propose(CAROL, ECS, Change(desired=39), "four more for the evening peak")
    assert action.state == "approved" and not action.needs_approval  # 35 -> 39: within approval_step 5
    _move(world, ECS, 25)  # the autoscaler scaled in: 25 -> 39 is a step of 14, which needs an approver
    with pytest.raises(ActionRefused) as exc:
        world.service.execute(CAROL, action.id)
    assert exc.value.code == "approval_scope"
    assert "14" in exc.value.message and "4" in exc.value.message
    assert world.changes(ECS) == 0 and _desired(world, ECS) == 25
    denied = audit.entries(world.path)[-1]
    assert (denied.event, denied.action_id, denied.detail["code"]) == ("denied", action.id, "approval_scope")
    assert "execute" not in world.audit_events(action.id)


def test_an_applied_step_larger_than_the_approved_one_is_refused_even_within_the_policy(world: World):
    world.service.plan(ECS, Change(desired=7), "seed the sandbox row")
    _move(world, ECS, 35)
    action = world.service.propose(CAROL, ECS, Change(desired=37), "two more")  # size 2
    _move(world, ECS, 34)  # 34 -> 37 is 3: still within approval_step 5, but more than was approved
    with pytest.raises(ActionRefused) as exc:
        world.service.execute(CAROL, action.id)
    assert exc.value.code == "approval_scope"
    assert world.changes(ECS) == 0


def test_a_human_approval_covers_the_step_it_was_shown_not_a_larger_one(world: World):
    world.service.plan(ECS, Change(desired=7), "seed the sandbox row")
    _move(world, ECS, 30)
    action = world.service.propose(CAROL, ECS, Change(desired=38), "launch")  # size 8: needs approval
    assert action.state == "proposed"
    world.service.approve(BOB, action.id, "ok for 8")
    _move(world, ECS, 25)  # 25 -> 38 is 13
    with pytest.raises(ActionRefused) as exc:
        world.service.execute(CAROL, action.id)
    assert exc.value.code == "approval_scope"
    assert world.changes(ECS) == 0


def test_an_approver_is_not_asked_to_approve_a_larger_step_than_was_proposed(world: World):
    world.service.plan(ECS, Change(desired=7), "seed the sandbox row")
    _move(world, ECS, 30)
    action = world.service.propose(CAROL, ECS, Change(desired=38), "launch")  # size 8
    _move(world, ECS, 25)  # 25 -> 38 is 13 before anyone approved
    with pytest.raises(ActionRefused) as exc:
        world.service.approve(BOB, action.id, "ok")
    assert exc.value.code == "approval_scope" and "13" in exc.value.message
    assert world.service.get(action.id).state == "proposed"
    assert audit.entries(world.path)[-1].event == "denied"


def test_a_target_that_moved_closer_still_runs(world: World):
    world.service.plan(ECS, Change(desired=7), "seed the sandbox row")
    _move(world, ECS, 35)
    action = world.service.propose(CAROL, ECS, Change(desired=39), "four more")
    _move(world, ECS, 37)  # 37 -> 39 is 2: covered by the approval of 4
    outcome = world.service.execute(CAROL, action.id)
    assert outcome.ran and outcome.action.state == "succeeded" and _desired(world, ECS) == 39


# ---- item 13: NaN, infinity and strings in a proposal ---------------------------------------------
@pytest.mark.parametrize(
    ("target", "change"),
    [
        (ECS, Change(desired=math.nan)),
        (ECS, Change(desired=math.inf)),
        (ECS, Change(desired="12")),  # type: ignore[arg-type]
        (ECS, Change(desired=12.5)),  # type: ignore[arg-type]
        (ECS, Change(desired=True)),
        (WEIGHTS, Change(weights={"us-east-1": math.nan})),
        (WEIGHTS, Change(weights={"us-east-1": math.inf})),
        (WEIGHTS, Change(weights={"us-east-1": "x"})),  # type: ignore[dict-item]
        (WEIGHTS, Change(weights=["us-east-1"])),  # type: ignore[arg-type]
    ],
    ids=["nan", "inf", "str", "fraction", "bool", "w-nan", "w-inf", "w-str", "w-list"],
)
def test_bad_values_in_a_proposal_are_an_audited_refusal(world: World, target: str, change: Change):
    with pytest.raises(ActionRefused) as exc:
        world.service.propose(CAROL, target, change, "fat fingers")
    assert exc.value.code == "invalid"
    assert "desired" in exc.value.message or "weight" in exc.value.message
    assert world.service.list_actions() == []
    denied = audit.entries(world.path)[-1]
    assert (denied.event, denied.detail["attempt"], denied.detail["code"]) == ("denied", "propose", "invalid")
    assert audit.verify_chain(world.path).ok


@pytest.mark.parametrize("reason", [None, 42, ["x"]], ids=["none", "int", "list"])
def test_a_reason_that_is_not_text_is_an_audited_refusal(world: World, reason: object):
    with pytest.raises(ActionRefused) as exc:
        world.service.propose(CAROL, ECS, Change(desired=8), reason)  # type: ignore[arg-type]
    assert exc.value.code == "reason"
    assert audit.entries(world.path)[-1].event == "denied"


# ---- item 16: a write lock held past the busy timeout ---------------------------------------------
@pytest.fixture
def short_busy_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    """One second instead of 30 (core.db reads BUSY_TIMEOUT_S whenever it opens a connection)."""
    monkeypatch.setattr(db, "BUSY_TIMEOUT_S", 1)


def _hold_write_lock(path: Path) -> sqlite3.Connection:
    holder = sqlite3.connect(str(path), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another writer (a CLI run, a stuck session) holds the lock
    return holder


def test_a_store_locked_past_the_busy_timeout_is_a_clear_refusal(world: World, short_busy_timeout: None):
    holder = _hold_write_lock(world.path)
    try:
        with pytest.raises(ActionRefused) as exc:
            world.service.propose(CAROL, ECS, Change(desired=8), "more capacity")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert exc.value.code == "store_busy"
    assert "busy" in exc.value.message and "nothing was changed" in exc.value.message
    # the lock was still held, so the refusal says it is not in the audit log
    assert "could not be written to the audit log" in exc.value.message
    assert world.service.list_actions() == [] and audit.entries(world.path) == []
    # once the lock is gone the same proposal goes through
    assert world.service.propose(CAROL, ECS, Change(desired=8), "more capacity").state == "approved"


def test_an_execution_blocked_by_a_lock_changes_nothing_and_runs_once_later(
    world: World, short_busy_timeout: None
):
    action = world.service.propose(CAROL, ECS, Change(desired=8), "more capacity")
    holder = _hold_write_lock(world.path)
    try:
        with pytest.raises(ActionRefused) as exc:
            world.service.execute(CAROL, action.id)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert exc.value.code == "store_busy" and exc.value.action_id == action.id
    assert world.changes(ECS) == 0 and world.service.get(action.id).state == "approved"
    assert world.service.execute(CAROL, action.id).action.state == "succeeded"
    assert world.service.execute(CAROL, action.id).ran is False
    assert world.changes(ECS) == 1
