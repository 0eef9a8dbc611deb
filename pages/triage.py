"""Triage (on-call): everything burning now, fastest first; the charts of the burning region with recent
changes as markers; runbooks; buttons that open the Actions page pre-filled."""

from datetime import timedelta

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from connectors.store import read_action_markers
from core.capacity import region_loss_check, region_loss_summary
from core.slo import (
    GLOBAL,
    SLOReport,
    burn_rate_series,
    burning_now,
    deploy_markers,
    format_window,
    metrics_for,
    reports_table,
    rules_lookback,
    runbooks_for,
    slo_counts,
    slo_reports,
    slos_from_config,
)
from core.timeseries import pivot_metric, ratio
from pages import _costs_data as costs_data
from pages import _ui as ui
from pages._slo_data import slo_grid

ALERT_BADGES = {"page": "🔴 page", "ticket": "🟡 ticket", "ok": "🟢 ok", "no data": "⚪ no data"}
CHART_METRICS = ("requests_per_second", "errors_per_second", "latency_p95_ms", "latency_p99_ms")

start, at = ui.page_header(
    "Triage",
    "On-call view: what is burning now (at the end of the selected range), fastest first, with recent "
    "changes, runbooks and quick actions",
)
cfg = ui.config()
costs_data.overrun_banner(cfg.budget)  # the money guardrail belongs in the on-call view too
slos = slos_from_config(cfg.slo)
if not slos:
    st.info("No SLOs are configured: add `[[slo]]` entries to the config file to see what is burning.")
    st.stop()

# burn rates need the rule windows only (3 days by default, 1-minute steps, every region): a tenth of
# the SLO windows' data, which keeps this page fast; budgets and burn-down live on the SLOs page
rules = cfg.burn_rate_rule
grid = slo_grid(metrics_for(slos), at - rules_lookback(rules), at, cfg.region_codes)
if grid.slots == 0:
    st.info("No SLO data up to this time. Pick a later range in the sidebar.")
    st.stop()
reports = slo_reports(grid, slos, at, cfg.region_codes, rules, with_budget=False)
if not reports:
    st.info(
        f"The metrics source has none of the SLOs' metrics ({', '.join(metrics_for(slos))}) over the "
        "burn-rate alert windows. Check the source's queries."
    )
    st.stop()
burning = burning_now(reports)
WINDOWS = sorted({w for r in rules for w in (r.long_window, r.short_window)})


def summary(rows: list[SLOReport]) -> pd.DataFrame:
    """Alert, scope and the burn rate of every rule window (1 = spending the budget exactly on time)."""
    table = reports_table(rows)
    out = pd.DataFrame(
        {"Alert": table["alert"].map(ALERT_BADGES), "SLO": table["slo"], "Region": table["region"]}
    )
    for window in WINDOWS:
        out[f"Burn {format_window(window)}"] = table[f"burn_{format_window(window)}"].astype(float)
    return out


TABLE_FORMAT = {
    f"Burn {format_window(w)}": st.column_config.NumberColumn(
        format="%.1f", help=f"Error-budget burn rate over the last {format_window(w)}; 1 = on budget"
    )
    for w in WINDOWS
}


def region_loss_panel() -> None:
    """The N+1 table (issue 6): on call, 'can the others take this region's traffic?' matters first."""
    st.markdown("#### 🧮 Can we lose a region? (N+1 on the last 24 h of demand)")
    demand = ui.load_metrics(
        ["requests_per_second"],
        at - timedelta(hours=24),
        at,
        list(cfg.region_codes),
        step=timedelta(minutes=1),
    )
    loss = region_loss_summary(region_loss_check(cfg, pivot_metric(demand, "requests_per_second")))
    if loss.empty:
        st.caption("No request-rate data for the last 24 h.")
    else:
        st.dataframe(
            loss.assign(
                status=loss["status"]
                .map({"green": "🟢 green", "amber": "🟡 amber", "red": "🔴 red"})
                .fillna(loss["status"])
            ),
            hide_index=True,
            width="stretch",
            key="triage_region_loss",
            column_config={
                "failed_region": "If this region fails",
                "status": "Worst survivor",
                "taken_by": "Taken by",
                "breaks": "Survivors in trouble",
                "unserved_requests": st.column_config.NumberColumn("Unserved requests", format="%.0f"),
                "worst_case": "Worst case",
            },
        )
        st.caption(
            "Its traffic moves where routing sends it (a failover pair's standby, else the others by "
            "routing weight); each survivor scales with its configured "
            "policy at its busiest minute. Details and what-ifs on the Capacity page."
        )


