"""Forecast: demand forecasts with calibrated bands, the backtest behind the model choice, what-if
adjustments (growth, known events), capacity exhaustion against the fleet's ceiling, and snapshots."""

from datetime import timedelta

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from connectors.store_forecasts import list_snapshots, save_snapshot
from core.config import CANONICAL_METRICS, METRIC_UNITS
from core.forecast import (
    AUTO,
    AUTO_SHORTLIST,
    EVENT_SYNTAX,
    MODELS,
    ForecastResult,
    apply_events,
    apply_growth,
    forecast,
    forecast_many,
    max_capacity,
    parse_known_events,
    stored_forecast,
    summarize,
)
from core.timeseries import pivot_metric
from pages import _ui as ui

HISTORY_DAYS = {"7 days": 7, "14 days": 14, "28 days": 28, "8 weeks": 56, "13 weeks": 91}
MAX_HORIZON_DAYS = 91  # a quarter ahead (13 weeks), for quarter-ahead plans and exhaustion dates
FINE_HORIZON_DAYS = 28  # beyond this, 15-minute steps would be thousands of points per series: hourly
RESOLUTIONS = {"1 hour": timedelta(hours=1), "15 minutes": timedelta(minutes=15)}
FAILED_KEY = "fc_failed"  # fits that failed in this session, by their inputs (not retried on reruns)
FAILED_SIZE = 32

st.title("Forecast")
cfg = ui.config()
_, history_end = ui.time_range()

# ---- inputs (kept in the URL: a copied link reproduces the forecast) ---------------------------------
Url = ui.UrlControl
URL_CONTROLS = [
    Url("fc_metric", "metric", "Metric", options=list(CANONICAL_METRICS)),
    Url("fc_regions", "forecast_regions", "Regions", options=list(cfg.region_codes), many=True),
    Url("fc_model", "model", "Model", options=[AUTO, *MODELS]),
    Url("fc_history", "history", "History window", options=list(HISTORY_DAYS)),
    Url("fc_resolution", "resolution", "Resolution", options=list(RESOLUTIONS)),
    Url("fc_horizon", "horizon", "Horizon (days)", int),
    Url("fc_growth", "growth", "Growth override (% per month)", float),
    Url("fc_events", "events", "Known events"),
    Url("fc_outliers", "outliers", "Down-weight outliers", bool),
    Url("fc_shown", "shown", "Region shown", options=list(cfg.region_codes)),
    Url("fc_all", "all_regions", "Forecast all regions", bool),
]
ss = st.session_state
for key, value in {
    "fc_metric": "requests_per_second",
    "fc_regions": ui.selected_regions(),
    "fc_model": AUTO,
    "fc_history": "28 days",
    "fc_resolution": next(iter(RESOLUTIONS)),
    "fc_horizon": 7,
    "fc_growth": 0.0,
    "fc_events": "",
    "fc_outliers": False,
    "fc_all": False,
}.items():
    ss.setdefault(key, value)
ui.controls_from_url(URL_CONTROLS, once="_fc_url_read")
ui.keep_in_range("fc_horizon", 1, MAX_HORIZON_DAYS, "Horizon (days)")
ui.keep_in_range("fc_growth", -50.0, 200.0, "Growth override (% per month)")
c1, c2, c3 = st.columns([2, 3, 2])
metric = c1.selectbox(
    "Metric",
    CANONICAL_METRICS,
    format_func=lambda m: f"{m} ({METRIC_UNITS[m]})",
    key="fc_metric",
)
regions = c2.multiselect(
    "Regions",
    list(cfg.region_codes),
    key="fc_regions",
    help="The region shown is forecast first; the others when “Forecast all regions” is on (in "
    "parallel), or when already stored.",
)
model = c3.selectbox(
    "Model",
    [AUTO, *MODELS],
    format_func=lambda k: "auto (median of the best 3 by backtest)" if k == AUTO else MODELS[k][1],
    key="fc_model",
    help="auto backtests the shortlisted candidates (the M4 Hourly benchmark's best for their CPU) and "
    "forecasts with the median of the 3 with the lowest MASE, unless one candidate is far better on its "
    "own. A model picked here is compared with the same candidates.",
)
c4, c5, c6, c7 = st.columns(4)
history_label = c4.selectbox("History window", list(HISTORY_DAYS), key="fc_history")
resolution_label = c5.selectbox("Resolution", list(RESOLUTIONS), key="fc_resolution")
horizon_days = c6.slider("Horizon (days)", 1, MAX_HORIZON_DAYS, key="fc_horizon")
growth = c7.number_input(
    "Growth override (% per month)",
    min_value=-50.0,
    max_value=200.0,
    step=1.0,
    key="fc_growth",
    help="Extra compound growth on top of the model's own trend, from the first forecast step.",
)
with st.expander("Known events and options", expanded=False):
    events_text = st.text_area(
        "Known events (one per line, UTC)",
        key="fc_events",
        placeholder="2026-11-27 .. 2026-11-30 x1.8 Black Friday\n2026-12-24 18:00 .. 2026-12-25 06:00 x0.6 Holiday",
        help=f"{EVENT_SYNTAX}. A date-only end includes that whole day.",
    )
    downweight = st.toggle(
        "Down-weight outliers (incidents)",
        key="fc_outliers",
        help="Points far from the seasonal baseline (> 5 robust SDs) are replaced by it before fitting.",
    )
