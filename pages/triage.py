"""Triage (on-call): everything burning now, fastest first; the charts of the burning region with recent
changes as markers; runbooks; buttons that open the Actions page pre-filled."""

from datetime import timedelta

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from connectors.store import read_action_markers
from core.slo import (
    GLOBAL,
    SLOReport,
    burn_rate_series,
    burning_now,
    format_duration,
    format_window,
    lookback,
    metric_grid,
    metrics_for,
    reports_table,
    runbooks_for,
    slo_counts,
    slo_reports,
    slos_from_config,
)
from core.timeseries import pivot_metric, ratio
from pages import _ui as ui

ALERT_BADGES = {"page": "🔴 page", "ticket": "🟡 ticket", "ok": "🟢 ok", "no data": "⚪ no data"}
CHART_METRICS = ("requests_per_second", "errors_per_second", "latency_p95_ms", "latency_p99_ms")

start, at = ui.page_header(
    "Triage",
    "On-call view: what is burning now (at the end of the selected range), fastest first, with recent "
    "changes, runbooks and quick actions",
)
cfg = ui.config()
slos = slos_from_config(cfg.slo)
if not slos:
    st.info("No SLOs are configured: add `[[slo]]` entries to the config file to see what is burning.")
    st.stop()

# the same query as the SLOs page (shared cache): every region, 1-minute steps, the longest SLO window
frame = ui.load_metrics(
    metrics_for(slos), at - lookback(slos), at, regions=cfg.region_codes, step=timedelta(minutes=1)
)
if frame.empty:
    st.info("No SLO data up to this time. Pick a later range in the sidebar.")
    st.stop()
grid = metric_grid(frame)
reports = slo_reports(grid, slos, at, cfg.region_codes, cfg.burn_rate_rule)
burning = burning_now(reports)


def summary(rows: list[SLOReport]) -> pd.DataFrame:
    table = reports_table(rows)
    short = format_window(min(r.short_window for r in cfg.burn_rate_rule))
    return pd.DataFrame(
        {
            "Alert": table["alert"].map(ALERT_BADGES),
            "SLO": table["slo"],
            "Region": table["region"],
            "Burn (1h)": table["current_burn"].astype(float),
            f"Burn ({short})": table.get(f"burn_{short}", pd.Series(dtype=float)).astype(float),
            "Budget left %": table["budget_remaining"].astype(float) * 100,
            "Exhausted in": [format_duration(r.time_to_exhaustion) for r in rows],
        }
    )


TABLE_FORMAT = {
    "Burn (1h)": st.column_config.NumberColumn(
        format="%.1f", help="1 spends the budget exactly over the window"
    ),
    "Budget left %": st.column_config.NumberColumn(format="%.1f"),
    "Exhausted in": st.column_config.TextColumn(help="At the last hour's burn rate"),
}

if not burning:
    st.success(f"Nothing is burning at {at:%Y-%m-%d %H:%M} UTC: every SLO is within its budget burn.")
    st.dataframe(
        summary(reports), hide_index=True, width="stretch", key="triage_all", column_config=TABLE_FORMAT
    )
    st.stop()

st.subheader(f"🔥 Burning now ({len(burning)})")
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
    ],
    ignore_index=True,
)
marks = changes[changes["region"].isin(["", region])] if not changes.empty else changes
charts = ui.load_metrics(CHART_METRICS, start, at, regions=[region])

c1, c2 = st.columns(2)
burn_fig = go.Figure()
for window, colour in ((timedelta(hours=1), "#c62828"), (timedelta(minutes=5), "#ef9a9a")):
    series = burn_rate_series(counts, slo, window, start, at, region)
    burn_fig.add_trace(
        go.Scatter(
            x=series["ts"],
            y=series["burn_rate"],
            name=f"{format_window(window)} burn",
            line={"color": colour, "width": 1.4},
        )
    )
for rule in cfg.burn_rate_rule:
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
    legend={"orientation": "h", "y": -0.2},
)
if not marks.empty:
    ui.add_event_marks(burn_fig, marks)
c1.plotly_chart(burn_fig, width="stretch", key="triage_burn")

error_pct = (
    ratio(pivot_metric(charts, "errors_per_second"), pivot_metric(charts, "requests_per_second")) * 100
)
c2.plotly_chart(
    ui.timeseries_figure(
        charts, "errors_per_second", "Error rate (5xx share)", "% of requests", wide=error_pct, marks=marks
    ),
    width="stretch",
    key="triage_errors",
)
c3, c4 = st.columns(2)
latency = ui.timeseries_figure(charts, "latency_p95_ms", "p95 latency", "ms", marks=marks)
if slo.is_latency and slo.total == "latency_p95_ms":
    latency.add_hline(
        y=slo.threshold, line_dash="dash", line_color="#c62828", annotation_text="SLO threshold"
    )
c3.plotly_chart(latency, width="stretch", key="triage_latency")
c4.plotly_chart(
    ui.timeseries_figure(charts, "requests_per_second", "Request rate", "req/s", marks=marks),
    width="stretch",
    key="triage_rps",
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
                "start_ts": st.column_config.DatetimeColumn("When (UTC)", format="YYYY-MM-DD HH:mm")
            },
        )
with right:
    st.markdown("#### 🛠️ Quick actions")
    burn_text = "n/a" if focus.current_burn is None else f"{focus.current_burn:.1f}x"
    reason = (
        f"{slo.name} {focus.alert.level} in {region}: burning {burn_text} the error budget "
        f"(budget left {'n/a' if focus.budget.remaining_fraction is None else f'{focus.budget.remaining_fraction * 100:.0f}%'})"
    )
    st.caption("Opens the Actions page with a proposal filled in; nothing changes until it is approved.")
    if st.button(f"Fail over away from {region}", key="triage_failover", type="primary"):
        st.session_state["actions_prefill"] = {"kind": "failover", "region": region, "reason": reason}
        st.switch_page("pages/actions.py")
    if st.button(f"Scale out {region}", key="triage_scale"):
        st.session_state["actions_prefill"] = {"kind": "scale", "region": region, "reason": reason}
        st.switch_page("pages/actions.py")
