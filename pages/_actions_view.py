"""Actions as part of the picture (issue 15, #2): executed and failed actions as chart markers of the
regions they affect, the open and recent actions of a region, and what the sandbox has in force.

"Now" for an action: relative ranges end at the newest data point, and in the demo world (or any
source that lags) an action just taken runs after it. Such an action is drawn at the end of the range
and says when it ran, instead of being filtered out as "outside the range".
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import streamlit as st

from connectors.sandbox_executor import sandbox_targets
from connectors.store import read_action_markers
from core import db as store_db
from core.actions import OPEN_STATES, Action, describe_change
from core.actions.store import query_actions
from pages import _ui as ui

ROUTING_KINDS = ("route53_weighted", "route53_failover")
RECENT = timedelta(days=2)  # "recent" actions of a region, by wall clock


def _actions(since: datetime, states: tuple[str, ...] | None = None) -> list[Action]:
    try:
        with store_db.read_connection(store_db.file_path(ui.db())) as conn:
            if not store_db.has_table(conn, "actions"):
                return []
            return query_actions(
                conn, states=states, target=None, person=None, since=since, until=None, limit=500
            )
    except Exception:  # the actions table of an older store: no markers rather than a broken page
        return []


def affected_regions(action: Action) -> list[str]:
    """The regions an action changes: for routing, the regions whose weight it changes (a failover away
    from a region sets that region's weight to 0); for scaling, its target's region."""
    weights = action.change.weights
    if weights:
        before = dict(action.before.weights or {}) if action.before is not None else {}
        if before:
            return sorted(r for r, w in weights.items() if before.get(r) != w)
        return sorted(r for r, w in weights.items() if w == 0)
    target = next((t for t in ui.config().target if t.name == action.target), None)
    return [target.region] if target is not None and target.region else []


def action_marks(start: datetime, end: datetime) -> pd.DataFrame:
    """Actions that ran (executing, succeeded, failed) from `start`, in read_events()'s shape; routing
    changes (failover, weights) are marked on every region's charts, scaling on its target's region.
    With a relative range, actions after `end` (the newest data point) up to now are drawn at `end`,
    saying when they ran."""
    cfg = ui.config()
    relative = st.session_state.get("range_preset", ui.DEFAULT_PRESET) != ui.CUSTOM
    upto = max(end, datetime.now(UTC)) if relative else end
    regions = {t.name: ("" if t.kind in ROUTING_KINDS else t.region) for t in cfg.target}
    marks = read_action_markers(ui.db(), start, upto, regions)
    late = marks["start_ts"] > pd.Timestamp(end)
    if late.any():
        marks = marks.copy()
        marks.loc[late, "detail"] = [
            f"{detail} (ran {when:%Y-%m-%d %H:%M} UTC, after the newest data point)".strip()
            for detail, when in zip(marks.loc[late, "detail"], marks.loc[late, "start_ts"], strict=True)
        ]
        marks.loc[late, ["start_ts", "end_ts"]] = pd.Timestamp(end)
    return marks


def region_actions(region: str) -> tuple[list[Action], list[Action]]:
    """(open, recent) actions affecting `region`: open = proposed, approved or executing; recent =
    finished in the last two days (wall clock), newest first."""
    since = datetime.now(UTC) - RECENT
    mine = [a for a in _actions(since - timedelta(days=1)) if region in affected_regions(a)]
    open_ = [a for a in mine if a.state in OPEN_STATES]
    recent = [a for a in mine if a.state not in OPEN_STATES and (a.finished_at or a.proposed_at) >= since]
    return open_, recent


def actions_table(actions: list[Action]) -> pd.DataFrame:
    return ui.table_of(
        actions,
        {
            "Action": lambda a: f"#{a.id}",
            "Kind": lambda a: a.kind,
            "Target": lambda a: a.target,
            "State": lambda a: a.state,
            "Change": lambda a: describe_change(a.change),
            "When (UTC)": lambda a: f"{(a.finished_at or a.started_at or a.proposed_at):%Y-%m-%d %H:%M}",
            "By": lambda a: a.executed_by or a.approved_by or a.proposed_by,
        },
    )


def drained_regions() -> dict[str, str]:
    """Regions the sandbox routes no traffic to now: region -> the routing target that drained it."""
    drained: dict[str, str] = {}
    try:
        targets = sandbox_targets(ui.shared_store())  # PostgreSQL when the replicas share one
    except Exception:  # no sandbox yet (or another executor): nothing in force to show
        return drained
    for target in targets:
        for region, weight in (target.get("weights") or {}).items():
            if weight == 0 and target["kind"] == "route53_weighted":
                drained[region] = target["target"]
    return drained


def in_force_banner() -> None:
    """What the executed actions changed, in words, where the charts (data before the action) cannot
    show it yet: drained regions and scaled fleets of the sandbox."""
    if ui.config().sources.executor != "sandbox":
        return
    drained = drained_regions()
    if drained:
        st.info(
            "🛠️ **In force now (sandbox)**: "
            + "; ".join(f"{region} drained by {target} (weight 0)" for region, target in drained.items())
            + ". Its traffic goes to the other regions; the charts end at the newest data point, before it."
        )


def absorb_check(drained: list[str]) -> None:
    """For a failover's dry run: can the other regions take the drained regions' traffic? The N+1
    check (core.capacity.region_loss_check) on the last 24 h of demand, each survivor scaling with its
    configured policy at its busiest minute (issue 15, #7: the dry run did not say)."""
    if not drained:
        return
    from core.capacity import region_loss_check, region_loss_summary
    from core.timeseries import pivot_metric

    cfg = ui.config()
    end = ui.data_anchor()
    demand = ui.load_metrics(
        ["requests_per_second"],
        end - timedelta(hours=24),
        end,
        list(cfg.region_codes),
        step=timedelta(minutes=1),
    )
    check = region_loss_check(cfg, pivot_metric(demand, "requests_per_second"))
    summary = region_loss_summary(check)
    rows = summary[summary["failed_region"].isin(drained)] if not summary.empty else summary
    if rows.empty:
        st.caption("No request-rate data for the last 24 h, so whether the others can absorb it is unknown.")
        return
    verdict = {"green": "🟢 yes", "amber": "🟡 only just", "red": "🔴 no"}
    for row in rows.itertuples():
        text = (
            f"**Can the other regions absorb {row.failed_region}'s traffic?** {verdict.get(row.status, row.status)}"
            f" (N+1 on the last 24 h of demand; worst survivor {row.status})."
        )
        if row.breaks:
            text += f" In trouble: {row.breaks}. {row.worst_case}"
        (st.success if row.status == "green" else st.warning if row.status == "amber" else st.error)(text)