ui.controls_to_url(URL_CONTROLS)

step = RESOLUTIONS[resolution_label]
if horizon_days > FINE_HORIZON_DAYS and step < timedelta(hours=1):
    step, resolution_label = timedelta(hours=1), "1 hour"
    st.caption(f"Horizons over {FINE_HORIZON_DAYS} days are forecast at 1-hour steps.")
history_start = history_end - timedelta(days=HISTORY_DAYS[history_label])
horizon = int(timedelta(days=horizon_days) / step)
unit = METRIC_UNITS[metric]
st.caption(
    f"History {history_start:%Y-%m-%d %H:%M} → {history_end:%Y-%m-%d %H:%M} UTC at {resolution_label} steps; "
    f"forecast {horizon_days} days ({horizon} steps) after it. The history ends where the sidebar range ends."
)
events, event_problems = parse_known_events(events_text or "")
for problem in event_problems:
    st.warning(f"Known events, {problem}")
if not regions:
    st.info("Choose at least one region.")
    st.stop()

# ---- which regions: the one shown, or all -----------------------------------------------------------
# An auto forecast backtests its candidate models on 3 folds (0.2-0.3 s of CPU per demo region with the
# shortlist below, plus reading its history): the page reads and fits the region it shows, and every
# chosen region when "Forecast all regions" is on. Every fit is stored across sessions by its inputs (core.forecast's fit
# cache): a region any visitor has fitted is shown without refitting.
if ss.get("fc_shown") not in regions:
    ss["fc_shown"] = regions[0]
r1, r2 = st.columns([3, 2])
shown = (
    r1.radio("Region shown", regions, key="fc_shown", horizontal=True, help="The region charted below.")
    if len(regions) > 1
    else regions[0]
)
fit_all = len(regions) > 1 and r2.toggle(
    f"Forecast all {len(regions)} regions",
    key="fc_all",
    help="Reads and fits every chosen region (in parallel worker processes) for the summary; otherwise "
    "only the region shown.",
)
wanted = list(regions) if fit_all else [shown]

# ---- data and fit -----------------------------------------------------------------------------------
tidy = ui.load_metrics([metric], history_start, history_end, wanted, step=step)
wide = pivot_metric(tidy, metric)
series = {r: wide[r] for r in wanted if r in wide.columns and wide[r].notna().any()}
missing = [r for r in wanted if r not in series]
if missing:
    st.warning(f"No {metric} data for {', '.join(missing)} in this window.")
if not series:
    st.info("Nothing to forecast: no data for these regions and this window.")
    st.stop()
data_start = min(v.first_valid_index() for v in series.values())
if data_start - history_start > step * 24:
    st.caption(
        f"The data starts at {data_start:%Y-%m-%d %H:%M} UTC: the forecast learns from "
        f"{(history_end - data_start).days} of the {HISTORY_DAYS[history_label]} days asked for."
    )

# auto backtests the shortlist (core.forecast.AUTO_SHORTLIST): as accurate on the M4 Hourly dev half as
# every candidate (bench/README.md), in about a third of the CPU of a demo region's fit; a fixed model
# is always scored too
options = {
    "model": model,
    "outliers": "downweight" if downweight else "keep",
    "compare_all": model != AUTO,
    "candidates": AUTO_SHORTLIST,
}
stored = {r: stored_forecast(h, horizon, **options) for r, h in series.items()}
failed_before: dict = ss.setdefault(FAILED_KEY, {})
inputs_key = (metric, history_start, history_end, step, horizon, tuple(sorted(options.items())))


