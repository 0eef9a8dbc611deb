"""Actions: propose, approve and execute scaling and failover through one guarded path (core/actions/),
with a tamper-evident audit log. Every rule is enforced in core; this page only shows and asks."""

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from typing import Any, TypeVar

import pandas as pd
import streamlit as st

from core import audit, db, export
from core.actions import (
    FIELDS_OF_TARGET,
    KIND_OF_TARGET,
    STATES,
    UNVERIFIED,
    Action,
    ActionRefused,
    ActionService,
    Plan,
    build_change,
    change_from_dict,
    describe_change,
    describe_state,
    fmt_utc,
    promote_region,
    resolve_prefill,
    routing_shares,
    scale_out_suggestion,
    state_from_dict,
    unsigned_break_glass,
)
from core.auth import Identity, allowed, role_of
from core.config import ActionTarget, config_path
from core.incidents import open_incidents
from core.ports import Change, TargetState
from headroom.wiring import build_executor
from pages import _actions_view as actions_view
from pages import _ui as ui
from pages._identity import demo_user_select

ss = st.session_state
T = TypeVar("T")
cfg = ui.config()
ui.page_header(
    "Actions",
    "Propose, approve and execute scaling and failover through one guarded path, with a tamper-evident audit log.",
)


@st.cache_resource(show_spinner=False)
def _executor(store_path: str, kind: str, config_mtime: float, shared_key: str):  # -> ActionExecutor
    # the sandbox's fleet lives where the replicas share their tables (PostgreSQL when configured);
    # shared_key (that URL, or "") is only the cache key
    return build_executor(ui.config(), ui.db(), ui.secrets(), ui.shared_store())


def _config_mtime() -> float:
    try:
        return config_path().stat().st_mtime
    except OSError:
        return 0.0


try:
    shared = ui.shared_store()
    executor = _executor(
        str(cfg.store_path()),
        cfg.sources.executor,
        _config_mtime(),
        shared if isinstance(shared, str) else "",
    )
    service = ActionService(ui.guarded_store(), cfg, executor)
except db.StoreUnavailable as exc:  # the shared database is away: a banner, and no action on this replica
    st.error(
        f"⚠️ The store cannot be reached: {ui.md_text(exc)}. Actions are refused until it is back; "
        "nothing is queued on this replica."
    )
    st.stop()
except Exception as exc:  # a broken executor config or audit key must not become a traceback
    st.error(f"⚠️ The action executor ({cfg.sources.executor}) cannot start: {ui.md_text(exc)}")
    st.stop()


# ---- who is acting -----------------------------------------------------------------------------------
def _identity() -> Identity:
    """Read the one mechanism config auth.mode trusts and hand plain values to core.auth."""
    mode = cfg.auth.mode
    with st.container(border=True):
        if mode == "demo":
            demo_user_select(cfg, "Acting as (demo mode: pick one of the configured users)", "demo_user")
            ss[ui.DEMO_USER_KEPT] = ss.get("demo_user")  # for the pages that draw no picker (review)
            return ui.current_identity()
        who = ui.current_identity()  # the proxy header (all its values) or the OIDC login
        if mode == "proxy":
            if not who.signed_in:
                st.warning(f"No identity in the `{cfg.auth.proxy_header}` header: you are a viewer.")
            return who
        if who.signed_in:
            st.button("Log out", key="oidc_logout", on_click=st.logout)
        else:
            st.button("Log in", key="oidc_login", on_click=_login)
        return who


def _login() -> None:
    try:
        st.login()
    except Exception as exc:  # no [auth] in secrets.toml
        ss["actions_messages"] = [
            ("error", f"Login is not configured ([auth] in .streamlit/secrets.toml): {exc}")
        ]


me = _identity()
role = role_of(me, cfg.user)
st.caption(
    f"Signed in as **{ui.md_text(me.label)}** · role **{role}** · identity from {cfg.auth.mode} · executor "
    f"**{getattr(executor, 'name', cfg.sources.executor)}**"
)
if me.signed_in and not me.verified:
    st.warning("Your identity provider did not verify this e-mail address: you only have the viewer role.")

