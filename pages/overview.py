"""Overview: region health grid and map, and request / error / latency charts for the selected range."""

from datetime import datetime, timedelta

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core.health import health_aggregates, region_health_from_aggregates
from core.kpi import (
    KPI,
    KPI_METRICS,
    kpi_aggregates,
    kpi_cost_days,
    kpi_fallback_means,
    kpi_summary_from_aggregates,
)
from core.ports import ACROSS_REGIONS, ACROSS_REGIONS_OPS, RangeAggregate
from core.slo import region_slo_states_from_aggregates, slo_window_aggregates, slos_from_config
from core.timeseries import aggregates_table, chart_step, pivot_metric, ratio
from pages import _actions_view as actions_view
from pages import _alerts as alerts_ui
from pages import _costs_data as costs_data
from pages import _ui as ui

# what the charts draw, asked at the chart's width; every range-wide figure (grid, KPI tiles, SLO alert
# column) is computed by the source (ui.load_aggregates: instant queries on Prometheus)
CHART_METRICS = (
    "requests_per_second",
    "errors_per_second",
    "latency_p95_ms",
    "cpu_utilization",
    "memory_utilization",
)

# the charts sit two to a row (~700 px each): about a point per pixel (30 days -> hourly steps)
CHART_POINTS = 750
# above this many selected regions the charts draw CHART_TOP_REGIONS of them and one "all regions" line
# computed by the source: 20 lines in a 700-px chart cannot be told apart, and each costs its points
# from Prometheus and over the websocket (issue 17); every region's figures stay in the health grid
CHART_MAX_REGIONS = 8
CHART_TOP_REGIONS = 6
# of those, the regions with the highest error rate over the range come first, then the busiest
CHART_WORST_REGIONS = 3
RANKING = (
    RangeAggregate("requests_per_second", "sum"),
    RangeAggregate("errors_per_second", "sum"),
    RangeAggregate("requests_per_second", "mean"),
)

start, end = ui.page_header("Overview", "Are we healthy? Region health against the SLO targets.")
cfg = ui.config()
regions = ui.selected_regions()


def chart_regions(regions: list[str], start: datetime, end: datetime) -> list[str]:
    """The regions the charts draw one line each for: all of them up to CHART_MAX_REGIONS; above, the
    CHART_WORST_REGIONS with the highest error rate over the range, then the busiest, CHART_TOP_REGIONS
    in all (the same instant queries as the health grid's: the source's cache answers the grid's)."""
    if len(regions) <= CHART_MAX_REGIONS:
        return regions
    ranking = ui.load_aggregates(RANKING, start, end, regions)

    def pick() -> list[str]:
        table = aggregates_table(ranking)
        requests_sum, errors_sum, requests_mean = (
            table.get(a.key, pd.Series(dtype=float)).reindex(regions) for a in RANKING
        )
        error_rate = (errors_sum / requests_sum.where(requests_sum > 0)).fillna(-1.0)
        worst = list(error_rate.sort_values(ascending=False, kind="stable").index[:CHART_WORST_REGIONS])
        busiest = [r for r in requests_mean.fillna(-1.0).sort_values(ascending=False, kind="stable").index]
        picked = list(dict.fromkeys([*worst, *busiest]))[:CHART_TOP_REGIONS]
        return [r for r in regions if r in picked]  # the sidebar's order (stable colours)

    # the page and its health part both ask: picked once per ranking (ui.built); a copy, as it is shared
    return list(
        ui.built(("overview_chart_regions", tuple(regions), ui.frame_fingerprint(ranking, labels=True)), pick)
    )


API_KPI_METRICS = [m for m in KPI_METRICS if not m.startswith("cdn_")]
CDN_KPI_METRICS = [m for m in KPI_METRICS if m.startswith("cdn_")]


