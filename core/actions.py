"""Guarded actions: the only path by which Headroom changes production (scaling and failover).

State machine:  proposed -> approved -> executing -> succeeded | failed
                proposed -> rejected | expired | cancelled;  approved -> expired | cancelled
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
"""

from __future__ import annotations

import json
import math
import os
import socket
import sqlite3
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from core import audit
from core.auth import Identity, allowed, normalise_email, role_of
from core.config import ActionTarget, HeadroomConfig
from core.ports import ActionExecutor, Change, SourceError, Target, TargetState

ACTIONS_TABLE = "actions"
OPEN_STATES: tuple[str, ...] = ("proposed", "approved", "executing")
FINAL_STATES: tuple[str, ...] = ("succeeded", "failed", "rejected", "expired", "cancelled")
STATES: tuple[str, ...] = (*OPEN_STATES, *FINAL_STATES)
SYSTEM_ACTOR = "headroom (system)"
SYSTEM_ROLE = "system"

ActionKind = Literal["scale", "failover"]
KIND_OF_TARGET: dict[str, ActionKind] = {
    "ecs_service": "scale",
    "autoscaling_group": "scale",
    "app_autoscaling": "scale",
    "route53_weighted": "failover",
    "route53_failover": "failover",
}
# what each kind of target can change: ECS services have no min/max of their own (Application Auto
# Scaling holds those), and Application Auto Scaling sets bounds, not a desired count
FIELDS_OF_TARGET: dict[str, frozenset[str]] = {
    "ecs_service": frozenset({"desired"}),
    "autoscaling_group": frozenset({"desired", "min_instances", "max_instances"}),
    "app_autoscaling": frozenset({"min_instances", "max_instances"}),
    "route53_weighted": frozenset({"weights"}),
    "route53_failover": frozenset({"weights"}),
}
FIELD_LABELS = {"desired": "desired", "min_instances": "min", "max_instances": "max", "weights": "weights"}

# this process, recorded as the owner of what it executes; reconcile() leaves live owners alone
PROCESS_TOKEN = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
# an execution older than this is reconciled even if its owner seems alive (PID reuse; executors give up
# after a few minutes at most)
STALE_EXECUTION = timedelta(hours=1)

_SCHEMA: tuple[str, ...] = (
    f"""CREATE TABLE IF NOT EXISTS {ACTIONS_TABLE} (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        request_id TEXT UNIQUE,
        target TEXT NOT NULL,
        target_kind TEXT NOT NULL,
        kind TEXT NOT NULL,
        change TEXT NOT NULL,
        reason TEXT NOT NULL,
        state TEXT NOT NULL,
        needs_approval INTEGER NOT NULL,
        plan TEXT NOT NULL,
        proposed_by TEXT NOT NULL,
        proposed_at REAL NOT NULL,
        expires_at REAL,
        approved_by TEXT,
        approved_at REAL,
        closed_by TEXT,
        closed_note TEXT NOT NULL DEFAULT '',
        executed_by TEXT,
        started_at REAL,
        owner TEXT,
        finished_at REAL,
        before TEXT,
        after TEXT,
        error TEXT NOT NULL DEFAULT '',
        updated_at REAL NOT NULL
    )""",
    f"CREATE INDEX IF NOT EXISTS actions_state ON {ACTIONS_TABLE}(state)",
    f"CREATE INDEX IF NOT EXISTS actions_target ON {ACTIONS_TABLE}(target, finished_at)",
    # at most one open action per target, enforced by SQLite itself (two tabs proposing at once)
    f"""CREATE UNIQUE INDEX IF NOT EXISTS actions_one_open_per_target ON {ACTIONS_TABLE}(target)
        WHERE state IN ('proposed', 'approved', 'executing')""",
)


# ---- domain objects --------------------------------------------------------------------------------
class ActionRefused(Exception):
    """A refused attempt. `code` is stable (for tests and the page), `message` is a sentence for a human.
    Every refusal raised by ActionService has been written to the audit log before it is raised."""

    def __init__(self, code: str, message: str, action_id: int | None = None):
        self.code = code
        self.message = message
        self.action_id = action_id
        super().__init__(message)


@dataclass(frozen=True)
class GuardrailCheck:
    name: str
    passed: bool
    detail: str
    code: str = "guardrail"  # the refusal code when this check fails


@dataclass(frozen=True)
class Prediction:
    """Predicted effect of a scaling change (from core/capacity.py when it is available)."""

    utilisation_before: float | None
    utilisation_after: float | None
    cost_per_month_before_usd: float | None
    cost_per_month_after_usd: float | None
    note: str = ""


@dataclass(frozen=True)
class Plan:
    """The dry run shown before anyone approves: what is there now, what would change, what was checked."""

    target: ActionTarget
    kind: ActionKind
    current: TargetState | None
    change: Change
    after: TargetState | None  # the expected state after the change
    checks: tuple[GuardrailCheck, ...]
    needs_approval: bool
    approval_reason: str
    size: int  # largest change in instances (scaling); 0 for failover
    prediction: Prediction | None = None
    prediction_note: str = ""

    @property
    def ok(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def failed(self) -> tuple[GuardrailCheck, ...]:
        return tuple(c for c in self.checks if not c.passed)

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target.name,
            "kind": self.kind,
            "current": state_to_dict(self.current),
            "change": change_to_dict(self.change),
            "after": state_to_dict(self.after),
            "checks": [{"name": c.name, "passed": c.passed, "detail": c.detail} for c in self.checks],
            "needs_approval": self.needs_approval,
            "approval_reason": self.approval_reason,
            "size": self.size,
            "prediction": None if self.prediction is None else asdict(self.prediction),
            "prediction_note": self.prediction_note,
        }


@dataclass(frozen=True)
class Action:
    id: int
    target: str
    target_kind: str
    kind: ActionKind
    change: Change
    reason: str
    state: str
    needs_approval: bool
    plan: dict[str, Any]
    proposed_by: str
    proposed_at: datetime
    expires_at: datetime | None
    approved_by: str | None
    approved_at: datetime | None
    closed_by: str | None
    closed_note: str
    executed_by: str | None
    started_at: datetime | None
    owner: str | None
    finished_at: datetime | None
    before: TargetState | None
    after: TargetState | None
    error: str
    request_id: str | None = None

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    def describe_change(self) -> str:
        return describe_change(self.change)