# ---- housekeeping on every load: settle crashed executions, expire overdue approvals -----------------
with ui.page_guard("Settling interrupted executions and expiring old approvals"):
    for result in service.reconcile():
        icon = "✅" if result.outcome == "succeeded" else "⚠️"
        st.warning(
            f"{icon} Action #{result.action.id} on {result.action.target} was left {result.settled_from}: "
            f"{ui.md_text(result.message)}"
        )
    service.expire_stale()

chain = audit.verify_chain(service.path)
if chain.ok:
    st.success(f"🔒 {chain.summary()}", icon=None)
else:
    st.error(f"🚨 {chain.summary()} Export the log and investigate before trusting it.")

for level, text in ss.pop("actions_messages", []):
    # refusals and outcomes quote reasons, targets and executor errors: shown as text, never markdown
    {"success": st.success, "error": st.error, "info": st.info, "warning": st.warning}[level](
        ui.md_text(text)
    )


def _say(level: str, text: str) -> None:
    ss.setdefault("actions_messages", []).append((level, text))


# ---- callbacks: run before the rerun, so the whole page shows the new state ----------------------------
def _propose(target: str, shown: dict, reason: str, request_id: str, run_now: bool) -> None:
    """Propose exactly what the dry run showed: if the form changed in the same interaction as the click
    (a value typed and the button pressed at once), stop and let the user review the new dry run."""
    configured = next((t for t in cfg.target if t.name == target), None)
    current, _error = service.read_current(configured) if configured else (None, "")
    now = (
        {k: v for k, v in vars(_form_change(configured, current)).items() if v is not None}
        if configured
        else {}
    )
    if ss.get("act_target") != target or now != shown or (ss.get("act_reason") or "") != reason:
        _say(
            "warning",
            "The form or the target changed after the dry run was drawn: review the dry run below "
            "and click again. Nothing was proposed.",
        )
        return
    action = _attempt(
        "Proposal",
        lambda: service.propose(me, target, change_from_dict(shown), reason, request_id=request_id),
    )
    if action is None:
        return
    ss["act_request_id"] = uuid.uuid4().hex  # the next submit is a new proposal
    if action.state == "proposed":
        _say(
            "success",
            f"📝 Action #{action.id} proposed: {action.describe_change()} on {target}. "
            f"It needs an approver (not you) before {fmt_utc(action.expires_at)}.",
        )
        return
    if run_now:
        _execute(action.id)
    else:
        _say("info", f"Action #{action.id} is approved by policy and ready to run.")


def _attempt(label: str, call: Callable[..., T], *args: Any) -> T | None:
    """Run one service transition; a refusal becomes "⛔ <label> refused: ..." on the next run and None."""
    try:
        return call(*args)
    except ActionRefused as exc:
        _say("error", f"⛔ {label} refused: {exc.message}")
        return None
    except db.StoreUnavailable as exc:
        # the shared database went away since the page loaded: refuse, never queue it locally
        _say("error", f"⛔ {label} refused: {exc}. Nothing was changed; try again once the store is back.")
        return None


def _approve(action_id: int) -> None:
    note = ss.get(f"approve_note_{action_id}", "")
    action = _attempt("Approval", service.approve, me, action_id, note)
    if action is not None:
        _say("success", f"✅ Action #{action_id} approved; it can run until {fmt_utc(action.expires_at)}.")


def _reject(action_id: int) -> None:
    reason = ss.get(f"approve_note_{action_id}", "")
    if _attempt("Rejection", service.reject, me, action_id, reason) is not None:
        _say("info", f"Action #{action_id} rejected.")


def _cancel(action_id: int) -> None:
    reason = ss.get(f"cancel_reason_{action_id}", "")
    if _attempt("Cancel", service.cancel, me, action_id, reason) is not None:
        _say("info", f"Action #{action_id} cancelled.")


def _execute(action_id: int) -> None:
    outcome = _attempt("Execution", service.execute, me, action_id)
    if outcome is None:
        return
    if not outcome.ran:
        _say("info", f"ℹ️ {outcome.message}")
    elif outcome.action.state == "succeeded":
        _say("success", f"🚀 {outcome.message}")
    elif outcome.action.state == UNVERIFIED:  # it ran once: not a failure, and not to be tried again
        _say("warning", f"❔ {outcome.message}")
    else:
        _say("error", f"❌ {outcome.message}")