def record_event_panel() -> None:
    """Record an incident or change (issue 18): stored in the store and the audit log, shown on every
    page's charts at once (pages/_ui.py events()); open incidents can be resolved here."""
    from datetime import UTC, datetime

    from core.auth import allowed
    from core.incidents import SEVERITIES, RecordError, open_incidents, record_event, resolve_incident
    from pages._identity import identity_picker

    path = cfg.store_path()
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    # a toggle, not an always-open form: with nothing burning the page offers no buttons until asked
    if not st.toggle("📝 Record an incident or change", key="rec_open"):
        return
    with st.container(border=True):
        who, role = identity_picker(cfg, "triage_rec_user")
        may = allowed(role, "propose")
        if not may:
            st.caption(f"Your role ({role}) can read but not record; operators, approvers and admins can.")
        with st.form("triage_record", clear_on_submit=False):
            kind = st.radio("Kind", ["incident", "change"], horizontal=True, key="rec_kind")
            severity = st.selectbox("Severity (incidents)", SEVERITIES, key="rec_severity")
            region_choice = st.selectbox(
                "Region", ["", *cfg.region_codes], format_func=lambda r: r or "every region", key="rec_region"
            )
            day = st.date_input("When (UTC)", value=now.date(), key="rec_day")
            clock = st.time_input("Time (UTC)", value=now.time(), key="rec_time", step=60)
            title = st.text_input("What happened", key="rec_title")
            detail = st.text_area("Detail", key="rec_detail")
            submitted = st.form_submit_button("Record", disabled=not may)
        if submitted:
            try:
                event = record_event(
                    path,
                    actor=who.email,
                    role=role,
                    kind=kind,
                    severity=severity if kind == "incident" else "",
                    region=region_choice,
                    title=title,
                    detail=detail,
                    start=datetime.combine(day, clock, tzinfo=UTC),
                    now=datetime.now(UTC),
                    regions=cfg.region_codes,
                )
            except RecordError as exc:
                st.error(f"Not recorded: {exc}")
            else:
                st.success(f"Recorded {event.kind} {event.label}.")
        for incident in open_incidents(path, datetime.now(UTC)):
            c1, c2 = st.columns([4, 1])
            c1.markdown(f"🚨 Open: {incident.label} (since {incident.start:%Y-%m-%d %H:%M} UTC)")
            if c2.button("Resolve", key=f"rec_resolve_{incident.id}", disabled=not may):
                resolve_incident(path, incident.id, actor=who.email, role=role, at=datetime.now(UTC))
                st.rerun()


if not burning:
    st.success(f"Nothing is burning at {at:%Y-%m-%d %H:%M} UTC: every SLO is within its budget burn.")
    st.dataframe(
        summary(reports), hide_index=True, width="stretch", key="triage_all", column_config=TABLE_FORMAT
    )
    region_loss_panel()
    record_event_panel()
    st.stop()

st.subheader(f"🔥 Burning now ({len(burning)})")
st.page_link("pages/slo.py", label="Error budgets, burn-down and time to exhaustion: SLOs page", icon="🎯")
st.dataframe(
    summary(burning), hide_index=True, width="stretch", key="triage_burning", column_config=TABLE_FORMAT
)


def focus_label(i: int) -> str:
    r = burning[i]
    burn = "n/a" if r.current_burn is None else f"{r.current_burn:.1f}x"
    return f"{ALERT_BADGES[r.alert.level]} · {r.slo.name} · {r.region} · burn {burn}"


pick = st.selectbox("Focus", range(len(burning)), format_func=focus_label, key="triage_focus")
focus = burning[pick if pick is not None and pick < len(burning) else 0]
slo = focus.slo
region = focus.region
if region == GLOBAL:
    # the charts are per region: show the region burning this SLO fastest
    regional = [
        r for r in reports if r.slo.name == slo.name and r.region != GLOBAL and r.current_burn is not None
    ]
    region = max(regional, key=lambda r: r.current_burn).region if regional else cfg.region_codes[0]
    st.caption(f"{slo.name} burns globally; showing {region}, the region burning it fastest.")

# ---- the region's charts with recent changes ---------------------------------------------------
st.subheader(f"📍 {region} · {cfg.region_by_code(region).name}")
counts = slo_counts(grid, slo)
changes = pd.concat(
    [
        ui.events(start, at),
        read_action_markers(ui.db(), start, at, {t.name: t.region for t in cfg.target}),
        deploy_markers(cfg.deploy, start, at),
    ],
    ignore_index=True,
)
marks = changes[changes["region"].isin(["", region])] if not changes.empty else changes
charts = ui.load_metrics(CHART_METRICS, start, at, regions=[region])
# one region's traces: SVG (webgl=False) draws them sooner than WebGL contexts (bench/slo_triage.py)

c1, c2 = st.columns(2)
burn_fig = go.Figure()
# the burn chart starts where its 1-hour window has data (the grid holds the rule windows only)
burn_start = max(start, at - rules_lookback(rules) + timedelta(hours=1))
for window, colour in ((timedelta(hours=1), "#c62828"), (timedelta(minutes=5), "#ef9a9a")):
    series = burn_rate_series(counts, slo, window, burn_start, at, region)
    burn_fig.add_trace(
        go.Scatter(
            x=series["ts"],
            y=series["burn_rate"],
            name=f"{format_window(window)} burn",
            line={"color": colour, "width": 1.4},
        )
    )
