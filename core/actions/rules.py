"""Guardrails: pure functions of a target's config, its current state, the change, the time and the
action history (bounds, largest step, step factor, cooldown, freeze windows, a reason, one open action
per target, the approval policy), plus the helpers that build a change from what a form holds."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from core.actions.types import (
    FIELD_LABELS,
    FIELDS_OF_TARGET,
    KIND_OF_TARGET,
    ActionKind,
    GuardrailCheck,
    describe_state,
    fmt_utc,
    state_to_dict,
)
from core.config import ActionTarget
from core.ports import Change, TargetState


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
    problems = value_problems(change)
    checks = [_reason_check(reason), _fields_check(target, change, problems)]
    if problems:
        after, size = None, 0  # no state check can be computed from values that are not numbers
    elif current is None:
        checks.append(
            GuardrailCheck(
                "current state read",
                False,
                f"cannot read the target's current state: {current_error or 'unknown error'}",
                "target_unreadable",
            )
        )
        after, size = None, 0
    else:
        checks.append(
            GuardrailCheck("current state read", True, describe_state(current), "target_unreadable")
        )
        after, size, state_checks = _state_checks(target, current, change)
        checks.extend(state_checks)
    checks.append(check_cooldown(target, last_change_at, now))
    checks.append(check_freeze(target, now))
    checks.append(_open_action_check(open_action_ids))
    return tuple(checks), after, size


def value_problems(change: Change) -> list[str]:
    """What is wrong with the values of a change, each naming its field: instance counts must be whole
    numbers (not bools, floats, NaN or text) and weights a mapping of record names to finite numbers.
    Empty when every value is usable (issue 19 item 13: such values escaped as raw ValueError/TypeError)."""
    problems = []
    for name in ("desired", "min_instances", "max_instances"):
        value = getattr(change, name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            problems.append(f"{FIELD_LABELS[name]} must be a whole number of instances, not {value!r}")
    weights = change.weights
    if weights is not None:
        if not isinstance(weights, Mapping):
            problems.append(f"weights must map record names to numbers, not {weights!r}")
        else:
            for record, weight in weights.items():
                if (
                    not isinstance(record, str)
                    or isinstance(weight, bool)
                    or not isinstance(weight, int | float)
                    or not math.isfinite(weight)
                ):
                    problems.append(f"weight of {record!r} must be a finite number, not {weight!r}")
    return problems


def _reason_check(reason: str) -> GuardrailCheck:
    given = bool(isinstance(reason, str) and reason.strip())
    return GuardrailCheck(
        "reason given",
        given,
        "a reason is recorded with the change"
        if given
        else "a reason is required: say why this change is needed",
        "reason",
    )


def _fields_check(target: ActionTarget, change: Change, problems: Sequence[str] = ()) -> GuardrailCheck:
    """The change sets something, only what this kind of target can change, and with usable values."""
    allowed_fields = FIELDS_OF_TARGET.get(target.kind, frozenset())
    given = {
        k for k in ("desired", "min_instances", "max_instances", "weights") if getattr(change, k) is not None
    }
    name = "change is valid for this target"
    if problems:
        return GuardrailCheck(name, False, "; ".join(problems), "invalid")
    if not given:
        return GuardrailCheck(name, False, "the change sets nothing", "invalid")
    if not given <= allowed_fields:
        extra = ", ".join(FIELD_LABELS[f] for f in sorted(given - allowed_fields))
        can = ", ".join(FIELD_LABELS[f] for f in sorted(allowed_fields))
        return GuardrailCheck(
            name, False, f"a {target.kind} target cannot change {extra} (it can change: {can})", "invalid"
        )
    accepted = ", ".join(FIELD_LABELS[f] for f in sorted(given))
    return GuardrailCheck(name, True, f"{target.kind} accepts {accepted}", "invalid")


def _state_checks(
    target: ActionTarget, current: TargetState, change: Change
) -> tuple[TargetState, int, list[GuardrailCheck]]:
    """The expected state after the change, its size, and the checks that need the current state
    (bounds and steps for scaling, valid routing for failover, and that it changes anything)."""
    kind = KIND_OF_TARGET.get(target.kind)
    after = expected_after(target.kind, current, change)
    size = change_size(current, after) if kind == "scale" else 0
    checks: list[GuardrailCheck] = []
    if kind == "scale":
        checks.extend(_scale_checks(target, current, after, change))
    elif kind == "failover":
        checks.extend(_weight_checks(target, current, after, change))
    differs = state_to_dict(after) != state_to_dict(
        TargetState(
            **{k: getattr(current, k) for k in ("desired", "min_instances", "max_instances", "weights")}
        )
    )
    checks.append(
        GuardrailCheck(
            "is a change",
            differs,
            "the target would change" if differs else "the target already is in this state",
            "no_change",
        )
    )
    return after, size, checks


def _open_action_check(open_action_ids: Sequence[int]) -> GuardrailCheck:
    others = list(open_action_ids)
    return GuardrailCheck(
        "no other open action on this target",
        not others,
        "none"
        if not others
        else f"action #{others[0]} on this target is still open (proposed, approved "
        "or executing); finish, reject or cancel it first",
        "open_action",
    )


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


def approval_policy(target: ActionTarget, kind: ActionKind, size: int) -> tuple[bool, str]:
    """Does this change need a second person, and why: failover always does; scaling only beyond the
    target's approval step."""
    if kind == "failover":
        return True, "failover always needs an approver"
    if size > target.approval_step:
        return True, f"a change of {size} instances is larger than the approval step ({target.approval_step})"
    return (
        False,
        (
            f"a change of {size} instances is within the approval step "
            f"({target.approval_step}): it may run without a second person"
        ),
    )