def range_figures() -> tuple[RangeAggregate, ...]:
    """Every range-wide figure of the health part in one load: health grid, KPI tiles, SLO rule windows."""
    return tuple(
        dict.fromkeys(
            (
                *health_aggregates(cfg),
                *kpi_aggregates(API_KPI_METRICS, fallback_means=False),
                *slo_window_aggregates(slos_from_config(cfg.slo), cfg.burn_rate_rule),
            )
        )
    )


def prefetch_later_parts() -> None:
    """Ask the source now for what the health part, the alerts panel and the charts will ask later
    (ui.prefetch: Prometheus keeps the answers and joins a request in flight), so the page waits on
    Prometheus for its parts together rather than one after another (issue 17: the cold load took
    1.6x Prometheus's own time for the same queries, mostly waiting part after part)."""
    previous_start = start - (end - start)
    ui.prefetch("metrics", lambda src: src.aggregate_range(list(range_figures()), start, end, regions))
    api_before = kpi_aggregates(API_KPI_METRICS, fallback_means=False)
    ui.prefetch("metrics", lambda src: src.aggregate_range(list(api_before), previous_start, start, regions))
    for first, last in ((start, end), (previous_start, start)):
        ui.prefetch(
            "cdn",
            lambda src, first=first, last=last: src.aggregate_range(
                list(kpi_aggregates(CDN_KPI_METRICS)), first, last, regions
            ),
        )
    alerts_ui.prefetch_panel(cfg)
    if len(regions) > CHART_MAX_REGIONS:
        step = chart_step(start, end, CHART_POINTS)
        ops = {m: ACROSS_REGIONS_OPS[m] for m in (*CHART_METRICS, "queue_depth")}
        ui.prefetch("metrics", lambda src: src.query_range_across(ops, start, end, step, regions))


prefetch_later_parts()

drawn = chart_regions(regions, start, end)
ui.prefetch(
    "metrics",
    lambda src: src.query_range(["queue_depth"], start, end, chart_step(start, end, CHART_POINTS), drawn),
)
frame = ui.load_chart_metrics(CHART_METRICS, start, end, drawn, points=CHART_POINTS)
marks = pd.concat([ui.events(start, end), actions_view.action_marks(start, end)], ignore_index=True)

# ---- guardrail: budgets spent or projected to overrun this month (core.costs) ------------------
costs_data.overrun_banner(cfg.budget)
actions_view.in_force_banner()


def break_glass_banner() -> None:
    """Break-glass failovers nobody has countersigned stay here until a second approver signs them."""
    from datetime import UTC, datetime

    from core.actions import unsigned_break_glass

    now = datetime.now(UTC)
    for b in unsigned_break_glass(ui.guarded_store()):
        (st.error if b.overdue(now) else st.warning)(
            f"🚨 Unsigned break-glass failover {b.describe(now)} (countersign it on the Actions page)"
        )


break_glass_banner()

if frame.empty:
    st.info("No data for this range and these regions.")
    st.stop()

# off / 30 s / 1 min / 5 min, kept in the URL (?refresh=); the grid and KPIs rerun at that pace
REFRESH_EVERY = alerts_ui.refresh_control("overview", default="off")


