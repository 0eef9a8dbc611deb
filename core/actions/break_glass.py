"""Break-glass: during a declared sev1 incident an approver may run a failover alone; a second person
countersigns afterwards (docs/ARCHITECTURE.md, "The guarded path").

What changes against the normal path, and what does not:
- Only the two-person rule is deferred: the approver who breaks the glass approves their own proposal
  (recorded in the `break_glass` table and the audit entry `break_glass`, with the incident); the action
  then runs through the ordinary execute(): guardrails, exactly once, the read-back, the audit chain.
- Refused (and audited): a role without approval rights (operators propose; they do not break glass), a
  target that is not a failover, no recorded incident, an incident that is not sev1 or is already
  resolved, any failed guardrail.
- A different approver (or admin) must countersign within `auth.countersign_within`; a countersign after
  that is still recorded, marked late. Until countersigned, the action is listed by
  `unsigned_break_glass()` (Overview and the weekly review show it).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core import audit
from core.actions import store as actions_store
from core.actions.base import _ServiceBase
from core.actions.rules import check_cooldown
from core.actions.types import ActionRefused, ExecuteOutcome, change_to_dict, fmt_utc, state_to_dict
from core.auth import Identity, normalise_email
from core.incidents import get_recorded_event
from core.ports import Change


@dataclass(frozen=True)
class BreakGlass:
    """One break-glass execution and its countersignature (None until signed)."""

    action_id: int
    target: str
    action_state: str
    incident_id: int
    incident: str  # the incident's label when the glass was broken ('#3 sev1 eu-west-1: ...')
    executed_by: str
    declared_at: datetime
    countersign_due: datetime
    countersigned_by: str | None
    countersigned_at: datetime | None
    countersign_note: str
    late: bool

    @property
    def signed(self) -> bool:
        return self.countersigned_by is not None

    def overdue(self, now: datetime) -> bool:
        """Unsigned past its deadline."""
        return not self.signed and now > self.countersign_due

    def describe(self, now: datetime) -> str:
        """One line for a banner or a review table."""
        if self.signed:
            late = " (late)" if self.late else ""
            return f"#{self.action_id} {self.target}: countersigned by {self.countersigned_by}{late}"
        due = "OVERDUE since" if self.overdue(now) else "due by"
        return (
            f"#{self.action_id} {self.target} by {self.executed_by} during {self.incident}: "
            f"countersign {due} {fmt_utc(self.countersign_due)}"
        )


def _dt(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def _from_row(row: tuple[Any, ...]) -> BreakGlass:
    declared, due = _dt(row[4]), _dt(row[5])
    assert declared is not None and due is not None
    return BreakGlass(
        action_id=row[0],
        incident_id=row[1],
        incident=row[2],
        executed_by=row[3],
        declared_at=declared,
        countersign_due=due,
        countersigned_by=row[6],
        countersigned_at=_dt(row[7]),
        countersign_note=row[8],
        late=bool(row[9]),
        target=row[10],
        action_state=row[11],
    )


def break_glass_actions(path: Path | str, *, unsigned_only: bool = False) -> list[BreakGlass]:
    """Every break-glass execution (oldest first), or only those still waiting for a countersignature."""
    with audit.read_connection(path) as conn:
        return [_from_row(r) for r in actions_store.read_break_glass_rows(conn, unsigned_only=unsigned_only)]


def unsigned_break_glass(path: Path | str) -> list[BreakGlass]:
    """Break-glass executions nobody has countersigned yet (Overview's banner, the review's section)."""
    return break_glass_actions(path, unsigned_only=True)


class _BreakGlassSteps(_ServiceBase):
    """ActionService.break_glass() and countersign()."""

    def break_glass(
        self,
        actor: Identity,
        target_name: str,
        change: Change,
        reason: str,
        incident_id: int,
    ) -> ExecuteOutcome:
        """Propose, self-approve and execute a failover during open sev1 incident `incident_id`.
        Every refusal is audited and changes nothing."""
        role = self.role(actor)
        detail: dict[str, Any] = {"change": change_to_dict(change), "incident_id": incident_id}
        self._require(
            actor,
            role,
            "approve",
            "break_glass",
            "break glass (run a failover alone during a sev1)",
            target=target_name,
            detail=detail,
            instead=" Propose it for an approver instead.",
        )
        target = self.target(target_name)
        if target is None:
            raise self._refuse(
                actor,
                "break_glass",
                "unknown_target",
                f"There is no configured target named {target_name!r}.",
                target=target_name,
                detail=detail,
            )
        now = self.now()
        incident = self._sev1_incident(actor, target_name, incident_id, now, detail)
        plan = self.plan(target_name, change, reason)
        if plan.kind != "failover":
            raise self._refuse(
                actor,
                "break_glass",
                "break_glass_kind",
                f"Break-glass is for failover only; {target_name} is a {target.kind} target "
                "(scaling goes through the normal approval).",
                target=target_name,
                detail=detail,
            )
        self._refuse_unless_ok(plan, actor, "break_glass", target=target_name, detail=detail)
        due = now + self.cfg.auth.countersign_within
        try:
            action_id = self._record_break_glass(
                actor, role, target.name, target.kind, plan, reason, incident, due
            )
        except ActionRefused as exc:
            raise self._refuse(
                actor, "break_glass", exc.code, exc.message, target=target_name, detail=detail
            ) from None
        except sqlite3.IntegrityError:
            raise self._refuse(
                actor,
                "break_glass",
                "open_action",
                f"Another action on {target_name} is open; finish, reject or cancel it first.",
                target=target_name,
                detail=detail,
            ) from None
        return self.execute(actor, action_id)

    def _sev1_incident(
        self, actor: Identity, target_name: str, incident_id: int, now: datetime, detail: dict[str, Any]
    ) -> Any:
        """The recorded incident, open now and sev1; refused (and audited) otherwise."""
        with audit.read_connection(self.path) as conn:
            incident = get_recorded_event(conn, incident_id)
        if incident is None or incident.kind != "incident":
            code, message = (
                "no_incident",
                f"Break-glass needs a declared incident: there is no recorded incident #{incident_id} "
                "(declare it on Triage first).",
            )
        elif incident.severity != "sev1":
            code, message = (
                "not_sev1",
                f"Break-glass needs a sev1; incident {incident.label} is {incident.severity}.",
            )
        elif not incident.open_at(now):
            code, message = (
                "incident_closed",
                f"Incident {incident.label} is not open now (resolved, or declared for later).",
            )
        else:
            return incident
        raise self._refuse(actor, "break_glass", code, message, target=target_name, detail=detail)

    def _record_break_glass(
        self,
        actor: Identity,
        role: str,
        target_name: str,
        target_kind: str,
        plan: Any,
        reason: str,
        incident: Any,
        due: datetime,
    ) -> int:
        """In one transaction: the proposal, its break-glass row, the self-approval and the audit entry
        marked break-glass with the incident. Returns the action id, approved and ready to execute."""
        now = self.now()
        target = self.target(target_name)
        assert target is not None
        with audit.write_transaction(self.path) as conn:
            actions_store.ensure_actions_schema(conn)
            actions_store.ensure_break_glass_schema(conn)
            cool = check_cooldown(target, actions_store.last_change_at(conn, target_name), now)
            if not cool.passed:
                raise ActionRefused("cooldown", f"Refused by guardrails: cooldown: {cool.detail}.")
            action_id = actions_store.insert_proposal(
                conn,
                request_id=None,
                target=target_name,
                target_kind=target_kind,
                kind=plan.kind,
                change=plan.change,
                reason=reason.strip(),
                state="proposed",
                # the second person's approval is deferred to the countersign: with needs_approval set,
                # execute()'s exactly-once gate (two different people) would refuse, as it must elsewhere
                needs_approval=False,
                plan=plan.to_dict(),
                proposed_by=actor.email,
                now=now,
                expires_at=now + self.cfg.auth.approval_expiry,
            )
            actions_store.insert_break_glass(
                conn,
                action_id=action_id,
                incident_id=incident.id,
                incident=incident.label,
                executed_by=actor.email,
                now=now,
                countersign_due=due,
            )
            won = actions_store.approve_break_glass(
                conn, action_id, actor.email, now, now + self.cfg.auth.approval_expiry
            )
            assert won, "a fresh proposal in this transaction must approve"
            action = actions_store.read_action(conn, action_id)
            assert action is not None
            self._audit(
                conn,
                actor.email,
                role,
                "break_glass",
                action,
                reason.strip(),
                {
                    "break_glass": True,
                    "incident_id": incident.id,
                    "incident": incident.label,
                    "severity": incident.severity,
                    "change": change_to_dict(plan.change),
                    "before": state_to_dict(plan.current),
                    "checks": [f"{'pass' if c.passed else 'FAIL'}: {c.name}" for c in plan.checks],
                    "countersign_due": fmt_utc(due),
                },
            )
        return action_id

    def countersign(self, actor: Identity, action_id: int, note: str = "") -> BreakGlass:
        """A second approver (or admin) signs a break-glass execution; after the deadline it is recorded
        as late. Repeating a countersign returns the recorded one."""
        role = self.role(actor)
        self._require(actor, role, "approve", "countersign", "countersign", action_id=action_id)
        with audit.read_connection(self.path) as conn:
            rows = actions_store.read_break_glass_rows(conn, action_id=action_id)
        if not rows:
            raise self._refuse(
                actor,
                "countersign",
                "not_break_glass",
                f"Action #{action_id} is not a break-glass execution: nothing to countersign.",
                action_id=action_id,
            )
        current = _from_row(rows[0])
        if normalise_email(current.executed_by) == normalise_email(actor.email):
            raise self._refuse(
                actor,
                "countersign",
                "self_countersign",
                "You broke the glass on this action: a different approver must countersign it.",
                action_id=action_id,
                target=current.target,
            )
        if current.signed:
            return current
        now = self.now()
        late = now > current.countersign_due
        with audit.write_transaction(self.path) as conn:
            won = actions_store.mark_countersigned(conn, action_id, actor.email, now, note.strip(), late)
            fresh = _from_row(actions_store.read_break_glass_rows(conn, action_id=action_id)[0])
            if won:
                action = actions_store.read_action(conn, action_id)
                self._audit(
                    conn,
                    actor.email,
                    role,
                    "countersign",
                    action,
                    note.strip(),
                    {
                        "break_glass": True,
                        "incident": fresh.incident,
                        "executed_by": fresh.executed_by,
                        "countersign_due": fmt_utc(fresh.countersign_due),
                        "late": late,
                    },
                )
        return fresh
