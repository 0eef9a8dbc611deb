"""Triage (on-call): everything burning now, fastest first; the charts of the burning region with recent
changes as markers; runbooks; buttons that open the Actions page pre-filled."""

from datetime import timedelta
from urllib.parse import quote

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core.capacity import region_loss_summary
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
from pages import _actions_view as actions_view
from pages import _alerts as alerts_ui
from pages import _costs_data as costs_data
from pages import _ui as ui
from pages._slo_data import slo_grid

CHART_METRICS = ("requests_per_second", "errors_per_second", "latency_p95_ms", "latency_p99_ms")

start, at = ui.page_header(
    "Triage",
    "On-call view: what is burning now (at the end of the selected range), fastest first, with recent "
    "changes, runbooks and quick actions",
)
cfg = ui.config()
ALERT_BADGES = alerts_ui.level_badges(cfg)  # page / ticket with their sev level: one vocabulary
costs_data.overrun_banner(cfg.budget)  # the money guardrail belongs in the on-call view too
actions_view.in_force_banner()
slos = slos_from_config(cfg.slo)
if not slos:
    st.info("No SLOs are configured: add `[[slo]]` entries to the config file to see what is burning.")
    st.stop()

rules = cfg.burn_rate_rule
WINDOWS = sorted({w for r in rules for w in (r.long_window, r.short_window)})
# off / 30 s / 1 min / 5 min, kept in the URL (?refresh=); the data parts below rerun at that pace
REFRESH_EVERY = alerts_ui.refresh_control("triage", default="1 min")


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
    f"Burn {format_window(w)}": ui.number_column(
        None, 1, help=f"Error-budget burn rate over the last {format_window(w)}; 1 = on budget"
    )
    for w in WINDOWS
}


@st.cache_data(ttl=ui.CACHE_TTL_S, max_entries=16, show_spinner=False)
def loss_table(check: pd.DataFrame) -> pd.DataFrame:
    """One row per failed region with its status as a badge, built once per check across sessions: the
    per-region summary of a 20-region check (380 rows) was the largest part of a warm rerun (issue 17)."""
    loss = region_loss_summary(check)
    return loss.assign(
        status=loss["status"]
        .map({"green": "🟢 green", "amber": "🟡 amber", "red": "🔴 red"})
        .fillna(loss["status"])
    )


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
    # with the routing in force: after an executed failover its survivors carry the drained traffic
    loss = loss_table(actions_view.region_loss_now(pivot_metric(demand, "requests_per_second")))
    if loss.empty:
        st.caption("No request-rate data for the last 24 h.")
    else:
        ui.data_table(
            loss,
            key="triage_region_loss",
            columns={
                "failed_region": "If this region fails",
                "status": "Worst survivor",
                "taken_by": "Taken by",
                "breaks": "Survivors in trouble",
                "unserved_requests": ui.number_column("Unserved requests", 0),
                "worst_case": "Worst case",
            },
        )
        st.caption(
            "Its traffic moves where routing sends it (a failover pair's standby, else the others by "
            "routing weight); each survivor scales with its configured "
            "policy at its busiest minute. Details and what-ifs on the Capacity page."
        )


def alerts_section() -> None:
    """Burn-rate and threshold alerts as Prometheus would fire them, beside Alertmanager (issue 12)."""
    st.subheader("🔔 Alerts: Headroom and Alertmanager")
    alerts_ui.render_alerts_panel(cfg, "triage", REFRESH_EVERY)


def record_event_panel() -> None:
    """Record an incident or change (issue 18): stored in the store and the audit log, shown on every
    page's charts at once (pages/_ui.py events()); open incidents can be resolved here."""
    from datetime import UTC, datetime

    from core.auth import allowed
    from core.incidents import SEVERITIES, RecordError, open_incidents, record_event, resolve_incident
    from pages._identity import identity_picker

    now = datetime.now(UTC).replace(second=0, microsecond=0)
    # a toggle, not an always-open form: with nothing burning the page offers no buttons until asked
    if not st.toggle("📝 Record an incident or change", key="rec_open"):
        return
    path = ui.guarded_store()  # beside the audit chain: shared by the replicas when it is PostgreSQL
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


