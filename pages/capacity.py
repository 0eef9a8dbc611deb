"""Capacity page: what-if plans for one fleet (growth, spikes, a failed region, scaling policies side by
side), saved scenarios, the region-loss (N+1) check, and "propose this change" to the Actions page."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import timedelta

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from connectors import store_scenarios as store
from core import capacity as cap
from core.timeseries import pivot_metric
from pages import _actions_view as actions_view
from pages import _ui as ui

MIN_WINDOW = timedelta(days=7)  # predictive scaling needs a day of history; a week shows the weekly cycle
FORECAST_HORIZON = timedelta(days=7)
POLICY_KEYS = list(cap.POLICY_LABELS)  # TargetTracking, StepScaling, KubernetesHPA, Scheduled, Predictive
CONFIG_POLICY = {
    "target_tracking": "TargetTracking",
    "step_scaling": "StepScaling",
    "kubernetes_hpa": "KubernetesHPA",
    "scheduled": "Scheduled",
    "predictive": "Predictive",
}
FORECASTERS = {"Seasonal naive (fast)": "naive", "Statistical model (core.forecast; slower)": "model"}
CPU_POLICIES = {"TargetTracking", "KubernetesHPA", "Scheduled", "Predictive"}  # scale on CPU utilisation
STATE_ICON = {"green": "🟢 green", "amber": "🟡 amber", "red": "🔴 red", "unknown": "⚪ unknown"}
SCENARIO_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf"]

# Every control of the plan: kept across visits to other pages (ui.keep_widget_values).
CONTROL_KEYS = [
    "cap_fleet", "cap_source", "cap_demand_model", "cap_failed", "cap_growth", "cap_spike",
    "cap_spike_minutes", "cap_target", "cap_capacity", "cap_minmax", "cap_warmup", "cap_price",
    "cap_policies", "cap_tt_out", "cap_tt_in", "cap_tt_noscalein", "cap_step_cooldown", "cap_hpa_tol",
    "cap_hpa_down", "cap_sched_text", "cap_pred_buffer", "cap_pred_lead", "cap_pred_model",
    "cap_compare_saved", "_cap_fleet_seen",
]  # fmt: skip

# The bounds of the number inputs and sliders (those of the fleet's instance counts depend on the fleet).
CONTROL_RANGES: dict[str, tuple[float | None, float | None, str]] = {
    "cap_growth": (-50, 200, "Traffic growth (%)"),
    "cap_spike": (1.0, 5.0, "Spike (× demand)"),
    "cap_spike_minutes": (5, 240, "Spike length (minutes)"),
    "cap_target": (20, 95, "Target utilisation (%)"),
    "cap_capacity": (0.01, None, "Instance capacity"),
    "cap_warmup": (0, 3600, "Warm-up (s)"),
    "cap_price": (0.0, None, "Price (USD per instance-hour)"),
    "cap_tt_out": (0, 3600, "Scale-out cooldown (s)"),
    "cap_tt_in": (0, 3600, "Scale-in cooldown (s)"),
    "cap_step_cooldown": (0, 3600, "Step scaling cooldown (s)"),
    "cap_hpa_tol": (0, 50, "HPA tolerance (%)"),
    "cap_hpa_down": (0, 3600, "Scale-down stabilisation (s)"),
    "cap_pred_buffer": (0, 200, "Buffer over the forecast (%)"),
    "cap_pred_lead": (0, 3600, "Lead time (s)"),
}


def url_controls() -> list[ui.UrlControl]:
    """The plan's inputs kept in the URL (?fleet=...&growth=30&failed=eu-west-1...), the fleet first."""
    Url = ui.UrlControl
    return [
        Url("cap_fleet", "fleet", "Fleet", options=[f.name for f in ui.config().fleet]),
        Url("cap_source", "demand", "Demand", options=["history", "forecast"]),
        Url("cap_demand_model", "demand_model", "Forecast model", options=list(FORECASTERS)),
        Url("cap_failed", "failed", "Failed region", options=["none", *ui.config().region_codes]),
        Url("cap_growth", "growth", "Traffic growth (%)", int),
        Url("cap_spike", "spike", "Spike (× demand)", float),
        Url("cap_spike_minutes", "spike_minutes", "Spike length (minutes)", int),
        Url("cap_target", "target", "Target utilisation (%)", int),
        Url("cap_capacity", "capacity", "Instance capacity", float),
        Url("cap_minmax", "instances", "Min / max instances", pair=True),
        Url("cap_warmup", "warmup", "Warm-up (s)", int),
        Url("cap_price", "price", "Price (USD per instance-hour)", float),
        Url("cap_policies", "policies", "Scaling policies", options=POLICY_KEYS, many=True),
        Url("cap_tt_out", "tt_out", "Scale-out cooldown (s)", int),
        Url("cap_tt_in", "tt_in", "Scale-in cooldown (s)", int),
        Url("cap_tt_noscalein", "tt_no_scale_in", "Disable scale-in", bool),
        Url("cap_step_cooldown", "step_cooldown", "Step scaling cooldown (s)", int),
        Url("cap_hpa_tol", "hpa_tolerance", "HPA tolerance (%)", int),
        Url("cap_hpa_down", "hpa_down", "Scale-down stabilisation (s)", int),
        Url("cap_sched_text", "schedule", "Scheduled actions"),
        Url("cap_pred_buffer", "pred_buffer", "Buffer over the forecast (%)", int),
        Url("cap_pred_lead", "pred_lead", "Lead time (s)", int),
        Url("cap_pred_model", "pred_model", "Forecaster", options=list(FORECASTERS)),
    ]