@dataclass(frozen=True)
class ExecuteOutcome:
    action: Action
    ran: bool  # False: another session (or an earlier click) already took this action to executing
    message: str


@dataclass(frozen=True)
class ReconcileOutcome:
    action: Action
    outcome: Literal["succeeded", "failed"]
    message: str


@dataclass(frozen=True)
class Draft:
    """A proposal form pre-filled from st.session_state["actions_prefill"] (Capacity, Triage)."""

    target: str | None = None
    desired: int | None = None
    min_instances: int | None = None
    max_instances: int | None = None
    drain_region: str | None = None  # route53_weighted: shift weight away from this region
    promote_region: str | None = None  # route53_failover: make this region the primary
    reason: str = ""
    notes: tuple[str, ...] = ()


# ---- (de)serialisation ----------------------------------------------------------------------------
def change_to_dict(change: Change) -> dict[str, Any]:
    return {k: v for k, v in asdict(change).items() if v is not None}


def change_from_dict(data: Mapping[str, Any]) -> Change:
    weights = data.get("weights")
    return Change(
        desired=_opt_int(data.get("desired")),
        min_instances=_opt_int(data.get("min_instances")),
        max_instances=_opt_int(data.get("max_instances")),
        weights=None if weights is None else {str(k): float(v) for k, v in weights.items()},
    )


def state_to_dict(state: TargetState | None) -> dict[str, Any] | None:
    if state is None:
        return None
    out = {k: v for k, v in asdict(state).items() if k != "raw" and v is not None}
    # raw comes from outside systems (datetimes in boto3 answers): keep it JSON-safe
    out["raw"] = json.loads(json.dumps(state.raw, default=str)) if state.raw else {}
    return out