def _failure_key(region: str) -> tuple:
    """A failed fit is not retried on every rerun: remembered by its inputs (the series' values too)."""
    return (*inputs_key, region, int(pd.util.hash_pandas_object(series[region], index=True).sum()))


to_fit = {r: h for r, h in series.items() if stored[r] is None and _failure_key(r) not in failed_before}
if to_fit:
    bar = st.progress(0.0, text=f"Fitting {len(to_fit)} forecast(s)...")

    def _report(done: float, text: str) -> None:
        bar.progress(min(done, 1.0), text=text)

    if len(to_fit) == 1:  # in this process: no worker start-up or transfer for a single fit
        ((name, history),) = to_fit.items()
        try:
            fitted: dict[str, ForecastResult] = {
                name: forecast(history, horizon, progress=_report, **options)
            }
            failed: dict[str, str] = {}
        except Exception as exc:  # shown as a message, never a traceback
            fitted, failed = {}, {name: str(exc)}
    else:
        batch = forecast_many(to_fit, horizon, progress=_report, **options)
        fitted, failed = batch.results, batch.errors
    bar.empty()
    stored.update(fitted)
    for region, reason in failed.items():
        failed_before[_failure_key(region)] = reason
    while len(failed_before) > FAILED_SIZE:
        failed_before.pop(next(iter(failed_before)))
failures = {r: failed_before[k] for r in series if (k := _failure_key(r)) in failed_before}
for region, reason in failures.items():
    st.error(f"Could not forecast {region}: {reason}")
results = {r: res for r in series if (res := stored[r]) is not None}
if not results:
    st.stop()

adjusted = {r: apply_events(apply_growth(res.frame, growth), events) for r, res in results.items()}
adjusting = bool(growth) or bool(events)
capacities = {r: max_capacity(cfg, r, metric) for r in results}
summaries = {r: summarize(res, adjusted[r], capacities[r]) for r, res in results.items()}


def _when(ts: pd.Timestamp | None, capacity: float | None) -> str:
    if capacity is None:
        return "no ceiling configured"
    return f"{ts:%Y-%m-%d %H:%M} UTC" if ts is not None else f"not within {horizon_days} d"


def _coverage_text(band_coverage: dict[int, float]) -> str:
    """e.g. "80%: 84% · 95%: 96%": held-out backtest points inside each final band."""
    return " · ".join(f"{lv}%: {cov:.0%}" for lv, cov in sorted(band_coverage.items()))


# ---- summary ----------------------------------------------------------------------------------------
st.subheader("Summary")
summary_rows = []
for region, s in summaries.items():
    fleet = cfg.fleet_for(region)
    summary_rows.append(
        {
            "region": region,
            "model": s.model_key,
            "backtest MASE": s.backtest_mase,
            "band coverage (backtest)": _coverage_text(results[region].band_coverage),
            f"peak ({unit})": s.peak,
            "peak at (UTC)": s.peak_at.to_pydatetime(),
            f"max capacity ({unit})": s.capacity,
            "headroom at peak %": s.headroom * 100 if s.headroom is not None else None,
            "capacity reached (mean)": _when(s.exhaustion_mean, s.capacity),
            f"capacity reached (upper {max(results[region].levels)}% band)": _when(
                s.exhaustion_upper, s.capacity
            ),
            "fleet": f"{fleet.max_instances} × {fleet.capacity_per_instance:g} {unit}"
            if fleet and s.capacity
            else "",
        }
    )
ui.data_table(
    pd.DataFrame(summary_rows),
    columns={
        "backtest MASE": ui.number_column(None, 3, help="< 1: better than the seasonal naive"),
        f"peak ({unit})": st.column_config.NumberColumn(format="%.3g"),
        f"max capacity ({unit})": ui.number_column(None, 0),
        "headroom at peak %": ui.number_column(),
        "peak at (UTC)": ui.utc_time_column(),
    },
    key="fc_summary",
)
if len(regions) > 1 and not fit_all:
    st.caption(
        f"{shown} only: turn on “Forecast all {len(regions)} regions” for every chosen region (fitted in "
        "parallel, and kept for everyone who opens the same forecast), or pick another under “Region shown”."
    )
