"""Overview: region health grid and map, and request / error / latency charts for the selected range."""

import plotly.graph_objects as go
import streamlit as st

from core.health import HEALTH_METRICS, region_health
from core.timeseries import pivot_metric, ratio
from pages import _ui as ui

start, end = ui.page_header("Overview", "Are we healthy? Region health against the SLO targets.")
cfg = ui.config()
regions = ui.selected_regions()
frame = ui.load_metrics(HEALTH_METRICS, start, end, regions)
marks = ui.events(start, end)

if frame.empty:
    st.info("No data for this range and these regions.")
    st.stop()

health = region_health(frame, cfg, regions)

# ---- health grid -------------------------------------------------------------------------------
st.subheader("Region health")
grid = health.assign(
    state=health["state"].map(ui.state_badge),
    availability=health["availability"] * 100,
    error_rate=health["error_rate"] * 100,
    cpu_mean=health["cpu_mean"] * 100,
)[
    [
        "state",
        "region",
        "name",
        "availability",
        "error_rate",
        "p95_ms",
        "rps_mean",
        "rps_peak",
        "cpu_mean",
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
        "state": st.column_config.TextColumn("State", help="Worst of availability and latency burn, CPU"),
        "region": "Region",
        "name": "Name",
        "availability": st.column_config.NumberColumn("Availability %", format="%.3f"),
        "error_rate": st.column_config.NumberColumn("Error rate %", format="%.3f"),
        "p95_ms": st.column_config.NumberColumn("p95 (ms, mean)", format="%.0f"),
        "rps_mean": st.column_config.NumberColumn("RPS mean (req/s)", format="%.0f"),
        "rps_peak": st.column_config.NumberColumn("RPS peak (req/s)", format="%.0f"),
        "cpu_mean": st.column_config.NumberColumn("CPU mean %", format="%.1f"),
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
if not marks.empty:
    with st.expander(f"Incidents and changes in this range ({len(marks)})"):
        st.dataframe(
            marks[["start_ts", "end_ts", "region", "kind", "title", "detail"]],
            hide_index=True,
            width="stretch",
            key="overview_events",
        )
