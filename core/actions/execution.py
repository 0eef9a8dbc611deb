"""Running an approved action exactly once, and settling what a crashed process left executing.

approved -> executing is one compare-and-set inside BEGIN IMMEDIATE, so of any number of reruns, double
clicks, tabs or threads exactly one wins and calls the executor. The intent (state executing, the state
read before, the owner process) is committed before the outside call; `reconcile()` reads the target of
anything a dead process left executing and records what it shows, never re-applying. An execution whose
result this very process could not record (the store went away after the outside call) is settled the
same way by the next ActionService call once the store is back (`settle_unrecorded`), not only on the
next start.

A change the executor applied but could not read back (core.ports.AppliedUnverified: the write call
succeeded, the read-back did not) is recorded as `unverified`, audited as such, never run again, and
confirmed by `reconcile()` from the target's state once it can be read (issue 19 item 18)."""

from __future__ import annotations

import contextlib
import os
import socket
import sqlite3
import threading
import uuid
from datetime import datetime, timedelta
from typing import Literal

from core import audit, db
from core.actions import store as actions_store
from core.actions.base import _minutes, _ServiceBase, store_guarded
from core.actions.rules import check_cooldown, check_freeze, matches
from core.actions.types import (
    SYSTEM_ACTOR,
    SYSTEM_ROLE,
    UNVERIFIED,
    Action,
    ActionRefused,
    ExecuteOutcome,
    Plan,
    ReconcileOutcome,
    change_to_dict,
    describe_change,
    describe_state,
    executor_target,
    fmt_utc,
    state_to_dict,
)
from core.auth import Identity
from core.config import ActionTarget
from core.ports import AppliedUnverified, Change, SourceError, TargetState

# this process, recorded as the owner of what it executes; reconcile() leaves live owners alone
PROCESS_TOKEN = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
# an execution older than this is reconciled even if its owner seems alive (PID reuse; executors give up
# after a few minutes at most)
STALE_EXECUTION = timedelta(hours=1)

# states in which an action has been (or is being) run: a repeat of execute() is then a no-op
_RAN_STATES = ("executing", "succeeded", "failed", UNVERIFIED)

# store -> ids of actions this process sent to their target but could not record the result of (the
# store went away in between). The next call on that store settles them from the target's state.
_UNRECORDED: dict[str, set[int]] = {}
_UNRECORDED_LOCK = threading.Lock()


class ResultUnrecorded(ActionRefused, db.StoreUnavailable):
    """The change was sent to the target but the store went away before its result was recorded: a
    refusal with a sentence for the page, and a StoreUnavailable for callers that watch the store."""


def _remember_unrecorded(store: str, action_id: int) -> None:
    with _UNRECORDED_LOCK:
        _UNRECORDED.setdefault(store, set()).add(action_id)


def _forget_unrecorded(store: str, action_id: int) -> None:
    with _UNRECORDED_LOCK:
        _UNRECORDED.get(store, set()).discard(action_id)


def unrecorded_actions(store: str) -> list[int]:
    """Actions of `store` this process applied without recording the result (not yet settled)."""
    with _UNRECORDED_LOCK:
        return sorted(_UNRECORDED.get(str(store), ()))


