"""SLOs: one card per SLO x region with the error budget, its burn-down and the multiwindow burn-rate
alert state. The SLO windows are rolling and end at the end of the selected time range."""

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core.slo import (
    ALERT_ORDER,
    GLOBAL,
    SLOReport,
    burn_down,
    fastest_burning,
    format_duration,
    format_window,
    lookback,
    metrics_for,
    reports_table,
    rules_lookback,
    slo_counts,
    slo_report,
    slos_from_config,
)
from pages import _alerts as alerts_ui
from pages import _ui as ui
from pages._slo_data import slo_budget_counts, slo_grid

_, range_end = ui.page_header(
    "SLOs",
    "Error budgets, burn-down and multiwindow burn-rate alerts per SLO and region. "
    "Each SLO's rolling window ends at the end of the selected range",
)
cfg = ui.config()
slos = slos_from_config(cfg.slo)
if not slos:
    st.info(
        "No SLOs are configured: add `[[slo]]` entries to the config file (see .streamlit/headroom.toml)."
    )
    st.stop()
alerts_ui.export_buttons()  # the rules that page people with the dashboard closed (issue 12)
ALERT_BADGES = alerts_ui.level_badges(cfg)  # page / ticket with their sev level: one vocabulary
# above this many regions an SLO's cards are the global one and the CARD_TOP_REGIONS burning fastest
# (card_reports), as the Overview's charts draw 6 regions above 8
CARD_MAX_REGIONS = 8
CARD_TOP_REGIONS = 6

# every region: budgets and global figures need all of the traffic, whatever is selected. The budgets
# come from per-slot sums the source computes over each SLO window (a few hundred per region, issue 17)
# and the burn-rate rules from a grid over the rule windows only; a source that cannot sum slots gives
# one grid over the SLO windows for both
budget_counts = slo_budget_counts(slos, range_end, cfg.region_codes)
grid_lookback = lookback(slos) if budget_counts is None else rules_lookback(cfg.burn_rate_rule)
grid = slo_grid(metrics_for(slos), range_end - grid_lookback, range_end, cfg.region_codes)
alert_counts = {s.name: slo_counts(grid, s) for s in slos}
counts = alert_counts if budget_counts is None else budget_counts
if grid.slots == 0 and all(c.slots == 0 for c in counts.values()):
    st.info(
        f"No SLO data ({', '.join(metrics_for(slos))}) for the window ending at {range_end:%Y-%m-%d %H:%M} "
        "UTC: pick a later range in the sidebar, or check the metrics source."
    )
    st.stop()
# budgets and alerts judged at the newest data point, never past it: missing minutes are not good ones
at = ui.state_as_of(range_end, grid.newest, "Budgets and alert states")

selected = ui.selected_regions()
reports: list[SLOReport] = []
for s in slos:
    scopes = [r for r in selected if r in counts[s.name].regions]
    if len(counts[s.name].regions) > 1:
        scopes.insert(0, GLOBAL)
    reports += [
        slo_report(
            alert_counts[s.name],
            s,
            at,
            None if r == GLOBAL else r,
            cfg.burn_rate_rule,
            budget_data=counts[s.name],
        )
        for r in scopes
    ]

if not reports:
    st.info(
        "The metrics source has none of the SLOs' metrics for the selected regions "
        f"({', '.join(metrics_for(slos))}). Check the source's queries or pick other regions."
    )
    st.stop()

# ---- summary of every SLO x region ---------------------------------------------------------------
st.subheader("All SLOs")
table = reports_table(reports)
summary = pd.DataFrame(
    {
        "SLO": table["slo"],
        "Region": table["region"],
        "Alert": table["alert"].map(ALERT_BADGES),
        "Objective %": table["objective"] * 100,
        "SLI %": table["sli"].astype(float) * 100,
        "Budget left %": table["budget_remaining"].astype(float) * 100,
        "Minutes left": table["minutes_remaining"].astype(float),
        "Burn (1h)": table["current_burn"].astype(float),
        "Exhausted in": [format_duration(r.time_to_exhaustion) for r in reports],
    }
)
ui.data_table(
    summary,
    key="slo_summary",
    columns={
        "Objective %": ui.number_column(None, 3),
        "SLI %": ui.number_column(None, 4, help="Over the SLO's whole window"),
        "Budget left %": ui.number_column(None, 1, help="Negative when overspent"),
        "Minutes left": ui.number_column(
            None, 1, help="Budget left as minutes of complete outage (bad minutes for latency SLOs)"
        ),
        "Burn (1h)": ui.number_column(
            None, 2, help="Budget burn rate over the last hour: 1 spends it exactly over the window"
        ),
        "Exhausted in": st.column_config.TextColumn(help="At the last hour's burn rate"),
    },
)

