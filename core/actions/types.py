"""Value types of the guarded path: the action states, the Action record, the dry-run Plan, refusals,
and their (de)serialisation and human descriptions. No SQL, no rules, no outside calls."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from core.config import ActionTarget
from core.ports import Change, Target, TargetState

OPEN_STATES: tuple[str, ...] = ("proposed", "approved", "executing")
FINAL_STATES: tuple[str, ...] = ("succeeded", "failed", "rejected", "expired", "cancelled")
# the change was applied exactly once, but the target could not be read back (core.ports.AppliedUnverified):
# never re-applied; reconcile() settles it to succeeded or failed from what the target reads later
UNVERIFIED = "unverified"
STATES: tuple[str, ...] = (*OPEN_STATES, UNVERIFIED, *FINAL_STATES)
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
    """Predicted effect of a scaling change (from core.capacity when it is available)."""

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
    settled_from: str = "executing"  # the state it was left in: executing (a crash) or unverified


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


def change_detail(change: Change) -> dict[str, Any]:
    """change_to_dict for the audit log, safe for any value a caller passed: what is not a finite number
    is recorded as its repr (NaN and infinity have no canonical JSON)."""

    def safe(value: Any) -> Any:
        if isinstance(value, bool) or value is None or isinstance(value, str):
            return value if not isinstance(value, str) else repr(value)
        if isinstance(value, int):
            return value
        if isinstance(value, float) and math.isfinite(value):
            return value
        if isinstance(value, Mapping):
            return {str(k): safe(v) for k, v in value.items()}
        return repr(value)

    return {k: safe(v) for k, v in vars(change).items() if v is not None}


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