class _ExecutionSteps(_ServiceBase):
    """execute() and reconcile(), each broken into its named steps."""

    @store_guarded("execute")
    def execute(self, actor: Identity, action_id: int) -> ExecuteOutcome:
        """Run an approved action exactly once. A repeat (rerun, double click, another tab) that finds it
        already executing or finished returns ran=False and changes nothing."""
        role = self.role(actor)
        loaded = self._load_for_execute(actor, role, action_id)
        if isinstance(loaded, ExecuteOutcome):
            return loaded
        replanned = self._replan(actor, loaded)
        if isinstance(replanned, ExecuteOutcome):
            return replanned
        target, plan = replanned
        claimed = self._claim(actor, role, loaded, target, plan)
        if claimed is not None:
            return claimed
        # the intent is committed: now, and only now, the outside call
        after, error, unverified = self._apply(target, loaded.change)
        try:
            if unverified is not None:
                return self._record_unverified(actor, role, loaded, unverified)
            return self._record_outcome(actor, role, loaded, after, error)
        except (sqlite3.DatabaseError, db.StoreUnavailable) as exc:
            # the outside call happened: "nothing was changed" would be a lie. The intent stays recorded
            # (executing); the next call on this store once it is back settles it from the target's
            # state (settle_unrecorded), and reconcile() does on another process or after a restart.
            _remember_unrecorded(self.path, loaded.id)
            raise ResultUnrecorded(
                "result_unrecorded",
                f"Action #{loaded.id} was sent to the target, but its result could not be recorded "
                f"({exc}): it stays 'executing' and will be settled from the target's state as soon as "
                "the store is back, never applied again. Check the target before doing anything else.",
                loaded.id,
            ) from None

    def _load_for_execute(self, actor: Identity, role: str, action_id: int) -> Action | ExecuteOutcome:
        """The approved, unexpired action; or the outcome of a repeat (it already ran or is running).
        Anything else is refused (and audited)."""
        self._require(actor, role, "execute", "execute", "execute changes", action_id=action_id)
        action = self._load(actor, "execute", action_id)
        if action.state in _RAN_STATES:
            return ExecuteOutcome(action, False, _already(action))
        if action.state == "proposed":
            raise self._refuse(
                actor,
                "execute",
                "not_approved",
                f"Action #{action_id} needs an approver's approval before it can run.",
                action_id=action_id,
                target=action.target,
            )
        action = self._expire_if_due(action)
        if action.state == "expired":
            raise self._refuse(
                actor,
                "execute",
                "expired",
                f"The approval of action #{action_id} expired at {fmt_utc(action.expires_at)} "
                f"(approvals are valid for {_minutes(self.cfg.auth.approval_expiry)}); "
                "propose it again.",
                action_id=action_id,
                target=action.target,
            )
        if action.state != "approved":
            raise self._refuse_state(actor, "execute", action, "only approved actions can run")
        return action

    def _replan(self, actor: Identity, action: Action) -> tuple[ActionTarget, Plan] | ExecuteOutcome:
        """The guardrails again, against the state read now (the target may have moved since the
        proposal). A failure caused by a racer that ran the action meanwhile is a repeat, not a refusal."""
        target = self.target(action.target)
        if target is None:
            raise self._refuse(
                actor,
                "execute",
                "unknown_target",
                f"Target {action.target!r} is no longer configured; nothing was changed.",
                action_id=action.id,
                target=action.target,
            )
        plan = self.plan(action.target, action.change, action.reason, exclude_action=action.id)
        if not plan.ok:
            # a racer may have run it meanwhile (its result fails our cooldown or "is a change" checks)
            raced = self.get(action.id)
            if raced is not None and raced.state in _RAN_STATES:
                return ExecuteOutcome(raced, False, _already(raced))
            self._refuse_unless_ok(plan, actor, "execute", target=action.target, action_id=action.id)
        beyond = _beyond_approval(action, plan)
        if beyond:
            raise self._refuse(
                actor,
                "execute",
                "approval_scope",
                f"{beyond} Nothing was changed; propose the change again from the current state.",
                action_id=action.id,
                target=action.target,
                detail={"approved_size": _approved_size(action), "size_now": plan.size},
            )
        return target, plan

    def _claim(
        self, actor: Identity, role: str, action: Action, target: ActionTarget, plan: Plan
    ) -> ExecuteOutcome | None:
        """Under the write lock: the time-based guardrails once more, then the approved -> executing
        compare-and-set with its audit entry. None when this caller won and must now apply the change;
        the outcome of a repeat when another caller won; a refusal otherwise."""
        now = self.now()
        refusal: ActionRefused | None = None
        won, fresh = False, action
        with audit.write_transaction(self.path) as conn:
            locked = actions_store.read_action(conn, action.id)
            cool = check_cooldown(target, actions_store.last_change_at(conn, target.name), now)
            freeze = check_freeze(target, now)
            if locked is None or locked.state != "approved":
                fresh = locked or action  # someone else moved it: no checks, no change, no audit
            elif not cool.passed or not freeze.passed:
                bad = cool if not cool.passed else freeze
                refusal = ActionRefused(
                    bad.code, f"Refused by guardrails: {bad.name}: {bad.detail}.", action.id
                )
            else:
                won = actions_store.claim_for_execute(
                    conn, action.id, actor.email, PROCESS_TOKEN, plan.current, now
                )
                fresh = actions_store.read_action(conn, action.id)
                assert fresh is not None
                if won:
                    self._audit(
                        conn,
                        actor.email,
                        role,
                        "execute",
                        fresh,
                        action.reason,
                        {
                            "change": change_to_dict(action.change),
                            "before": state_to_dict(plan.current),
                            "executor": getattr(self.executor, "name", type(self.executor).__name__),
                            "approved_by": fresh.approved_by or "policy (within approval step)",
                        },
                    )
        if refusal is not None:
            raise self._refuse(
                actor, "execute", refusal.code, refusal.message, action_id=action.id, target=action.target
            )
        if won:
            return None
        if fresh.state in _RAN_STATES:
            return ExecuteOutcome(fresh, False, _already(fresh))
        raise self._refuse(
            actor,
            "execute",
            "state",
            f"Action #{action.id} is {fresh.state}; only approved actions can run.",
            action_id=action.id,
            target=action.target,
        )

    def _apply(
        self, target: ActionTarget, change: Change
    ) -> tuple[TargetState | None, str, AppliedUnverified | None]:
        """The outside call and its read-back: the state after, an error ('' when it matches), and the
        executor's AppliedUnverified when the change went through but could not be read back."""
        after: TargetState | None = None
        error = ""
        try:
            after = self.executor.apply(executor_target(target), change)
        except AppliedUnverified as exc:  # applied once: not a failure, and never to be re-applied
            return None, exc.message, exc
        except SourceError as exc:
            error = exc.message
        except Exception as exc:  # whatever the executor raised, the action must end in a final state
            error = f"{type(exc).__name__}: {exc}"
        if not error and not matches(change, after):
            error = (
                f"the target reads back {describe_state(after)}, not the requested {describe_change(change)}"
            )
        return after, error, None

    def _record_unverified(
        self, actor: Identity, role: str, action: Action, unverified: AppliedUnverified
    ) -> ExecuteOutcome:
        """executing -> unverified, audited: the change ran once and must never run again; the state
        after stays unknown until reconcile() reads the target."""
        done = self.now()
        with audit.write_transaction(self.path) as conn:
            won = actions_store.record_result(
                conn, action.id, UNVERIFIED, None, unverified.message, done, PROCESS_TOKEN
            )
            fresh = actions_store.read_action(conn, action.id)
            assert fresh is not None
            self._audit(
                conn,
                actor.email,
                role,
                UNVERIFIED if won else "late_result",
                fresh,
                unverified.message,
                {
                    "applied": True,
                    "read_back_error": unverified.read_back_error,
                    "change": change_to_dict(action.change),
                    "executor_source": unverified.source,
                },
            )
        return ExecuteOutcome(
            fresh,
            True,
            f"Action #{action.id} was applied once, but the target could not be read back "
            f"({unverified.read_back_error}). It is recorded as unverified and will never be re-applied; "
            "Headroom confirms it from the target's state as soon as the target can be read.",
        )

    def _record_outcome(
        self, actor: Identity, role: str, action: Action, after: TargetState | None, error: str
    ) -> ExecuteOutcome:
        """executing -> succeeded | failed, audited; a result that comes after reconcile() settled the
        action is audited as late_result and changes nothing."""
        final = "failed" if error else "succeeded"
        done = self.now()
        with audit.write_transaction(self.path) as conn:
            won = actions_store.record_result(conn, action.id, final, after, error, done, PROCESS_TOKEN)
            fresh = actions_store.read_action(conn, action.id)
            assert fresh is not None
            self._audit(
                conn,
                actor.email,
                role,
                final if won else "late_result",
                fresh,
                error or "read back matches the change",
                {"after": state_to_dict(after), "change": change_to_dict(action.change)},
            )
        if final == "succeeded":
            return ExecuteOutcome(fresh, True, f"Action #{action.id} succeeded: {describe_state(after)}.")
        return ExecuteOutcome(fresh, True, f"Action #{action.id} failed: {error}.")

    # -- crash recovery ----------------------------------------------------------------------------
    def settle_unrecorded(self) -> list[ReconcileOutcome]:
        """Settle the executions this process sent to their target but could not record (the store
        went away after the outside call), by reading the target now; never re-apply. A store still away
        raises (db.StoreUnavailable / sqlite3.DatabaseError) and the ids are kept for the next call."""
        outcomes = []
        for action_id in unrecorded_actions(self.path):
            action = self.get(action_id)
            if action is None or action.state != "executing" or action.owner != PROCESS_TOKEN:
                _forget_unrecorded(self.path, action_id)  # recorded after all, or settled elsewhere
                continue
            settled = self._settle(
                action, self.now(), "The store went away after the change was sent, before its result"
            )
            _forget_unrecorded(self.path, action_id)
            if settled is not None:
                outcomes.append(settled)
        return outcomes

    def _settle_pending(self) -> None:
        """Before each transition: settle what this process could not record, if the store is back
        (a store still away is left for the transition itself to report)."""
        if not unrecorded_actions(self.path):
            return
        with contextlib.suppress(sqlite3.DatabaseError, db.StoreUnavailable):
            self.settle_unrecorded()

    def reconcile(self) -> list[ReconcileOutcome]:
        """Settle actions a dead process left executing, those this process could not record the result
        of while the store was away, and changes applied but not yet read back (unverified), by reading
        the target; never re-apply."""
        outcomes = self.settle_unrecorded()
        now = self.now()
        with audit.read_connection(self.path) as conn:
            executing = actions_store.executing_actions(conn)
            unverified = actions_store.unverified_actions(conn)
        outcomes += [o for o in (self._verify(a, now) for a in unverified) if o is not None]
        for action in executing:
            if action.owner == PROCESS_TOKEN:
                continue  # in flight in this very process
            fresh_enough = action.started_at is not None and now - action.started_at < STALE_EXECUTION
            if _owner_alive(action.owner) and fresh_enough:
                continue  # another live process is still applying it
            settled = self._settle(action, now)
            if settled is not None:
                outcomes.append(settled)
        return outcomes

    def _settle(
        self,
        action: Action,
        now: datetime,
        what_happened: str = "Headroom stopped before recording the result",
    ) -> ReconcileOutcome | None:
        """Read the target of an abandoned execution and record what it shows (None if another
        session settled it first)."""
        target = self.target(action.target)
        state, read_error = (
            self.read_current(target) if target else (None, "the target is no longer configured")
        )
        outcome, message = _verdict(action, state, read_error, what_happened)
        with audit.write_transaction(self.path) as conn:
            error = "" if outcome == "succeeded" else message
            won = actions_store.settle_abandoned(conn, action.id, outcome, state, error, now, action.owner)
            fresh = actions_store.read_action(conn, action.id)
            assert fresh is not None
            if not won:
                return None
            self._audit(
                conn,
                SYSTEM_ACTOR,
                SYSTEM_ROLE,
                "reconcile",
                fresh,
                message,
                {
                    "outcome": outcome,
                    "read_back": state_to_dict(state),
                    "change": change_to_dict(action.change),
                    "owner": action.owner,
                },
            )
        return ReconcileOutcome(fresh, outcome, message)

    def _verify(self, action: Action, now: datetime) -> ReconcileOutcome | None:
        """Read the target of a change applied once but not read back: matching -> succeeded,
        different -> failed (saying it was applied once); unreadable still -> left unverified, and
        nothing audited (the next reconcile tries again). Never re-applies."""
        target = self.target(action.target)
        if target is None:
            return None  # no longer configured: it stays unverified, as the record of what ran
        state, read_error = self.read_current(target)
        if state is None:
            return None
        if matches(action.change, state):
            outcome: Literal["succeeded", "failed"] = "succeeded"
            message = (
                f"Confirmed from the target: it reads {describe_state(state)}, matching the change "
                f"applied at {fmt_utc(action.finished_at)} (its read-back had failed). Not re-applied."
            )
        else:
            outcome = "failed"
            message = (
                f"The change was applied once at {fmt_utc(action.finished_at)} (its read-back had failed), "
                f"but the target now reads {describe_state(state)}, not the requested "
                f"{describe_change(action.change)}: something else may have changed it since. It was NOT "
                "re-applied: check the target and propose again if it is still needed."
            )
        with audit.write_transaction(self.path) as conn:
            won = actions_store.settle_unverified(
                conn, action.id, outcome, state, "" if outcome == "succeeded" else message, now
            )
            fresh = actions_store.read_action(conn, action.id)
            assert fresh is not None
            if not won:
                return None  # another session confirmed it first
            self._audit(
                conn,
                SYSTEM_ACTOR,
                SYSTEM_ROLE,
                "reconcile",
                fresh,
                message,
                {
                    "outcome": outcome,
                    "settled_from": UNVERIFIED,
                    "read_back": state_to_dict(state),
                    "change": change_to_dict(action.change),
                },
            )
        return ReconcileOutcome(fresh, outcome, message, settled_from=UNVERIFIED)