ss = st.session_state
ui.keep_widget_values(CONTROL_KEYS, "_cap_kept")
start, end = ui.page_header(
    "Capacity",
    "What if traffic grows, spikes or a region fails? Scaling policies simulated side by side on real or "
    "forecast demand, and whether each region survives losing another.",
)
cfg = ui.config()
db = ui.db()
actions_view.in_force_banner()  # an executed failover or scaling is part of the plan's starting point
fleets = {f.name: f for f in cfg.fleet}
if not fleets:
    st.info("No fleets are configured: add [[fleet]] entries to the config file to plan capacity.")
    st.stop()


# ---- loading a saved scenario into the widgets (before they are drawn) ------------------------------
def _load_into_widgets(name: str) -> None:
    sc = store.load_scenario(ui.shared_store(), name)
    fleet_name = next((f.name for f in cfg.fleet if f.region == sc.region), None)
    if fleet_name is None:
        ss["cap_notice"] = f"Scenario {name!r} is for {sc.region}, which has no configured fleet."
        return
    clamped: list[str] = []

    def put(key: str, value, lo, hi) -> None:  # the controls' ranges bound what can be shown
        if value < lo or value > hi:
            clamped.append(key.removeprefix("cap_"))
        ss[key] = type(value)(min(max(value, lo), hi))

    policy = sc.policy
    top = max(fleets[fleet_name].max_instances * 3, 10)
    ss["cap_fleet"] = fleet_name
    ss["_cap_fleet_seen"] = fleet_name  # keep the loaded values (no reset to the config's)
    ss["cap_source"] = "forecast" if sc.source == "forecast" else "history"
    ss["cap_failed"] = sc.failed_region if sc.failed_region in cfg.region_codes else "none"
    put("cap_growth", int(round(sc.growth_pct)), -50, 200)
    put("cap_spike", float(sc.spikes[0].multiplier) if sc.spikes else 1.0, 1.0, 5.0)
    put("cap_spike_minutes", int(sc.spikes[0].duration_s // 60) if sc.spikes else 30, 5, 240)
    put("cap_capacity", float(sc.fleet.capacity_per_instance), 0.01, 1e9)
    put("cap_warmup", int(sc.fleet.warmup_s), 0, 3600)
    put("cap_price", float(sc.fleet.price_per_hour), 0.0, 1e6)
    put("cap_target", int(round(cap.reference_target(policy) * 100)), 20, 95)
    ss["cap_minmax"] = (min(sc.fleet.min_instances, top), min(sc.fleet.max_instances, top))
    if sc.fleet.max_instances > top:
        clamped.append("max instances")
    ss["cap_policies"] = [type(policy).__name__]
    if isinstance(policy, cap.TargetTracking):
        put("cap_tt_out", int(policy.scale_out_cooldown_s), 0, 3600)
        put("cap_tt_in", int(policy.scale_in_cooldown_s), 0, 3600)
        ss["cap_tt_noscalein"] = policy.disable_scale_in
    elif isinstance(policy, cap.StepScaling):
        put("cap_step_cooldown", int(policy.cooldown_s), 0, 3600)
    elif isinstance(policy, cap.KubernetesHPA):
        put("cap_hpa_tol", int(round(policy.tolerance * 100)), 0, 50)
        put("cap_hpa_down", int(policy.scale_down_stabilization_s), 0, 3600)
    elif isinstance(policy, cap.Scheduled):
        ss["cap_sched_text"] = "\n".join(
            f"{a.cron}, {'' if a.min_instances is None else a.min_instances}, "
            f"{'' if a.max_instances is None else a.max_instances}"
            for a in policy.actions
        )
    elif isinstance(policy, cap.Predictive):
        put("cap_pred_buffer", int(round(policy.buffer * 100)), 0, 200)
        put("cap_pred_lead", int(policy.lead_time_s), 0, 3600)
    ss["cap_notice"] = (
        f"Loaded scenario {name!r} into the controls. They show its main parameters; to run it exactly as "
        "saved (e.g. a custom step table), pick it under 'Also compare saved scenarios'."
        + (f" Outside the controls' ranges, so clamped: {', '.join(clamped)}." if clamped else "")
    )


if pending := ss.pop("cap_pending_load", None):
    try:
        _load_into_widgets(pending)
    except (KeyError, ValueError) as exc:
        ss["cap_notice"] = f"Could not load {pending!r}: {exc}"
if notice := ss.pop("cap_notice", None):
    st.info(notice)


# ---- the plan's controls ---------------------------------------------------------------------------
def _defaults_for(fleet_name: str) -> None:
    """Reset the fleet controls to the configured fleet when another fleet is picked."""
    f = fleets[fleet_name]
    ss["cap_capacity"] = float(f.capacity_per_instance)
    ss["cap_minmax"] = (int(f.min_instances), int(f.max_instances))
    ss["cap_warmup"] = int(f.warmup_s)
    ss["cap_price"] = float(f.price_per_hour)
    ss["cap_target"] = int(round(f.target_utilization * 100))
    ss["cap_sched_text"] = (
        f"# CRON (in {cfg.region_by_code(f.region).timezone}), MIN, MAX\n"
        f"0 8 * * MON-FRI, {max(f.min_instances * 3, 1)}, {f.max_instances}\n"
        f"0 20 * * *, {f.min_instances}, {f.max_instances}"
    )


fleet_names = list(fleets)
ui.controls_from_url(url_controls()[:1], once="_cap_url_fleet")  # the fleet first: it sets the defaults
ss.setdefault("cap_fleet", fleet_names[0])
if ss["cap_fleet"] not in fleets:
    ss["cap_fleet"] = fleet_names[0]
if ss.get("_cap_fleet_seen") != ss["cap_fleet"]:  # first run, or another fleet was picked
    _defaults_for(ss["cap_fleet"])
    ss["_cap_fleet_seen"] = ss["cap_fleet"]
for key, value in {
    "cap_source": "history",
    "cap_failed": "none",
    "cap_growth": 0,
    "cap_spike": 1.0,
    "cap_spike_minutes": 30,
    "cap_tt_out": 300,
    "cap_tt_in": 300,
    "cap_tt_noscalein": False,
    "cap_step_cooldown": 300,
    "cap_hpa_tol": 10,
    "cap_hpa_down": 300,
    "cap_pred_buffer": 10,
    "cap_pred_lead": 300,
    "cap_pred_model": next(iter(FORECASTERS)),
    "cap_demand_model": list(FORECASTERS)[1],
}.items():
    ss.setdefault(key, value)
ui.controls_from_url(url_controls()[1:], once="_cap_url_read")  # a copied link's values over the defaults
top_instances = max(fleets[ss["cap_fleet"]].max_instances * 3, 10)
for key, (lo, hi, label) in {
    **CONTROL_RANGES,
    "cap_minmax": (0, top_instances, "Min / max instances"),
}.items():
    ui.keep_in_range(key, lo, hi, label)

c1, c2, c3 = st.columns([2, 2, 2])
fleet_name = c1.selectbox(
    "Fleet to plan",
    fleet_names,
    key="cap_fleet",
    format_func=lambda n: f"{n} · {fleets[n].region} · {fleets[n].instance_type or fleets[n].service}",
)
config_fleet = fleets[fleet_name]
region = config_fleet.region
source = c2.radio(
    "Demand",
    ["history", "forecast"],
    key="cap_source",
    horizontal=True,
    format_func=lambda s: "History (the sidebar's range)" if s == "history" else "Forecast (next 7 days)",
)
if source == "forecast":
    demand_model = c2.radio(
        "Forecast model", list(FORECASTERS), key="cap_demand_model", help="Hourly forecast, interpolated"
    )
others = [r for r in cfg.region_codes if r != region]
if ss.get("cap_failed") not in (
    "none",
    *others,
):  # the fleet's own region (a link's failed=) cannot fail here
    ui.bad_url_value(
        "failed", str(ss.get("cap_failed")), "none", f"{region} is the planned fleet's own region"
    )
    ss["cap_failed"] = "none"
failed = c3.selectbox(
    "Failed region (its traffic moves here by routing weight)",
    ["none", *others],
    key="cap_failed",
    format_func=lambda r: "none" if r == "none" else f"{r} · {cfg.region_by_code(r).name}",
)

with st.container(border=True):
    s1, s2, s3, s4 = st.columns(4)
    growth = s1.slider("Traffic growth (%)", -50, 200, step=5, key="cap_growth")
    spike = s2.slider(
        "Spike (× demand)",
        1.0,
        5.0,
        step=0.1,
        key="cap_spike",
        help="Applied from the busiest minute of the demand",
    )
    spike_minutes = s3.slider("Spike length (minutes)", 5, 240, step=5, key="cap_spike_minutes")
    target_pct = s4.slider("Target utilisation (%)", 20, 95, key="cap_target")
    f1, f2, f3, f4 = st.columns(4)
    capacity = f1.number_input(
        "Instance capacity (req/s at 100% CPU)", min_value=0.01, step=5.0, key="cap_capacity"
    )
    lo, hi = f2.slider("Min / max instances", 0, top_instances, key="cap_minmax")
    warmup = f3.number_input("Warm-up (s)", min_value=0, max_value=3600, step=30, key="cap_warmup")
    price = f4.number_input(
        "Price (USD per instance-hour)", min_value=0.0, step=0.01, format="%.4f", key="cap_price"
    )

ss.setdefault("cap_policies", [CONFIG_POLICY[config_fleet.policy], "KubernetesHPA", "Predictive"])
chosen = st.multiselect(
    "Scaling policies to compare",
    POLICY_KEYS,
    key="cap_policies",
    format_func=lambda k: cap.POLICY_LABELS[k],
)
with st.expander("Policy parameters"):
    p1, p2, p3 = st.columns(3)
    p1.markdown("**Target tracking (AWS)**")
    tt_out = p1.number_input("Scale-out cooldown (s)", min_value=0, max_value=3600, step=30, key="cap_tt_out")
    tt_in = p1.number_input("Scale-in cooldown (s)", min_value=0, max_value=3600, step=30, key="cap_tt_in")
    tt_noscalein = p1.checkbox("Disable scale-in", key="cap_tt_noscalein")
    p2.markdown("**Step scaling (AWS)** on CPU around the target: +1 / +2 / +4 above, −1 30 points below")
    step_cooldown = p2.number_input(
        "Cooldown (s)", min_value=0, max_value=3600, step=30, key="cap_step_cooldown"
    )
    p2.markdown("**Kubernetes HPA**")
    hpa_tol = p2.number_input("Tolerance (%)", min_value=0, max_value=50, step=1, key="cap_hpa_tol")
    hpa_down = p2.number_input(
        "Scale-down stabilisation (s)", min_value=0, max_value=3600, step=30, key="cap_hpa_down"
    )
    p3.markdown("**Scheduled** (+ target tracking within the bounds)")
    sched_text = p3.text_area("Actions: CRON, MIN, MAX per line", key="cap_sched_text", height=110)
    p3.markdown("**Predictive** (+ target tracking)")
    pred_buffer = p3.number_input(
        "Buffer over the forecast (%)", min_value=0, max_value=200, step=5, key="cap_pred_buffer"
    )
    pred_lead = p3.number_input("Lead time (s)", min_value=0, max_value=3600, step=60, key="cap_pred_lead")
    pred_model = p3.radio("Forecaster", list(FORECASTERS), key="cap_pred_model")
ui.keep_widget_values(CONTROL_KEYS, "_cap_kept")  # what this run drew, in case the next run is elsewhere
ui.controls_to_url(url_controls())  # a copied link reproduces this plan

# ---- demand ----------------------------------------------------------------------------------------
window_start = min(start, end - MIN_WINDOW)
if window_start < start:
    st.caption(
        f"Planning window {window_start:%Y-%m-%d %H:%M} → {end:%Y-%m-%d %H:%M} UTC: the sidebar's range "
        "is shorter than the 7 days predictive scaling and the weekly cycle need."
    )
step = timedelta(minutes=1) if end - window_start <= timedelta(days=35) else None
frame = ui.load_metrics(
    ["requests_per_second"], window_start, end, list(cfg.region_codes), max_points=60_000, step=step
)
history = pivot_metric(frame, "requests_per_second")
if history.empty or region not in history.columns:
    st.info(f"No request-rate data for {region} in this range: pick another range in the sidebar.")
    st.stop()


@st.cache_data(show_spinner="Forecasting demand...", max_entries=32)
def _forecast(series: pd.Series, model: str) -> pd.Series:
    forecaster = cap.default_forecaster if model == "model" else cap.seasonal_naive_forecast
    return cap.forecast_demand(series.dropna(), FORECAST_HORIZON, timedelta(minutes=5), forecaster=forecaster)


demand_frames: dict[str, pd.DataFrame] = {"history": history}
if source == "forecast":
    needed = {region} | ({failed} if failed != "none" else set())
    try:
        demand_frames["forecast"] = pd.DataFrame(
            {r: _forecast(history[r], FORECASTERS[demand_model]) for r in sorted(needed) if r in history}
        )
    except ValueError as exc:
        st.error(f"Could not forecast demand: {exc}")
        st.stop()
    used = cap.default_forecaster_name() if FORECASTERS[demand_model] == "model" else "seasonal naive"
    fc_index = demand_frames["forecast"].index
    st.caption(
        f"Forecast demand {fc_index[0]:%Y-%m-%d %H:%M} → {fc_index[-1]:%Y-%m-%d %H:%M} UTC from the history "
        f"above, by {used}."
    )
base = demand_frames[source]

# ---- scenarios -------------------------------------------------------------------------------------
target = target_pct / 100
try:
    fleet = cap.Fleet(float(capacity), int(lo), int(max(hi, 1)), float(warmup), float(price))
except ValueError as exc:
    st.error(f"Fleet settings: {exc}")
    st.stop()
policy_errors: list[str] = []


def _policy(key: str) -> cap.Policy | None:
    tracking = cap.TargetTracking(target, float(tt_out), float(tt_in), bool(tt_noscalein))
    if key == "TargetTracking":
        return tracking
    if key == "StepScaling":
        return cap.StepScaling(threshold=target, cooldown_s=float(step_cooldown))
    if key == "KubernetesHPA":
        return cap.KubernetesHPA(
            target_utilization=target, tolerance=hpa_tol / 100, scale_down_stabilization_s=float(hpa_down)
        )
    if key == "Scheduled":
        try:
            actions = cap.scheduled_actions_from_text(sched_text or "")
        except ValueError as exc:
            policy_errors.append(f"Scheduled actions, {exc}")
            return None
        return cap.Scheduled(actions, cfg.region_by_code(region).timezone, tracking)
    forecaster = None if FORECASTERS[pred_model] == "model" else cap.seasonal_naive_forecast
    return cap.Predictive(
        target_utilization=target,
        buffer=pred_buffer / 100,
        lead_time_s=float(pred_lead),
        scale_out_cooldown_s=float(tt_out),
        scale_in_cooldown_s=float(tt_in),
        forecaster=forecaster,
    )


peak_at = base[region].idxmax()
spikes = (cap.Spike(peak_at, spike_minutes * 60, spike),) if spike > 1.0 else ()
scenarios: list[cap.Scenario] = []
for key in chosen:
    policy = _policy(key)
    if policy is not None:
        scenarios.append(
            cap.Scenario(
                cap.POLICY_LABELS[key],
                region,
                fleet,
                policy,
                source=source,
                growth_pct=float(growth),
                spikes=spikes,
                failed_region=None if failed == "none" else failed,
            )
        )
for message in policy_errors:
    st.error(message)
if lo == 0 and CPU_POLICIES & set(chosen):
    st.warning(
        "Min 0: policies that scale on CPU utilisation (target tracking, HPA) cannot scale out from zero "
        "instances, because no instance reports CPU. Keep at least 1, or use step scaling on queue depth."
    )

saved = store.list_scenarios(ui.shared_store())
compare_saved = st.multiselect(
    "Also compare saved scenarios (each with its own fleet, policy and adjustments, on this demand)",
    saved["name"].tolist(),
    key="cap_compare_saved",
)
for name in compare_saved:
    try:
        sc = store.load_scenario(ui.shared_store(), name)
    except (KeyError, ValueError) as exc:
        st.warning(f"Saved scenario {ui.md_text(repr(name))} cannot be used: {ui.md_text(exc)}")
        continue
    if sc.source == "forecast" and "forecast" not in demand_frames:
        st.warning(f"Saved scenario {name!r} plans on a forecast: switch Demand to Forecast to compare it.")
        continue
    if sc.region not in demand_frames[sc.source].columns or (
        sc.failed_region and sc.failed_region not in demand_frames[sc.source].columns
    ):
        st.warning(f"Saved scenario {name!r}: no demand for its region(s) in this range.")
        continue
    scenarios.append(replace(sc, name=f"saved: {name}"))

if not scenarios:
    st.info("Pick at least one scaling policy to compare.")
    st.stop()


def _scenario_key(scenario: cap.Scenario) -> str:
    """Everything a scenario's result depends on: its repr, and the predictive policy's forecaster (kept
    out of the policy's repr)."""
    forecaster = getattr(scenario.policy, "forecaster", None)
    named = f" forecaster={forecaster.__module__}.{forecaster.__qualname__}" if forecaster else ""
    return repr(scenario) + named


def _frames_key(frames: dict[str, pd.DataFrame]) -> tuple:
    return tuple(
        (name, tuple(frame.columns), int(pd.util.hash_pandas_object(frame, index=True).sum()))
        for name, frame in frames.items()
    )


@st.cache_data(ttl=ui.CACHE_TTL_S, max_entries=32, show_spinner=False)
def _simulated(
    config_key: tuple[str, float],
    scenarios_key: tuple[str, ...],
    demand_key: tuple,
    _scenarios: list[cap.Scenario],
    _demand: dict[str, pd.DataFrame],
) -> dict[str, cap.SimulationResult]:
    """The scenarios' simulations, cached across reruns and sessions by their inputs: a click that
    changes no plan input (a table, the propose form) re-ran every policy's minute-by-minute simulation
    (issue 17: ~0.1 s of a 0.3 s rerun, seconds with the statistical forecaster)."""
    config = ui.config()
    weights = {r.code: r.routing_weight for r in config.region}
    return cap.run_scenarios(_scenarios, _demand, weights, config=config)


try:
    with ui.loading(f"{len(scenarios)} simulated scenario(s)"):
        results = _simulated(
            ui.config_key(),
            tuple(_scenario_key(sc) for sc in scenarios),
            _frames_key(demand_frames),
            scenarios,
            demand_frames,
        )
except ValueError as exc:
    st.error(f"Could not run the scenarios: {exc}")
    st.stop()
by_name = {sc.name: sc for sc in scenarios}

# ---- charts ----------------------------------------------------------------------------------------
first = next(iter(results.values())).frame
span = f"{first['ts'].iloc[0]:%Y-%m-%d %H:%M} → {first['ts'].iloc[-1]:%Y-%m-%d %H:%M} UTC"
st.subheader(f"{fleet_name}: {len(results)} scenario(s), {span}")


def _line(fig: go.Figure, frame: pd.DataFrame, column: str, name: str, colour: str, **kw) -> None:
    # compact trace data at the chart's width (peaks kept); a few traces draw sooner in SVG than WebGL
    data = ui.trace_data(frame.set_index("ts")[column].astype("float64"))
    fig.add_trace(go.Scatter(**data, name=name, mode="lines", line={"color": colour, **kw}))


def _layout(fig: go.Figure, title: str, unit: str) -> go.Figure:
    fig.update_layout(
        title={"text": title, "y": 0.98, "yanchor": "top"},
        height=360,
        margin={"l": 10, "r": 10, "t": 90, "b": 10},
        xaxis_title="time (UTC)",
        xaxis_type="date",
        yaxis_title=unit,
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0},
        hovermode="x unified",
    )
    return fig


demand_fig, util_fig, unserved_fig, count_fig = go.Figure(), go.Figure(), go.Figure(), go.Figure()
shown_demand: set[str] = set()
for i, (name, res) in enumerate(results.items()):
    colour = SCENARIO_COLOURS[i % len(SCENARIO_COLOURS)]
    f = res.frame
    sc = by_name[name]
    demand_key = f"{sc.source}|{sc.region}|{sc.growth_pct}|{sc.failed_region}|{sc.spikes}"
    if demand_key not in shown_demand:
        label = "demand" if not shown_demand else f"demand ({name})"
        _line(demand_fig, f, "demand", label, "#37474f", width=1.2)
        shown_demand.add(demand_key)
    _line(demand_fig, f, "capacity", f"capacity: {name}", colour, width=1.6, shape="hv")
    _line(util_fig, f.assign(utilization=f["utilization"] * 100), "utilization", name, colour, width=1.3)
    _line(unserved_fig, f, "unserved", name, colour, width=1.3)
    _line(count_fig, f, "desired", name, colour, width=1.4, shape="hv")
util_fig.add_hline(
    y=target_pct, line_dash="dash", line_color="#d32f2f", annotation_text=f"target {target_pct}%"
)
g1, g2 = st.columns(2)
g1.plotly_chart(
    _layout(demand_fig, "Demand vs in-service capacity", "req/s"), width="stretch", key="cap_chart_demand"
)
g2.plotly_chart(
    _layout(util_fig, "Utilisation of in-service instances", "% CPU"), width="stretch", key="cap_chart_util"
)
g3, g4 = st.columns(2)
g3.plotly_chart(
    _layout(unserved_fig, "Unserved demand (dropped, or queued for queue policies)", "req/s"),
    width="stretch",
    key="cap_chart_unserved",
)
g4.plotly_chart(
    _layout(count_fig, "Desired instances (billed, warming ones included)", "instances"),
    width="stretch",
    key="cap_chart_instances",
)

# ---- summary ---------------------------------------------------------------------------------------
st.markdown("**Scenario summary** (cost = instance-hours × price)")
table = cap.compare_scenarios(results)
ui.data_table(
    table,
    key="cap_summary",
    columns={
        "scenario": "Scenario",
        "policy": "Policy",
        "cost_usd": ui.usd_column("Cost (USD)", 2),
        "instance_hours": ui.number_column("Instance-hours", 0),
        "peak_instances": ui.count_column("Peak instances"),
        "mean_utilization_pct": ui.number_column("Mean util. %"),
        "p95_utilization_pct": ui.number_column("p95 util. %"),
        "minutes_over_target": ui.number_column("Min over target", 0),
        "minutes_unserved": ui.number_column(
            "Min with unserved demand", 0, help="SLO risk: minutes where demand exceeded capacity"
        ),
        "unserved_requests": ui.number_column("Unserved requests", 0),
        "scale_events": ui.count_column("Scale events"),
        "overprovisioned_instance_hours": ui.number_column(
            "Over-provisioned inst.-h", 0, help="Instance-hours above what demand needed at target"
        ),
    },
)

# ---- propose / save --------------------------------------------------------------------------------
a1, a2 = st.columns(2)
with a1.container(border=True):
    st.markdown(
        "**Propose this change** (opens the Actions page, pre-filled; nothing changes until approved)"
    )
    pick = st.selectbox("Scenario", list(results), key="cap_propose_pick")
    res = results[pick]
    sc = by_name[pick]
    desired = cap.recommended_desired(res, sc.source)
    target_name = cap.action_target_for(cfg, fleet_name)
    st.caption(
        f"{target_name}: desired {desired} (the scenario's count "
        f"{'at the end of the window' if sc.source == 'history' else 'at the start of the forecast'}), "
        f"min {sc.fleet.min_instances}, max {sc.fleet.max_instances}; peak {res.summary.peak_instances}."
    )
    if st.button("Propose this change", key="cap_propose", type="primary"):
        adjustments = ", ".join(
            part
            for part in (
                f"growth {sc.growth_pct:+.0f}%" if sc.growth_pct else "",
                f"spike ×{sc.spikes[0].multiplier:.1f}" if sc.spikes else "",
                f"{sc.failed_region} failed" if sc.failed_region else "",
            )
            if part
        )
        ss["actions_prefill"] = {
            "target": target_name,
            "region": sc.region,
            "desired": desired,
            "min_instances": sc.fleet.min_instances,
            "max_instances": sc.fleet.max_instances,
            "reason": (
                f"Capacity plan '{pick}' on {sc.source} demand {span}"
                f"{' (' + adjustments + ')' if adjustments else ''}: peak {res.summary.peak_instances} "
                f"instances, {res.summary.minutes_unserved:.0f} min with unserved demand, "
                f"${res.summary.cost_usd:,.2f} for the window."
            ),
        }
        st.switch_page("pages/actions.py")

with a2.container(border=True):
    st.markdown("**Save a scenario**")
    save_pick = st.selectbox("Scenario to save", list(results), key="cap_save_pick")
    save_name = st.text_input("Name", key="cap_save_name", placeholder=f"{region} {save_pick}")
    review = st.checkbox("Mark for the weekly review", key="cap_save_review")
    if st.button("Save", key="cap_save"):
        name = (save_name or f"{region} {save_pick}").strip()
        try:
            store.save_scenario(
                ui.shared_store(),
                replace(by_name[save_pick], name=name),
                summary=results[save_pick].summary,
                window=(first["ts"].iloc[0], first["ts"].iloc[-1]),
                marked_for_review=review,
            )
            st.success(f"Saved {name!r}.")
            saved = store.list_scenarios(ui.shared_store())
        except ValueError as exc:
            st.error(f"Could not save: {exc}")

with st.expander(f"Saved scenarios ({len(saved)})", expanded=False):
    if saved.empty:
        st.caption("None yet: save one above.")
    else:
        ui.show_table(saved, key="cap_saved_table", decimals=2)
        chosen_saved = st.selectbox("Scenario", saved["name"].tolist(), key="cap_saved_pick")
        b1, b2, b3, b4 = st.columns(4)
        if b1.button("Load into the controls", key="cap_saved_load"):
            ss["cap_pending_load"] = chosen_saved
            st.rerun()
        marked = bool(saved.set_index("name").loc[chosen_saved, "marked_for_review"])
        if b2.button("Unmark for review" if marked else "Mark for review", key="cap_saved_mark"):
            store.set_marked_for_review(ui.shared_store(), chosen_saved, not marked)
            st.rerun()
        new_name = b3.text_input(
            "New name", key="cap_saved_new_name", label_visibility="collapsed", placeholder="new name"
        )
        if b3.button("Rename", key="cap_saved_rename"):
            try:
                store.rename_scenario(ui.shared_store(), chosen_saved, new_name)
                ss["cap_notice"] = f"Renamed {chosen_saved!r} to {new_name.strip()!r}."
                st.rerun()
            except (KeyError, ValueError) as exc:
                st.error(f"Could not rename: {exc}")
        confirm = b4.checkbox("Really delete", key="cap_saved_confirm")
        if b4.button("Delete", key="cap_saved_delete", disabled=not confirm):
            store.delete_scenario(ui.shared_store(), chosen_saved)
            ss["cap_notice"] = f"Deleted {chosen_saved!r}."
            st.rerun()

# ---- region loss (N+1) -----------------------------------------------------------------------------
st.subheader("Region loss (N+1)")
st.caption(
    f"Each region failing in turn, its traffic moved where routing sends it (a failover pair's standby, else "
    f"the others by routing weight), at each survivor's busiest "
    f"moment in {window_start:%Y-%m-%d %H:%M} → {end:%Y-%m-%d %H:%M} UTC"
    + (f", with traffic {growth:+d}%" if growth else "")
    + ", each fleet with its configured policy. 🔴 lost even at max instances · 🟡 fits only above target, "
    "or demand unserved while scaling · 🟢 absorbed within target."
)
check = actions_view.region_loss_now(history, growth_pct=float(growth))  # the routing in force
summary = cap.region_loss_summary(check)
ui.data_table(
    summary.assign(status=summary["status"].map(STATE_ICON)),
    key="cap_loss_summary",
    columns={
        "failed_region": "If this region fails",
        "status": "Worst survivor",
        "taken_by": st.column_config.TextColumn(
            "Taken by", help="Who takes the failed region's traffic; (standby) = routing weight 0 normally"
        ),
        "breaks": "Regions in trouble",
        "unserved_requests": ui.number_column(
            "Unserved requests (1 h)", 0, help="Summed over the survivors, in the hour after the failure"
        ),
        "worst_case": "Worst case",
    },
)
with st.expander("Per surviving region"):
    detail = check.assign(
        status=check["status"].map(STATE_ICON),
        time_to_scale_min=check["time_to_scale_s"] / 60 if "time_to_scale_s" in check else math.nan,
    ).drop(columns=["time_to_scale_s"], errors="ignore")
    ui.data_table(
        detail,
        key="cap_loss_detail",
        columns={
            "failed_region": "Failed",
            "region": "Survivor",
            "share_pct": ui.number_column("Share of failed traffic %"),
            "route": "Sent by",
            "standby": st.column_config.CheckboxColumn("Standby"),
            "status": "Status",
            "extra_rps": ui.number_column("Extra at peak (req/s)", 0),
            "peak_rps_after": ui.number_column("Peak after (req/s)", 0),
            "peak_at": ui.utc_time_column("Peak at (UTC)"),
            "capacity_at_max_rps": ui.number_column("At max (req/s)", 0),
            "usable_at_target_rps": ui.number_column("At max within target (req/s)", 0),
            "utilization_at_max_pct": ui.number_column("Util. at max %", 0),
            "instances_needed": ui.count_column("Instances needed"),
            "max_instances": ui.count_column("Max instances"),
            "time_to_scale_min": ui.number_column("Time to scale (min)", 0),
            "unserved_requests": ui.number_column("Unserved requests (1 h)", 0),
            "reason": "Why",
        },
    )


# ---- queue workers (issue 18): demand metric, step table, backlog tracking, fractional capacity --------
JOB_UNITS = {"jobs per second": 1.0, "jobs per minute": 60.0, "jobs per hour": 3600.0}
DEMAND_METRICS = {
    "queue arrivals (the region's request rate x jobs per request)": "arrivals",
    "requests (each request is a job)": "requests",
    "queue depth (replay the policy on the measured depth)": "queue_depth",
}
ADJUSTMENT_TYPES = ["ExactCapacity", "ChangeInCapacity", "PercentChangeInCapacity"]
MIYABI_STEPS = pd.DataFrame(
    {
        "lower": [0.0, 11.0, 51.0, 101.0, 501.0, 1001.0],
        "upper": [11.0, 51.0, 101.0, 501.0, 1001.0, None],
        "adjustment": [1.0, 5.0, 10.0, 20.0, 50.0, 100.0],
    }
)
LOOKUP_DEPTHS = [0, 10, 11, 50, 51, 100, 101, 500, 501, 1000, 1001, 5000]


def _lookup_table(policy: cap.StepScaling) -> pd.DataFrame:
    """Desired workers at sample queue depths (ExactCapacity), or the adjustment (other types)."""
    rows = []
    for depth in LOOKUP_DEPTHS:
        step_row = policy.step_for(depth)
        rows.append({"queue_depth": depth, "step": None if step_row is None else step_row.adjustment})
    return pd.DataFrame(rows)


def queue_worker_panel() -> None:
    """Plan a queue-worker fleet: the demand metric, an AWS step-adjustment table or backlog-per-instance
    target tracking, a worker's capacity in jobs per second / minute / hour (no floor), and the simulated
    backlog."""
    st.subheader("Queue workers")
    if not st.toggle("Plan queue workers for this fleet's region", key="cap_q_on"):
        st.caption("Step scaling on queue depth, backlog-per-instance tracking and the simulated backlog.")
        return
    q1, q2, q3 = st.columns(3)
    metric_label = q1.selectbox("Demand metric", list(DEMAND_METRICS), key="cap_q_metric")
    demand_kind = DEMAND_METRICS[metric_label]
    per_request = 1.0
    if demand_kind == "arrivals":
        per_request = q1.number_input(
            "Jobs per request", min_value=0.0, value=0.01, step=0.001, format="%.4f", key="cap_q_per_request"
        )
    rate = q2.number_input(
        "One worker processes", min_value=0.0, value=4.0, step=1.0, format="%.4f", key="cap_q_rate"
    )
    unit = q2.selectbox("per", list(JOB_UNITS), index=2, key="cap_q_unit")
    w_lo, w_hi = q3.slider("Min / max workers", 0, 500, (1, 100), key="cap_q_minmax")
    w_price = q3.number_input(
        "Price (USD per worker-hour)", min_value=0.0, value=0.04048, format="%.5f", key="cap_q_price"
    )
    per_second = rate / JOB_UNITS[unit]
    if per_second <= 0:
        st.error("Worker capacity: a worker must process more than 0 jobs.")
        return
    st.caption(f"= {per_second:.6g} jobs per second per worker ({per_second * 3600:.6g} per hour).")
    kind = st.radio(
        "Scaling",
        ["Step scaling on queue depth", "Backlog per instance (target tracking)"],
        horizontal=True,
        key="cap_q_policy",
    )
    try:
        if kind.startswith("Step"):
            s1, s2, s3 = st.columns(3)
            adjustment_type = s1.selectbox("Adjustment type", ADJUSTMENT_TYPES, key="cap_q_adjtype")
            threshold = s2.number_input(
                "Alarm threshold (messages)", min_value=0.0, value=0.0, key="cap_q_threshold"
            )
            cooldown = s3.number_input(
                "Cooldown (s)", min_value=0, max_value=3600, value=0, step=30, key="cap_q_cooldown"
            )
            st.caption(
                "Step adjustments (AWS): bounds relative to the alarm threshold, lower inclusive, upper "
                "exclusive above it; an empty upper bound means no limit. Preset: the Miyabi queue-depth table."
            )
            rows = st.data_editor(
                MIYABI_STEPS, num_rows="dynamic", key="cap_q_steps", hide_index=True, width="stretch"
            )
            policy: cap.Policy = cap.step_scaling_from_table(
                rows.to_dict("records"),
                threshold=float(threshold),
                metric="queue_depth",
                adjustment_type=adjustment_type,
                cooldown_s=float(cooldown),
            )
            st.markdown(
                "**Workers by queue depth**"
                if adjustment_type == "ExactCapacity"
                else "**Step by queue depth**"
            )
            st.dataframe(_lookup_table(policy), hide_index=True, key="cap_q_lookup")
        else:
            backlog = st.number_input(
                "Acceptable backlog per worker (jobs)",
                min_value=0.0,
                value=10.0,
                key="cap_q_backlog",
                help="Acceptable latency x jobs one worker processes per second",
            )
            policy = cap.BacklogTracking(float(backlog))
        workers = cap.Fleet(per_second, int(w_lo), int(max(w_hi, 1)), float(warmup), float(w_price))
    except ValueError as exc:
        st.error(f"Queue-worker plan: {exc}")
        return
    if demand_kind == "queue_depth":
        depth = pivot_metric(
            ui.load_metrics(["queue_depth"], window_start, end, [region], step=step), "queue_depth"
        )
        if region not in depth or depth[region].dropna().empty:
            st.info(f"No queue-depth data for {region} in this range.")
            return
        if isinstance(policy, cap.BacklogTracking):
            st.info("Replaying needs a step table: backlog tracking reacts to the simulated backlog.")
            return
        replayed = cap.replay(policy, depth[region].dropna(), workers, start_instances=max(int(w_lo), 1))
        backlog_series, desired = replayed.set_index("ts")["metric"], replayed.set_index("ts")["desired"]
        st.caption("Replayed on the measured queue depth: the policy's decisions do not change the depth.")
    else:
        jobs = base[region] * (per_request if demand_kind == "arrivals" else 1.0)
        result = cap.simulate(jobs, workers, policy)
        frame_q = result.frame.set_index("ts")
        backlog_series, desired = frame_q["queue_depth"], frame_q["desired"]
        s = result.summary
        st.caption(
            f"Simulated: cost ${s.cost_usd:,.2f}, peak {s.peak_instances} workers, largest backlog "
            f"{backlog_series.max():,.0f} jobs."
        )
    fig = go.Figure()
    # compact traces at the chart's width (peaks kept), as every other chart (ui.trace_data)
    fig.add_trace(go.Scatter(**ui.trace_data(backlog_series.astype("float64")), name="queue depth (jobs)"))
    fig.add_trace(go.Scatter(**ui.trace_data(desired.astype("float64")), name="workers", yaxis="y2"))
    fig.update_layout(
        title="Simulated backlog and workers",
        xaxis={"title": "time (UTC)"},
        yaxis={"title": "jobs in queue"},
        yaxis2={"title": "workers", "overlaying": "y", "side": "right"},
        height=340,
    )
    st.plotly_chart(fig, key="cap_q_chart")


queue_worker_panel()