# ---- cards for one SLO -------------------------------------------------------------------------
names = [s.name for s in slos]
worst = max(reports, key=lambda r: (ALERT_ORDER[r.alert.level], r.current_burn or 0.0)).slo.name
if st.session_state.get("slo_pick") not in names:
    # an alert row on Triage, or a copied link, names the SLO (?slo=); otherwise the fastest burn
    linked = st.query_params.get("slo")
    if linked and linked not in names:
        ui.bad_url_value("slo", linked, f"{worst}, the SLO burning fastest", f"SLOs: {', '.join(names)}")
    st.session_state["slo_pick"] = linked if linked in names else worst
pick = st.selectbox("SLO", names, key="slo_pick", help="Defaults to the SLO burning fastest")
st.query_params["slo"] = pick  # the card shown is part of the link
slo = next(s for s in slos if s.name == pick)
kind = (
    f"latency: a minute is good when {slo.total} <= {slo.threshold:g} ms"
    if slo.is_latency
    else f"ratio: {slo.bad or slo.good} / {slo.total}" + (" (bad)" if slo.bad else " (good)")
)
st.caption(
    f"**{slo.name}** ({slo.service}): {slo.description or kind}. Objective {slo.objective * 100:g}% "
    f"over {format_window(slo.window)}, {slo.budgeting} budgeting ({kind}), a budget of "
    f"{slo.budget_minutes:.1f} minutes. Window {at - slo.window:%Y-%m-%d %H:%M} → {at:%Y-%m-%d %H:%M} UTC."
)


@st.cache_resource(max_entries=512, show_spinner=False)
def gauge_figure(value: float) -> go.Figure:
    """The budget gauge at display precision, built once per value across sessions (building plotly
    figures was most of a warm rerun: issue 17)."""
    fig = go.Figure(
        go.Indicator(
            mode="gauge+number",
            value=value,
            number={"suffix": "%", "valueformat": ".1f"},
            title={"text": "budget left", "font": {"size": 14}},
            gauge={
                "axis": {"range": [min(0.0, value), 100]},
                "bar": {"color": "#37474f"},
                "steps": [
                    {"range": [min(0.0, value), 25], "color": "#ffcdd2"},
                    {"range": [25, 50], "color": "#fff9c4"},
                    {"range": [50, 100], "color": "#c8e6c9"},
                ],
            },
        )
    )
    fig.update_layout(height=230, margin={"l": 30, "r": 30, "t": 50, "b": 10})
    return fig


def gauge(report: SLOReport, key: str) -> None:
    remaining = report.budget.remaining_fraction
    if remaining is None:
        st.markdown("**Error budget remaining**: no traffic in the window")
        return
    st.plotly_chart(gauge_figure(round(remaining * 100, 2)), width="stretch", key=key)


def burn_down_figure(report: SLOReport) -> go.Figure:
    region = None if report.region == GLOBAL else report.region
    down = burn_down(counts[slo.name], slo, at, region)
    return burn_down_chart(
        pd.DatetimeIndex(down["ts"]).asi8,
        down["ideal_fraction"].to_numpy() * 100,
        down["remaining_fraction"].to_numpy() * 100,
    )


@st.cache_resource(max_entries=512, show_spinner=False)
def burn_down_chart(ts_ns: np.ndarray, ideal: np.ndarray, remaining: np.ndarray) -> go.Figure:
    """The burn-down chart of these points, built once across sessions (keyed by the data itself)."""
    fig = go.Figure()
    # compact traces at the chart's width (ui.trace_data): a 30-day window has thousands of steps per card
    ts = pd.to_datetime(ts_ns, utc=True)
    ideal_trace = ui.trace_data(pd.Series(ideal, index=ts))
    remaining_trace = ui.trace_data(pd.Series(remaining, index=ts))
    fig.add_trace(go.Scatter(**ideal_trace, name="ideal (burn 1)", line={"dash": "dash", "color": "#90a4ae"}))
    fig.add_trace(go.Scatter(**remaining_trace, name="remaining", line={"color": "#1e88e5"}))
    fig.update_layout(
        title="Burn-down over the window",
        height=230,
        margin={"l": 10, "r": 10, "t": 35, "b": 10},
        xaxis_title="time (UTC)",
        xaxis_type="date",
        yaxis_title="% of budget left",
        # inside the plot, bottom left: the ideal line runs top-left to bottom-right, leaving that corner free
        legend={
            "x": 0.01,
            "xanchor": "left",
            "y": 0.02,
            "yanchor": "bottom",
            "bgcolor": "rgba(255,255,255,0.7)",
        },
    )
    return fig


