"""Property test of the guarded path (issue 19): random sequences of propose / approve / reject / cancel /
execute / expire, with the target moved between steps (an autoscaler) and the clock advanced, by random
identities (admins, approvers, operators, viewers, strangers, nobody). Whatever the sequence:

- no change is applied that is larger than its approval allows (the step actually applied is at most the
  step approved; beyond the approval step, or for failover, a second person approved it);
- no action is applied twice;
- every transition is audited: each op's new audit entries are exactly the events of the state changes
  it caused, plus one `denied` entry when (and only when) it was refused; the chain verifies.

docs/ARCHITECTURE.md, "The guarded path". The number of sequences run is printed (pytest -s).
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.sandbox_executor import SandboxExecutor
from core import audit
from core.actions import ActionRefused, ActionService
from core.auth import ANONYMOUS, Identity
from core.ports import Change, Target, TargetState
from tests.core.actions.support import (
    ALICE,
    ASG,
    BOB,
    CAROL,
    DAVE,
    ECS,
    ERIN,
    MALLORY,
    T0,
    WEIGHTS,
    Clock,
    make_config,
)

PEOPLE: tuple[Identity, ...] = (ALICE, BOB, ERIN, CAROL, DAVE, MALLORY, ANONYMOUS)
SCALING = {ECS: (6, 90), ASG: (2, 20)}  # the shipped config's bounds (tests/core/actions/support.py)
START = {ECS: 30, ASG: 10}  # desired counts the sandbox starts each sequence at
SEQUENCES = {"count": 0}

# which audit events a state change of one action writes (old state -> new state)
TRANSITION_EVENTS: dict[tuple[str | None, str], list[str]] = {
    (None, "proposed"): ["propose"],
    (None, "approved"): ["propose"],  # approved by policy (within the approval step)
    ("proposed", "approved"): ["approve"],
    ("proposed", "rejected"): ["reject"],
    ("proposed", "cancelled"): ["cancel"],
    ("approved", "cancelled"): ["cancel"],
    ("proposed", "expired"): ["expire"],
    ("approved", "expired"): ["expire"],
    ("approved", "succeeded"): ["execute", "succeeded"],
    ("approved", "failed"): ["execute", "failed"],
}


class RecordingSandbox(SandboxExecutor):
    """The real sandbox, recording every apply with the state it found (what the change really did)."""

    def __init__(self, *args: Any):
        super().__init__(*args)
        self.applied: list[tuple[str, TargetState, Change]] = []

    def apply(self, target: Target, change: Change) -> TargetState:
        self.applied.append((target.name, self.current(target), change))
        return super().apply(target, change)


@dataclass
class Run:
    service: ActionService
    executor: RecordingSandbox
    clock: Clock
    path: Path
    applies_of: dict[int, list[tuple[str, TargetState, Change]]] = field(default_factory=dict)


# people weighted towards those who may act (the interesting sequences), with the powerless in between
PEOPLE_WEIGHTED: tuple[Identity, ...] = (ALICE, BOB, BOB, ERIN, CAROL, CAROL, DAVE, MALLORY, ANONYMOUS)
# op kinds weighted so that propose -> (target moves) -> approve/execute happens often in 25 steps
KINDS = (
    ("propose",) * 3
    + ("approve",) * 2
    + ("execute",) * 3
    + ("move",) * 3
    + (
        "reject",
        "cancel",
        "wait",
        "expire_stale",
    )
)
ops = st.tuples(
    st.sampled_from(KINDS),
    st.sampled_from(PEOPLE_WEIGHTED),
    st.sampled_from([ECS, ECS, ASG, WEIGHTS]),  # propose: the target; move: a scaling one
    st.integers(-15, 15),  # propose: desired - current; move: how far the autoscaler moves it
    st.integers(0, 3),  # which action: 0..2 the newest ones, 3 one that does not exist
    st.sampled_from([1, 4, 6, 20, 31]),  # wait: minutes (cooldown 5 min, expiry 30 min)
)


def _template() -> Path:
    """One store with the sandbox rows created, copied for every sequence (a fresh store each time)."""
    if not hasattr(_template, "path"):
        folder = Path(tempfile.mkdtemp(prefix="headroom-prop-"))
        from connectors.store import open_db

        path = folder / "store.db"
        open_db(path).conn.close()
        cfg = make_config()
        sandbox = SandboxExecutor(path, cfg)
        for t in cfg.target:
            sandbox.current(Target(t.name, t.kind, t.region, dict(t.params)))
        with sandbox._tx() as conn:  # mid-range, so proposals and the autoscaler move both ways
            for name, desired in START.items():
                conn.execute("UPDATE sandbox_targets SET desired = ? WHERE target = ?", [desired, name])
        ActionService(path, cfg, sandbox)
        _template.path = path  # type: ignore[attr-defined]
    return _template.path  # type: ignore[attr-defined]


def _fresh_run() -> Run:
    folder = Path(tempfile.mkdtemp(prefix="headroom-prop-"))
    path = folder / "store.db"
    shutil.copy(_template(), path)
    cfg = make_config()
    clock = Clock(T0)
    executor = RecordingSandbox(path, cfg)
    return Run(ActionService(path, cfg, executor, clock=clock), executor, clock, path)


def _target(run: Run, name: str) -> Target:
    t = run.service.target(name)
    assert t is not None
    return Target(t.name, t.kind, t.region, dict(t.params))


def _states(run: Run) -> dict[int, str]:
    return {a.id: a.state for a in run.service.list_actions(limit=10_000)}


# the states each op is most interesting on (it is still tried on any other action sometimes)
PREFERRED = {"approve": ("proposed",), "reject": ("proposed",), "cancel": ("proposed", "approved")}


def _pick(run: Run, kind: str, index: int) -> int:
    """An action id: index 0-1 one of the newest in the states the op is meant for (else any), index 2 the
    newest of all, index 3 (or no action yet) one that does not exist."""
    states = _states(run)
    ids = sorted(states, reverse=True)
    if not ids or index == 3:
        return 10_000 + index
    fitting = [i for i in ids if states[i] in PREFERRED.get(kind, ("approved",))]
    pool = fitting if fitting and index < 2 else ids
    return pool[index % len(pool)]


def _step(run: Run, op: tuple) -> None:
    kind, who, target, number, index, minutes = op
    if kind == "propose":
        current = run.executor.current(_target(run, target))
        if target == WEIGHTS:
            weights = current.weights or {}
            region = sorted(weights)[abs(number) % len(weights)]
            change = Change(weights={region: 0.0 if number % 2 else 50.0})
        else:
            change = Change(desired=max(0, (current.desired or 0) + number))
        run.service.propose(who, target, change, f"property step {number}")
    elif kind in ("approve", "reject", "cancel"):
        call = getattr(run.service, kind)
        call(who, _pick(run, kind, index), "ok" if kind == "approve" else "because")
    elif kind == "execute":
        action_id = _pick(run, kind, index)
        before = len(run.executor.applied)
        run.service.execute(who, action_id)
        new = run.executor.applied[before:]
        if new:
            run.applies_of.setdefault(action_id, []).extend(new)
    elif kind == "move":
        name = target if target in SCALING else ECS
        lo, hi = SCALING[name]
        desired = (run.executor.current(_target(run, name)).desired or lo) + number
        with run.executor._tx() as conn:
            conn.execute(
                "UPDATE sandbox_targets SET desired = ? WHERE target = ?", [min(max(desired, lo), hi), name]
            )
    elif kind == "wait":
        run.clock.advance(minutes=minutes)
    elif kind == "expire_stale":
        run.service.expire_stale()


def _check_audit_of_step(run: Run, old: dict[int, str], new: dict[int, str], entries: list, refused: bool):
    denied = [e for e in entries if e.event == "denied"]
    assert len(denied) == (1 if refused else 0), (refused, [e.event for e in entries])
    by_action: dict[int, list[str]] = {}
    for e in entries:
        if e.event != "denied":
            by_action.setdefault(e.action_id, []).append(e.event)
    expected: dict[int, list[str]] = {}
    for action_id, state in new.items():
        before = old.get(action_id)
        if before == state:
            continue
        events = TRANSITION_EVENTS.get((before, state))
        assert events is not None, f"unexpected transition {before} -> {state} of #{action_id}"
        expected[action_id] = events
    assert by_action == expected, (old, new, by_action)


def _check_applied_within_approval(run: Run) -> None:
    for action_id, applies in run.applies_of.items():
        assert len(applies) == 1, f"action #{action_id} was applied {len(applies)} times"
        action = run.service.get(action_id)
        assert action is not None
        target = run.service.target(action.target)
        assert target is not None
        name, before, change = applies[0]
        assert name == action.target and change == action.change
        if action.kind == "failover":
            assert action.approved_by and action.approved_by.lower() != action.proposed_by.lower()
            continue
        step = abs((change.desired or 0) - (before.desired or 0))
        approved_step = int(action.plan["size"])
        assert step <= approved_step, f"#{action_id}: applied a step of {step}, approved {approved_step}"
        if step > target.approval_step:
            assert action.approved_by and action.approved_by.lower() != action.proposed_by.lower()
    # every sandbox change belongs to exactly one action
    assert len(run.executor.applied) == sum(len(a) for a in run.applies_of.values())


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=False,
)
@given(st.lists(ops, min_size=1, max_size=25))
def _sequences(sequence: list[tuple]) -> None:
    SEQUENCES["count"] += 1
    run = _fresh_run()
    try:
        _run_sequence(run, sequence)
    finally:
        shutil.rmtree(run.path.parent, ignore_errors=True)


def _run_sequence(run: Run, sequence: list[tuple]) -> None:
    for op in sequence:
        old = _states(run)
        seen = len(audit.entries(run.path))
        refused = False
        try:
            _step(run, op)
        except ActionRefused:
            refused = True
        new = _states(run)
        _check_audit_of_step(run, old, new, audit.entries(run.path)[seen:], refused)
        _check_applied_within_approval(run)
    assert audit.verify_chain(run.path).ok
    # a second execute of anything that ran is a no-op
    for action_id in list(run.applies_of):
        assert run.service.execute(ALICE, action_id).ran is False
    _check_applied_within_approval(run)


def test_no_sequence_exceeds_its_approval_runs_twice_or_skips_the_audit():
    SEQUENCES["count"] = 0
    _sequences()
    print(f"\nguarded-path property test: {SEQUENCES['count']} action sequences generated")
    assert SEQUENCES["count"] >= 100
    shutil.rmtree(_template().parent, ignore_errors=True)