# ---- widgets -----------------------------------------------------------------------------------------
def _plan_view(plan: Plan, to_fill_in: frozenset[str] = frozenset()) -> None:
    """The dry run. Checks whose refusal code is in `to_fill_in` (a blank reason, a change that sets
    nothing yet) read "to fill in", not "fail": a blank form greeted the user with failed guardrails."""
    c1, c2, c3 = st.columns(3)
    c1.markdown(f"**Now**  \n{describe_state(plan.current)}")
    c2.markdown(f"**Change**  \n{describe_change(plan.change)}")
    c3.markdown(f"**Expected after**  \n{describe_state(plan.after)}")
    if plan.kind == "failover" and plan.current and plan.after and plan.after.weights:
        shares = pd.DataFrame(
            {
                "record": list(plan.after.weights),
                "share now (%)": [100 * v for v in routing_shares(plan.current.weights or {}).values()],
                "share after (%)": [100 * v for v in routing_shares(plan.after.weights).values()],
            }
        )
        ui.show_table(shares, key=f"shares_{plan.target.name}")
        current_weights = plan.current.weights or {}
        actions_view.absorb_check(
            sorted(r for r, w in plan.after.weights.items() if w == 0 and current_weights.get(r, 0) > 0)
        )
    checks = ui.table_of(
        plan.checks,
        {
            "guardrail": lambda c: c.name,
            "result": lambda c: (
                "✅ pass" if c.passed else "✏️ to fill in" if c.code in to_fill_in else "❌ fail"
            ),
            "detail": lambda c: c.detail,
        },
    )
    st.dataframe(checks, hide_index=True, width="stretch", key=f"checks_{plan.target.name}")
    st.markdown(
        ("🧑‍🤝‍🧑 **Needs approval**: " if plan.needs_approval else "⚡ **No approval needed**: ")
        + plan.approval_reason
    )
    if plan.prediction is not None:
        p = plan.prediction
        st.markdown(
            f"**Predicted**: utilisation {_pct(p.utilisation_before)} → {_pct(p.utilisation_after)}, "
            f"cost {_usd(p.cost_per_month_before_usd)} → {_usd(p.cost_per_month_after_usd)} per month. {p.note}"
        )
    elif plan.prediction_note:
        st.caption(plan.prediction_note)


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{100 * v:.0f}%"


def _usd(v: float | None) -> str:
    return "n/a" if v is None else f"${v:,.0f}"


def _recent_demand(region: str) -> pd.Series | None:
    """The region's request rate (req/s) over the last 24 h, for the utilisation and cost prediction."""
    end = ui.data_anchor()
    frame = ui.load_metrics(
        ["requests_per_second"], end - timedelta(hours=24), end, regions=[region], step=timedelta(minutes=5)
    )
    if frame.empty:
        return None
    return frame.set_index("ts")["value"].sort_index()


# the instance-count inputs' ceiling (the guardrails judge the real limits and say so in the dry run)
MAX_INSTANCES_INPUT = 100_000


def _apply_prefill() -> None:
    prefill = ss.pop("actions_prefill", None)
    if not prefill:
        return
    draft = resolve_prefill(cfg, prefill)
    notes = list(draft.notes)
    target_cfg = next((t for t in cfg.target if t.name == draft.target), None)
    if (
        prefill.get("kind") == "scale"
        and target_cfg is not None
        and draft.desired is None
        and KIND_OF_TARGET[target_cfg.kind] == "scale"
        and "desired" in FIELDS_OF_TARGET[target_cfg.kind]
    ):
        # "Scale out" from Triage: a real step from the dry run's own predicted utilisation, not 7 -> 7
        current, _error = service.read_current(target_cfg)
        desired, why = scale_out_suggestion(cfg, target_cfg, current, _recent_demand(target_cfg.region))
        if desired is not None:
            ss[f"act_desired_{target_cfg.name}"] = desired
        notes.append(why)
    if draft.target:
        ss["act_target"] = draft.target
        for key, value in (
            ("desired", draft.desired),
            ("min", draft.min_instances),
            ("max", draft.max_instances),
        ):
            if value is not None:
                ss[f"act_{key}_{draft.target}"] = value
        if draft.drain_region:
            ss[f"act_w_{draft.target}_{draft.drain_region}"] = 0.0
        if draft.promote_region:
            ss[f"act_primary_{draft.target}"] = draft.promote_region
    if draft.reason:
        ss["act_reason"] = draft.reason
    ss["act_prefill_notes"] = ["Pre-filled from the page you came from: check every value.", *notes]


