"""The plumbing every ActionService operation shares: the clock, roles, audited refusals, reads, the dry
run (rules + prediction), and expiry. core/actions/execution.py and core/actions/service.py build the
transitions on top of it; only ActionService (service.py) is public."""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pandas as pd

from core import audit, db, migrations
from core.actions import store as actions_store
from core.actions.prefill import predict
from core.actions.rules import approval_policy, evaluate
from core.actions.types import (
    KIND_OF_TARGET,
    SYSTEM_ACTOR,
    SYSTEM_ROLE,
    Action,
    ActionRefused,
    Plan,
    executor_target,
    fmt_utc,
)
from core.auth import PERMISSIONS, ROLES, Identity, allowed, role_of
from core.config import ActionTarget, HeadroomConfig
from core.ports import ActionExecutor, Change, SourceError, TargetState

_Method = TypeVar("_Method", bound=Callable[..., Any])


def _is_lock_error(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def store_guarded(attempt: str) -> Callable[[_Method], _Method]:
    """A transition whose store fails (another writer held the lock past the busy timeout, a read-only or
    broken file) ends in ActionRefused with a sentence, never a raw sqlite3 error (issue 19 item 16).
    Every store write is one transaction, so a failed one changed nothing."""

    def wrap(method: _Method) -> _Method:
        @functools.wraps(method)
        def guarded(self: _ServiceBase, actor: Identity, *args: Any, **kwargs: Any) -> Any:
            self._settle_pending()
            try:
                return method(self, actor, *args, **kwargs)
            except (sqlite3.DatabaseError, actions_store.UnreadableActionRow) as exc:
                action_id = args[0] if args and isinstance(args[0], int) else None
                raise self._refuse_store(actor, attempt, exc, action_id) from None

        return guarded  # type: ignore[return-value]

    return wrap


class _ServiceBase:
    """Store, config, executor and clock, and the steps every transition uses."""

    def __init__(
        self,
        store: Any,
        cfg: HeadroomConfig,
        executor: ActionExecutor,
        clock: Callable[[], datetime] | None = None,
    ):
        self.path = actions_store.db_file_path(store)
        self.cfg = cfg
        self.executor = executor
        self.clock = clock or (lambda: datetime.now(UTC))
        # the chain's key (environment) and outside anchor (config), unless the composition root already
        # set them with the secrets.toml key (headroom.wiring.configure_audit)
        audit.configure_default(
            self.path, key=audit.resolve_key(), anchor_path=cfg.audit_anchor_path(self.path)
        )
        # versioned migrations on start (core/migrations.py): refuses a schema newer than this code
        migrations.ensure_current(self.path)

    # -- helpers -----------------------------------------------------------------------------------
    def _settle_pending(self) -> None:
        """Run before every transition; core/actions/execution.py settles there the executions whose
        result this process could not record while the store was away."""

    def now(self) -> datetime:
        now = self.clock()
        if now.tzinfo is None:
            raise ValueError("the clock must return timezone-aware UTC times")
        return now

    def role(self, actor: Identity) -> str:
        return role_of(actor, self.cfg.user)

    def target(self, name: str) -> ActionTarget | None:
        return next((t for t in self.cfg.target if t.name == name), None)

    def _refuse(
        self,
        actor: Identity,
        attempt: str,
        code: str,
        message: str,
        *,
        action_id: int | None = None,
        target: str = "",
        detail: Mapping[str, Any] | None = None,
    ) -> ActionRefused:
        """Write the refused attempt to the audit log and return the exception to raise."""
        audit.record(
            self.path,
            at=self.now(),
            actor=actor.email or "(not signed in)",
            role=self.role(actor),
            event="denied",
            target=target,
            action_id=action_id,
            reason=message,
            detail={"attempt": attempt, "code": code, **(detail or {})},
        )
        return ActionRefused(code, message, action_id)

    def _require(
        self,
        actor: Identity,
        role: str,
        permission: str,
        attempt: str,
        what: str,
        *,
        action_id: int | None = None,
        target: str = "",
        detail: Mapping[str, Any] | None = None,
        instead: str = "",
    ) -> None:
        """An audited "forbidden" refusal unless `role` holds `permission`; the message names the roles
        that do (from core.auth.PERMISSIONS, so it cannot drift from the rule)."""
        if allowed(role, permission):
            return
        holders = [f"{r}s" for r in ROLES if r in PERMISSIONS.get(permission, frozenset())]
        who = ", ".join(holders[:-1]) + f" and {holders[-1]}" if len(holders) > 1 else "".join(holders)
        raise self._refuse(
            actor,
            attempt,
            "forbidden",
            f"Your role ({role}) cannot {what}; {who} can.{instead}",
            action_id=action_id,
            target=target,
            detail=detail,
        )

    def _refuse_store(
        self,
        actor: Identity,
        attempt: str,
        exc: sqlite3.DatabaseError | actions_store.UnreadableActionRow,
        action_id: int | None,
    ) -> ActionRefused:
        """The refusal for a store failure, audited when the store takes the entry (a lock may still be
        held, or the file may be read-only: the message then says the refusal is not in the log)."""
        if isinstance(exc, sqlite3.OperationalError) and _is_lock_error(exc):
            code = "store_busy"
            message = (
                f"The store is busy: another writer held its lock for longer than the "
                f"{db.BUSY_TIMEOUT_S:g} s busy timeout, so nothing was changed. Try again in a moment."
            )
        elif isinstance(exc, actions_store.UnreadableActionRow):
            code = "store_error"
            message = f"The store {self.path} is damaged: {exc}. Nothing was changed."
        else:
            code = "store_error"
            message = f"The store {self.path} cannot be used ({exc}), so nothing was changed."
        try:
            return self._refuse(actor, attempt, code, message, action_id=action_id)
        except sqlite3.DatabaseError:
            return ActionRefused(
                code, message + " (This refusal could not be written to the audit log either.)", action_id
            )

    def _audit(
        self,
        conn: sqlite3.Connection,
        actor: str,
        role: str,
        event: str,
        action: Action | None,
        reason: str,
        detail: Mapping[str, Any],
        target: str = "",
    ) -> None:
        audit.append(
            conn,
            at=self.now(),
            actor=actor,
            role=role,
            event=event,
            target=action.target if action else target,
            action_id=action.id if action else None,
            reason=reason,
            detail=detail,
        )

    def get(self, action_id: int) -> Action | None:
        with audit.read_connection(self.path) as conn:
            return actions_store.read_action(conn, action_id)

    def list_actions(
        self,
        *,
        states: Sequence[str] | None = None,
        target: str | None = None,
        person: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 500,
        unreadable: list[str] | None = None,
    ) -> list[Action]:
        """Newest first, filtered by state, target, a person (proposer, approver or executor) and a
        proposal-time range. With `unreadable`, damaged rows are named there and left out instead of
        raising UnreadableActionRow."""
        with audit.read_connection(self.path) as conn:
            return actions_store.query_actions(
                conn,
                states=states,
                target=target,
                person=person,
                since=since,
                until=until,
                limit=limit,
                unreadable=unreadable,
            )

    def read_current(self, target: ActionTarget) -> tuple[TargetState | None, str]:
        try:
            return self.executor.current(executor_target(target)), ""
        except SourceError as exc:
            return None, exc.message
        except Exception as exc:  # any executor failure is "cannot read", never a crash of the page
            return None, f"{type(exc).__name__}: {exc}"

    # -- dry run -----------------------------------------------------------------------------------
    def plan(
        self,
        target_name: str,
        change: Change,
        reason: str = "",
        *,
        exclude_action: int | None = None,
        demand: pd.Series | None = None,
        current: TargetState | None = None,
    ) -> Plan:
        """What would happen: current state, change, every guardrail with pass/fail, whether it needs
        approval, and (for scaling, when core.capacity exists) predicted utilisation and cost."""
        target = self.target(target_name)
        if target is None:
            raise KeyError(target_name)
        error = ""
        if current is None:
            current, error = self.read_current(target)
        with audit.read_connection(self.path) as conn:
            last = actions_store.last_change_at(conn, target.name)
            open_ids = actions_store.open_action_ids(conn, target.name, exclude_action)
        checks, after, size = evaluate(
            target,
            current,
            change,
            reason,
            now=self.now(),
            last_change_at=last,
            open_action_ids=open_ids,
            current_error=error,
        )
        kind = KIND_OF_TARGET[target.kind]
        needs, why = approval_policy(target, kind, size)
        prediction, note = predict(self.cfg, target, current, after, demand)
        return Plan(target, kind, current, change, after, checks, needs, why, size, prediction, note)

    @staticmethod
    def _refusal_from_plan(plan: Plan) -> tuple[str, str]:
        failed = plan.failed
        code = failed[0].code
        text = "; ".join(f"{c.name}: {c.detail}" for c in failed)
        return code, f"Refused by guardrails: {text}."

    def _refuse_unless_ok(
        self,
        plan: Plan,
        actor: Identity,
        attempt: str,
        *,
        target: str,
        action_id: int | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        """A plan whose guardrails failed is an audited refusal naming every failed check; `detail` (the
        attempt's own fields) is written with the checks when given."""
        if plan.ok:
            return
        code, message = self._refusal_from_plan(plan)
        raise self._refuse(
            actor,
            attempt,
            code,
            message,
            action_id=action_id,
            target=target,
            detail=None if detail is None else {**detail, "checks": plan.to_dict()["checks"]},
        )

    # -- expiry ------------------------------------------------------------------------------------
    def _expire_if_due(self, action: Action) -> Action:
        """Move an overdue proposal or approval to expired (audited); returns the fresh action."""
        now = self.now()
        if (
            action.state not in ("proposed", "approved")
            or action.expires_at is None
            or now < action.expires_at
        ):
            return action
        with audit.write_transaction(self.path) as conn:
            actions_store.ensure_actions_schema(conn)
            note = f"{'approval' if action.state == 'approved' else 'proposal'} expired"
            won = actions_store.mark_expired(conn, action.id, action.state, SYSTEM_ACTOR, note, now)
            fresh = actions_store.read_action(conn, action.id)
            assert fresh is not None
            if won:
                what = "approved but not executed" if action.state == "approved" else "not approved"
                self._audit(
                    conn,
                    SYSTEM_ACTOR,
                    SYSTEM_ROLE,
                    "expire",
                    fresh,
                    f"{what} by {fmt_utc(action.expires_at)}",
                    {"from_state": action.state},
                )
        return fresh

    def expire_stale(self) -> list[int]:
        """Expire every overdue proposal and approval (called when the page loads)."""
        with audit.read_connection(self.path) as conn:
            ids = actions_store.overdue_ids(conn, self.now())
        expired = []
        for action_id in ids:
            action = self.get(action_id)
            if action is not None and self._expire_if_due(action).state == "expired":
                expired.append(action_id)
        return expired

    def _load(self, actor: Identity, attempt: str, action_id: int) -> Action:
        action = self.get(action_id)
        if action is None:
            raise self._refuse(
                actor, attempt, "not_found", f"There is no action #{action_id}.", action_id=action_id
            )
        return action

    def _refuse_state(self, actor: Identity, attempt: str, action: Action, rule: str) -> ActionRefused:
        """Refusal for an action in the wrong state, e.g. 'Action #3 is rejected; only proposed ...'."""
        return self._refuse(
            actor,
            attempt,
            "state",
            f"Action #{action.id} is {action.state}; {rule}.",
            action_id=action.id,
            target=action.target,
        )


def _minutes(delta: timedelta) -> str:
    return f"{delta.total_seconds() / 60:g} min"
