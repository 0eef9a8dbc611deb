"""Costs: spend by service and region, budget vs actual vs forecast, top movers, unit cost per million
requests, and what a fleet size would cost against today's run rate. Figures come from the core/costs package."""

import functools
from datetime import UTC, datetime, timedelta

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from connectors.store_scenarios import list_scenarios
from core import costs, export
from pages import _costs_data as cd
from pages import _ui as ui

RAG = {"red": "🔴 red", "amber": "🟡 amber", "green": "🟢 green", "no data": "⚪ no data"}
DAYS_CHOICES = (14, 30, 60, 90)
COMPUTE_SERVICE = "Amazon Elastic Compute Cloud - Compute"


def download(frame: pd.DataFrame, what: str, key: str) -> None:
    st.download_button(
        f"⬇️ {what} (CSV)",
        # written when clicked, not on every rerun (eight CSVs were ~0.05 s of each rerun); service
        # names come from the bill: no formula cells
        functools.partial(lambda f: export.frame_to_csv(f).encode(), frame),
        file_name=f"headroom-costs-{key}-{today}.csv",
        mime="text/csv",
        key=f"costs_csv_{key}",
    )


def usd(value: float, decimals: int = 0, sign: bool = False) -> str:
    """$1,234 / -$50 / +$3 (with sign=True); n/a when there is nothing to compute from."""
    if value != value:  # NaN
        return "n/a"
    prefix = "-" if value < 0 else ("+" if sign else "")
    return f"{prefix}${abs(value):,.{decimals}f}"


def usd_axis(
    fig: go.Figure, title: str, y_title: str, height: int = 380, legend_title: str = ""
) -> go.Figure:
    fig.update_layout(
        title=title,
        height=height,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        xaxis_title="day (UTC)",
        yaxis_title=y_title,
        yaxis_tickprefix="$",
        legend={"title": legend_title},
        hovermode="x unified",
    )
    return fig


st.title("Costs")
cfg = ui.config()
today = cd.today()
c1, c2 = st.columns([1, 2])
days = c1.selectbox(
    "Days shown", DAYS_CHOICES, index=1, key="costs_days", format_func=lambda d: f"last {d} closed days"
)
group_by = c2.segmented_control(
    "Break down by", ["service", "region"], default="service", key="costs_group_by"
)
group_by = group_by or "service"
first_shown, yesterday = today - timedelta(days=days), today - timedelta(days=1)
st.caption(
    f"UTC days {first_shown} → {yesterday} (closed) · today {today} is open: its partial spend is shown "
    "apart and projected with the rest of the month · all amounts USD, credits net"
)

billing = cd.billing(costs.load_start(today, days), today)
if billing.empty:
    st.info(
        f"No billing data for {costs.load_start(today, days)} → {today}. "
        "Check the billing source in the sidebar's Data sources panel."
    )
    st.stop()

# the sidebar's regions filter the views; costs without a region ('global') only count with all regions
regions = ui.selected_regions()
all_regions = set(regions) == set(cfg.region_codes)
view = costs.billing_in_regions(billing, regions, cfg.region_codes)
scope_note = "all regions" if all_regions else ", ".join(regions) + " (costs without a region left out)"

# ---- headline figures ----------------------------------------------------------------------------------
projection = cd.project_month(view, today)
run_rate = cd.run_rate(view, today)
k1, k2, k3, k4 = st.columns(4)
last_closed = today - timedelta(days=1)
k1.metric(
    f"Month to date ({projection.month_start:%b %Y})",
    usd(projection.spent_usd),
    # say what is in it: closed days only; today (open, partial) is the "Today so far" tile
    f"{projection.month_start:%d %b} – {last_closed:%d %b}, closed days; today not included"
    if last_closed >= projection.month_start
    else "no closed day yet; today not included",
    delta_color="off",
    help=f"Closed days only: {today} UTC is still open, its partial spend is under 'Today so far'.",
)
k2.metric(
    "Projected month end",
    usd(projection.projected_usd),
    help=f"80% band {usd(projection.lo_80)} – {usd(projection.hi_80)}; model: {projection.method}",
)
k3.metric("Run rate", f"{usd(run_rate)}/day", help="Mean daily spend of the last 7 closed days")
k4.metric("Today so far", usd(projection.today_so_far_usd), help=f"{today} UTC is open: partial spend")
if projection.missing_days:
    st.warning(
        f"No billing rows for {len(projection.missing_days)} closed day(s) this month "
        f"({', '.join(str(d) for d in projection.missing_days)}): estimated at "
        f"{usd(projection.missing_estimate_usd)} in the projection, left out of month to date."
    )