def _form_change(target, current) -> Change:
    """The change the form's widgets describe now (read from session state, so a callback sees exactly
    what the user last entered)."""
    name = target.name
    if KIND_OF_TARGET[target.kind] == "scale":
        values = {}
        for field in sorted(FIELDS_OF_TARGET[target.kind]):
            key = f"act_{field.replace('_instances', '')}_{name}"
            if ss.get(key) is not None:
                values[field] = int(ss[key])
        return build_change(current, **values)
    records = sorted((current.weights or {}) if current else {})
    if target.kind == "route53_weighted":
        return build_change(current, weights={r: float(ss.get(f"act_w_{name}_{r}", 0.0)) for r in records})
    primary = ss.get(f"act_primary_{name}")
    return build_change(current, weights={r: (1.0 if r == primary else 0.0) for r in records})


def _change_inputs(target: ActionTarget, current: TargetState) -> None:
    """The widgets for what this kind of target can change, seeded from its current state."""
    name = target.name
    if KIND_OF_TARGET[target.kind] == "scale":
        cols = st.columns(3)
        for col, field, label in (
            (cols[0], "desired", "Desired instances"),
            (cols[1], "min_instances", "Min instances"),
            (cols[2], "max_instances", "Max instances"),
        ):
            if field not in FIELDS_OF_TARGET[target.kind]:
                continue
            key = f"act_{field.replace('_instances', '')}_{name}"
            default = getattr(current, field)
            if key not in ss:
                ss[key] = int(default if default is not None else target.min_instances)
            ui.keep_in_range(key, 0, MAX_INSTANCES_INPUT, label)  # a prefilled number outside the control
            col.number_input(
                label,
                min_value=0,
                max_value=MAX_INSTANCES_INPUT,
                step=1,
                key=key,
                help=f"Guardrail: {target.min_instances}..{target.max_instances}",
            )
    elif target.kind == "route53_weighted":
        st.caption(
            "Route 53 weights are relative: setting a region to 0 drains it and its share goes to the "
            "others in proportion."
        )
        cols = st.columns(min(len(current.weights or {}), 6) or 1)
        for i, (record, weight) in enumerate(sorted((current.weights or {}).items())):
            key = f"act_w_{name}_{record}"
            if key not in ss:
                ss[key] = float(weight)
            ui.keep_in_range(key, 0.0, None, f"{record} weight")
            cols[i % len(cols)].number_input(f"{record} weight", min_value=0.0, step=1.0, key=key)
    else:
        records = sorted(current.weights or {})
        primary_now = next((k for k, v in (current.weights or {}).items() if v == 1.0), records[0])
        key = f"act_primary_{name}"
        if ss.get(key) not in records:
            ss[key] = primary_now
        st.radio("Primary (serves traffic while healthy)", records, key=key, horizontal=True)


def _propose_tab() -> None:
    _apply_prefill()
    for note in ss.get("act_prefill_notes", []):
        st.info(note)
    targets = {t.name: t for t in cfg.target}
    if not targets:
        st.info("No [[target]] is configured, so there is nothing to change.")
        return
    if ss.get("act_target") not in targets:
        ss["act_target"] = next(iter(targets))
    name = st.selectbox(
        "Target",
        list(targets),
        key="act_target",
        format_func=lambda n: f"{n} · {targets[n].kind} · {targets[n].region}",
    )
    target = targets[name]
    current, error = service.read_current(target)
    if current is None:
        st.error(f"⚠️ Cannot read {name}'s current state: {ui.md_text(error)}")
        return
    _change_inputs(target, current)
    change = _form_change(target, current)
    reason = st.text_area(
        "Reason (required, recorded in the audit log)",
        key="act_reason",
        placeholder="e.g. forecast p95 peak needs 14 instances at 60% CPU",
    )
    demand = _recent_demand(target.region) if KIND_OF_TARGET[target.kind] == "scale" else None
    plan = service.plan(name, change, reason, demand=demand, current=current)
    with st.container(border=True):
        st.markdown("**Dry run**: nothing changes until the proposal is approved (when needed) and executed.")
        blank = {"reason"} if not (reason or "").strip() else set()
        if not any(v is not None for v in vars(change).values()):
            blank.update({"invalid", "no_change"})  # nothing entered yet
        _plan_view(plan, frozenset(blank))
    ss.setdefault("act_request_id", uuid.uuid4().hex)
    can = allowed(role, "propose")
    label = "Propose for approval" if plan.needs_approval else "Propose and run now"
    st.button(
        label,
        key="act_submit",
        type="primary",
        disabled=not can or not plan.ok,
        on_click=_propose,
        args=(
            name,
            {k: v for k, v in vars(plan.change).items() if v is not None},
            reason,
            ss["act_request_id"],
            not plan.needs_approval,
        ),
    )
    if not can:
        st.caption(f"Your role ({role}) can see plans but not propose; operators, approvers and admins can.")
    elif not plan.ok and all(c.code in blank for c in plan.failed):
        st.caption("Enter the change and a reason above to propose it.")
    elif not plan.ok:
        st.caption("Fix the failing guardrails above to propose this change.")