def state_from_dict(data: Mapping[str, Any] | None) -> TargetState | None:
    if data is None:
        return None
    weights = data.get("weights")
    return TargetState(
        desired=_opt_int(data.get("desired")),
        min_instances=_opt_int(data.get("min_instances")),
        max_instances=_opt_int(data.get("max_instances")),
        weights=None if weights is None else {str(k): float(v) for k, v in weights.items()},
        raw=dict(data.get("raw") or {}),
    )


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _ts(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def _epoch(dt: datetime) -> float:
    if dt.tzinfo is None:
        raise ValueError("times must be timezone-aware (UTC)")
    return dt.timestamp()


def fmt_utc(dt: datetime | None) -> str:
    return "-" if dt is None else dt.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def describe_change(change: Change) -> str:
    parts = []
    for name in ("desired", "min_instances", "max_instances"):
        value = getattr(change, name)
        if value is not None:
            parts.append(f"{FIELD_LABELS[name]} -> {value}")
    if change.weights is not None:
        parts.append(
            "weights -> " + ", ".join(f"{k}: {_fmt_weight(v)}" for k, v in sorted(change.weights.items()))
        )
    return "; ".join(parts) or "(no change)"


def describe_state(state: TargetState | None) -> str:
    if state is None:
        return "unknown"
    parts = []
    for name in ("desired", "min_instances", "max_instances"):
        value = getattr(state, name)
        if value is not None:
            parts.append(f"{FIELD_LABELS[name]} {value}")
    if state.weights is not None:
        parts.append(
            "weights " + ", ".join(f"{k}: {_fmt_weight(v)}" for k, v in sorted(state.weights.items()))
        )
    return ", ".join(parts) or "unknown"


def _fmt_weight(value: float) -> str:
    return f"{value:g}"


def executor_target(target: ActionTarget) -> Target:
    return Target(name=target.name, kind=target.kind, region=target.region, params=dict(target.params))


# ---- pure rules ------------------------------------------------------------------------------------
def expected_after(target_kind: str, current: TargetState, change: Change) -> TargetState:
    """The state the target should read after the change (ASG/App Auto Scaling clamp desired into the
    new bounds; weights not named in the change keep their value)."""
    if KIND_OF_TARGET.get(target_kind) == "failover":
        weights = dict(current.weights or {})
        weights.update(change.weights or {})
        return TargetState(weights=weights)
    new_min = change.min_instances if change.min_instances is not None else current.min_instances
    new_max = change.max_instances if change.max_instances is not None else current.max_instances
    desired = change.desired if change.desired is not None else current.desired
    if desired is not None and target_kind in ("autoscaling_group", "app_autoscaling"):
        if new_min is not None:
            desired = max(desired, new_min)
        if new_max is not None:
            desired = min(desired, new_max)
    return TargetState(desired=desired, min_instances=new_min, max_instances=new_max)


def change_size(current: TargetState, after: TargetState) -> int:
    """Largest absolute change in instances among desired, min and max (what approval_step limits)."""
    size = 0
    for name in ("desired", "min_instances", "max_instances"):
        before, new = getattr(current, name), getattr(after, name)
        if before is not None and new is not None:
            size = max(size, abs(new - before))
    return size


def matches(change: Change, state: TargetState | None) -> bool:
    """Does the state read back show every field the change asked for?"""
    if state is None:
        return False
    for name in ("desired", "min_instances", "max_instances"):
        wanted = getattr(change, name)
        if wanted is not None and getattr(state, name) != wanted:
            return False
    if change.weights is not None:
        got = state.weights or {}
        for region, weight in change.weights.items():
            if region not in got or not math.isclose(got[region], weight, rel_tol=0, abs_tol=1e-9):
                return False
    return True


def parse_freeze_time(value: str) -> datetime:
    dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def check_freeze(target: ActionTarget, now: datetime) -> GuardrailCheck:
    for window in target.freeze:
        try:
            start, end = parse_freeze_time(window.start), parse_freeze_time(window.end)
        except ValueError:
            # a window we cannot read might be in force: refuse rather than guess
            return GuardrailCheck(
                "freeze windows",
                False,
                f"freeze window {window.start!r} to {window.end!r} cannot be read (ISO 8601 UTC expected); "
                "refusing until the config is fixed",
                "freeze",
            )
        if start <= now < end:
            why = f" ({window.reason})" if window.reason else ""
            return GuardrailCheck(
                "freeze windows",
                False,
                f"change freeze in force{why} from {fmt_utc(start)} to {fmt_utc(end)}",
                "freeze",
            )
    count = len(target.freeze)
    return GuardrailCheck(
        "freeze windows", True, f"no freeze in force ({count} window(s) configured)", "freeze"
    )


def check_cooldown(target: ActionTarget, last_change_at: datetime | None, now: datetime) -> GuardrailCheck:
    minutes = target.cooldown.total_seconds() / 60
    if last_change_at is None:
        return GuardrailCheck(
            "cooldown", True, f"no earlier change to this target ({minutes:g} min cooldown)", "cooldown"
        )
    ready = last_change_at + target.cooldown
    if now < ready:
        return GuardrailCheck(
            "cooldown",
            False,
            f"last change finished at {fmt_utc(last_change_at)}; the {minutes:g} min cooldown ends at "
            f"{fmt_utc(ready)}",
            "cooldown",
        )
    return GuardrailCheck(
        "cooldown",
        True,
        f"last change finished at {fmt_utc(last_change_at)} ({minutes:g} min cooldown has passed)",
        "cooldown",
    )


def evaluate(
    target: ActionTarget,
    current: TargetState | None,
    change: Change,
    reason: str,
    *,
    now: datetime,
    last_change_at: datetime | None,
    open_action_ids: Sequence[int] = (),
    current_error: str = "",
) -> tuple[tuple[GuardrailCheck, ...], TargetState | None, int]:
    """All guardrails for this change (each passed or failed with a sentence), the expected state after
    it, and its size in instances. Pure: the caller supplies the current state, time and history."""
    kind = KIND_OF_TARGET.get(target.kind)
    checks: list[GuardrailCheck] = []
    add = checks.append
    add(
        GuardrailCheck(
            "reason given",
            bool(reason and reason.strip()),
            "a reason is recorded with the change"
            if reason and reason.strip()
            else "a reason is required: say why this change is needed",
            "reason",
        )
    )
    allowed_fields = FIELDS_OF_TARGET.get(target.kind, frozenset())
    given = {k for k, v in asdict(change).items() if v is not None}
    if not given:
        add(GuardrailCheck("change is valid for this target", False, "the change sets nothing", "invalid"))
    elif not given <= allowed_fields:
        extra = ", ".join(FIELD_LABELS[f] for f in sorted(given - allowed_fields))
        can = ", ".join(FIELD_LABELS[f] for f in sorted(allowed_fields))
        add(
            GuardrailCheck(
                "change is valid for this target",
                False,
                f"a {target.kind} target cannot change {extra} (it can change: {can})",
                "invalid",
            )
        )
    else:
        add(
            GuardrailCheck(
                "change is valid for this target",
                True,
                f"{target.kind} accepts {', '.join(FIELD_LABELS[f] for f in sorted(given))}",
                "invalid",
            )
        )
    if current is None:
        add(
            GuardrailCheck(
                "current state read",
                False,
                f"cannot read the target's current state: {current_error or 'unknown error'}",
                "target_unreadable",
            )
        )
        after, size = None, 0
    else:
        add(GuardrailCheck("current state read", True, describe_state(current), "target_unreadable"))
        after = expected_after(target.kind, current, change)
        size = change_size(current, after) if kind == "scale" else 0
        if kind == "scale":
            checks.extend(_scale_checks(target, current, after, change))
        elif kind == "failover":
            checks.extend(_weight_checks(target, current, after, change))
        differs = state_to_dict(after) != state_to_dict(
            TargetState(
                **{k: getattr(current, k) for k in ("desired", "min_instances", "max_instances", "weights")}
            )
        )
        add(
            GuardrailCheck(
                "is a change",
                differs,
                "the target would change" if differs else "the target already is in this state",
                "no_change",
            )
        )
    add(check_cooldown(target, last_change_at, now))
    add(check_freeze(target, now))
    others = [i for i in open_action_ids]
    add(
        GuardrailCheck(
            "no other open action on this target",
            not others,
            "none"
            if not others
            else f"action #{others[0]} on this target is still open (proposed, approved "
            "or executing); finish, reject or cancel it first",
            "open_action",
        )
    )
    return tuple(checks), after, size


def _scale_checks(
    target: ActionTarget, current: TargetState, after: TargetState, change: Change
) -> list[GuardrailCheck]:
    out: list[GuardrailCheck] = []
    lo, hi = target.min_instances, target.max_instances
    problems = []
    for name in ("desired", "min_instances", "max_instances"):
        value = getattr(change, name)
        if value is not None and not lo <= value <= hi:
            problems.append(f"{FIELD_LABELS[name]} {value} is outside {lo}..{hi}")
    if (
        after.min_instances is not None
        and after.max_instances is not None
        and after.min_instances > after.max_instances
    ):
        problems.append(f"min {after.min_instances} would exceed max {after.max_instances}")
    if change.desired is not None:
        if after.min_instances is not None and change.desired < after.min_instances:
            problems.append(f"desired {change.desired} is below the min {after.min_instances}")
        if after.max_instances is not None and change.desired > after.max_instances:
            problems.append(f"desired {change.desired} is above the max {after.max_instances}")
    out.append(
        GuardrailCheck(
            f"within target bounds {lo}..{hi}",
            not problems,
            "; ".join(problems) or f"all values within {lo}..{hi}",
            "bounds",
        )
    )
    # the step is measured on what actually runs: desired (after clamping) when known, else the floor
    field_name = "desired" if current.desired is not None and after.desired is not None else "min_instances"
    before, new = getattr(current, field_name), getattr(after, field_name)
    label = FIELD_LABELS[field_name]
    if before is None or new is None:
        out.append(
            GuardrailCheck(f"largest step {target.max_step}", True, "only the upper bound changes", "step")
        )
        out.append(
            GuardrailCheck(
                f"step factor x{target.max_step_factor:g}", True, "only the upper bound changes", "step"
            )
        )
        return out
    step = abs(new - before)
    out.append(
        GuardrailCheck(
            f"largest step {target.max_step}",
            step <= target.max_step,
            f"{label} {before} -> {new} is a step of {step} (limit {target.max_step})",
            "step",
        )
    )
    factor_ok, factor_text = True, f"{label} {before} -> {new}"
    if before > 0 and new > 0:
        factor = max(new / before, before / new)
        factor_ok = factor <= target.max_step_factor + 1e-9
        factor_text += f" is x{factor:.2f} (limit x{target.max_step_factor:g})"
    elif before == 0 and new > 0:
        factor_text += " starts from zero (the step limit applies)"
    elif new == 0 and before > 0:
        factor_ok = False
        factor_text += " scales to zero, which exceeds any step factor"
    out.append(GuardrailCheck(f"step factor x{target.max_step_factor:g}", factor_ok, factor_text, "step"))
    return out


def _weight_checks(
    target: ActionTarget, current: TargetState, after: TargetState, change: Change
) -> list[GuardrailCheck]:
    known = set((current.weights or {}).keys())
    wanted = change.weights or {}
    problems = []
    unknown = sorted(set(wanted) - known)
    if unknown:
        problems.append(
            f"unknown record set(s) {', '.join(unknown)} (known: {', '.join(sorted(known)) or 'none'})"
        )
    bad = [k for k, v in wanted.items() if not math.isfinite(v) or v < 0]
    if bad:
        problems.append(f"weights must be finite and >= 0 ({', '.join(sorted(bad))})")
    result = after.weights or {}
    if not any(v > 0 for v in result.values()):
        problems.append("every record would have weight 0: traffic would have nowhere to go")
    if target.kind == "route53_failover":
        primaries = [k for k, v in result.items() if v == 1.0]
        if len(primaries) != 1 or any(v not in (0.0, 1.0) for v in result.values()):
            problems.append("a failover pair needs exactly one primary (1) and the rest secondary (0)")
    return [
        GuardrailCheck(
            "routing stays valid",
            not problems,
            "; ".join(problems) or "at least one record keeps traffic",
            "invalid",
        )
    ]


def build_change(
    current: TargetState | None,
    *,
    desired: int | None = None,
    min_instances: int | None = None,
    max_instances: int | None = None,
    weights: Mapping[str, float] | None = None,
) -> Change:
    """A change holding only the fields that differ from the current state (what a form submits)."""

    def differs(name: str, value: int | None) -> int | None:
        if value is None:
            return None
        return None if current is not None and getattr(current, name) == value else int(value)

    new_weights = None
    if weights is not None:
        now = (current.weights if current else None) or {}
        changed = {k: float(v) for k, v in weights.items() if k not in now or not math.isclose(now[k], v)}
        new_weights = changed or None
    return Change(
        desired=differs("desired", desired),
        min_instances=differs("min_instances", min_instances),
        max_instances=differs("max_instances", max_instances),
        weights=new_weights,
    )


def drain_region(current: Mapping[str, float], region: str) -> dict[str, float]:
    """Weighted routing: send no new traffic to `region`; the others keep their weights, so their
    relative shares grow in proportion (Route 53 weights are relative)."""
    if region not in current:
        raise KeyError(region)
    return {region: 0.0}


def promote_region(current: Mapping[str, float], region: str) -> dict[str, float]:
    """Failover pair: make `region` the primary and every other record secondary."""
    if region not in current:
        raise KeyError(region)
    return {k: (1.0 if k == region else 0.0) for k in current}


def routing_shares(weights: Mapping[str, float]) -> dict[str, float]:
    total = sum(w for w in weights.values() if w > 0)
    return {k: (w / total if total else 0.0) for k, w in weights.items()}


def resolve_prefill(cfg: HeadroomConfig, prefill: Mapping[str, Any] | None) -> Draft:
    """Turn what the Capacity or Triage page suggested into a draft for the proposal form.

    Keys: target, desired, min_instances, max_instances, kind ("scale" | "failover"), region, reason.
    Unknown targets or regions are dropped with a note rather than guessed.
    """
    if not prefill:
        return Draft()
    notes: list[str] = []
    targets = {t.name: t for t in cfg.target}
    kind = str(prefill.get("kind") or "scale")
    region = str(prefill.get("region") or "")
    name = str(prefill.get("target") or "")
    target: ActionTarget | None = targets.get(name)
    if name and target is None:
        notes.append(f"suggested target {name!r} is not configured; pick one below")
    if target is None and kind == "failover" and region:
        target = next(
            (t for t in cfg.target if t.kind == "route53_failover" and t.params.get("primary") == region),
            None,
        ) or next((t for t in cfg.target if t.kind == "route53_weighted"), None)
        if target is None:
            notes.append(f"no Route 53 failover or weighted target is configured for {region}")
    if target is None and kind != "failover" and region:
        target = next(
            (t for t in cfg.target if t.region == region and KIND_OF_TARGET[t.kind] == "scale"), None
        )
        if target is None:
            notes.append(f"no scaling target is configured in {region}")

    def as_int(key: str) -> int | None:
        value = prefill.get(key)
        if value is None or value == "":
            return None
        try:
            return int(math.ceil(float(value)))
        except (TypeError, ValueError):
            notes.append(f"ignored {key}={value!r} (not a number)")
            return None

    desired, lo, hi = as_int("desired"), as_int("min_instances"), as_int("max_instances")
    drain = promote = None
    if target is not None and target.kind == "app_autoscaling" and desired is not None and lo is None:
        # Application Auto Scaling has no desired count: raising the floor guarantees the capacity
        lo, desired = desired, None
        notes.append(
            f"{target.name} is scaled by Application Auto Scaling: the suggested {lo} instances "
            "became its minimum"
        )
    if target is not None and target.kind == "ecs_service" and (lo is not None or hi is not None):
        notes.append(f"{target.name} is an ECS service without min/max of its own: min/max were left out")
        lo = hi = None
    if target is not None and target.kind == "route53_weighted" and region:
        drain = region
    if target is not None and target.kind == "route53_failover":
        if region and region == target.params.get("primary"):
            promote = target.params.get("secondary") or None
        elif region:
            promote = region
    return Draft(
        target=target.name if target else None,
        desired=desired,
        min_instances=lo,
        max_instances=hi,
        drain_region=drain,
        promote_region=promote,
        reason=str(prefill.get("reason") or ""),
        notes=tuple(notes),
    )


# ---- prediction (core/capacity.py, optional) -------------------------------------------------------
def predict(
    cfg: HeadroomConfig,
    target: ActionTarget,
    current: TargetState | None,
    after: TargetState | None,
    demand: pd.Series | None,
) -> tuple[Prediction | None, str]:
    """Predicted utilisation and monthly cost of holding the fleet at its count before and after a scaling
    change, replaying recent demand (req/s, UTC index) through core/capacity.py's simulator when that
    module exists; otherwise (None, a sentence saying why there is no prediction)."""
    if KIND_OF_TARGET.get(target.kind) != "scale":
        return None, "Utilisation and cost predictions apply to scaling changes."
    try:
        from core import capacity  # lazy: written on another branch, may be absent
    except ImportError:
        return None, "Predicted utilisation and cost need core/capacity.py, which is not in this build."
    fleet = next((f for f in cfg.fleet if f.name == target.fleet), None)
    if fleet is None:
        return None, f"Target {target.name} names no fleet, so there is nothing to predict from."
    if current is None or after is None or current.desired is None or after.desired is None:
        return None, "The target's instance count is unknown, so utilisation cannot be predicted."
    if demand is None or demand.dropna().empty:
        return None, "No recent demand for this region, so utilisation cannot be predicted."
    try:
        before_sim = _held_at(capacity, fleet, current.desired, demand)
        after_sim = _held_at(capacity, fleet, after.desired, demand)
    except Exception as exc:  # the planner must never block the guarded path
        return None, f"core/capacity.py could not predict this change ({type(exc).__name__}: {exc})."
    hours = max(len(demand) * _step_hours(demand), 1e-9)
    per_month = HOURS_PER_MONTH / hours
    span = f"{demand.index.min():%Y-%m-%d %H:%M} to {demand.index.max():%Y-%m-%d %H:%M} UTC"
    note = (
        f"Replaying the demand of {span} with the fleet held at {current.desired} and at {after.desired} "
        f"instances (p95 utilisation); after the change {after_sim.minutes_unserved:.0f} min of that window "
        "would have had unserved demand."
    )
    return (
        Prediction(
            utilisation_before=before_sim.p95_utilization,
            utilisation_after=after_sim.p95_utilization,
            cost_per_month_before_usd=before_sim.cost_usd * per_month,
            cost_per_month_after_usd=after_sim.cost_usd * per_month,
            note=note,
        ),
        "",
    )


HOURS_PER_MONTH = 730.0


def _step_hours(demand: pd.Series) -> float:
    if len(demand) < 2:
        return 1 / 60
    return float(pd.Series(demand.index).diff().median().total_seconds()) / 3600


def _held_at(capacity: Any, fleet: Any, count: int, demand: pd.Series) -> Any:
    """core/capacity's simulation of this fleet pinned at `count` (min = max = count) over `demand`."""
    sim_fleet = capacity.Fleet(
        capacity_per_instance=float(fleet.capacity_per_instance),
        min_instances=int(count),
        max_instances=max(int(count), 1),
        warmup_s=0.0,
        price_per_hour=float(fleet.price_per_hour),
    )
    policy = capacity.policy_for_fleet(fleet)
    return capacity.simulate(demand, sim_fleet, policy, start_instances=int(count)).summary


# ---- the service -----------------------------------------------------------------------------------
def _db_path(store: Any) -> str:
    """A file path from a path or a sqlite_utils.Database / sqlite3.Connection opened on a file."""
    if isinstance(store, str | Path):
        return str(store)
    conn = getattr(store, "conn", store)
    row = conn.execute("PRAGMA database_list").fetchone()
    if not row or not row[2]:
        raise ValueError("the actions store must be a file database (not in-memory)")
    return row[2]


def ensure_actions_schema(conn: sqlite3.Connection) -> None:
    for statement in _SCHEMA:
        conn.execute(statement)


_COLUMNS = (
    "id",
    "request_id",
    "target",
    "target_kind",
    "kind",
    "change",
    "reason",
    "state",
    "needs_approval",
    "plan",
    "proposed_by",
    "proposed_at",
    "expires_at",
    "approved_by",
    "approved_at",
    "closed_by",
    "closed_note",
    "executed_by",
    "started_at",
    "owner",
    "finished_at",
    "before",
    "after",
    "error",
)


def _row_to_action(row: Sequence[Any]) -> Action:
    d = dict(zip(_COLUMNS, row, strict=True))
    return Action(
        id=d["id"],
        target=d["target"],
        target_kind=d["target_kind"],
        kind=d["kind"],
        change=change_from_dict(json.loads(d["change"])),
        reason=d["reason"],
        state=d["state"],
        needs_approval=bool(d["needs_approval"]),
        plan=json.loads(d["plan"]),
        proposed_by=d["proposed_by"],
        proposed_at=_ts(d["proposed_at"]),
        expires_at=_ts(d["expires_at"]),
        approved_by=d["approved_by"],
        approved_at=_ts(d["approved_at"]),
        closed_by=d["closed_by"],
        closed_note=d["closed_note"],
        executed_by=d["executed_by"],
        started_at=_ts(d["started_at"]),
        owner=d["owner"],
        finished_at=_ts(d["finished_at"]),
        before=state_from_dict(json.loads(d["before"])) if d["before"] else None,
        after=state_from_dict(json.loads(d["after"])) if d["after"] else None,
        error=d["error"],
        request_id=d["request_id"],
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


class ActionService:
    """Every way to change production goes through one instance of this (per store, executor, config)."""

    def __init__(
        self,
        store: Any,
        cfg: HeadroomConfig,
        executor: ActionExecutor,
        clock: Callable[[], datetime] | None = None,
    ):
        self.path = _db_path(store)
        self.cfg = cfg
        self.executor = executor
        self.clock = clock or (lambda: datetime.now(UTC))
        with audit.write_transaction(self.path) as conn:
            ensure_actions_schema(conn)

    # -- helpers -----------------------------------------------------------------------------------
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
            row = conn.execute(
                f"SELECT {', '.join(_COLUMNS)} FROM {ACTIONS_TABLE} WHERE id = ?", [action_id]
            ).fetchone()
        return None if row is None else _row_to_action(row)

    def _get_in(self, conn: sqlite3.Connection, action_id: int) -> Action | None:
        row = conn.execute(
            f"SELECT {', '.join(_COLUMNS)} FROM {ACTIONS_TABLE} WHERE id = ?", [action_id]
        ).fetchone()
        return None if row is None else _row_to_action(row)

    def list_actions(
        self,
        *,
        states: Sequence[str] | None = None,
        target: str | None = None,
        person: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 500,
    ) -> list[Action]:
        """Newest first, filtered by state, target, a person (proposer, approver or executor) and a
        proposal-time range."""
        sql = f"SELECT {', '.join(_COLUMNS)} FROM {ACTIONS_TABLE} WHERE 1=1"
        params: list[Any] = []
        if states:
            sql += f" AND state IN ({', '.join('?' for _ in states)})"
            params.extend(states)
        if target:
            sql += " AND target = ?"
            params.append(target)
        if person:
            sql += " AND (lower(proposed_by) = ? OR lower(approved_by) = ? OR lower(executed_by) = ?)"
            params.extend([normalise_email(person)] * 3)
        if since is not None:
            sql += " AND proposed_at >= ?"
            params.append(_epoch(since))
        if until is not None:
            sql += " AND proposed_at <= ?"
            params.append(_epoch(until))
        sql += " ORDER BY id DESC LIMIT ?"
        params.append(limit)
        with audit.read_connection(self.path) as conn:
            rows = conn.execute(sql, params).fetchall()
        return [_row_to_action(r) for r in rows]

    def _last_change_at(self, conn: sqlite3.Connection, target: str) -> datetime | None:
        row = conn.execute(
            f"SELECT MAX(finished_at) FROM {ACTIONS_TABLE} WHERE target = ? AND state IN ('succeeded', 'failed')",
            [target],
        ).fetchone()
        return _ts(row[0]) if row and row[0] is not None else None

    def _open_ids(self, conn: sqlite3.Connection, target: str, exclude: int | None) -> list[int]:
        rows = conn.execute(
            f"SELECT id FROM {ACTIONS_TABLE} WHERE target = ? AND state IN ('proposed', 'approved', 'executing') "
            "AND id != ? ORDER BY id",
            [target, exclude if exclude is not None else -1],
        ).fetchall()
        return [r[0] for r in rows]

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
        approval, and (for scaling, when core/capacity.py exists) predicted utilisation and cost."""
        target = self.target(target_name)
        if target is None:
            raise KeyError(target_name)
        error = ""
        if current is None:
            current, error = self.read_current(target)
        with audit.read_connection(self.path) as conn:
            last = self._last_change_at(conn, target.name)
            open_ids = self._open_ids(conn, target.name, exclude_action)
        now = self.now()
        checks, after, size = evaluate(
            target,
            current,
            change,
            reason,
            now=now,
            last_change_at=last,
            open_action_ids=open_ids,
            current_error=error,
        )
        kind = KIND_OF_TARGET[target.kind]
        if kind == "failover":
            needs, why = True, "failover always needs an approver"
        elif size > target.approval_step:
            needs, why = (
                True,
                f"a change of {size} instances is larger than the approval step ({target.approval_step})",
            )
        else:
            needs, why = (
                False,
                (
                    f"a change of {size} instances is within the approval step "
                    f"({target.approval_step}): it may run without a second person"
                ),
            )
        prediction, note = predict(self.cfg, target, current, after, demand)
        return Plan(target, kind, current, change, after, checks, needs, why, size, prediction, note)

    @staticmethod
    def _refusal_from_plan(plan: Plan) -> tuple[str, str]:
        failed = plan.failed
        code = failed[0].code
        text = "; ".join(f"{c.name}: {c.detail}" for c in failed)
        return code, f"Refused by guardrails: {text}."

    # -- transitions -------------------------------------------------------------------------------
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
        detail = {"change": change_to_dict(change)}
        if not allowed(role, "propose"):
            raise self._refuse(
                actor,
                "propose",
                "forbidden",
                f"Your role ({role}) cannot propose changes; operators, approvers and admins can.",
                target=target_name,
                detail=detail,
            )
        if request_id:
            with audit.read_connection(self.path) as conn:
                row = conn.execute(
                    f"SELECT id FROM {ACTIONS_TABLE} WHERE request_id = ?", [request_id]
                ).fetchone()
            if row:
                existing = self.get(row[0])
                assert existing is not None
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
        plan = self.plan(target_name, change, reason)
        if not plan.ok:
            code, message = self._refusal_from_plan(plan)
            raise self._refuse(
                actor,
                "propose",
                code,
                message,
                target=target_name,
                detail={**detail, "checks": plan.to_dict()["checks"]},
            )
        now = self.now()
        expiry = self.cfg.auth.approval_expiry
        state = "proposed" if plan.needs_approval else "approved"
        try:
            with audit.write_transaction(self.path) as conn:
                ensure_actions_schema(conn)
                # the cooldown and open-action checks again, under the write lock
                last = self._last_change_at(conn, target.name)
                cool = check_cooldown(target, last, now)
                if not cool.passed:
                    raise ActionRefused("cooldown", f"Refused by guardrails: cooldown: {cool.detail}.")
                cur = conn.execute(
                    f"INSERT INTO {ACTIONS_TABLE} (request_id, target, target_kind, kind, change, reason, state, "
                    "needs_approval, plan, proposed_by, proposed_at, expires_at, approved_at, updated_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        request_id,
                        target.name,
                        target.kind,
                        plan.kind,
                        json.dumps(change_to_dict(change)),
                        reason.strip(),
                        state,
                        int(plan.needs_approval),
                        json.dumps(plan.to_dict(), default=str),
                        actor.email,
                        _epoch(now),
                        _epoch(now + expiry),
                        _epoch(now) if state == "approved" else None,
                        _epoch(now),
                    ],
                )
                action = self._get_in(conn, int(cur.lastrowid))
                assert action is not None
                self._audit(
                    conn,
                    actor.email,
                    role,
                    "propose",
                    action,
                    reason.strip(),
                    {
                        "change": change_to_dict(change),
                        "state": state,
                        "needs_approval": plan.needs_approval,
                        "approval": plan.approval_reason,
                        "before": state_to_dict(plan.current),
                        "checks": [f"{'pass' if c.passed else 'FAIL'}: {c.name}" for c in plan.checks],
                        "expires_at": fmt_utc(now + expiry),
                    },
                )
                return action
        except ActionRefused as exc:
            raise self._refuse(
                actor, "propose", exc.code, exc.message, target=target_name, detail=detail
            ) from None
        except sqlite3.IntegrityError as exc:
            if request_id and "request_id" in str(exc):
                with audit.read_connection(self.path) as conn:
                    row = conn.execute(
                        f"SELECT id FROM {ACTIONS_TABLE} WHERE request_id = ?", [request_id]
                    ).fetchone()
                existing = self.get(row[0]) if row else None
                if existing is not None:
                    return existing
            with audit.read_connection(self.path) as conn:
                open_ids = self._open_ids(conn, target.name, None)
            other = f" (#{open_ids[0]})" if open_ids else ""
            raise self._refuse(
                actor,
                "propose",
                "open_action",
                f"Another action on {target.name}{other} was proposed at the same moment; "
                "finish, reject or cancel it first.",
                target=target_name,
                detail=detail,
            ) from None

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
            ensure_actions_schema(conn)
            cur = conn.execute(
                f"UPDATE {ACTIONS_TABLE} SET state = 'expired', closed_by = ?, closed_note = ?, updated_at = ? "
                "WHERE id = ? AND state = ? AND expires_at <= ?",
                [
                    SYSTEM_ACTOR,
                    f"{'approval' if action.state == 'approved' else 'proposal'} expired",
                    _epoch(now),
                    action.id,
                    action.state,
                    _epoch(now),
                ],
            )
            fresh = self._get_in(conn, action.id)
            assert fresh is not None
            if cur.rowcount == 1:
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
        now = self.now()
        with audit.read_connection(self.path) as conn:
            ids = [
                r[0]
                for r in conn.execute(
                    f"SELECT id FROM {ACTIONS_TABLE} WHERE state IN ('proposed', 'approved') AND expires_at <= ?",
                    [_epoch(now)],
                ).fetchall()
            ]
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

    def approve(self, actor: Identity, action_id: int, note: str = "") -> Action:
        """Second-person approval of a proposal (never your own), valid for auth.approval_expiry."""
        role = self.role(actor)
        if not allowed(role, "approve"):
            raise self._refuse(
                actor,
                "approve",
                "forbidden",
                f"Your role ({role}) cannot approve changes; approvers and admins can.",
                action_id=action_id,
            )
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
            raise self._refuse(
                actor,
                "approve",
                "state",
                f"Action #{action_id} is {action.state}; only proposed actions can be approved.",
                action_id=action_id,
                target=action.target,
            )
        plan = self.plan(action.target, action.change, action.reason, exclude_action=action.id)
        if not plan.ok:
            code, message = self._refusal_from_plan(plan)
            raise self._refuse(actor, "approve", code, message, action_id=action_id, target=action.target)
        now = self.now()
        with audit.write_transaction(self.path) as conn:
            cur = conn.execute(
                f"UPDATE {ACTIONS_TABLE} SET state = 'approved', approved_by = ?, approved_at = ?, expires_at = ?, "
                "updated_at = ? WHERE id = ? AND state = 'proposed' AND expires_at > ? AND lower(proposed_by) != ?",
                [
                    actor.email,
                    _epoch(now),
                    _epoch(now + self.cfg.auth.approval_expiry),
                    _epoch(now),
                    action_id,
                    _epoch(now),
                    normalise_email(actor.email),
                ],
            )
            fresh = self._get_in(conn, action_id)
            assert fresh is not None
            if cur.rowcount == 1:
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
        if fresh.state == "approved":
            return fresh
        raise self._refuse(
            actor,
            "approve",
            "state",
            f"Action #{action_id} is {fresh.state}; only proposed actions can be approved.",
            action_id=action_id,
            target=action.target,
        )

    def reject(self, actor: Identity, action_id: int, reason: str) -> Action:
        role = self.role(actor)
        if not allowed(role, "reject"):
            raise self._refuse(
                actor,
                "reject",
                "forbidden",
                f"Your role ({role}) cannot reject changes; approvers and admins can.",
                action_id=action_id,
            )
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
            cur = conn.execute(
                f"UPDATE {ACTIONS_TABLE} SET state = ?, closed_by = ?, closed_note = ?, updated_at = ? "
                "WHERE id = ? AND state = ?",
                [to_state, actor.email, reason.strip(), _epoch(now), action.id, from_state],
            )
            fresh = self._get_in(conn, action.id)
            assert fresh is not None
            if cur.rowcount == 1:
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

    def execute(self, actor: Identity, action_id: int) -> ExecuteOutcome:
        """Run an approved action exactly once. A repeat (rerun, double click, another tab) that finds it
        already executing or finished returns ran=False and changes nothing."""
        role = self.role(actor)
        if not allowed(role, "execute"):
            raise self._refuse(
                actor,
                "execute",
                "forbidden",
                f"Your role ({role}) cannot execute changes; operators, approvers and admins can.",
                action_id=action_id,
            )
        action = self._load(actor, "execute", action_id)
        if action.state in ("executing", "succeeded", "failed"):
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
            raise self._refuse(
                actor,
                "execute",
                "state",
                f"Action #{action_id} is {action.state}; only approved actions can run.",
                action_id=action_id,
                target=action.target,
            )
        target = self.target(action.target)
        if target is None:
            raise self._refuse(
                actor,
                "execute",
                "unknown_target",
                f"Target {action.target!r} is no longer configured; nothing was changed.",
                action_id=action_id,
                target=action.target,
            )
        # guardrails again, against the state read now (the target may have moved since the proposal)
        plan = self.plan(action.target, action.change, action.reason, exclude_action=action.id)
        if not plan.ok:
            # a racer may have run it meanwhile (its result fails our cooldown or "is a change" checks):
            # that is a repeat, not a refusal
            raced = self.get(action_id)
            if raced is not None and raced.state in ("executing", "succeeded", "failed"):
                return ExecuteOutcome(raced, False, _already(raced))
            code, message = self._refusal_from_plan(plan)
            raise self._refuse(actor, "execute", code, message, action_id=action_id, target=action.target)
        now = self.now()
        refusal: ActionRefused | None = None
        won, fresh = False, action
        with audit.write_transaction(self.path) as conn:
            # time-based guardrails once more under the write lock, then the compare-and-set
            locked = self._get_in(conn, action_id)
            cool = check_cooldown(target, self._last_change_at(conn, target.name), now)
            freeze = check_freeze(target, now)
            if locked is None or locked.state != "approved":
                fresh = locked or action  # someone else moved it: no checks, no change, no audit
            elif not cool.passed or not freeze.passed:
                bad = cool if not cool.passed else freeze
                refusal = ActionRefused(
                    bad.code, f"Refused by guardrails: {bad.name}: {bad.detail}.", action_id
                )
            else:
                cur = conn.execute(
                    f"UPDATE {ACTIONS_TABLE} SET state = 'executing', executed_by = ?, started_at = ?, owner = ?, "
                    "before = ?, updated_at = ? WHERE id = ? AND state = 'approved' AND expires_at > ? "
                    "AND (needs_approval = 0 OR (approved_by IS NOT NULL AND lower(approved_by) != lower(proposed_by)))",
                    [
                        actor.email,
                        _epoch(now),
                        PROCESS_TOKEN,
                        json.dumps(state_to_dict(plan.current)),
                        _epoch(now),
                        action_id,
                        _epoch(now),
                    ],
                )
                won = cur.rowcount == 1
                fresh = self._get_in(conn, action_id)
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
                actor, "execute", refusal.code, refusal.message, action_id=action_id, target=action.target
            )
        if not won:
            if fresh.state in ("executing", "succeeded", "failed"):
                return ExecuteOutcome(fresh, False, _already(fresh))
            raise self._refuse(
                actor,
                "execute",
                "state",
                f"Action #{action_id} is {fresh.state}; only approved actions can run.",
                action_id=action_id,
                target=action.target,
            )
        # the intent is committed: now, and only now, the outside call
        after: TargetState | None = None
        error = ""
        try:
            after = self.executor.apply(executor_target(target), action.change)
        except SourceError as exc:
            error = exc.message
        except Exception as exc:  # whatever the executor raised, the action must end in a final state
            error = f"{type(exc).__name__}: {exc}"
        if not error and not matches(action.change, after):
            error = (
                f"the target reads back {describe_state(after)}, not the requested "
                f"{describe_change(action.change)}"
            )
        final = "failed" if error else "succeeded"
        done = self.now()
        with audit.write_transaction(self.path) as conn:
            cur = conn.execute(
                f"UPDATE {ACTIONS_TABLE} SET state = ?, finished_at = ?, after = ?, error = ?, updated_at = ? "
                "WHERE id = ? AND state = 'executing' AND owner = ?",
                [
                    final,
                    _epoch(done),
                    json.dumps(state_to_dict(after)) if after else None,
                    error,
                    _epoch(done),
                    action_id,
                    PROCESS_TOKEN,
                ],
            )
            fresh = self._get_in(conn, action_id)
            assert fresh is not None
            event = final if cur.rowcount == 1 else "late_result"
            self._audit(
                conn,
                actor.email,
                role,
                event,
                fresh,
                error or "read back matches the change",
                {"after": state_to_dict(after), "change": change_to_dict(action.change)},
            )
        if final == "succeeded":
            return ExecuteOutcome(fresh, True, f"Action #{action_id} succeeded: {describe_state(after)}.")
        return ExecuteOutcome(fresh, True, f"Action #{action_id} failed: {error}.")

    def reconcile(self) -> list[ReconcileOutcome]:
        """Settle actions a dead process left executing, by reading the target; never re-apply."""
        now = self.now()
        with audit.read_connection(self.path) as conn:
            rows = conn.execute(
                f"SELECT {', '.join(_COLUMNS)} FROM {ACTIONS_TABLE} WHERE state = 'executing' ORDER BY id"
            ).fetchall()
        outcomes = []
        for row in rows:
            action = _row_to_action(row)
            if action.owner == PROCESS_TOKEN:
                continue  # in flight in this very process
            fresh_enough = action.started_at is not None and now - action.started_at < STALE_EXECUTION
            if _owner_alive(action.owner) and fresh_enough:
                continue  # another live process is still applying it
            target = self.target(action.target)
            state, read_error = (
                self.read_current(target) if target else (None, "the target is no longer configured")
            )
            if state is not None and matches(action.change, state):
                outcome, message = (
                    "succeeded",
                    (
                        f"Headroom stopped before recording the result; the target already reads "
                        f"{describe_state(state)}, matching the change. It was not re-applied."
                    ),
                )
            elif state is not None:
                outcome, message = (
                    "failed",
                    (
                        f"Headroom stopped between recording the intent and the result; the target reads "
                        f"{describe_state(state)}, not the requested {describe_change(action.change)}. "
                        "The change was NOT re-applied: check the target and propose again if it is still needed."
                    ),
                )
            else:
                outcome, message = (
                    "failed",
                    (
                        f"Headroom stopped between recording the intent and the result, and the target cannot be "
                        f"read now ({read_error}): the outcome is unknown. Nothing was re-applied; check the "
                        "target by hand."
                    ),
                )
            with audit.write_transaction(self.path) as conn:
                cur = conn.execute(
                    f"UPDATE {ACTIONS_TABLE} SET state = ?, finished_at = ?, after = ?, error = ?, updated_at = ? "
                    "WHERE id = ? AND state = 'executing' AND owner IS ?",
                    [
                        outcome,
                        _epoch(now),
                        json.dumps(state_to_dict(state)) if state else None,
                        "" if outcome == "succeeded" else message,
                        _epoch(now),
                        action.id,
                        action.owner,
                    ],
                )
                fresh = self._get_in(conn, action.id)
                assert fresh is not None
                if cur.rowcount != 1:
                    continue
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
            outcomes.append(ReconcileOutcome(fresh, outcome, message))
        return outcomes


def _minutes(delta: timedelta) -> str:
    return f"{delta.total_seconds() / 60:g} min"


def _already(action: Action) -> str:
    if action.state == "executing":
        return f"Action #{action.id} is already being executed (started {fmt_utc(action.started_at)}); nothing more was done."
    return f"Action #{action.id} already ran ({action.state} at {fmt_utc(action.finished_at)}); it is never run twice."


# the columns of the weekly review's "Actions taken" table
REVIEW_ACTION_COLUMNS = (
    "id",
    "kind",
    "target",
    "state",
    "reason",
    "proposed_by",
    "approved_by",
    "executed_by",
    "proposed_at",
    "finished_at",
    "error",
)


def actions_proposed_between(db: Any, start: datetime, end: datetime) -> pd.DataFrame | None:
    """Actions proposed in [start, end) with their outcome (None when no action was ever recorded)."""
    if db is None or "actions" not in db.table_names():
        return None
    frame = pd.read_sql_query(
        f"SELECT {', '.join(REVIEW_ACTION_COLUMNS)} FROM actions WHERE proposed_at >= ? AND proposed_at < ? ORDER BY id",
        db.conn,
        params=[start.timestamp(), end.timestamp()],
    )
    for col in ("proposed_at", "finished_at"):
        frame[col] = pd.to_datetime(frame[col], unit="s", utc=True)
    return frame