st.caption(f"Scope: {scope_note}.")

# ---- daily spend, stacked, with anomalies ------------------------------------------------------------------
st.subheader(f"Daily spend by {group_by}")
wide = cd.daily_spend_by(view, first_shown, yesterday, group_by)
changes = cd.daily_changes(view, today, days)
fig = go.Figure()
for name in wide.columns:
    fig.add_trace(go.Bar(x=wide.index, y=wide[name], name=str(name)))
fig.add_trace(
    go.Scatter(
        x=changes["day"],
        y=changes["expected_usd"],
        name="expected (same weekday, 4 weeks)",
        mode="lines",
        line={"dash": "dot", "color": "#455a64"},
    )
)
flagged = changes[changes["anomaly"]]
if not flagged.empty:
    fig.add_trace(
        go.Scatter(
            x=flagged["day"],
            y=flagged["cost_usd"],
            name="anomaly (outside the 95% band)",
            mode="markers",
            marker={"symbol": "x", "size": 13, "color": "#d50000", "line": {"width": 2}},
            text=[
                f"{r.direction} expected: {usd(r.cost_usd)} vs {usd(r.expected_usd)} "
                f"(band {usd(r.lo_usd)} – {usd(r.hi_usd)})"
                for r in flagged.itertuples()
            ],
            hovertemplate="%{text}<extra></extra>",
        )
    )
fig.update_layout(barmode="stack")
st.plotly_chart(
    usd_axis(fig, f"Daily spend by {group_by} (stacked)", "USD per day", 420, group_by),
    key="costs_daily_chart",
)
long = wide.stack().rename("cost_usd").reset_index()
d1, d2 = st.columns(2)
with d1:
    download(long, f"Daily spend by {group_by}", f"daily-by-{group_by}")
with d2:
    download(changes, "Day-over-day, week-over-week and anomalies (total)", "changes")

anomalies = cd.anomalies_by(view, today, days, group_by)
with st.expander(f"Anomalous days by {group_by} ({len(anomalies)})", expanded=not anomalies.empty):
    if anomalies.empty:
        st.caption(f"No {group_by} spent outside its 95% band by at least ${costs.ANOMALY_MIN_USD:.0f}.")
    else:
        ui.data_table(
            anomalies[
                ["day", group_by, "direction", "cost_usd", "expected_usd", "lo_usd", "hi_usd", "wow_pct"]
            ],
            columns={
                "cost_usd": ui.usd_column("spend (USD)"),
                "expected_usd": ui.usd_column("expected (USD)"),
                "lo_usd": ui.usd_column("band low (USD)"),
                "hi_usd": ui.usd_column("band high (USD)"),
                "wow_pct": ui.change_column("vs a week before", 1, percent=True),
            },
            key="costs_anomalies",
        )
        download(anomalies, f"Anomalies by {group_by}", f"anomalies-by-{group_by}")

# ---- budgets ------------------------------------------------------------------------------------------
st.subheader(f"Budgets for {projection.month_start:%B %Y}")
statuses = cd.budget_statuses(cd.month_billing(billing, today), cfg.budget, today)
if not statuses:
    st.info("No [[budget]] in the configuration: add one to track spend against it.")