# the burn chart's lines: the 1-hour window (the fast page rule's long one) and the 5-minute one
BURN_LINES = ((timedelta(hours=1), "#c62828"), (timedelta(minutes=5), "#ef9a9a"))


@st.cache_resource(ttl=ui.CACHE_TTL_S, max_entries=32, show_spinner=False)
def burn_figure(
    slo_name: str,
    lines: tuple[tuple[timedelta, str, pd.DataFrame], ...],
    page_lines: tuple[tuple[float, str], ...],
    marks: pd.DataFrame,
) -> go.Figure:
    """The focused SLO's burn-rate chart, built once per (series, rules, marks) across sessions: building
    plotly figures was most of a warm rerun (issue 17). The figure is shared: callers must not change it."""
    fig = go.Figure()
    for window, colour, series in lines:
        fig.add_trace(
            go.Scatter(
                x=series["ts"],
                y=series["burn_rate"],
                name=f"{format_window(window)} burn",
                line={"color": colour, "width": 1.4},
            )
        )
    # the page rules' thresholds as dotted lines, built as plain shapes (fig.add_hline validates and
    # copies the layout per line: ~15 ms each)
    shapes = [
        {
            "type": "line",
            "xref": "x domain",
            "x0": 0,
            "x1": 1,
            "yref": "y",
            "y0": rate,
            "y1": rate,
            "line": {"color": "#607d8b", "dash": "dot"},
        }
        for rate, _ in page_lines
    ]
    annotations = [
        {
            "xref": "x domain",
            "x": 1,
            "xanchor": "right",
            "yref": "y",
            "y": rate,
            "yanchor": "bottom",
            "text": label,
            "showarrow": False,
        }
        for rate, label in page_lines
    ]
    # incidents and deploys in the same layout update (one validation of the layout, not two)
    event_shapes, event_annotations = ui.event_mark_layout(marks) if not marks.empty else ([], [])
    fig.update_layout(
        title=f"{slo_name}: burn rate",
        height=320,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        xaxis_title="time (UTC)",
        yaxis_title="burn rate (x budget)",
        legend={"orientation": "h", "x": 1, "xanchor": "right", "y": 1.0, "yanchor": "bottom"},
        shapes=[*shapes, *event_shapes],
        annotations=[*annotations, *event_annotations],
    )
    return fig


@st.cache_resource(ttl=ui.CACHE_TTL_S, max_entries=32, show_spinner=False)
def region_figures(
    charts: pd.DataFrame, marks: pd.DataFrame, latency_threshold: float | None
) -> tuple[go.Figure, go.Figure, go.Figure]:
    """The focused region's error-rate, p95 latency and request-rate charts, built once per (data, marks,
    SLO threshold) across sessions (issue 17). One region's traces: SVG (webgl=False) draws them sooner
    than WebGL contexts (bench/slo_triage.py). The figures are shared: callers must not change them."""
    error_pct = (
        ratio(pivot_metric(charts, "errors_per_second"), pivot_metric(charts, "requests_per_second")) * 100
    )
    errors = ui.timeseries_figure(
        charts,
        "errors_per_second",
        "Error rate (5xx share)",
        "% of requests",
        wide=error_pct,
        marks=marks,
        webgl=False,
    )
    latency = ui.timeseries_figure(charts, "latency_p95_ms", "p95 latency", "ms", marks=marks, webgl=False)
    if latency_threshold is not None:
        latency.add_hline(
            y=latency_threshold, line_dash="dash", line_color="#c62828", annotation_text="SLO threshold"
        )
    rps = ui.timeseries_figure(
        charts, "requests_per_second", "Request rate", "req/s", marks=marks, webgl=False
    )
    return errors, latency, rps