def health_section() -> None:
    """KPI tiles, the region health grid and the map: the part of the page that refreshes itself (an
    st.fragment with run_every, issue 12), its relative range following the clock when the source is
    live (ui.refreshed_range). The charts below stay at the range the page was drawn for."""
    start, end = ui.refreshed_range()
    ui.last_updated(end)
    # the newest data point judges "now"; the charts' own request, so the page's full run hits the cache
    frame = ui.load_chart_metrics(
        CHART_METRICS, start, end, chart_regions(regions, start, end), points=CHART_POINTS
    )

    # one request for every range-wide figure of this range: health grid, KPI tiles, SLO rule windows
    slo_defs = slos_from_config(cfg.slo)
    figures = ui.load_aggregates(range_figures(), start, end, regions)
    figures_key = ui.frame_fingerprint(figures, labels=True)

    # ---- KPI tiles: the selected range against the period of the same length before it ----------------
    previous_start = start - (end - start)

    def with_fallback_means(api_figures: pd.DataFrame, first: datetime, last: datetime) -> pd.DataFrame:
        """A latency tile's plain mean only when it has no request weight (core.kpi.kpi_fallback_means)."""
        means = kpi_fallback_means(api_figures, API_KPI_METRICS)
        return (
            pd.concat([api_figures, ui.load_aggregates(means, first, last, regions)])
            if means
            else api_figures
        )

    kpi_now = pd.concat(
        [
            with_fallback_means(figures, start, end),
            ui.load_aggregates(kpi_aggregates(CDN_KPI_METRICS), start, end, regions, kind="cdn"),
        ]
    )
    before_api = ui.load_aggregates(
        kpi_aggregates(API_KPI_METRICS, fallback_means=False), previous_start, start, regions
    )
    kpi_before = pd.concat(
        [
            with_fallback_means(before_api, previous_start, start),
            ui.load_aggregates(kpi_aggregates(CDN_KPI_METRICS), previous_start, start, regions, kind="cdn"),
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
            period = f"the days {previous_cost_first} → {previous_cost_last} (this range: {cost_first} → {cost_last})"
        column.metric(
            kpi.label,
            value,
            delta,
            delta_color="normal" if kpi.higher_is_better else "inverse",
            help=f"Change vs {period}",
        )

    kpis = ui.built(
        (
            "overview_kpis",
            *(ui.frame_fingerprint(f, labels=True) for f in (kpi_now, kpi_before, costs_now, costs_before)),
        ),
        lambda: kpi_summary_from_aggregates(kpi_now, kpi_before, costs_now, costs_before),
    )
    for kpi_row in (kpis[i : i + 4] for i in range(0, len(kpis), 4)):
        for kpi_column, kpi in zip(st.columns(4), kpi_row, strict=False):
            kpi_tile(kpi_column, kpi)

    # ---- SLO alert state per region (multiwindow burn rates at the end of the range) -----------------
    # now = the newest data point, never past it (issue 15); the sums of each rule window ending there: a few
    # numbers per region, not 3 days of minutes (issue 17)
    newest = None if frame.empty else pd.Timestamp(frame["ts"].max()).to_pydatetime()
    # the chart's points sit on its step's grid (an hour at 30 days): a last point within one step of
    # the end is as new as that grid can say, not data that stopped (a false "no data after")
    if newest is not None and end - newest < chart_step(start, end, CHART_POINTS):
        newest = end
    slo_at = ui.state_as_of(end, newest)
    slo_figures = (
        figures
        if slo_at >= end
        else ui.load_aggregates(
            slo_window_aggregates(slo_defs, cfg.burn_rate_rule), slo_at - timedelta(hours=1), slo_at, regions
        )
    )

    def region_health() -> pd.DataFrame:
        """The grid's rows: range health from the range's figures, the state now from the burn-rate
        alert at the newest data point; built once per (config, regions, figures) (ui.built)."""
        health = region_health_from_aggregates(figures, cfg, regions)
        slo_states = region_slo_states_from_aggregates(slo_figures, slo_defs, regions, cfg.burn_rate_rule)
        SLO_BADGES = alerts_ui.level_badges(cfg)  # page / ticket with their sev level
        health["slo_alert"] = [
            SLO_BADGES[alert] + (f" · {slo}" if alert in ("page", "ticket") else "")
            for alert, slo in zip(slo_states["alert"], slo_states["worst_slo"], strict=True)
        ]
        # the State column and the map say how a region is now (its burn-rate alert at the newest data
        # point), not the range average: at 7d a region paging right now averaged green beside "page"
        # (issue 15, #4)
        NOW_STATE = {"page": "critical", "ticket": "warn", "ok": "ok", "no data": "no data"}
        health["range_state"] = health["state"]
        health["state"] = [NOW_STATE[alert] for alert in slo_states["alert"]]
        return health

    health_key = (
        "overview_health",
        ui.config_key(),
        tuple(regions),
        figures_key,
        figures_key if slo_figures is figures else ui.frame_fingerprint(slo_figures, labels=True),
    )
    health = ui.built(health_key, region_health)

    # ---- health grid -------------------------------------------------------------------------------
    st.subheader("Region health")
    grid = health.assign(
        state=health["state"].map(ui.state_badge),
        range_state=health["range_state"].map(ui.state_badge),
        availability=health["availability"] * 100,
        error_rate=health["error_rate"] * 100,
        cpu_mean=health["cpu_mean"] * 100,
        memory_mean=health["memory_mean"] * 100,
    )[
        [
            "state",
            "slo_alert",
            "range_state",
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
    # compact labels (the full meaning in each help) and the columns that matter first, so the table fits
    # 1440 px without a horizontal scroll bar (issue 15, #9); the mean RPS and the burns are on Triage
    picked = ui.data_table(
        grid,
        select_row=True,  # drill-down: a region's row opens Triage for it
        shown=[
            "state",
            "slo_alert",
            "range_state",
            "region",
            "availability",
            "error_rate",
            "p95_ms",
            "rps_peak",
            "cpu_mean",
            "memory_mean",
            "utilisation_warning",
            "instances",
        ],
        columns={
            "state": st.column_config.TextColumn(
                "Now",
                help=f"State now: from the burn-rate alert at the newest data point ({slo_at:%H:%M} UTC)",
            ),
            "range_state": st.column_config.TextColumn(
                "Range",
                help="Range health: worst of availability and latency burn, CPU and memory against the fleet's "
                "targets, over the range",
            ),
            "slo_alert": st.column_config.TextColumn(
                "SLO alert",
                help="Multiwindow burn-rate alert now (page / ticket) and the SLO firing; see Triage",
            ),
            "region": st.column_config.TextColumn(
                "Region", help=" · ".join(f"{r.code}: {r.name}" for r in cfg.region)
            ),
            "availability": ui.number_column("Avail. %", 3, help="Availability over the range"),
            "error_rate": ui.number_column("Errors %", 3, help="Error rate over the range"),
            "p95_ms": ui.number_column("p95 ms", 0, help="p95 latency, mean over the range"),
            "rps_peak": ui.number_column("Peak RPS", 0, help="Peak requests per second in the range"),
            "cpu_mean": ui.number_column("CPU %", help="Mean CPU utilisation"),
            "memory_mean": ui.number_column("Mem. %", help="Mean memory utilisation"),
            "utilisation_warning": st.column_config.TextColumn(
                "Over target", help="Mean CPU or memory at or above the fleet's cpu_target / memory_target"
            ),
            "instances": ui.count_column("Inst.", help="Instances now"),
        },
        key="overview_health_grid",
    )
    st.caption("Select a region's row, or click its dot on the map, to open Triage for it.")
    if picked is not None:
        ui.open_triage_for(str(grid["region"].iloc[picked]))

    # ---- map ---------------------------------------------------------------------------------------
    def region_map() -> go.Figure:
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
            hovertext=[
                f"{r.region} · {r.name}: {r.state}, {r.rps_mean:.0f} req/s" for r in health.itertuples()
            ],
        )
        geo.update_layout(
            height=360,
            margin={"l": 0, "r": 0, "t": 30, "b": 0},
            title="Regions (size = mean req/s, colour = state now)",
            geo={
                "showland": True,
                "landcolor": "#eceff1",
                "showcountries": True,
                "projection_type": "natural earth",
            },
        )
        return geo

    geo = ui.built(("overview_map", *health_key), region_map)
    map_event = st.plotly_chart(
        geo,
        width="stretch",
        key="overview_map",
        config={"topojsonURL": ui.TOPOJSON_URL},
        on_select="rerun",
        selection_mode="points",
    )
    map_points = map_event.selection.points if map_event is not None else []
    if map_points:  # drill-down: a region's dot opens Triage for it
        ui.open_triage_for(str(health["region"].iloc[map_points[0]["point_index"]]))


st.fragment(run_every=REFRESH_EVERY)(health_section)()

# ---- alerts firing now: burn-rate and threshold rules, beside Alertmanager (issue 12) -------------
st.subheader("Alerts")
alerts_ui.render_alerts_panel(cfg, "overview", REFRESH_EVERY)

# ---- charts ------------------------------------------------------------------------------------
st.subheader("Traffic, errors and latency")
CHART_OPS = {m: ACROSS_REGIONS_OPS[m] for m in (*CHART_METRICS, "queue_depth")}
if len(drawn) < len(regions):
    # one line for every selected region, combined by the source (Prometheus: sum / avg / max)
    frame = pd.concat(
        [frame, ui.load_across_regions(CHART_OPS, start, end, regions, points=CHART_POINTS)],
        ignore_index=True,
    )
    st.caption(
        f"{len(regions)} regions selected: the charts draw {len(drawn)} of them, those with the highest error "
        f"rate over the range, then the busiest ({', '.join(drawn)}), and **{ACROSS_REGIONS}** as one line "
        "(requests, errors and queue depth summed; CPU and memory averaged; latency: the worst region). "
        "Every region's figures are in the health grid; pick regions in the sidebar to draw others."
    )
queue = ui.load_chart_metrics(["queue_depth"], start, end, drawn, points=CHART_POINTS)
if len(drawn) < len(regions):
    queue = pd.concat([queue, frame[frame["metric"] == "queue_depth"]], ignore_index=True)


def chart_figures() -> dict[str, go.Figure]:
    """The six charts, built once per (range, regions, data, marks): a rerun with unchanged data, in
    this session or another, reuses them (ui.built)."""
    error_pct = (
        ratio(pivot_metric(frame, "errors_per_second"), pivot_metric(frame, "requests_per_second")) * 100
    )
    return {
        "overview_rps": ui.timeseries_figure(
            frame, "requests_per_second", "Request rate", "req/s", marks=marks
        ),
        "overview_errors": ui.timeseries_figure(
            frame, "errors_per_second", "Error rate (5xx share)", "% of requests", wide=error_pct, marks=marks
        ),
        "overview_p95": ui.timeseries_figure(frame, "latency_p95_ms", "p95 latency", "ms", marks=marks),
        "overview_cpu": ui.timeseries_figure(
            frame, "cpu_utilization", "CPU utilisation", "%", scale=100, marks=marks
        ),
        # saturation (issue 18: collected, now shown): memory and the work queue per region
        "overview_memory": ui.timeseries_figure(
            frame, "memory_utilization", "Memory utilisation", "%", scale=100, marks=marks
        ),
        "overview_queue": ui.timeseries_figure(queue, "queue_depth", "Queue depth", "messages", marks=marks),
    }


figures = ui.built(
    (
        "overview_charts",  # not the range: a new minute with the same points reuses the charts
        ui.config_key(),
        tuple(drawn),
        tuple(regions),
        ui.frame_fingerprint(frame),
        ui.frame_fingerprint(queue),
        ui.frame_fingerprint(marks, labels=True),
    ),
    chart_figures,
)
for row in (
    ("overview_rps", "overview_errors"),
    ("overview_p95", "overview_cpu"),
    ("overview_memory", "overview_queue"),
):
    for column, key in zip(st.columns(2), row, strict=True):
        column.plotly_chart(figures[key], width="stretch", key=key)
if not marks.empty:
    with st.expander(f"Incidents and changes in this range ({len(marks)})"):
        ui.data_table(
            marks[["start_ts", "end_ts", "region", "kind", "title", "detail"]],
            key="overview_events",
        )
