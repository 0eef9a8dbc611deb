"""ActionService: the one object every change to production goes through. It orchestrates the pure rules
(core/actions/rules.py), the store's compare-and-set writes (core/actions/store.py), the executor (a
port, core/ports.py) and the hash-chained audit log (core/audit.py): proposals, approvals, rejections and
cancellations here; break-glass and countersigning in core/actions/break_glass.py; the shared plumbing in core/actions/base.py; execution and crash recovery in
core/actions/execution.py."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from typing import Any

from core import audit
from core.actions import store as actions_store
from core.actions.base import _minutes, store_guarded
from core.actions.break_glass import _BreakGlassSteps
from core.actions.execution import _approved_size, _ExecutionSteps
from core.actions.rules import check_cooldown
from core.actions.types import (
    Action,
    ActionRefused,
    Plan,
    change_detail,
    change_to_dict,
    describe_change,
    describe_state,
    fmt_utc,
    state_to_dict,
)
from core.auth import Identity, allowed, normalise_email
from core.config import ActionTarget
from core.ports import Change


class ActionService(_ExecutionSteps, _BreakGlassSteps):
    """Every way to change production goes through one instance of this (per store, executor, config)."""

    # -- propose -----------------------------------------------------------------------------------
    @store_guarded("propose")
    def propose(
        self,
        actor: Identity,
        target_name: str,
        change: Change,
        reason: str,
        *,
        request_id: str | None = None,
    ) -> Action:
        """Record a proposal after its dry run passes. Within the target's approval step (scaling only)
        it is approved by policy at once, and still executes through execute() like everything else.
        `request_id` makes a repeated submit (double click, rerun) return the first proposal."""
        role = self.role(actor)
        detail = {"change": change_detail(change)}
        target_name = str(target_name)
        self._require(actor, role, "propose", "propose", "propose changes", target=target_name, detail=detail)
        existing = self._proposal_of_request(request_id)
        if existing is not None:
            return existing
        target = self.target(target_name)
        if target is None:
            raise self._refuse(
                actor,
                "propose",
                "unknown_target",
                f"There is no configured target named {target_name!r}.",
                target=target_name,
                detail=detail,
            )
        if not isinstance(reason, str):
            raise self._refuse(
                actor,
                "propose",
                "reason",
                f"The reason must be text, not {type(reason).__name__}.",
                target=target_name,
                detail=detail,
            )
        plan = self.plan(target_name, change, reason)
        self._refuse_unless_ok(plan, actor, "propose", target=target_name, detail=detail)
        try:
            return self._record_proposal(actor, role, target, plan, reason, request_id)
        except ActionRefused as exc:
            raise self._refuse(
                actor, "propose", exc.code, exc.message, target=target_name, detail=detail
            ) from None
        except sqlite3.IntegrityError as exc:
            # a repeated request id (another thread submitted the same form), else a second open action
            if request_id and "request_id" in str(exc):
                existing = self._proposal_of_request(request_id)
                if existing is not None:
                    return existing
            raise self._refuse_concurrent_proposal(actor, target, detail) from None

    def _proposal_of_request(self, request_id: str | None) -> Action | None:
        if not request_id:
            return None
        with audit.read_connection(self.path) as conn:
            action_id = actions_store.id_of_request(conn, request_id)
        if action_id is None:
            return None
        existing = self.get(action_id)
        assert existing is not None
        return existing

    def _record_proposal(
        self,
        actor: Identity,
        role: str,
        target: ActionTarget,
        plan: Plan,
        reason: str,
        request_id: str | None,
    ) -> Action:
        """Insert the proposal and its audit entry in one transaction. Raises ActionRefused (cooldown,
        rechecked under the write lock) or sqlite3.IntegrityError (a concurrent submit)."""
        now = self.now()
        expiry = self.cfg.auth.approval_expiry
        state = "proposed" if plan.needs_approval else "approved"
        with audit.write_transaction(self.path) as conn:
            actions_store.ensure_actions_schema(conn)
            # the cooldown and open-action checks again, under the write lock
            cool = check_cooldown(target, actions_store.last_change_at(conn, target.name), now)
            if not cool.passed:
                raise ActionRefused("cooldown", f"Refused by guardrails: cooldown: {cool.detail}.")
            action_id = actions_store.insert_proposal(
                conn,
                request_id=request_id,
                target=target.name,
                target_kind=target.kind,
                kind=plan.kind,
                change=plan.change,
                reason=reason.strip(),
                state=state,
                needs_approval=plan.needs_approval,
                plan=plan.to_dict(),
                proposed_by=actor.email,
                now=now,
                expires_at=now + expiry,
            )
            action = actions_store.read_action(conn, action_id)
            assert action is not None
            self._audit(
                conn,
                actor.email,
                role,
                "propose",
                action,
                reason.strip(),
                {
                    "change": change_to_dict(plan.change),
                    "state": state,
                    "needs_approval": plan.needs_approval,
                    "approval": plan.approval_reason,
                    "before": state_to_dict(plan.current),
                    "checks": [f"{'pass' if c.passed else 'FAIL'}: {c.name}" for c in plan.checks],
                    "expires_at": fmt_utc(now + expiry),
                },
            )
            return action

    def _refuse_concurrent_proposal(
        self, actor: Identity, target: ActionTarget, detail: Mapping[str, Any]
    ) -> ActionRefused:
        with audit.read_connection(self.path) as conn:
            open_ids = actions_store.open_action_ids(conn, target.name, None)
        other = f" (#{open_ids[0]})" if open_ids else ""
        return self._refuse(
            actor,
            "propose",
            "open_action",
            f"Another action on {target.name}{other} was proposed at the same moment; "
            "finish, reject or cancel it first.",
            target=target.name,
            detail=detail,
        )

    # -- approve, reject, cancel -------------------------------------------------------------------
    @store_guarded("approve")
    def approve(self, actor: Identity, action_id: int, note: str = "") -> Action:
        """Second-person approval of a proposal (never your own), valid for auth.approval_expiry."""
        role = self.role(actor)
        action = self._load_for_approval(actor, role, action_id)
        if (
            action.state in ("approved", "executing", "succeeded")
            and action.needs_approval
            and action.approved_by
        ):
            return action  # already approved (a double click, or another approver was quicker)
        action = self._expire_if_due(action)
        if action.state == "expired":
            raise self._refuse(
                actor,
                "approve",
                "expired",
                f"This proposal expired at {fmt_utc(action.expires_at)} (proposals must be approved "
                f"within {_minutes(self.cfg.auth.approval_expiry)}); propose it again.",
                action_id=action_id,
                target=action.target,
            )
        if action.state != "proposed":
            raise self._refuse_state(actor, "approve", action, "only proposed actions can be approved")
        plan = self.plan(action.target, action.change, action.reason, exclude_action=action.id)
        self._refuse_unless_ok(plan, actor, "approve", target=action.target, action_id=action_id)
        if plan.kind == "scale" and plan.size > _approved_size(action):
            # the approver is shown the proposal's step; a target that moved since makes it larger, and
            # execute() would refuse it anyway (docs/ARCHITECTURE.md, "The guarded path")
            raise self._refuse(
                actor,
                "approve",
                "approval_scope",
                f"The target moved since the proposal: it now reads {describe_state(plan.current)}, so "
                f"{describe_change(action.change)} would be a step of {plan.size} instances, not the "
                f"{_approved_size(action)} proposed. Nothing was approved; propose it again.",
                action_id=action_id,
                target=action.target,
            )
        fresh = self._record_approval(actor, role, action_id, note)
        if fresh.state == "approved":
            return fresh
        raise self._refuse_state(actor, "approve", fresh, "only proposed actions can be approved")

    def _load_for_approval(self, actor: Identity, role: str, action_id: int) -> Action:
        """The action, after the role and two-person checks (refused and audited otherwise)."""
        self._require(actor, role, "approve", "approve", "approve changes", action_id=action_id)
        action = self._load(actor, "approve", action_id)
        if normalise_email(action.proposed_by) == normalise_email(actor.email):
            raise self._refuse(
                actor,
                "approve",
                "self_approval",
                "You proposed this change: the two-person rule needs a different approver.",
                action_id=action_id,
                target=action.target,
            )
        return action

    def _record_approval(self, actor: Identity, role: str, action_id: int, note: str) -> Action:
        """The proposed -> approved compare-and-set and its audit entry; returns the action as it is now."""
        now = self.now()
        with audit.write_transaction(self.path) as conn:
            won = actions_store.mark_approved(
                conn, action_id, actor.email, now, now + self.cfg.auth.approval_expiry
            )
            fresh = actions_store.read_action(conn, action_id)
            assert fresh is not None
            if won:
                self._audit(
                    conn,
                    actor.email,
                    role,
                    "approve",
                    fresh,
                    note.strip(),
                    {
                        "change": change_to_dict(fresh.change),
                        "proposed_by": fresh.proposed_by,
                        "valid_until": fmt_utc(fresh.expires_at),
                    },
                )
        return fresh

    @store_guarded("reject")
    def reject(self, actor: Identity, action_id: int, reason: str) -> Action:
        role = self.role(actor)
        self._require(actor, role, "reject", "reject", "reject changes", action_id=action_id)
        action = self._load(actor, "reject", action_id)
        if not reason.strip():
            raise self._refuse(
                actor,
                "reject",
                "reason",
                "A reason is required to reject a proposal.",
                action_id=action_id,
                target=action.target,
            )
        if normalise_email(action.proposed_by) == normalise_email(actor.email):
            raise self._refuse(
                actor,
                "reject",
                "self_approval",
                "You proposed this change: cancel it instead of rejecting it.",
                action_id=action_id,
                target=action.target,
            )
        return self._close(actor, role, action, "proposed", "rejected", "reject", reason)

    @store_guarded("cancel")
    def cancel(self, actor: Identity, action_id: int, reason: str) -> Action:
        """The proposer (or an admin) withdraws a proposed or approved action before it runs."""
        role = self.role(actor)
        action = self._load(actor, "cancel", action_id)
        own = normalise_email(action.proposed_by) == normalise_email(actor.email)
        if not (allowed(role, "cancel_any") or (own and allowed(role, "cancel_own"))):
            raise self._refuse(
                actor,
                "cancel",
                "forbidden",
                f"Your role ({role}) cannot cancel this action; its proposer or an admin can.",
                action_id=action_id,
                target=action.target,
            )
        if not reason.strip():
            raise self._refuse(
                actor,
                "cancel",
                "reason",
                "A reason is required to cancel an action.",
                action_id=action_id,
                target=action.target,
            )
        return self._close(
            actor,
            role,
            action,
            action.state if action.state in ("proposed", "approved") else "proposed",
            "cancelled",
            "cancel",
            reason,
        )

    def _close(
        self,
        actor: Identity,
        role: str,
        action: Action,
        from_state: str,
        to_state: str,
        event: str,
        reason: str,
    ) -> Action:
        now = self.now()
        with audit.write_transaction(self.path) as conn:
            won = actions_store.close_action(
                conn, action.id, from_state, to_state, actor.email, reason.strip(), now
            )
            fresh = actions_store.read_action(conn, action.id)
            assert fresh is not None
            if won:
                self._audit(conn, actor.email, role, event, fresh, reason.strip(), {"from_state": from_state})
                return fresh
        if fresh.state == to_state:
            return fresh
        raise self._refuse(
            actor,
            event,
            "state",
            f"Action #{action.id} is {fresh.state}; it can no longer be {to_state}.",
            action_id=action.id,
            target=action.target,
        )