else:
    names = [s.name for s in statuses]
    worst = next((s.name for s in statuses if s.state == "red"), names[0])
    linked = st.query_params.get("budget")  # from the budget banner, or a copied link
    if linked and linked not in names and "costs_budget" not in st.session_state:
        ui.bad_url_value("budget", linked, f"the budget {worst!r}", f"budgets: {', '.join(names)}")
    first = linked if linked in names else worst  # the widget's first value; later, the user's pick
    chosen_name = st.selectbox("Budget", names, index=names.index(first), key="costs_budget")
    st.query_params["budget"] = chosen_name
    chosen = statuses[names.index(chosen_name)]
    daily = chosen.projection.daily
    actual = daily[daily["actual_usd"].notna() | (daily["day"] < today)]
    ahead = daily[daily["day"] >= today - timedelta(days=1)]
    bfig = go.Figure()
    for level, alpha in ((95, 0.15), (80, 0.3)):
        bfig.add_trace(
            go.Scatter(
                x=list(ahead["day"]) + list(ahead["day"][::-1]),
                y=list(ahead[f"cum_hi_{level}"]) + list(ahead[f"cum_lo_{level}"][::-1]),
                fill="toself",
                mode="lines",
                fillcolor=f"rgba(30,136,229,{alpha})",
                line={"width": 0},
                name=f"{level}% band",
                hoverinfo="skip",
            )
        )
    bfig.add_trace(
        go.Scatter(
            x=ahead["day"],
            y=ahead["cumulative_usd"],
            name="projection",
            mode="lines",
            line={"dash": "dash", "color": "#1e88e5"},
        )
    )
    bfig.add_trace(
        go.Scatter(
            x=actual["day"],
            y=actual["cumulative_usd"],
            name="actual",
            mode="lines+markers",
            line={"color": "#212121"},
        )
    )
    bfig.add_hline(
        y=chosen.monthly_usd,
        line_color="#d50000",
        line_dash="dot",
        annotation_text=f"budget {usd(chosen.monthly_usd)}",
    )
    st.plotly_chart(
        usd_axis(bfig, f"{chosen.name}: month to date vs budget ({chosen.scope})", "cumulative USD"),
        key="costs_budget_chart",
    )
    st.markdown(f"{RAG[chosen.state]} · {chosen.reason}")

    table = costs.budget_table(statuses)
    ui.data_table(
        table.assign(state=table["state"].map(RAG)),
        columns={
            "budget_usd": ui.usd_column("budget (USD)"),
            "spent_usd": ui.usd_column("spent, closed days (USD)"),
            "consumed_pct": st.column_config.ProgressColumn(
                "consumed", format="%.0f%%", min_value=0, max_value=100
            ),
            "projected_eom_usd": ui.usd_column("projected month end (USD)"),
            "projected_lo_80_usd": ui.usd_column("80% low (USD)"),
            "projected_hi_80_usd": ui.usd_column("80% high (USD)"),
            "projected_pct": ui.percent_column("projected % of budget", 0),
            "overrun_date": st.column_config.DateColumn("overrun on (UTC)"),
        },
        key="costs_budget_table",
    )
    download(table, "Budgets", "budgets")
    st.caption(
        "Budgets cover their own service and region whatever the sidebar shows. red: spent or projected "
        f"above the budget · amber: projected above {costs.AMBER_FRACTION:.0%} of it, or its 80% band "
        "above it · green: otherwise."
    )

# ---- top movers ------------------------------------------------------------------------------------------
st.subheader("Top movers this week")
st.caption(f"{today - timedelta(days=7)} → {yesterday} against the 7 days before (UTC).")
m1, m2 = st.columns(2)
for col, by in ((m1, "service"), (m2, "region")):
    movers = cd.top_movers(view, today, by)
    with col:
        ui.data_table(
            movers[[by, "change_usd", "change_pct", "this_week_usd", "last_week_usd"]],
            columns={
                "this_week_usd": ui.usd_column("this week (USD)"),
                "last_week_usd": ui.usd_column("week before (USD)"),
                "change_usd": ui.change_column("change (USD)", 2),
                "change_pct": ui.change_column("change", 1, percent=True),
            },
            key=f"costs_movers_{by}",
        )
        download(movers, f"Top movers by {by}", f"movers-by-{by}")

# ---- unit cost per region --------------------------------------------------------------------------------
st.subheader("Unit cost: USD per million requests")
step = timedelta(minutes=5)
traffic = ui.load_metrics(
    ["requests_per_second"],
    datetime.combine(first_shown, datetime.min.time(), UTC),
    datetime.combine(today, datetime.min.time(), UTC) - timedelta(seconds=1),
    regions,
    step=step,
)
units = cd.unit_costs(view, traffic, first_shown, yesterday, step, tuple(regions), ui.data_anchor())
if units.daily.empty:
    st.info("No request traffic for these days and regions: unit cost needs both billing and traffic.")
