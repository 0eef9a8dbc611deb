"""Exactly once under reruns, threads and races; crash between intent and result, and reconcile."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from connectors.sandbox_executor import SandboxExecutor
from core import audit
from core.actions import ActionService
from core.auth import Identity
from core.ports import Change, Target, TargetState
from tests.core.actions.support import (
    ALICE,
    ASG,
    BOB,
    CAROL,
    ECS,
    ERIN,
    REPO_ROOT,
    T0,
    CountingSandbox,
    World,
    big_approved,
    make_config,
    make_world,
    shipped_dict,
)


# ---- exactly once -----------------------------------------------------------------------------------
def test_rerun_and_double_click_execute_once(world: World):
    action_id = big_approved(world)
    first = world.service.execute(CAROL, action_id)
    second = world.service.execute(CAROL, action_id)
    third = world.service.execute(BOB, action_id)
    assert first.ran and not second.ran and not third.ran
    assert "never run twice" in second.message
    assert world.changes() == 1
    assert world.audit_events(action_id) == ["propose", "approve", "execute", "succeeded"]


@pytest.mark.parametrize("round_", range(3))
def test_concurrent_executes_from_threads_run_exactly_once(tmp_path: Path, round_: int):
    path = tmp_path / "store.db"
    cfg = make_config(**{ASG: {"approval_step": 1}})
    counting = CountingSandbox(path, cfg)
    w = make_world(tmp_path, cfg, executor=counting)
    action_ids = [big_approved(w, desired=12)]
    asg = w.service.propose(CAROL, ASG, Change(desired=4), "second target")
    w.service.approve(ERIN, asg.id)
    action_ids.append(asg.id)
    n_threads = 8
    barrier = threading.Barrier(n_threads)
    results: list[Any] = []
    errors: list[BaseException] = []

    def click(action_id: int, who: Identity) -> None:
        barrier.wait()
        try:
            results.append(w.service.execute(who, action_id))
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [
        threading.Thread(target=click, args=(action_ids[i % 2], (CAROL, BOB, ALICE, ERIN)[i % 4]))
        for i in range(n_threads)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert counting.applies == 2  # one per action
    for action_id in action_ids:
        mine = [r for r in results if r.action.id == action_id]
        assert sum(r.ran for r in mine) == 1 and len(mine) == n_threads // 2
        events = w.audit_events(action_id)
        assert events.count("execute") == 1 and events.count("succeeded") == 1 and "denied" not in events
    assert w.changes(ECS) == 1 and w.changes(ASG) == 1
    assert audit.verify_chain(w.path).ok


def test_a_racer_finishing_while_we_check_guardrails_is_a_repeat_not_a_refusal(world: World):
    """The loser of a race can pass the first state check, then see the winner's finished change in its
    guardrail re-check (cooldown, 'is a change'): it must report 'already ran', not a denied attempt."""
    action_id = big_approved(world)
    cfg = world.service.cfg
    winner = ActionService(world.path, cfg, world.executor, clock=world.clock)

    class WinnerFinishesFirst(SandboxExecutor):
        fired = False

        def current(self, target: Target) -> TargetState:
            if not WinnerFinishesFirst.fired:
                WinnerFinishesFirst.fired = True
                other_tab = threading.Thread(target=winner.execute, args=(ALICE, action_id))
                other_tab.start()
                other_tab.join()
            return super().current(target)

    loser = ActionService(world.path, cfg, WinnerFinishesFirst(world.path, cfg), clock=world.clock)
    outcome = loser.execute(CAROL, action_id)
    assert not outcome.ran and outcome.action.state == "succeeded"
    assert world.changes() == 1
    assert world.audit_events(action_id) == ["propose", "approve", "execute", "succeeded"]


# ---- crash between intent and result ------------------------------------------------------------------
CRASHING_CHILD = """
import os, sys
from datetime import datetime, UTC
from connectors.sandbox_executor import SandboxExecutor
from core.actions import ActionService
from core.auth import Identity
from core.config import config_from_dict
import tomllib, json

path, action_id, when, now = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
cfg = config_from_dict(json.loads(sys.argv[5]))

class Crashing(SandboxExecutor):
    def apply(self, target, change):
        if when == "before_call":
            os._exit(137)  # the process dies after the intent was committed, before the outside call
        super().apply(target, change)
        os._exit(137)  # the outside system changed, but the result was never recorded

service = ActionService(path, cfg, Crashing(path, cfg), clock=lambda: datetime.fromisoformat(now))
service.execute(Identity("carol@example.com", "Carol", "demo"), action_id)
"""


def crash_during_execute(w: World, action_id: int, when: str) -> None:
    import json

    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            CRASHING_CHILD,
            str(w.path),
            str(action_id),
            when,
            w.clock.t.isoformat(),
            json.dumps(shipped_dict()),
        ],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 137, proc.stderr[-2000:]


@pytest.mark.parametrize(
    ("when", "outcome", "desired", "applied"),
    [("before_call", "failed", 6, 0), ("after_call", "succeeded", 12, 1)],
)
def test_crash_between_intent_and_result_is_reconciled_on_restart(
    world: World, when: str, outcome: str, desired: int, applied: int
):
    action_id = big_approved(world, desired=12)
    crash_during_execute(world, action_id, when)
    left = world.service.get(action_id)
    assert left.state == "executing" and left.owner and left.owner.split(":")[1] != str(os.getpid())
    assert world.changes() == applied
    # a restart: a new service on the same store reconciles, reading the target and never re-applying
    counting = CountingSandbox(world.path, world.service.cfg)
    restarted = ActionService(world.path, world.service.cfg, counting, clock=world.clock)
    results = restarted.reconcile()
    assert [(r.action.id, r.outcome) for r in results] == [(action_id, outcome)]
    assert counting.applies == 0 and world.changes() == applied
    final = restarted.get(action_id)
    assert final.state == outcome and final.after.desired == desired
    if outcome == "failed":
        assert "NOT re-applied" in final.error and "desired 6" in final.error
    assert world.audit_events(action_id) == ["propose", "approve", "execute", "reconcile"]
    assert restarted.reconcile() == []  # settled once
    assert not restarted.execute(CAROL, action_id).ran  # and never run again
    assert audit.verify_chain(world.path).ok


def test_reconcile_settles_an_earlier_run_with_the_same_pid(world: World):
    """A restarted container often gets the same hostname and PID: the old token is still a dead owner."""
    import socket

    action_id = big_approved(world)
    with world.executor._tx() as conn:
        conn.execute(
            "UPDATE actions SET state = 'executing', owner = ?, started_at = ? WHERE id = ?",
            [f"{socket.gethostname()}:{os.getpid()}:an-earlier-run", T0.timestamp(), action_id],
        )
    results = world.service.reconcile()
    assert [(r.action.id, r.outcome) for r in results] == [(action_id, "failed")]
    assert world.changes() == 0


def test_reconcile_leaves_an_execution_in_flight_in_this_process_alone(world: World):
    action_id = big_approved(world)
    seen: list[Any] = []

    class ReconcileDuringApply(SandboxExecutor):
        def apply(self, target: Target, change: Change) -> TargetState:
            seen.extend(world.service.reconcile())  # another session loads the page meanwhile
            return super().apply(target, change)

    service = ActionService(
        world.path, world.service.cfg, ReconcileDuringApply(world.path, world.service.cfg), clock=world.clock
    )
    assert service.execute(CAROL, action_id).action.state == "succeeded"
    assert seen == []
