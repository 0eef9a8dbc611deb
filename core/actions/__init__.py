"""Guarded actions: the only path by which Headroom changes production (scaling and failover).

State machine:  proposed -> approved -> executing -> succeeded | failed | unverified
                unverified -> succeeded | failed (reconcile(), from the target's state; never re-applied)
                proposed -> rejected | expired | cancelled;  approved -> expired | cancelled
Break-glass (break_glass.py): during an open sev1 an approver proposes, self-approves and executes a
failover in one call; a second approver countersigns it afterwards (late after auth.countersign_within).
Every transition is checked here (not only in the page): the caller's role, the two-person rule, expiry,
and the target's guardrails from config (bounds, largest step, step factor, cooldown, freeze windows, a
reason, one open action per target). Every transition and every refused attempt is written to the
hash-chained audit log (core/audit.py) in the same SQLite transaction as the state change.

Exactly once: approved -> executing is one compare-and-set `UPDATE ... WHERE id=? AND state='approved'`
inside BEGIN IMMEDIATE, so of any number of reruns, double clicks, tabs or threads exactly one wins and
calls the executor; the others see the action already executing and do nothing. A partial unique index
also allows at most one open action per target.

Crash safety: the intent (state executing, the state read before, the owner process) is committed before
the outside call. `reconcile()` on start reads the target of anything a dead process left executing and
marks it succeeded if the target already matches, failed with the reason otherwise; it never re-applies.

Each operation opens its own short-lived connection, so Streamlit sessions (threads) sharing a cached
sqlite_utils.Database never share a transaction.

Layout (split by concern, docs/ARCHITECTURE.md): types.py (states, Action, Plan, refusals), rules.py (the
guardrails and the approval policy, pure), prefill.py (what other pages suggest, predicted cost),
store.py (every SQL statement on the actions and break_glass tables), break_glass.py (the
emergency path: an approver alone during a sev1, countersigned later), base.py / execution.py / service.py (ActionService).
"""

from core.actions.break_glass import BreakGlass, break_glass_actions, unsigned_break_glass
from core.actions.execution import PROCESS_TOKEN, STALE_EXECUTION
from core.actions.prefill import predict, resolve_prefill, scale_out_step, scale_out_suggestion
from core.actions.rules import (
    approval_policy,
    build_change,
    change_size,
    check_cooldown,
    check_freeze,
    drain_region,
    evaluate,
    expected_after,
    matches,
    parse_freeze_time,
    promote_region,
    routing_shares,
)
from core.actions.service import ActionService
from core.actions.store import (
    ACTIONS_TABLE,
    REVIEW_ACTION_COLUMNS,
    UnreadableActionRow,
    actions_proposed_between,
    ensure_actions_schema,
)
from core.actions.types import (
    FIELD_LABELS,
    FIELDS_OF_TARGET,
    FINAL_STATES,
    KIND_OF_TARGET,
    OPEN_STATES,
    STATES,
    SYSTEM_ACTOR,
    SYSTEM_ROLE,
    UNVERIFIED,
    Action,
    ActionKind,
    ActionRefused,
    Draft,
    ExecuteOutcome,
    GuardrailCheck,
    Plan,
    Prediction,
    ReconcileOutcome,
    change_from_dict,
    change_to_dict,
    describe_change,
    describe_state,
    executor_target,
    fmt_utc,
    state_from_dict,
    state_to_dict,
)

__all__ = [
    "BreakGlass",
    "break_glass_actions",
    "unsigned_break_glass",
    "UnreadableActionRow",
    "ACTIONS_TABLE",
    "Action",
    "ActionKind",
    "ActionRefused",
    "ActionService",
    "Draft",
    "ExecuteOutcome",
    "FIELDS_OF_TARGET",
    "FIELD_LABELS",
    "FINAL_STATES",
    "GuardrailCheck",
    "KIND_OF_TARGET",
    "OPEN_STATES",
    "PROCESS_TOKEN",
    "Plan",
    "Prediction",
    "REVIEW_ACTION_COLUMNS",
    "ReconcileOutcome",
    "STALE_EXECUTION",
    "STATES",
    "SYSTEM_ACTOR",
    "SYSTEM_ROLE",
    "UNVERIFIED",
    "actions_proposed_between",
    "approval_policy",
    "build_change",
    "change_from_dict",
    "change_size",
    "change_to_dict",
    "check_cooldown",
    "check_freeze",
    "describe_change",
    "describe_state",
    "drain_region",
    "ensure_actions_schema",
    "evaluate",
    "executor_target",
    "expected_after",
    "fmt_utc",
    "matches",
    "parse_freeze_time",
    "predict",
    "promote_region",
    "resolve_prefill",
    "scale_out_step",
    "scale_out_suggestion",
    "routing_shares",
    "state_from_dict",
    "state_to_dict",
]