def burning_section() -> None:
    """What is burning now, and the focused burn's charts, runbooks and quick actions: the part of the
    page that refreshes itself (an st.fragment with run_every, issue 12). Its relative range follows the
    clock when the source is live (ui.refreshed_range); the controls around it are not redrawn."""
    start, at = ui.refreshed_range()
    ui.last_updated(at)
    # burn rates need the rule windows only (3 days by default, 1-minute steps, every region): a tenth of
    # the SLO windows' data, which keeps this page fast; budgets and burn-down live on the SLOs page
    range_end = at
    grid = slo_grid(metrics_for(slos), at - rules_lookback(rules), at, cfg.region_codes)
    if grid.slots == 0:
        st.info("No SLO data up to this time. Pick a later range in the sidebar.")
        return
    at = ui.state_as_of(range_end, grid.newest)  # judged at the newest data point, never past it
    reports = slo_reports(grid, slos, at, cfg.region_codes, rules, with_budget=False)
    if not reports:
        st.info(
            f"The metrics source has none of the SLOs' metrics ({', '.join(metrics_for(slos))}) over the "
            "burn-rate alert windows. Check the source's queries."
        )
        return
    burning = burning_now(reports)
    if not burning:
        st.success(f"Nothing is burning at {at:%Y-%m-%d %H:%M} UTC: every SLO is within its budget burn.")
        ui.data_table(summary(reports), key="triage_all", columns=TABLE_FORMAT)
        return

    alerting = [r for r in burning if r.alert.level in ("page", "ticket")]
    over_budget = len(burning) - len(alerting)
    # the count is of what alerts; rows spending faster than budget without an alert say so, never "ok"
    st.subheader(f"🔥 Burning now ({len(alerting)})")
    if over_budget:
        st.caption(
            f"Also listed: {over_budget} spending the error budget faster than it allows, below the alert "
            "thresholds (🟠 over budget)."
        )
    st.page_link(
        "pages/slo.py", label="Error budgets, burn-down and time to exhaustion: SLOs page", icon="🎯"
    )
    burning_table = summary(burning)
    burning_table["Alert"] = burning_table["Alert"].replace({ALERT_BADGES["ok"]: "🟠 over budget"})
    alert_row = ui.data_table(burning_table, key="triage_burning", columns=TABLE_FORMAT, select_row=True)
    st.caption("Select a row to open its SLO card.")
    if alert_row is not None:  # drill-down: the alert's SLO card on the SLOs page
        st.switch_page("pages/slo.py", query_params={"slo": burning[alert_row].slo.name})

    def focus_label(i: int) -> str:
        r = burning[i]
        burn = "n/a" if r.current_burn is None else f"{r.current_burn:.1f}x"
        return f"{ALERT_BADGES[r.alert.level]} · {r.slo.name} · {r.region} · burn {burn}"

    # drill-down: Overview (a region's row or map dot) or an alert's link (?slo=...&region=...) focuses that
    # region's fastest burn, or exactly that SLO there; both are kept in the URL
    wanted_region = st.session_state.pop("triage_region", None) or st.query_params.get("region")
    wanted_slo = st.query_params.get("slo")
    if wanted_region and "triage_focus" not in st.session_state:
        match = [
            i
            for i, r in enumerate(burning)
            if r.region == wanted_region and (not wanted_slo or r.slo.name == wanted_slo)
        ]
        if match:
            st.session_state["triage_focus"] = match[0]
        elif wanted_slo:
            st.info(f"{wanted_slo} in {wanted_region} is not burning at {at:%Y-%m-%d %H:%M} UTC.")
        else:
            st.info(f"Nothing is burning in {wanted_region} now: showing the fastest burn instead.")
    pick = st.selectbox("Focus", range(len(burning)), format_func=focus_label, key="triage_focus")
    focus = burning[pick if pick is not None and pick < len(burning) else 0]
    slo = focus.slo
    region = focus.region
    st.query_params["region"] = region  # a copied link reopens this focus
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
            actions_view.action_marks(start, at),
            deploy_markers(cfg.deploy, start, at),
        ],
        ignore_index=True,
    )
    marks = changes[changes["region"].isin(["", region])] if not changes.empty else changes
    charts = ui.load_chart_metrics(CHART_METRICS, start, at, regions=[region])
    # the burn chart starts where its 1-hour window has data (the grid holds the rule windows only)
    burn_start = max(start, at - rules_lookback(rules) + timedelta(hours=1))
    burn_lines = tuple(
        (window, colour, burn_rate_series(counts, slo, window, burn_start, at, region))
        for window, colour in BURN_LINES
    )
    page_lines = tuple(
        (rule.burn_rate, f"page {rule.burn_rate:g} ({format_window(rule.long_window)})")
        for rule in rules
        if rule.severity == "page"
    )
    threshold = slo.threshold if slo.is_latency and slo.total == "latency_p95_ms" else None
    burn_fig = burn_figure(slo.name, burn_lines, page_lines, marks)
    errors_fig, latency_fig, rps_fig = region_figures(charts, marks, threshold)
    c1, c2 = st.columns(2)
    c1.plotly_chart(burn_fig, width="stretch", key="triage_burn")
    c2.plotly_chart(errors_fig, width="stretch", key="triage_errors")
    c3, c4 = st.columns(2)
    c3.plotly_chart(latency_fig, width="stretch", key="triage_latency")
    c4.plotly_chart(rps_fig, width="stretch", key="triage_rps")

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

    # what may stay as it is in a runbook URL inside markdown's <...> (no spaces, brackets or angle brackets)
    _URL_SAFE = ":/?#@!$&'*+,;=%~"

    # ---- runbooks, recent changes, quick actions --------------------------------------------------
    left, right = st.columns(2)
    with left:
        st.markdown("#### 📖 Runbooks")
        books = runbooks_for(cfg.runbook, slo.name, region)
        if books:
            for book in books:
                # the config admits only http(s) URLs; the title is shown as text (no image, no nested link)
                st.markdown(f"- [{ui.md_text(book.title)}](<{quote(book.url, safe=_URL_SAFE)}>)")
        else:
            st.caption("No runbook in the config for this SLO or region (`[[runbook]]`).")
    with right:
        st.markdown("#### 🛠️ Quick actions")
        burn_text = "n/a" if focus.current_burn is None else f"{focus.current_burn:.1f}x"
        reason = f"{slo.name} {focus.alert.level} in {region}: burning the error budget at {burn_text} over the last hour"
        st.caption("Opens the Actions page with a proposal filled in; nothing changes until it is approved.")
        open_actions, recent_actions = actions_view.region_actions(region)
        # never offer a change that is already pending or done (issue 15, #2)
        pending = {a.kind: a for a in open_actions}
        done = {a.kind: a for a in recent_actions if a.state in ("succeeded", "unverified")}  # it ran
        for kind, label, key, primary in (
            ("failover", f"Fail over away from {region}", "triage_failover", True),
            ("scale", f"Scale out {region}", "triage_scale", False),
        ):
            if kind in pending:
                st.caption(
                    f"⏳ {kind.capitalize()} #{pending[kind].id} is {pending[kind].state}: see the Actions page."
                )
                continue
            if kind == "failover" and kind in done:
                st.caption(f"✅ Failover #{done[kind].id} away from {region} has run: see the Actions page.")
                continue
            if st.button(label, key=key, type="primary" if primary else "secondary"):
                st.session_state["actions_prefill"] = {"kind": kind, "region": region, "reason": reason}
                st.switch_page("pages/actions.py")
        if open_actions or recent_actions:
            st.markdown(f"**Actions for {region}** (open, and finished in the last two days)")
            ui.data_table(actions_view.actions_table(open_actions + recent_actions), key="triage_actions")

    st.markdown("#### 🕑 Recent changes")
    if marks.empty:
        st.caption(f"No deploys, incidents or actions recorded for {region} in the selected range.")
    else:
        ui.data_table(
            marks.sort_values("start_ts", ascending=False)[["start_ts", "kind", "region", "title", "detail"]],
            key="triage_changes",
            columns={
                "start_ts": ui.utc_time_column("When (UTC)"),
                "kind": "Kind",
                "region": st.column_config.TextColumn("Region", help="Empty: every region"),
                "title": "What",
                "detail": "Detail",
            },
        )


st.fragment(run_every=REFRESH_EVERY)(burning_section)()
alerts_section()
region_loss_panel()
record_event_panel()