def _action_header(a: Action) -> str:
    before = state_from_dict(a.plan.get("current"))
    was = f" (at proposal: {describe_state(before)})" if before is not None else ""
    return f"**#{a.id} · {ui.md_text(a.target)}** · {ui.md_text(a.describe_change() + was)}"


def _action_meta(a: Action) -> None:
    st.caption(
        f"Proposed by {ui.md_text(a.proposed_by)} at {fmt_utc(a.proposed_at)} · expires {fmt_utc(a.expires_at)}"
        + (f" · approved by {ui.md_text(a.approved_by)}" if a.approved_by else "")
    )
    # the reason is whatever the proposer typed: shown to every approver as text (no image, no link)
    st.markdown(f"> {ui.md_text(a.reason)}")


def _cancel_controls(a: Action) -> None:
    own = a.proposed_by.lower() == me.email.lower()
    if not (allowed(role, "cancel_any") or (own and allowed(role, "cancel_own"))):
        return
    c1, c2 = st.columns([3, 1])
    c1.text_input(
        "Cancel reason", key=f"cancel_reason_{a.id}", label_visibility="collapsed", placeholder="Why cancel?"
    )
    c2.button("Cancel", key=f"cancel_{a.id}", on_click=_cancel, args=(a.id,))


def _pending_tab(pending: list[Action]) -> None:
    if not pending:
        st.info("Nothing is waiting for approval.")
        return
    for a in pending:
        with st.container(border=True):
            st.markdown(_action_header(a))
            _action_meta(a)
            checks = a.plan.get("checks", [])
            st.caption(
                "Guardrails at proposal: "
                + " · ".join(f"{'✅' if c['passed'] else '❌'} {c['name']}" for c in checks)
            )
            own = a.proposed_by.lower() == me.email.lower()
            if allowed(role, "approve"):
                if own:
                    st.caption("You proposed this: the two-person rule needs another approver.")
                c1, c2, c3 = st.columns([2, 1, 1])
                c1.text_input(
                    "Note or rejection reason",
                    key=f"approve_note_{a.id}",
                    label_visibility="collapsed",
                    placeholder="Note (approval) / reason (rejection)",
                )
                c2.button(
                    "Approve",
                    key=f"approve_{a.id}",
                    type="primary",
                    disabled=own,
                    on_click=_approve,
                    args=(a.id,),
                )
                c3.button("Reject", key=f"reject_{a.id}", disabled=own, on_click=_reject, args=(a.id,))
            else:
                st.caption(f"Your role ({role}) cannot approve; approvers and admins can.")
            _cancel_controls(a)


def _ready_tab(ready: list[Action], running: list[Action]) -> None:
    for a in running:
        st.warning(
            f"⏳ #{a.id} {a.target} is executing (started {fmt_utc(a.started_at)} by "
            f"{ui.md_text(a.executed_by)})."
        )
    if not ready:
        st.info("No approved action is waiting to run.")
        return
    for a in ready:
        with st.container(border=True):
            st.markdown(_action_header(a))
            _action_meta(a)
            if allowed(role, "execute"):
                st.button(
                    "Execute now", key=f"execute_{a.id}", type="primary", on_click=_execute, args=(a.id,)
                )
            else:
                st.caption(f"Your role ({role}) cannot execute; operators, approvers and admins can.")
            _cancel_controls(a)