if metric != "requests_per_second":
    st.caption("Capacity exhaustion is computed for requests_per_second against each fleet's max capacity.")


# ---- the shown region: chart, notes and backtest ----------------------------------------------------
def _trace(values: pd.Series) -> dict:
    """Compact trace data at the chart's width (x0/dx, float32 y, MinMax beyond ~720 points)."""
    return ui.trace_data(values.astype("float64"))


def forecast_figure(
    region: str, history: pd.Series, result: ForecastResult, frame: pd.DataFrame
) -> go.Figure:
    """History, bands and forecast; the fleet's ceiling, exhaustion times and known events as layout
    shapes (plotly's add_hline/add_vline/add_vrect validate the whole figure on every call)."""
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(**_trace(history), mode="lines", name="history", line={"color": "#455a64", "width": 1.2})
    )
    at = frame.set_index("ts")
    for i, level in enumerate(sorted(result.levels, reverse=True)):  # widest band first, drawn lightest
        opacity = 0.15 + 0.1 * i
        fig.add_trace(
            go.Scatter(
                **_trace(at[f"hi_{level}"]),
                mode="lines",
                line={"width": 0},
                showlegend=False,
                hoverinfo="skip",
            )
        )
        fig.add_trace(
            go.Scatter(
                **_trace(at[f"lo_{level}"]),
                mode="lines",
                line={"width": 0},
                fill="tonexty",
                fillcolor=f"rgba(30, 136, 229, {opacity:.2f})",
                name=f"{level}% band",
            )
        )
    if adjusting:
        fig.add_trace(
            go.Scatter(
                **_trace(result.frame.set_index("ts")["mean"]),
                mode="lines",
                name="model (before adjustments)",
                line={"color": "#90a4ae", "dash": "dot"},
            )
        )
    fig.add_trace(
        go.Scatter(**_trace(at["mean"]), mode="lines", name="forecast", line={"color": "#1e88e5", "width": 2})
    )
    shapes: list[dict] = []
    notes: list[dict] = []

    def vline(x: pd.Timestamp, colour: str) -> dict:
        return {
            "type": "line", "xref": "x", "yref": "paper", "x0": x, "x1": x, "y0": 0, "y1": 1,
            "line": {"color": colour, "dash": "dot", "width": 1},
        }  # fmt: skip

    capacity = capacities[region]
    if capacity is not None:
        shapes.append(
            {
                "type": "line",
                "xref": "paper",
                "yref": "y",
                "x0": 0,
                "x1": 1,
                "y0": capacity,
                "y1": capacity,
                "line": {"color": "#e53935", "dash": "dash", "width": 2},
            }  # fmt: skip
        )
        notes.append(
            {
                "xref": "paper",
                "yref": "y",
                "x": 0,
                "y": capacity,
                "xanchor": "left",
                "yanchor": "bottom",
                "text": f"max capacity {capacity:,.0f} {unit}",
                "showarrow": False,
            }  # fmt: skip
        )
        s = summaries[region]
        for when, label in (
            (s.exhaustion_mean, "mean reaches capacity"),
            (s.exhaustion_upper, "upper band reaches capacity"),
        ):
            if when is not None:
                shapes.append(vline(when, "#e53935"))
                notes.append(
                    {
                        "x": when,
                        "y": capacity,
                        "text": label,
                        "showarrow": True,
                        "arrowhead": 1,
                        "ax": -40,
                        "ay": -30,
                    }
                )
    for ev in events:
        shapes.append(
            {
                "type": "rect",
                "xref": "x",
                "yref": "paper",
                "x0": ev.start,
                "x1": ev.end,
                "y0": 0,
                "y1": 1,
                "fillcolor": "#ffb300",
                "opacity": 0.15,
                "line": {"width": 0},
                "layer": "below",
            }  # fmt: skip
        )
        notes.append(
            {
                "x": ev.start,
                "y": 1.0,
                "yref": "paper",
                "text": f"{ev.name} ×{ev.multiplier:g}",
                "showarrow": False,
                "xanchor": "left",
            }  # fmt: skip
        )
    shapes.append(vline(result.history_end, "#9e9e9e"))
    fig.update_layout(
        title=f"{metric} · {region} · {result.model_key}",
        height=380,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        xaxis_title="time (UTC)",
        xaxis_type="date",  # x0/dx read as UTC dates
        yaxis_title=unit,
        legend={"orientation": "h", "y": -0.2},
        hovermode="x unified",
        shapes=shapes,
        annotations=notes,
    )
    return fig


