"""Overview: region health grid and map, and request / error / latency charts for the selected range."""

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core.health import HEALTH_METRICS, region_health
from core.slo import (
    KPI,
    KPI_METRICS,
    kpi_cost_days,
    kpi_summary,
    metrics_for,
    region_slo_states,
    rules_lookback,
    slos_from_config,
)
from core.timeseries import pivot_metric, ratio
from pages import _costs_data as costs_data
from pages import _ui as ui
from pages._slo_data import slo_grid

start, end = ui.page_header("Overview", "Are we healthy? Region health against the SLO targets.")
cfg = ui.config()
regions = ui.selected_regions()
frame = ui.load_metrics(HEALTH_METRICS, start, end, regions)
marks = ui.events(start, end)

# ---- guardrail: budgets spent or projected to overrun this month (core/costs.py) ------------------
costs_data.overrun_banner(cfg.budget)


def break_glass_banner() -> None:
    """Break-glass failovers nobody has countersigned stay here until a second approver signs them."""
    from datetime import UTC, datetime

    from core.actions import unsigned_break_glass
    from core.actions.store import db_file_path

    now = datetime.now(UTC)
    for b in unsigned_break_glass(db_file_path(ui.db())):
        (st.error if b.overdue(now) else st.warning)(
            f"🚨 Unsigned break-glass failover {b.describe(now)} (countersign it on the Actions page)"
        )


break_glass_banner()

if frame.empty:
    st.info("No data for this range and these regions.")
    st.stop()

health = region_health(frame, cfg, regions)

# ---- KPI tiles: the selected range against the period of the same length before it ----------------
api_kpi_metrics = [m for m in KPI_METRICS if not m.startswith("cdn_")]
cdn_kpi_metrics = [m for m in KPI_METRICS if m.startswith("cdn_")]
previous_start = start - (end - start)
kpi_now = pd.concat(
    [
        ui.load_metrics(api_kpi_metrics, start, end, regions),
        ui.load_metrics(cdn_kpi_metrics, start, end, regions, kind="cdn"),
    ]
)
kpi_before = pd.concat(
    [
        ui.load_metrics(api_kpi_metrics, previous_start, start, regions),
        ui.load_metrics(cdn_kpi_metrics, previous_start, start, regions, kind="cdn"),
    ]
)
(cost_first, cost_last), (previous_cost_first, previous_cost_last) = kpi_cost_days(start, end)
costs = ui.load_costs(previous_cost_first, cost_last)
costs_now = costs[(costs["day"] >= cost_first) & costs["region"].isin(regions)]
costs_before = costs[(costs["day"] <= previous_cost_last) & costs["region"].isin(regions)]


def kpi_tile(column, kpi: KPI) -> None:
    if kpi.value is None:
        column.metric(kpi.label, "no data")
        return
    if kpi.unit == "%":
        digits = 3 if kpi.key in ("availability", "error_rate") else 1
        value = f"{kpi.value * 100:.{digits}f}%"
        delta = None if kpi.change is None else f"{kpi.change * 100:+.{digits}f} pts"
    elif kpi.unit == "ms":
        value, delta = f"{kpi.value:,.0f} ms", None if kpi.change is None else f"{kpi.change:+,.1f} ms"
    else:
        value = f"${kpi.value:,.0f}" if kpi.unit == "USD" else f"{kpi.value:,.0f} {kpi.unit}"
        delta = None if kpi.change_fraction is None else f"{kpi.change_fraction * 100:+.1f}%"
    period = f"{previous_start:%Y-%m-%d %H:%M} → {start:%Y-%m-%d %H:%M} UTC"
    if kpi.unit == "USD":
        period = (
            f"the days {previous_cost_first} → {previous_cost_last} (this range: {cost_first} → {cost_last})"
        )
    column.metric(
        kpi.label,
        value,
        delta,
        delta_color="normal" if kpi.higher_is_better else "inverse",
        help=f"Change vs {period}",
    )


kpis = kpi_summary(kpi_now, kpi_before, costs_now, costs_before)
for kpi_row in (kpis[i : i + 4] for i in range(0, len(kpis), 4)):
    for kpi_column, kpi in zip(st.columns(4), kpi_row, strict=False):
        kpi_tile(kpi_column, kpi)

# ---- SLO alert state per region (multiwindow burn rates at the end of the range) -----------------
slo_defs = slos_from_config(cfg.slo)
# every region, the same data as the Triage page (shared cache)
slo_data = slo_grid(metrics_for(slo_defs), end - rules_lookback(cfg.burn_rate_rule), end, cfg.region_codes)
slo_states = region_slo_states(slo_data, slo_defs, end, regions, cfg.burn_rate_rule)
SLO_BADGES = {"page": "🔴 page", "ticket": "🟡 ticket", "ok": "🟢 ok", "no data": "⚪ no data"}
health["slo_alert"] = [
    SLO_BADGES[alert] + (f" · {slo}" if alert in ("page", "ticket") else "")
    for alert, slo in zip(slo_states["alert"], slo_states["worst_slo"], strict=True)
]

