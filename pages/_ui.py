"""Streamlit glue shared by the pages: cached config/store/sources, the sidebar state, safe data loading
with a last-good-data banner, and chart helpers. Presentation only: domain logic lives in core/."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from connectors.demo import demo_world_end, demo_world_is_current, ensure_demo_world
from connectors.store import open_db
from core.config import METRIC_UNITS, ConfigError, HeadroomConfig, config_path, load_config
from core.health import STATE_COLOURS
from core.ports import SourceError, SourceHealth, empty_metrics_frame
from core.timeseries import choose_step, downsample_series, pivot_metric
from headroom.wiring import (
    build_billing_source,
    build_cdn_source,
    build_events_source,
    build_metrics_source,
    uses_demo_world,
)


def _leave_legacy_pages_mode() -> None:
    """A cold deep link (/forecast as a fresh server's first request) makes Streamlit run the page file
    in its legacy pages/-directory mode, because st.navigation has not run yet: no Headroom sidebar, raw
    file names in the menu. Every page imports this module first, so switch the flag st.navigation would
    set and rerun: the rerun goes through dashboard.py and lands on the requested page."""
    try:
        from streamlit.runtime.pages_manager import PagesManager
    except ImportError:  # a Streamlit without this internal: nothing to correct
        return
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


_leave_legacy_pages_mode()

PRESETS: dict[str, timedelta] = {
    "1h": timedelta(hours=1),
    "6h": timedelta(hours=6),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}
DEFAULT_PRESET = "24h"
CUSTOM = "custom"
CACHE_TTL_S = 60
# plotly geo basemaps served from ./static by Streamlit (offline; no CDN fetch)
TOPOJSON_URL = "/app/static/topojson/"
_generation_lock = threading.Lock()


# ---- configuration, store, sources -----------------------------------------------------------------
@st.cache_resource(show_spinner=False)
def _load_config_cached(path: str, mtime: float) -> HeadroomConfig | ConfigError:
    try:
        return load_config(path)
    except ConfigError as exc:
        return exc


def config() -> HeadroomConfig:
    """The validated config; a bad file stops the page with each problem named (never a traceback)."""
    path = config_path()
    try:
        mtime = path.stat().st_mtime
    except OSError:
        mtime = 0.0
    result = _load_config_cached(str(path), mtime)
    if isinstance(result, ConfigError):
        st.error(f"**Headroom cannot start: the configuration file has problems.**\n\nFile: `{result.path}`")
        st.markdown(
            "\n".join(
                f"- `{p.split(':', 1)[0]}`:{p.split(':', 1)[1]}" if ":" in p else f"- {p}"
                for p in result.problems
            )
        )
        st.caption("Fix the keys above (or point HEADROOM_CONFIG at another file) and reload the page.")
        st.stop()
    return result


@st.cache_resource(show_spinner=False)
def _open_db(path: str):  # -> sqlite_utils.Database
    return open_db(path)


def db():  # -> sqlite_utils.Database
    return _open_db(str(config().store_path()))


def secrets() -> Mapping[str, Any]:
    """st.secrets as a plain mapping; empty when there is no secrets.toml."""
    try:
        return {k: st.secrets[k] for k in st.secrets}
    except Exception:  # no secrets file: Streamlit raises on first access
        return {}


def ensure_data() -> None:
    """On first start (or when the demo world is stale) generate it, with a progress bar."""
    cfg = config()
    if not uses_demo_world(cfg):
        return
    database = db()
    if demo_world_is_current(database, cfg):
        return
    with _generation_lock:
        bar = st.progress(0.0, text="Generating the demo world (first start only)...")
        ensure_demo_world(
            database, cfg, progress=lambda f, text: bar.progress(min(max(f, 0.0), 1.0), text=text)
        )
        bar.empty()
    st.cache_data.clear()


@st.cache_resource(show_spinner=False)
def _source(kind: str, config_mtime: float):
    cfg, database, sec = config(), db(), secrets()
    if kind == "metrics":
        return build_metrics_source(cfg, database, sec)
    if kind == "cdn":
        return build_cdn_source(cfg, database, sec)
    if kind == "billing":
        return build_billing_source(cfg, database, sec)
    if kind == "events":
        return build_events_source(cfg, database, sec)
    raise ValueError(kind)


def source(kind: str = "metrics"):
    """The configured MetricsSource ('metrics', 'cdn'), BillingSource ('billing') or EventsSource
    ('events')."""
    try:
        mtime = config_path().stat().st_mtime
    except OSError:
        mtime = 0.0
    return _source(kind, mtime)


# ---- time range and regions (owned by the sidebar; kept in the URL) -------------------------------
def data_anchor() -> datetime:
    """'Now' for relative ranges: the wall clock, or the newest demo minute for the embedded demo world
    (which is regenerated every few hours, so 'last 1h' always has data)."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    if config().sources.metrics == "demo":
        end = demo_world_end(db())
        if end is not None:
            return min(now, end)
    return now


def _parse_utc(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def sidebar() -> None:
    """Time range, regions and source health; state mirrored into st.query_params so a URL reproduces
    the view (range=7d&regions=us-east-1,eu-west-1, or range=custom&start=...&end=...)."""
    cfg = config()
    qp = st.query_params
    codes = list(cfg.region_codes)
    anchor = data_anchor()
    ss = st.session_state
    if "range_preset" not in ss:
        preset = qp.get("range", DEFAULT_PRESET)
        ss["range_preset"] = preset if preset in (*PRESETS, CUSTOM) else DEFAULT_PRESET
    if "regions" not in ss:
        wanted = [r for r in qp.get("regions", "").split(",") if r in codes]
        ss["regions"] = wanted or codes
    if "custom_start" not in ss:
        start_q, end_q = _parse_utc(qp.get("start")), _parse_utc(qp.get("end"))
        end_default = end_q or anchor
        start_default = start_q or end_default - PRESETS[DEFAULT_PRESET]
        ss["custom_start_date"], ss["custom_start_time"] = start_default.date(), start_default.time()
        ss["custom_end_date"], ss["custom_end_time"] = end_default.date(), end_default.time()
        ss["custom_start"] = True

    with st.sidebar:
        st.markdown("### Time range (UTC)")
        st.segmented_control(
            "Range",
            [*PRESETS, CUSTOM],
            key="range_preset",
            label_visibility="collapsed",
            help="Relative ranges end at the newest data point.",
        )
        preset = ss.get("range_preset") or DEFAULT_PRESET
        if preset == CUSTOM:
            c1, c2 = st.columns(2)
            c1.date_input("Start date", key="custom_start_date")
            c2.time_input("Start time", key="custom_start_time", step=timedelta(minutes=15))
            c1.date_input("End date", key="custom_end_date")
            c2.time_input("End time", key="custom_end_time", step=timedelta(minutes=15))
            start = datetime.combine(ss["custom_start_date"], ss["custom_start_time"], tzinfo=UTC)
            end = datetime.combine(ss["custom_end_date"], ss["custom_end_time"], tzinfo=UTC)
            if end <= start:
                st.warning("End is before start; showing the 24 h before the end instead.")
                start = end - PRESETS[DEFAULT_PRESET]
        else:
            end = anchor
            start = end - PRESETS[preset]
        st.caption(f"{start:%Y-%m-%d %H:%M} → {end:%Y-%m-%d %H:%M} UTC")
        st.multiselect(
            "Regions", codes, key="regions", format_func=lambda c: f"{c} · {cfg.region_by_code(c).name}"
        )
        ss["time_range"] = (start, end)
        _health_panel(cfg)

    qp["range"] = preset
    selected = ss.get("regions") or []
    if set(selected) == set(codes) or not selected:
        qp.pop("regions", None)
    else:
        qp["regions"] = ",".join(selected)
    if preset == CUSTOM:
        qp["start"], qp["end"] = start.strftime("%Y-%m-%dT%H:%MZ"), end.strftime("%Y-%m-%dT%H:%MZ")
    else:
        qp.pop("start", None)
        qp.pop("end", None)


_HEALTH_ICON = {"ok": "🟢", "degraded": "🟡", "down": "🔴", "unknown": "⚪"}


def _health_panel(cfg: HeadroomConfig) -> None:
    with st.expander("Data sources", expanded=False):
        for kind in ("metrics", "cdn", "billing"):
            try:
                h: SourceHealth = source(kind).health()
            except Exception as exc:  # a source that cannot even report health is down
                h = SourceHealth(kind, "down", str(exc))
            latency = f" · {h.latency_s * 1000:.0f} ms" if h.latency_s is not None else ""
            last = f" · last success {h.last_success:%H:%M:%S} UTC" if h.last_success else ""
            st.markdown(f"{_HEALTH_ICON.get(h.state, '⚪')} **{kind}**: {h.name}")
            st.caption(f"{h.detail}{latency}{last}")


def time_range() -> tuple[datetime, datetime]:
    """The sidebar's (start, end) in UTC; the default range when the sidebar has not run (page tests)."""
    tr = st.session_state.get("time_range")
    if tr is None:
        end = data_anchor()
        return end - PRESETS[DEFAULT_PRESET], end
    return tr


def selected_regions() -> list[str]:
    regions = st.session_state.get("regions")
    return list(regions) if regions else list(config().region_codes)


# ---- data loading with a last-good-data fallback ---------------------------------------------------
@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False, max_entries=64)
def _query(
    kind: str,
    metrics: tuple[str, ...],
    start: datetime,
    end: datetime,
    step: timedelta,
    regions: tuple[str, ...],
) -> pd.DataFrame:
    return source(kind).query_range(list(metrics), start, end, step, list(regions))


def load_metrics(
    metrics: Sequence[str],
    start: datetime | None = None,
    end: datetime | None = None,
    regions: Sequence[str] | None = None,
    kind: str = "metrics",
    max_points: int = 10_000,
    step: timedelta | None = None,
) -> pd.DataFrame:
    """Tidy metrics for the range; on a source failure, a banner and the last good data of this view."""
    if start is None or end is None:
        start, end = time_range()
    regions = tuple(regions) if regions is not None else tuple(selected_regions())
    step = step or choose_step(start, end, max_points)
    view_key = (kind, tuple(metrics), regions)
    last_good: dict = st.session_state.setdefault("_last_good", {})
    try:
        frame = _query(kind, tuple(metrics), start, end, step, regions)
    except SourceError as exc:
        return _fallback(last_good.get(view_key), exc)
    except Exception as exc:  # anything else from a source is still the source's failure, not a crash
        return _fallback(last_good.get(view_key), SourceError(kind, f"unexpected error: {exc}"))
    last_good[view_key] = (frame, time.time())
    return frame


def _fallback(entry: tuple[pd.DataFrame, float] | None, exc: SourceError) -> pd.DataFrame:
    if entry is None:
        st.error(f"⚠️ **{exc.source} is unavailable**: {exc.message} No earlier data for this view yet.")
        return empty_metrics_frame()
    frame, when = entry
    age_min = (time.time() - when) / 60
    st.warning(
        f"⚠️ **{exc.source} is unavailable**: {exc.message} Showing the last good data, "
        f"fetched {age_min:.0f} min ago."
    )
    return frame


def load_costs(start: date, end: date) -> pd.DataFrame:
    """Billing frame for days start..end; on failure a banner and the last good data."""
    last_good: dict = st.session_state.setdefault("_last_good", {})
    key = ("billing",)
    try:
        frame = source("billing").daily_costs(start, end)
    except SourceError as exc:
        entry = last_good.get(key)
        if entry is None:
            st.error(f"⚠️ **{exc.source} is unavailable**: {exc.message}")
            from core.ports import empty_billing_frame

            return empty_billing_frame()
        st.warning(f"⚠️ **{exc.source} is unavailable**: {exc.message} Showing the last good data.")
        return entry[0]
    last_good[key] = (frame, time.time())
    return frame


def events(start: datetime, end: datetime) -> pd.DataFrame:
    """Incidents, changes and annotations overlapping the range from every configured events source
    (headroom.wiring.build_events_source: the store, plus Prometheus annotations when configured). The
    one place pages read events from; a source that fails is named in a warning, the rest still show."""
    src = source("events")
    frame = src.events(start, end)
    for problem in getattr(src, "errors", []):
        st.warning(f"⚠️ Events: {problem}", icon=None)
    return frame


# ---- charts -------------------------------------------------------------------------------------
REGION_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf"]


def region_colour(code: str) -> str:
    codes = list(config().region_codes)
    return REGION_COLOURS[codes.index(code) % len(REGION_COLOURS)] if code in codes else "#7f7f7f"


def timeseries_figure(
    frame: pd.DataFrame,
    metric: str,
    title: str,
    y_title: str | None = None,
    scale: float = 1.0,
    marks: pd.DataFrame | None = None,
    height: int = 320,
    wide: pd.DataFrame | None = None,
    webgl: bool = True,
) -> go.Figure:
    """One line per region, downsampled (MinMaxLTTB) to a few thousand points per trace, UTC x axis,
    incidents shaded and deploys drawn as vertical markers when `marks` (events frame) is given.
    webgl=False draws SVG: for a few short traces it shows sooner (no WebGL context per chart; in
    headless Chromium the Triage page loaded in 1.1 s instead of 2.5 s, bench/slo_triage.py)."""
    wide = pivot_metric(frame, metric) if wide is None else wide
    trace = go.Scattergl if webgl else go.Scatter
    fig = go.Figure()
    for region in wide.columns:
        series = downsample_series(wide[region].dropna() * scale)
        fig.add_trace(
            trace(
                x=series.index,
                y=series.to_numpy(),
                mode="lines",
                name=str(region),
                line={"width": 1.4, "color": region_colour(str(region))},
            )
        )
    unit = y_title or METRIC_UNITS.get(metric, "")
    fig.update_layout(
        title=title,
        height=height,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        xaxis_title="time (UTC)",
        yaxis_title=unit,
        legend={"orientation": "h", "y": -0.2},
        hovermode="x unified",
    )
    if marks is not None and not marks.empty:
        add_event_marks(fig, marks)
    return fig


def add_event_marks(fig: go.Figure, marks: pd.DataFrame) -> None:
    for _, ev in marks.iterrows():
        label = f"{ev['title']}" + (f" ({ev['region']})" if ev.get("region") else "")
        if ev["kind"] == "deploy" or ev["end_ts"] <= ev["start_ts"]:
            fig.add_vline(x=ev["start_ts"], line_dash="dot", line_color="#607d8b", opacity=0.7)
            fig.add_annotation(
                x=ev["start_ts"], y=1.0, yref="paper", text="🚀", showarrow=False, hovertext=label
            )
        else:
            fig.add_vrect(x0=ev["start_ts"], x1=ev["end_ts"], fillcolor="#e53935", opacity=0.12, line_width=0)
            fig.add_annotation(
                x=ev["start_ts"], y=1.0, yref="paper", text="⚠", showarrow=False, hovertext=label
            )


def show_table(frame: pd.DataFrame, key: str, decimals: int = 1) -> None:
    """A read-only table with rounded floats and UTC timestamps, for report-like sections."""
    config_ = {}
    for col in frame.columns:
        label = col.replace("_", " ")
        if pd.api.types.is_float_dtype(frame[col]):
            config_[col] = st.column_config.NumberColumn(label, format=f"%.{decimals}f")
        elif pd.api.types.is_datetime64_any_dtype(frame[col]):
            config_[col] = st.column_config.DatetimeColumn(label + " (UTC)", format="YYYY-MM-DD HH:mm")
        else:
            config_[col] = st.column_config.Column(label)
    st.dataframe(frame, hide_index=True, width="stretch", column_config=config_, key=key)


def state_badge(state: str) -> str:
    return {"ok": "🟢 ok", "warn": "🟡 warn", "critical": "🔴 critical"}.get(state, "⚪ no data")


def state_colour(state: str) -> str:
    return STATE_COLOURS.get(state, STATE_COLOURS["no data"])


def page_header(title: str, description: str) -> tuple[datetime, datetime]:
    """Title, one-line description, and the range in force; returns (start, end)."""
    st.title(title)
    start, end = time_range()
    st.caption(f"{description}  ·  {start:%Y-%m-%d %H:%M} → {end:%Y-%m-%d %H:%M} UTC")
    return start, end


def table_of(items: Sequence[Any], columns: Mapping[str, Any]) -> pd.DataFrame:
    """One row per item, one column per entry of `columns` (column name -> function of the item), in
    order: the table pages build from a list of domain objects (audit entries, actions, checks)."""
    return pd.DataFrame({name: [column(item) for item in items] for name, column in columns.items()})