def backtest_table(result: ForecastResult) -> pd.DataFrame | None:
    if result.backtest is None or not result.backtest.scores:
        return None
    table = result.backtest.table()
    table["chosen"] = ["✅" if k == result.model_key else "" for k in table["model"]]
    table = table[["chosen", *[c for c in table.columns if c != "chosen"]]]
    table.insert(2, "description", [MODELS[k][1] for k in table["model"]])
    table = table.rename(columns={"label": "fitted (last fold)"})
    for lv in result.backtest.levels:
        table[f"coverage_{lv}"] = table[f"coverage_{lv}"] * 100
    return table


def region_details(region: str, result: ForecastResult) -> None:
    st.plotly_chart(
        forecast_figure(region, series[region], result, adjusted[region]),
        width="stretch",
        key=f"fc_chart_{region}",
    )
    fitted = f"fitted in {result.seconds:.1f} s" + (" (a stored fit, reused)" if result.cached else "")
    st.markdown(f"**Model:** `{result.model}` · {fitted}")
    if result.band_coverage:
        st.caption(
            "Measured band coverage on the backtest's held-out points (band level: share inside): "
            + _coverage_text(result.band_coverage)
        )
    for note in result.notes:
        st.caption(f"ℹ️ {note}")
    table = backtest_table(result)
    if table is None:
        st.info("No backtest: the history is too short to hold out a horizon.")
        return
    bt = result.backtest
    if bt.chosen and bt.chosen != result.model_key:
        st.caption(
            f"auto would choose `{bt.chosen}` (lowest backtest MASE); showing `{result.model_key}` as asked."
        )
    st.markdown(
        f"**Backtest:** {bt.folds} rolling-origin fold(s) of {bt.horizon} steps; the chosen model is marked ✅."
    )
    # the ✅ column marks the chosen row: a pandas Styler highlight cost ~0.05 s per table on every
    # rerun (Streamlit renders a Styler's HTML attributes), for a mark the column already shows
    ui.data_table(
        table,
        columns={
            "smape": ui.number_column("sMAPE %", 2),
            "mase": ui.number_column("MASE", 3, help="< 1: better than the seasonal naive"),
            **{
                f"coverage_{lv}": ui.number_column(
                    f"{lv}% band coverage %",
                    1,
                    help="Share of held-out points inside the model's own band",
                )
                for lv in bt.levels
            },
            "seconds": ui.number_column("s per fold", 3),
        },
        key=f"fc_backtest_{region}",
    )


if shown in results:
    st.subheader(f"{shown}: forecast and backtest")
    region_details(shown, results[shown])

# ---- snapshots --------------------------------------------------------------------------------------
st.subheader("Snapshots")
st.caption(
    "Save what is shown (with the adjustments) so the weekly review can compare it with what happened."
)
if st.button("💾 Save these forecasts as snapshots", key="fc_save"):
    adjustments = {
        "growth_pct_per_month": growth,
        "events": [
            {
                "name": e.name,
                "start": e.start.isoformat(),
                "end": e.end.isoformat(),
                "multiplier": e.multiplier,
            }
            for e in events
        ],
        "history_days": HISTORY_DAYS[history_label],
        "outliers": options["outliers"],
    }
    ids = [
        save_snapshot(
            ui.shared_store(),
            metric,
            region,
            adjusted[region],
            result.model,
            model_key=result.model_key,
            horizon=horizon,
            step=step,
            history_end=result.history_end.to_pydatetime(),
            notes=result.notes,
            adjustments=adjustments,
            created_by=str(st.session_state.get("user_email", "")),
        )
        for region, result in results.items()
    ]
    st.success(f"Saved {len(ids)} snapshot(s): " + ", ".join(f"#{i}" for i in ids))
saved = list_snapshots(ui.shared_store(), metric=metric)
if saved.empty:
    st.caption(f"No {metric} snapshots saved yet.")
else:
    ui.show_table(saved.head(20).drop(columns=["step_s"]), key="fc_snapshots", decimals=0)