def _approved_size(action: Action) -> int:
    """The step (in instances) the approval covers: the size of the change as proposed, which is what
    the policy judged and what the approver was shown (the plan recorded with the proposal)."""
    try:
        return int(action.plan.get("size") or 0)
    except (TypeError, ValueError):
        return 0


def _beyond_approval(action: Action, plan: Plan) -> str:
    """Why the change as it would be applied now is not covered by the action's approval ('' if it is).
    The target may have moved since the proposal (an autoscaler): the same `desired -> 39` is then a
    larger step than the one approved, by policy or by a person (issue 19 item 1)."""
    who = f"approved by {action.approved_by}" if action.approved_by else "approved by policy"
    if plan.needs_approval and not action.approved_by:
        return (
            f"The target now reads {describe_state(plan.current)}: {describe_change(action.change)} "
            f"now needs an approver ({plan.approval_reason}), and this action was only {who}."
        )
    if plan.kind == "scale" and plan.size > _approved_size(action):
        return (
            f"The target moved since the proposal: it now reads {describe_state(plan.current)}, so "
            f"{describe_change(action.change)} would be a step of {plan.size} instances, but the "
            f"approval ({who}) covered a step of {_approved_size(action)}."
        )
    return ""


def _verdict(
    action: Action,
    state: TargetState | None,
    read_error: str,
    what_happened: str = "Headroom stopped before recording the result",
) -> tuple[Literal["succeeded", "failed"], str]:
    """What an abandoned execution ended as, judged from the target as it reads now."""
    if state is not None and matches(action.change, state):
        return (
            "succeeded",
            (
                f"{what_happened}; the target already reads "
                f"{describe_state(state)}, matching the change. It was not re-applied."
            ),
        )
    if state is not None:
        return (
            "failed",
            (
                f"{what_happened}; the target reads "
                f"{describe_state(state)}, not the requested {describe_change(action.change)}. "
                "The change was NOT re-applied: check the target and propose again if it is still needed."
            ),
        )
    return (
        "failed",
        (
            f"{what_happened}, and the target cannot be "
            f"read now ({read_error}): the outcome is unknown. Nothing was re-applied; check the "
            "target by hand."
        ),
    )


def _owner_alive(owner: str | None) -> bool:
    """Is the process that recorded this intent still running (on this host)? Unknown hosts: assume so."""
    if not owner:
        return False
    parts = owner.split(":")
    if len(parts) < 3:
        return False
    host, pid_text = parts[0], parts[1]
    if host != socket.gethostname():
        return True
    if owner != PROCESS_TOKEN and pid_text == str(os.getpid()):
        return False  # our own PID, another token: an earlier run of this process (a restarted container)
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError):
        return True
    return True


def _already(action: Action) -> str:
    if action.state == "executing":
        return f"Action #{action.id} is already being executed (started {fmt_utc(action.started_at)}); nothing more was done."
    return f"Action #{action.id} already ran ({action.state} at {fmt_utc(action.finished_at)}); it is never run twice."