else:
    u1, u2 = st.columns([2, 3])
    bars = units.by_region
    ufig = go.Figure(
        go.Bar(
            x=bars["region"],
            y=bars["usd_per_million_requests"],
            marker_color=[
                ui.region_colour(r) if r != costs.ALL_REGIONS else "#455a64" for r in bars["region"]
            ],
            text=[usd(v, 2) for v in bars["usd_per_million_requests"]],
        )
    )
    ufig.update_layout(
        title=f"{first_shown} → {yesterday}",
        height=340,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        xaxis_title="region",
        yaxis_title="USD per million requests",
        yaxis_tickprefix="$",
    )
    u1.plotly_chart(ufig, key="costs_unit_bars")
    lfig = go.Figure()
    for region, part in units.daily.groupby("region"):
        lfig.add_trace(
            go.Scatter(
                x=part["day"],
                y=part["usd_per_million_requests"],
                name=str(region),
                mode="lines",
                line={"color": ui.region_colour(str(region))},
            )
        )
    u2.plotly_chart(
        usd_axis(lfig, "Per day", "USD per million requests", 340, "region"), key="costs_unit_daily"
    )
    ui.data_table(
        bars,
        columns={
            "cost_usd": ui.usd_column("spend (USD)"),
            "requests_millions": ui.number_column("requests (millions)"),
            "usd_per_million_requests": ui.usd_column("USD per million requests", 3),
        },
        key="costs_unit_table",
    )
    e1, e2 = st.columns(2)
    with e1:
        download(bars, "Unit cost by region", "unit-cost")
    with e2:
        download(units.daily, "Unit cost per day and region", "unit-cost-daily")
    st.caption(
        "All of a region's spend over its requests (sum over minutes of req/s × 60) on days with both; "
        "the 'all regions' row adds costs without a region."
    )

# ---- capacity plans against today's run rate -------------------------------------------------------
st.subheader("What would a capacity plan cost?")
services = sorted(billing["service"].unique())
compared = st.selectbox(
    "Compared with today's run rate of",
    services,
    index=services.index(COMPUTE_SERVICE) if COMPUTE_SERVICE in services else 0,
    key="costs_compare_service",
    help="The billed service that pays for the fleets' instances; run rate = mean of the last 7 closed days.",
)
fleets = {f.name: f for f in cfg.fleet}
if not fleets:
    st.info("No [[fleet]] in the configuration.")
else:
    s1, s2 = st.columns(2)
    fleet = fleets[s1.selectbox("Fleet", list(fleets), key="costs_fleet")]
    current = cd.run_rate(billing, today, compared, fleet.region)
    most_instances = float(max(fleet.max_instances, 1)) * 4
    # today's run rate may pay for more than the control allows (a fleet's max lowered): Streamlit raises
    # on a default above max_value, so it is clamped and the message says so
    paid_for = ui.clamp_value(
        "Average instances",
        float(round(costs.equivalent_instances(current, fleet.price_per_hour), 1)),
        0.0,
        most_instances,
        " (what today's run rate pays for)",
    )
    instances = s2.number_input(
        "Average instances",
        min_value=0.0,
        max_value=most_instances,
        value=paid_for,
        step=1.0,
        key=f"costs_instances_{fleet.name}",
        help="Around the clock. Starts at what today's run rate pays for.",
    )
    scenario = costs.scenario_cost(instances * 24, fleet.price_per_hour, 24.0, current)
    r1, r2, r3 = st.columns(3)
    r1.metric(
        f"{fleet.name} at {instances:g} instances",
        f"{usd(scenario.usd_per_day, 2)}/day",
        help=f"{fleet.instance_type or 'instance'} at ${fleet.price_per_hour}/hour",
    )
    r2.metric(
        f"Run rate in {fleet.region}",
        f"{usd(current, 2)}/day",
        help=f"{compared}, mean of the last 7 closed days",
    )
    r3.metric(
        "Difference",
        f"{usd(scenario.delta_usd_per_day, 2, sign=True)}/day",
        delta=f"{usd(scenario.delta_usd_per_month, sign=True)} per month (730 h)",
        delta_color="inverse",
    )
    download(scenario.as_frame(), "This comparison", "scenario")

saved = costs.saved_scenarios_vs_run_rate(list_scenarios(ui.shared_store()), billing, today, compared)
st.markdown("**Saved scenarios (Capacity page)**, their last run's instance cost per day over its window")
if saved.empty:
    st.caption("No saved scenario with a run yet: save one on the Capacity page.")
else:
    ui.data_table(
        saved,
        columns={
            "window_start": ui.utc_time_column("window from (UTC)"),
            "window_end": ui.utc_time_column("to (UTC)"),
            "cost_usd": ui.usd_column("cost over the window (USD)"),
            "usd_per_day": ui.usd_column("per day (USD)"),
            "run_rate_usd_per_day": ui.usd_column("run rate (USD/day)"),
            "delta_usd_per_day": ui.change_column("difference (USD/day)", 2),
            "delta_pct": ui.change_column("difference", 1, percent=True),
            "delta_usd_per_month": ui.change_column("per month, 730 h (USD)", 0),
        },
        key="costs_saved_scenarios",
    )
    download(saved, "Saved scenarios against the run rate", "saved-scenarios")