# ---- health grid -------------------------------------------------------------------------------
st.subheader("Region health")
grid = health.assign(
    state=health["state"].map(ui.state_badge),
    availability=health["availability"] * 100,
    error_rate=health["error_rate"] * 100,
    cpu_mean=health["cpu_mean"] * 100,
    memory_mean=health["memory_mean"] * 100,
)[
    [
        "state",
        "slo_alert",
        "region",
        "name",
        "availability",
        "error_rate",
        "p95_ms",
        "rps_mean",
        "rps_peak",
        "cpu_mean",
        "memory_mean",
        "utilisation_warning",
        "instances",
        "availability_burn",
        "latency_burn",
    ]
]
st.dataframe(
    grid,
    hide_index=True,
    width="stretch",
    column_config={
        "state": st.column_config.TextColumn(
            "State", help="Worst of availability and latency burn, CPU and memory against the fleet's targets"
        ),
        "slo_alert": st.column_config.TextColumn(
            "SLO alert",
            help="Multiwindow burn-rate alert now (page / ticket) and the SLO firing; see Triage",
            width="medium",
        ),
        "region": "Region",
        "name": "Name",
        "availability": st.column_config.NumberColumn("Availability %", format="%.3f"),
        "error_rate": st.column_config.NumberColumn("Error rate %", format="%.3f"),
        "p95_ms": st.column_config.NumberColumn("p95 (ms, mean)", format="%.0f"),
        "rps_mean": st.column_config.NumberColumn("RPS mean (req/s)", format="%.0f"),
        "rps_peak": st.column_config.NumberColumn("RPS peak (req/s)", format="%.0f"),
        "cpu_mean": st.column_config.NumberColumn("CPU mean %", format="%.1f"),
        "memory_mean": st.column_config.NumberColumn("Memory mean %", format="%.1f"),
        "utilisation_warning": st.column_config.TextColumn(
            "Over target", help="Mean CPU or memory at or above the fleet's cpu_target / memory_target"
        ),
        "instances": st.column_config.NumberColumn("Instances (now)", format="%d"),
        "availability_burn": st.column_config.NumberColumn(
            "Availability burn", format="%.2f", help="Error-budget burn rate over the range (1 = on budget)"
        ),
        "latency_burn": st.column_config.NumberColumn(
            "Latency burn", format="%.2f", help="Burn of the latency SLO (share of minutes over threshold)"
        ),
    },
    key="overview_health_grid",
)

# ---- map ---------------------------------------------------------------------------------------
geo = go.Figure(
    go.Scattergeo(
        lat=health["lat"],
        lon=health["lon"],
        text=[
            f"{r.region} · {r.name}<br>{ui.state_badge(r.state)}<br>{r.rps_mean:.0f} req/s, "
            f"availability {r.availability * 100:.3f}%"
            for r in health.itertuples()
        ],
        hoverinfo="text",
        marker={
            "size": (health["rps_mean"].fillna(0) ** 0.5).clip(lower=4) * 0.9 + 8,
            "color": [ui.state_colour(s) for s in health["state"]],
            "line": {"width": 1, "color": "#333"},
        },
        mode="markers+text",
        textposition="top center",
    )
)
geo.update_traces(
    text=health["region"],
    hovertext=[f"{r.region} · {r.name}: {r.state}, {r.rps_mean:.0f} req/s" for r in health.itertuples()],
)
geo.update_layout(
    height=360,
    margin={"l": 0, "r": 0, "t": 30, "b": 0},
    title="Regions (size = mean req/s, colour = state)",
    geo={"showland": True, "landcolor": "#eceff1", "showcountries": True, "projection_type": "natural earth"},
)
st.plotly_chart(geo, width="stretch", key="overview_map", config={"topojsonURL": ui.TOPOJSON_URL})

# ---- charts ------------------------------------------------------------------------------------
st.subheader("Traffic, errors and latency")
c1, c2 = st.columns(2)
c1.plotly_chart(
    ui.timeseries_figure(frame, "requests_per_second", "Request rate", "req/s", marks=marks),
    width="stretch",
    key="overview_rps",
)
error_pct = ratio(pivot_metric(frame, "errors_per_second"), pivot_metric(frame, "requests_per_second")) * 100
c2.plotly_chart(
    ui.timeseries_figure(
        frame, "errors_per_second", "Error rate (5xx share)", "% of requests", wide=error_pct, marks=marks
    ),
    width="stretch",
    key="overview_errors",
)
c3, c4 = st.columns(2)
c3.plotly_chart(
    ui.timeseries_figure(frame, "latency_p95_ms", "p95 latency", "ms", marks=marks),
    width="stretch",
    key="overview_p95",
)
c4.plotly_chart(
    ui.timeseries_figure(frame, "cpu_utilization", "CPU utilisation", "%", scale=100, marks=marks),
    width="stretch",
    key="overview_cpu",
)
# saturation (issue 18: collected, now shown): memory and the work queue per region
c5, c6 = st.columns(2)
c5.plotly_chart(
    ui.timeseries_figure(frame, "memory_utilization", "Memory utilisation", "%", scale=100, marks=marks),
    width="stretch",
    key="overview_memory",
)
queue = ui.load_metrics(["queue_depth"], start, end, regions)
c6.plotly_chart(
    ui.timeseries_figure(queue, "queue_depth", "Queue depth", "messages", marks=marks),
    width="stretch",
    key="overview_queue",
)
if not marks.empty:
    with st.expander(f"Incidents and changes in this range ({len(marks)})"):
        st.dataframe(
            marks[["start_ts", "end_ts", "region", "kind", "title", "detail"]],
            hide_index=True,
            width="stretch",
            key="overview_events",
        )