def _history_tab() -> None:
    c1, c2, c3, c4 = st.columns(4)
    states = c1.multiselect("State", list(STATES), key="hist_states")
    target = c2.selectbox("Target", ["(all)", *[t.name for t in cfg.target]], key="hist_target")
    person = c3.text_input("Person (e-mail)", key="hist_person", placeholder="proposer, approver or executor")
    today = datetime.now(UTC).date()
    days = c4.date_input("Proposed between (UTC)", (today - timedelta(days=30), today), key="hist_days")
    since = until = None
    if isinstance(days, tuple | list) and len(days) == 2:
        since = datetime.combine(days[0], time.min, tzinfo=UTC)
        until = datetime.combine(days[1], time.max, tzinfo=UTC)
    unreadable: list[str] = []
    actions = service.list_actions(
        states=states or None,
        target=None if target == "(all)" else target,
        person=person.strip() or None,
        since=since,
        until=until,
        unreadable=unreadable,
    )
    _warn_unreadable(unreadable)
    if not actions:
        st.info("No actions match these filters.")
        return
    frame = ui.table_of(
        actions,
        {
            "id": lambda a: a.id,
            "target": lambda a: a.target,
            "change": lambda a: a.describe_change(),
            "state": lambda a: a.state,
            "proposed_by": lambda a: a.proposed_by,
            "proposed_at": lambda a: a.proposed_at,
            "approved_by": lambda a: a.approved_by or ("policy" if not a.needs_approval else ""),
            "executed_by": lambda a: a.executed_by or "",
            "finished_at": lambda a: a.finished_at,
            "result": lambda a: (
                (a.error or describe_state(a.after)) if (a.after or a.error) else a.closed_note
            ),
            "reason": lambda a: a.reason,
        },
    )
    ui.show_table(frame, key="history_table")
    st.download_button(
        "Download history (CSV)",
        export.frame_to_csv(frame),
        "headroom-actions.csv",
        "text/csv",
        key="history_csv",
    )


def _warn_unreadable(problems: list[str]) -> None:
    for problem in dict.fromkeys(problems):
        st.warning(f"⚠️ {ui.md_text(problem)}: it is left out here. The store may be damaged.")


def _audit_problems(seq: Any, at: Any, detail: Any) -> list[str]:
    """What cannot be read in one stored audit row (a damaged or edited file): named, never a crash."""
    problems = []
    try:
        datetime.strptime(str(at), "%Y-%m-%dT%H:%M:%S.%fZ")
    except ValueError:
        problems.append(f"audit entry #{seq}: its timestamp {at!r} cannot be read")
    try:
        json.loads(detail)
    except (TypeError, ValueError):
        problems.append(f"audit entry #{seq}: its detail is not valid JSON")
    return problems


def _audit_tab() -> None:
    st.caption(
        "Append-only; each entry carries SHA-256(previous hash + canonical JSON of the entry). "
        "The CSV includes the hashes so the chain can be re-verified outside Headroom (cells a "
        "spreadsheet would run as a formula start with an added `'`: remove it before re-hashing)."
    )
    # the rows as stored, unparsed: one damaged row must not take the log and its export down
    rows = audit.stored_rows(service.path, limit=500)
    if not rows:
        st.info("The audit log is empty.")
    else:
        col = {name: i for i, name in enumerate(audit.CSV_COLUMNS)}
        problems = [p for r in rows for p in _audit_problems(r[col["seq"]], r[col["at"]], r[col["detail"]])]
        for problem in problems:
            st.warning(f"⚠️ {ui.md_text(problem)}. It is shown as stored; export the log and investigate.")
        frame = ui.table_of(
            list(reversed(rows)),
            {
                "seq": lambda r: r[col["seq"]],
                "at": lambda r: str(r[col["at"]]),
                "actor": lambda r: r[col["actor"]],
                "role": lambda r: r[col["role"]],
                "event": lambda r: r[col["event"]],
                "action": lambda r: r[col["action_id"]],
                "target": lambda r: r[col["target"]],
                "why": lambda r: r[col["reason"]],
                "hash": lambda r: str(r[col["hash"]])[:12] + "…",
            },
        )
        ui.show_table(frame, key="audit_table")
    st.download_button(
        "Download audit log (CSV)",
        audit.to_csv(service.path),
        "headroom-audit.csv",
        "text/csv",
        key="audit_csv",
    )