for rule in rules:
    if rule.severity == "page":
        burn_fig.add_hline(
            y=rule.burn_rate,
            line_dash="dot",
            line_color="#607d8b",
            annotation_text=f"page {rule.burn_rate:g} ({format_window(rule.long_window)})",
        )
burn_fig.update_layout(
    title=f"{slo.name}: burn rate",
    height=320,
    margin={"l": 10, "r": 10, "t": 40, "b": 10},
    xaxis_title="time (UTC)",
    yaxis_title="burn rate (x budget)",
    legend={"orientation": "h", "x": 1, "xanchor": "right", "y": 1.0, "yanchor": "bottom"},
)
if not marks.empty:
    ui.add_event_marks(burn_fig, marks)
c1.plotly_chart(burn_fig, width="stretch", key="triage_burn")

error_pct = (
    ratio(pivot_metric(charts, "errors_per_second"), pivot_metric(charts, "requests_per_second")) * 100
)
c2.plotly_chart(
    ui.timeseries_figure(
        charts,
        "errors_per_second",
        "Error rate (5xx share)",
        "% of requests",
        wide=error_pct,
        marks=marks,
        webgl=False,
    ),
    width="stretch",
    key="triage_errors",
)
c3, c4 = st.columns(2)
latency = ui.timeseries_figure(charts, "latency_p95_ms", "p95 latency", "ms", marks=marks, webgl=False)
if slo.is_latency and slo.total == "latency_p95_ms":
    latency.add_hline(
        y=slo.threshold, line_dash="dash", line_color="#c62828", annotation_text="SLO threshold"
    )
c3.plotly_chart(latency, width="stretch", key="triage_latency")
c4.plotly_chart(
    ui.timeseries_figure(charts, "requests_per_second", "Request rate", "req/s", marks=marks, webgl=False),
    width="stretch",
    key="triage_rps",
)

# saturation (issue 18): the region's memory and work queue, latest and worst over the last hour
saturation = ui.load_metrics(
    ["memory_utilization", "queue_depth"], at - timedelta(hours=1), at, regions=[region]
)
if not saturation.empty:
    sat = saturation.groupby("metric")["value"].agg(["last", "max"])
    m1, m2 = st.columns(2)
    if "memory_utilization" in sat.index:
        m1.metric(
            "Memory (now)",
            f"{sat.loc['memory_utilization', 'last'] * 100:.0f}%",
            help=f"Highest in the last hour: {sat.loc['memory_utilization', 'max'] * 100:.0f}%",
        )
    if "queue_depth" in sat.index:
        m2.metric(
            "Queue depth (now)",
            f"{sat.loc['queue_depth', 'last']:,.0f} msgs",
            help=f"Highest in the last hour: {sat.loc['queue_depth', 'max']:,.0f}",
        )

# ---- runbooks, recent changes, quick actions --------------------------------------------------
left, right = st.columns(2)
with left:
    st.markdown("#### 📖 Runbooks")
    books = runbooks_for(cfg.runbook, slo.name, region)
    if books:
        for book in books:
            st.markdown(f"- [{book.title}]({book.url})")
    else:
        st.caption("No runbook in the config for this SLO or region (`[[runbook]]`).")
with right:
    st.markdown("#### 🛠️ Quick actions")
    burn_text = "n/a" if focus.current_burn is None else f"{focus.current_burn:.1f}x"
    reason = f"{slo.name} {focus.alert.level} in {region}: burning the error budget at {burn_text} over the last hour"
    st.caption("Opens the Actions page with a proposal filled in; nothing changes until it is approved.")
    if st.button(f"Fail over away from {region}", key="triage_failover", type="primary"):
        st.session_state["actions_prefill"] = {"kind": "failover", "region": region, "reason": reason}
        st.switch_page("pages/actions.py")
    if st.button(f"Scale out {region}", key="triage_scale"):
        st.session_state["actions_prefill"] = {"kind": "scale", "region": region, "reason": reason}
        st.switch_page("pages/actions.py")

st.markdown("#### 🕑 Recent changes")
if marks.empty:
    st.caption(f"No deploys, incidents or actions recorded for {region} in the selected range.")
else:
    st.dataframe(
        marks.sort_values("start_ts", ascending=False)[["start_ts", "kind", "region", "title", "detail"]],
        hide_index=True,
        width="stretch",
        key="triage_changes",
        column_config={
            "start_ts": st.column_config.DatetimeColumn("When (UTC)", format="YYYY-MM-DD HH:mm"),
            "kind": "Kind",
            "region": st.column_config.TextColumn("Region", help="Empty: every region"),
            "title": "What",
            "detail": "Detail",
        },
    )


region_loss_panel()
record_event_panel()