def card_reports(reports: list[SLOReport]) -> list[SLOReport]:
    """The cards drawn for one SLO: every region's up to CARD_MAX_REGIONS; above, the global card and the
    CARD_TOP_REGIONS regions burning it fastest, in config order, with a caption naming them. Each card
    is two charts and a table: at 20 regions the cards were most of a rerun's CPU (issue 17); the
    summary above keeps every region."""
    regional = [r for r in reports if r.region != GLOBAL]
    if len(regional) <= CARD_MAX_REGIONS:
        return reports
    shown = fastest_burning(reports, CARD_TOP_REGIONS)
    st.caption(
        f"{len(regional)} regions: the cards show the global figure and the {CARD_TOP_REGIONS} regions "
        f"burning {reports[0].slo.name} fastest ({', '.join(r.region for r in shown if r.region != GLOBAL)}). "
        f"Every region is in the table above; pick up to {CARD_MAX_REGIONS} regions in the sidebar to see "
        "their cards."
    )
    return shown


def rules_table(report: SLOReport) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "Severity": e.rule.severity,
                "Windows": f"{format_window(e.rule.long_window)} & {format_window(e.rule.short_window)}",
                "Long burn": e.long_burn,
                "Short burn": e.short_burn,
                "Threshold": e.rule.burn_rate,
                "Firing": "🔥 yes" if e.firing else "no",
            }
            for e in report.alert.rules
        ]
    )


cards = card_reports([r for r in reports if r.slo.name == slo.name])
if not cards:
    st.caption(f"No data for {slo.name} in the selected regions.")
for report in cards:
    b = report.budget
    key = f"slo_card_{slo.name}_{report.region}"
    with st.container(border=True, key=key):
        title = "🌐 global (traffic-weighted)" if report.region == GLOBAL else f"📍 {report.region}"
        st.markdown(f"#### {title} · {ALERT_BADGES[report.alert.level]}")
        if b.partial:
            start = f"{b.data_start:%Y-%m-%d %H:%M} UTC" if b.data_start else "nowhere"
            st.warning(
                f"The data covers {b.coverage * 100:.0f}% of the {format_window(slo.window)} window (it starts at "
                f"{start}): figures are for the covered part."
            )
        gauge_col, stats_col, chart_col = st.columns([1.1, 1, 2.2])
        with gauge_col:
            gauge(report, f"{key}_gauge")
        burn = "n/a" if report.current_burn is None else f"{report.current_burn:.2f}"
        minutes = "n/a" if b.minutes_remaining is None else f"{b.minutes_remaining:,.1f} min"
        stats_col.markdown(
            f"**SLI** {'no traffic' if b.sli is None else f'{b.sli * 100:.4f}%'}  \n"
            f"objective {slo.objective * 100:g}%\n\n"
            f"**Budget left** {minutes}  \nof {b.minutes_total:,.1f} min\n\n"
            f"**Exhausted in** {format_duration(report.time_to_exhaustion)}  \nat 1h burn {burn}",
            help="Budget in minutes of complete outage (bad minutes for latency SLOs); exhaustion assumes the "
            "last hour's burn rate continues",
        )
        if b.remaining_fraction is not None:
            chart_col.plotly_chart(burn_down_figure(report), width="stretch", key=f"{key}_burndown")
        ui.data_table(
            rules_table(report),
            key=f"{key}_rules",
            columns={
                "Long burn": ui.number_column(None, 2),
                "Short burn": ui.number_column(None, 2),
                "Threshold": ui.number_column(None, 1, help="Both windows must exceed it"),
            },
        )
        if report.alert.partial_windows:
            st.caption(
                "Windows longer than the data: "
                + ", ".join(format_window(w) for w in report.alert.partial_windows)
            )