# ---- break-glass (issue 18): an approver alone during an open sev1, countersigned afterwards ------------
def _break_glass(target: str, standby: str, reason: str, incident_id: int) -> None:
    configured = service.target(target)
    current, error = service.read_current(configured) if configured else (None, "")
    if current is None or not current.weights or standby not in current.weights:
        _say(
            "error", f"⛔ Break-glass refused: cannot read the routing of {target} ({error or 'no records'})."
        )
        return
    change = Change(weights=promote_region(current.weights, standby))
    outcome = _attempt("Break-glass", service.break_glass, me, target, change, reason, incident_id)
    if outcome is not None:
        _say(
            "success",
            f"🚨 Break-glass #{outcome.action.id}: {outcome.message}. A second approver must countersign.",
        )


def _countersign(action_id: int) -> None:
    signed = _attempt("Countersign", service.countersign, me, action_id, ss.get(f"cs_note_{action_id}", ""))
    if signed is not None:
        _say("success", f"✅ Break-glass #{action_id} countersigned" + (" (late)." if signed.late else "."))


def _break_glass_panel() -> None:
    """Pending countersignatures first (everyone sees them), then the emergency form for approvers."""
    now = service.now()
    for b in unsigned_break_glass(service.path):
        with st.container(border=True):
            (st.error if b.overdue(now) else st.warning)(f"🚨 Break-glass {b.describe(now)}")
            if allowed(role, "approve"):
                st.text_input("Countersign note", key=f"cs_note_{b.action_id}")
                st.button(
                    "Countersign",
                    key=f"countersign_{b.action_id}",
                    on_click=_countersign,
                    args=(b.action_id,),
                )
    failovers = [t for t in cfg.target if t.kind == "route53_failover"]
    sev1 = [e for e in open_incidents(service.path, now) if e.severity == "sev1"]
    with st.expander("🚨 Break glass: fail over alone during a sev1"):
        st.caption(
            "Approvers and admins only, during an open sev1 declared on Triage. It runs at once (guardrails "
            f"still apply) and must be countersigned by another approver within "
            f"{cfg.auth.countersign_within}."
        )
        if not failovers or not sev1:
            st.info("Needs a failover target and an open sev1 incident (declare it on Triage).")
            return
        incident = st.selectbox("Incident", sev1, format_func=lambda e: e.label, key="bg_incident")
        target = st.selectbox("Failover target", failovers, format_func=lambda t: t.name, key="bg_target")
        records = [target.params.get("primary", ""), target.params.get("secondary", "")]
        standby = st.selectbox("Promote", [r for r in records if r], key="bg_standby")
        reason = st.text_input("Reason", key="bg_reason")
        if st.button(
            "Break glass and fail over now",
            key="bg_go",
            type="primary",
            disabled=not allowed(role, "approve"),
        ):
            _break_glass(target.name, standby, reason, incident.id)
            st.rerun()


_break_glass_panel()

unreadable_rows: list[str] = []
pending = service.list_actions(states=["proposed"], unreadable=unreadable_rows)
ready = service.list_actions(states=["approved"], unreadable=unreadable_rows)
running = service.list_actions(states=["executing"], unreadable=unreadable_rows)
_warn_unreadable(unreadable_rows)
tabs = st.tabs(
    ["Propose", f"Pending approval ({len(pending)})", f"Ready to run ({len(ready)})", "History", "Audit log"]
)
# each tab on its own: a failure in one (a damaged row, a dead executor) leaves the others, above all
# the audit log and its export, working
with tabs[0], ui.page_guard("The Propose tab"):
    _propose_tab()
with tabs[1], ui.page_guard("The Pending approval tab"):
    _pending_tab(pending)
with tabs[2], ui.page_guard("The Ready to run tab"):
    _ready_tab(ready, running)
with tabs[3], ui.page_guard("The History tab"):
    _history_tab()
with tabs[4], ui.page_guard("The Audit log tab"):
    _audit_tab()
