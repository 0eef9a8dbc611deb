"""Streamlit glue shared by the pages: cached config/store/sources, the sidebar state, safe data loading
with a last-good-data banner, and chart helpers. Presentation only: domain logic lives in core/."""

from __future__ import annotations

import logging
import re
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from connectors.demo import demo_world_end, demo_world_is_current, ensure_demo_world
from connectors.store import open_db
from core.actions import UnreadableActionRow
from core.auth import Identity, resolve_identity
from core.config import METRIC_UNITS, ConfigError, HeadroomConfig, config_path, load_config
from core.health import STATE_COLOURS
from core.ports import (
    ACROSS_REGIONS,
    AcrossRegionsSource,
    JoinsRequestsInFlight,
    RangeAggregate,
    RangeAggregateSource,
    SourceError,
    SourceHealth,
    answer_warnings,
    empty_aggregates_frame,
    empty_billing_frame,
    empty_metrics_frame,
)
from core.timeseries import (
    CHART_QUERY_POINTS,
    across_regions,
    chart_step,
    choose_step,
    downsample_series,
    pivot_metric,
    regular_minmax,
    summarise_range,
)
from headroom.wiring import (
    build_billing_source,
    build_cdn_source,
    build_events_source,
    build_metrics_source,
    configure_audit,
    uses_demo_world,
)
from headroom.wiring import guarded_store as guarded_store_locator


def _leave_legacy_pages_mode() -> None:
    """A cold deep link (/forecast as a fresh server's first request) makes Streamlit run the page file
    in its legacy pages/-directory mode, because st.navigation has not run yet: no Headroom sidebar, raw
    file names in the menu. Every page calls config() first, so switch the flag st.navigation would
    set and rerun: the rerun goes through dashboard.py and lands on the requested page.

    Called from config(), never at import: a rerun raised while this module is being imported removes
    the half-imported module from sys.modules, and another session's script importing it at the same
    moment then fails with "cannot import name '_ui' from 'pages'" (the cold-start import race;
    tests/pages/test_ui_import_race.py, docs/ARCHITECTURE.md "Pitfalls")."""
    try:
        from streamlit.runtime.pages_manager import PagesManager
    except ImportError:  # a Streamlit without this internal: nothing to correct
        return
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        # once per session: Streamlit's AppTest sets the flag again before every run, and a rerun on
        # every run would drop the click that started it (a button's switch_page never happened)
        if not st.session_state.get("_left_legacy_pages_mode"):
            st.session_state["_left_legacy_pages_mode"] = True
            st.rerun()


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
T = TypeVar("T")
LAST_GOOD_VIEWS = 32  # per session: the views a page set shows at once, with room for a few ranges


# ---- configuration, store, sources -----------------------------------------------------------------
@st.cache_resource(show_spinner=False)
def _load_config_cached(path: str, mtime: float) -> HeadroomConfig | ConfigError:
    try:
        return load_config(path)
    except ConfigError as exc:
        return exc


def config_key() -> tuple[str, float]:
    """The config file's path and modification time: what identifies the config in caches shared across
    sessions (a results cache keyed by it is dropped when the file changes)."""
    path = config_path()
    try:
        mtime = path.stat().st_mtime
    except OSError:
        mtime = 0.0
    return str(path), mtime


def config() -> HeadroomConfig:
    """The validated config; a bad file stops the page with each problem named (never a traceback)."""
    _leave_legacy_pages_mode()
    result = _load_config_cached(*config_key())
    if isinstance(result, ConfigError):
        st.error(f"**Headroom cannot start: the configuration file has problems.**\n\nFile: `{result.path}`")
        st.markdown(
            "\n".join(
                f"- `{p.split(':', 1)[0].replace('`', '')}`: {md_text(p.split(':', 1)[1].strip())}"
                if ":" in p
                else f"- {md_text(p)}"
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


@st.cache_resource(show_spinner=False)
def _configured_guarded_store(locator: str) -> str:
    configure_audit(config(), locator, secrets())
    return locator


def shared_store():  # -> str | sqlite_utils.Database
    """Where the tables replicas share (review notes, scenarios, forecast snapshots) live: the
    PostgreSQL URL when one is configured, else the embedded store."""
    # not guarded_store(): a bad audit key must stop the Actions page (its banner), not every page
    locator = guarded_store_locator(config(), secrets())
    return locator if locator.startswith(("postgresql://", "postgresql+psycopg://", "postgres://")) else db()


def guarded_store() -> str:
    """Where actions and the audit chain live: the shared PostgreSQL URL (`[store] url` + secrets, or
    HEADROOM_STORE_URL) or the SQLite file, with the chain's key (secrets.toml) and anchor configured
    before anything appends to it (issue 14, issue 19 item 2)."""
    return _configured_guarded_store(guarded_store_locator(config(), secrets()))


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
        return build_billing_source(cfg, database, sec, shared_store())
    if kind == "events":
        # recorded incidents live beside the audit chain; reading them needs no audit key
        return build_events_source(cfg, database, sec, recorded_store=guarded_store_locator(cfg, sec))
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


def bad_url_value(key: str, value: str, used: str, hint: str = "") -> None:
    """A visible message naming a URL parameter's bad value and what is shown instead (a bad link used
    to be replaced silently, so the page did not show what the link's sender saw)."""
    st.warning(
        f"🔗 The link's `{key}={value}` is not valid{f' ({hint})' if hint else ''}: showing {used} instead."
    )


def _number_text(value: Any) -> str:
    if isinstance(value, tuple | list):
        return " – ".join(_number_text(v) for v in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def _within(value: Any, lo: float | None, hi: float | None) -> Any:
    if isinstance(value, tuple | list):
        return tuple(_within(v, lo, hi) for v in value)
    if not isinstance(value, int | float) or isinstance(value, bool):
        return value
    if lo is not None and value < lo:
        return type(value)(lo)
    if hi is not None and value > hi:
        return type(value)(hi)
    return value


def clamp_value(label: str, value: Any, lo: float | None, hi: float | None, why: str = "") -> Any:
    """`value` (a number, or a range slider's (low, high)) within lo..hi; when it is outside, a visible
    message naming the value and what is used instead. Streamlit silently shows a number input's
    minimum for an out-of-range value, and a slider raises (issue 15, #6)."""
    used = _within(value, lo, hi)
    if (list(used) != list(value)) if isinstance(value, tuple | list) else used != value:
        bounds = " to ".join(_number_text(b) for b in (lo, hi) if b is not None)
        st.warning(
            f"🔢 **{label}**: {_number_text(value)}{why} is outside what the control allows "
            f"({'from ' if hi is None else 'up to ' if lo is None else ''}{bounds}), so it was not "
            f"applied: using {_number_text(used)} instead."
        )
    return used


def keep_in_range(key: str, lo: float | None, hi: float | None, label: str) -> None:
    """Call before drawing the number input or slider `key`: a session-state value (restored, loaded,
    from the link) outside lo..hi is clamped with a visible message instead of being dropped."""
    ss = st.session_state
    if key not in ss:
        return
    why = " (from the link)" if key in ss.get(_FROM_URL, set()) else ""
    value = ss[key]
    used = clamp_value(label, value, lo, hi, why)
    if used is not value:  # only an actual correction writes the widget's state
        ss[key] = used


_FROM_URL = "_controls_from_url"  # the keys this session took from the URL, for the messages


@dataclass(frozen=True)
class UrlControl:
    """A page control kept in the URL as `?param=value`, so a copied link reproduces the view (like
    ?slo=, ?week=, ?region=). `kind` reads the text: int, float, bool, str; `options` limits a choice
    (or each item of a `many` list, written comma-separated); `pair` is a range slider's "low-high"."""

    key: str
    param: str
    label: str
    kind: type = str
    options: Sequence[str] | None = None
    many: bool = False
    pair: bool = False


def _parse_control(control: UrlControl, raw: str) -> tuple[Any, str]:
    """(value, problem): the URL text as the control's value, or why it is not one."""
    if control.many:
        items = [i for i in raw.split(",") if i]
        bad = [i for i in items if control.options is not None and i not in control.options]
        return (None, f"unknown: {', '.join(bad)}") if bad or not items else (items, "")
    if control.pair:
        parts = raw.split("-")
        if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
            return None, "expected two whole numbers like 2-30"
        low, high = (int(p) for p in parts)
        return ((low, high), "") if low <= high else (None, "the low end is above the high end")
    if control.options is not None:
        return (raw, "") if raw in control.options else (None, f"one of: {', '.join(control.options)}")
    if control.kind is bool:
        lowered = raw.lower()
        if lowered in ("1", "true", "yes", "on"):
            return True, ""
        return (False, "") if lowered in ("0", "false", "no", "off") else (None, "expected true or false")
    if control.kind in (int, float):
        try:
            number = float(raw)
        except ValueError:
            return None, "expected a number"
        if not np.isfinite(number):
            return None, "expected a finite number"
        if control.kind is int:
            return (int(number), "") if number.is_integer() else (None, "expected a whole number")
        return number, ""
    return raw, ""


def controls_from_url(controls: Sequence[UrlControl], once: str) -> None:
    """Once per session (`once` names the flag): put each control's URL value into session state before
    the widget is drawn; a value that cannot be read is named (bad_url_value) and the page's own value
    used. Ranges are checked where the widget is drawn (keep_in_range), which knows its bounds."""
    ss = st.session_state
    if ss.get(once):
        return
    ss[once] = True
    seeded: set[str] = ss.setdefault(_FROM_URL, set())
    for control in controls:
        raw = st.query_params.get(control.param)
        if raw is None or raw == "":
            continue
        value, problem = _parse_control(control, raw)
        if problem:
            current = ss.get(control.key)
            used = "the page's default" if current is None else f"{_url_text(control, current)}"
            bad_url_value(control.param, raw, used, f"{control.label}: {problem}")
            continue
        ss[control.key] = value
        seeded.add(control.key)


def _url_text(control: UrlControl, value: Any) -> str:
    if control.many:
        return ",".join(str(v) for v in value)
    if control.pair:
        return f"{int(value[0])}-{int(value[1])}"
    if isinstance(value, bool):
        return "true" if value else "false"
    return _number_text(value) if isinstance(value, float) else str(value)


def controls_to_url(controls: Sequence[UrlControl]) -> None:
    """After the widgets: write each control's value into the URL, so a copied link reproduces it."""
    ss = st.session_state
    for control in controls:
        value = ss.get(control.key)
        if value is None or (control.many and not value):
            st.query_params.pop(control.param, None)
        else:
            st.query_params[control.param] = _url_text(control, value)


def sidebar() -> None:
    """Time range, regions and source health; state mirrored into st.query_params so a URL reproduces
    the view (range=7d&regions=us-east-1,eu-west-1, or range=custom&start=...&end=...)."""
    cfg = config()
    qp = st.query_params
    codes = list(cfg.region_codes)
    anchor = data_anchor()
    ss = st.session_state
    _set_partial_banners(None)  # the last run's placeholders: source_banner makes this run's
    if "range_preset" not in ss:
        preset = qp.get("range", DEFAULT_PRESET)
        if preset not in (*PRESETS, CUSTOM):
            bad_url_value("range", preset, f"the default range, {DEFAULT_PRESET}")
            preset = DEFAULT_PRESET
        ss["range_preset"] = preset
    if "regions" not in ss:
        asked = [r for r in qp.get("regions", "").split(",") if r]
        wanted = [r for r in asked if r in codes]
        unknown = [r for r in asked if r not in codes]
        if unknown:
            used = ", ".join(wanted) if wanted else "every region"
            bad_url_value("regions", ",".join(unknown), used, f"known regions: {', '.join(codes)}")
        ss["regions"] = wanted or codes
    if "custom_start" not in ss:
        start_q, end_q = _parse_utc(qp.get("start")), _parse_utc(qp.get("end"))
        for name, raw, parsed in (("start", qp.get("start"), start_q), ("end", qp.get("end"), end_q)):
            if raw and parsed is None:
                bad_url_value(name, raw, "the default", "expected a UTC time like 2026-11-23T12:00Z")
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
        unhealthy = _health_panel(cfg)
    source_banner(unhealthy)

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


_LOG = logging.getLogger("headroom.pages")
_HEALTH_ICON = {"ok": "🟢", "degraded": "🟡", "down": "🔴", "unknown": "⚪"}


def _health_panel(cfg: HeadroomConfig) -> list[tuple[str, SourceHealth]]:
    """The sidebar's detail per source; returns the sources that are down or degraded (stale), except
    the demo world's, whose "now" is its newest minute by design (data_anchor)."""
    unhealthy: list[tuple[str, SourceHealth]] = []
    demo_kinds = {k for k in ("metrics", "cdn", "billing") if getattr(cfg.sources, k) == "demo"}
    with st.expander("Data sources", expanded=False):
        for kind in ("metrics", "cdn", "billing"):
            try:
                h: SourceHealth = source(kind).health()
            except Exception as exc:  # a source that cannot even report health is down
                h = SourceHealth(kind, "down", str(exc))
            if h.state in ("down", "degraded") and kind not in demo_kinds:
                unhealthy.append((kind, h))
            latency = f" · {h.latency_s * 1000:.0f} ms" if h.latency_s is not None else ""
            last = f" · last success {h.last_success:%H:%M:%S} UTC" if h.last_success else ""
            st.markdown(f"{_HEALTH_ICON.get(h.state, '⚪')} **{kind}**: {md_text(h.name)}")
            st.caption(f"{md_text(h.detail)}{latency}{last}")
    return unhealthy


def source_banner(unhealthy: Sequence[tuple[str, SourceHealth]]) -> None:
    """A page-wide warning above every page for a source that is down or stale: a dot inside the
    collapsed sidebar panel was nearly invisible (issue 15, #5). A source degraded by partial answers
    gets its banner in a container the page's own loads fill (partial_answer_banner) or, when the page
    loaded none of its data, dashboard.py's finish_partial_banners at the end of the run."""
    partial = {kind: h for kind, h in unhealthy if h.state == "degraded" and _last_warnings(kind)}
    for kind, h in unhealthy:
        if kind in partial:
            continue
        last = f" Last success {h.last_success:%Y-%m-%d %H:%M} UTC." if h.last_success else ""
        st.warning(f"📡 **The {kind} source ({md_text(h.name)}) is {h.state}**: {md_text(h.detail)}.{last}")
    # one container per source whose answers can be partial, made at every full run and filled later:
    # by the page's loads (so a partial answer is named even on the first load, though this health
    # check ran before the page asked anything), once per source
    _set_partial_banners(
        {
            kind: {
                "box": st.container(),
                "drawn": False,
                "clean_load": False,
                "health": _partial_text(kind, partial[kind].name, _last_warnings(kind))
                if kind in partial
                else "",
            }
            for kind in PARTIAL_ANSWER_KINDS
        }
    )


def finish_partial_banners() -> None:
    """At the end of a full run (dashboard.py): a source the health check found partial, whose data this
    page did not load at all, still gets its banner; a page that loaded it complete gets none."""
    for entry in _partial_banners().values():
        if entry["health"] and not entry["drawn"] and not entry["clean_load"]:
            entry["box"].warning(entry["health"])
            entry["drawn"] = True


# the sources that can answer partially (Prometheus `warnings`: a store gateway or shard missing)
PARTIAL_ANSWER_KINDS = ("metrics", "cdn")
# session id -> {kind: {box: the banner's container, drawn, clean_load, health: the health check's text}}
# for the current full run; outside st.session_state, which holds plain values
_PARTIAL_BANNERS: OrderedDict[str, dict[str, dict[str, Any]]] = OrderedDict()
_PARTIAL_BANNERS_LOCK = threading.Lock()
_PARTIAL_BANNER_SESSIONS = 512  # the most sessions remembered; the oldest is dropped first


def _session_id() -> str | None:
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    return None if ctx is None else ctx.session_id


def _set_partial_banners(holders: dict[str, dict[str, Any]] | None) -> None:
    session = _session_id()
    if session is None:
        return
    with _PARTIAL_BANNERS_LOCK:
        _PARTIAL_BANNERS.pop(session, None)
        if holders is not None:
            _PARTIAL_BANNERS[session] = holders
            while len(_PARTIAL_BANNERS) > _PARTIAL_BANNER_SESSIONS:
                _PARTIAL_BANNERS.popitem(last=False)


def _partial_banners() -> dict[str, dict[str, Any]]:
    session = _session_id()
    with _PARTIAL_BANNERS_LOCK:
        return _PARTIAL_BANNERS.get(session, {}) if session is not None else {}


def _last_warnings(kind: str) -> tuple[str, ...]:
    """The warnings of the source's last answer: they stay until an answer without warnings, so a
    clean health probe never turns "degraded" back into "ok" (connectors/prometheus.py)."""
    try:
        return tuple(getattr(source(kind), "last_warnings", ()) or ())
    except Exception:  # a source that cannot be built is reported as down elsewhere
        return ()


def _partial_text(kind: str, name: str, warnings: Sequence[str]) -> str:
    said = "; ".join(dict.fromkeys(warnings))
    said = said if len(said) <= 500 else said[:499] + "…"
    return (
        f"📡 **The {kind} source ({md_text(name)}) answered with partial data**: {md_text(said)}. "
        "Figures and charts may miss regions or points; this stays until the source answers completely."
    )


def partial_answer_banner(kind: str, warnings: Sequence[str]) -> None:
    """The one place a source's partial answer reaches the page (issue 19 item 12): a banner naming
    the source and its warnings, in the page-wide container of that source (source_banner), once
    however many loads were partial. A complete load is noted: a page whose data is whole gets no
    banner from the health check's memory of an earlier partial answer (finish_partial_banners)."""
    entry = _partial_banners().get(kind)
    if not warnings:
        if entry is not None:
            entry["clean_load"] = True
        return
    try:
        name = str(getattr(source(kind), "name", kind))
    except Exception:
        name = kind
    text = _partial_text(kind, name, warnings)
    if entry is None:  # no sidebar ran (a page test): above what this load feeds
        st.warning(text)
        return
    if not entry["drawn"]:  # a container only grows: one banner per source and run
        entry["box"].warning(text)
        entry["drawn"] = True


def keep_widget_values(keys: Sequence[str], store: str) -> None:
    """Make a page's controls survive a visit to another page. Streamlit deletes a widget's session
    state at the end of any run that does not draw it, so coming back found the keys gone (a range
    slider without its tuple, every control at its minimum). Call at the top of the page and after its
    controls: a key still present is copied to `store` (a plain, non-widget key Streamlit keeps), a
    key that is gone is put back from it before the widget is drawn."""
    ss = st.session_state
    kept: dict[str, Any] = ss.setdefault(store, {})
    for key in keys:
        if key in ss:
            kept[key] = ss[key]
        elif key in kept:
            ss[key] = kept[key]


def time_range() -> tuple[datetime, datetime]:
    """The sidebar's (start, end) in UTC; the default range when the sidebar has not run (page tests)."""
    tr = st.session_state.get("time_range")
    if tr is None:
        end = data_anchor()
        return end - PRESETS[DEFAULT_PRESET], end
    return tr


def range_at(
    preset: str, custom: tuple[datetime, datetime] | None, anchor: datetime
) -> tuple[datetime, datetime]:
    """The range a preset means at `anchor` ("now": data_anchor()); a custom range stays where it is."""
    if preset == CUSTOM and custom is not None:
        return custom
    length = PRESETS.get(preset, PRESETS[DEFAULT_PRESET])
    return anchor - length, anchor


def refreshed_range() -> tuple[datetime, datetime]:
    """The range for a part of a page that refreshes itself (an st.fragment with run_every): a relative
    range follows the clock (its end moves to the newest minute of a live source at every refresh; the
    demo world's end stays put), a custom range stays. Kept in the session's time_range so the page's
    other parts, at their next run, agree."""
    ss = st.session_state
    if "time_range" not in ss:  # no sidebar ran (page tests)
        return time_range()
    fresh = range_at(ss.get("range_preset") or DEFAULT_PRESET, ss["time_range"], data_anchor())
    ss["time_range"] = fresh
    return fresh


def last_updated(data_end: datetime) -> None:
    """The caption a self-refreshing part shows: when it last ran (wall clock) and up to when its data
    goes, so a reader can tell a live view from a stuck one."""
    st.caption(f"Last updated {datetime.now(UTC):%H:%M:%S} UTC · data to {data_end:%Y-%m-%d %H:%M} UTC")


def _age_text(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 120:
        return f"{minutes} min"
    return f"{minutes / 60:.1f} h" if minutes < 48 * 60 else f"{minutes / 1440:.1f} days"


def stale_after() -> timedelta:
    """How far the newest data point may lag the end of the range before the page says so: a few scrape
    intervals (Prometheus), never under the 1-minute steps the SLO pages read (plus one late step)."""
    return max(config().prometheus.scrape_interval * 4, timedelta(minutes=3))


def state_as_of(end: datetime, newest: datetime | None, what: str = "Alert states") -> datetime:
    """The moment "now" is judged at: the newest data point, not the end of the range. Says how old it
    is; when the range runs past the data (a custom range past the newest point, or a source that
    stopped updating) a page-wide warning says "no data after HH:MM" and the last known state is kept,
    so missing data never reads as a recovery (issue 15, #3 and #5)."""
    if newest is None or newest >= end:
        return end
    age = datetime.now(UTC) - newest
    if end - newest > stale_after():
        st.warning(
            f"⏸️ **No data after {newest:%Y-%m-%d %H:%M} UTC** ({_age_text(end - newest)} before the end "
            f"of the range, {end:%H:%M} UTC). {what} below are the last known, as of {newest:%H:%M} UTC: "
            "missing data is not a recovery.",
        )
    else:
        st.caption(f"{what} as of the newest data point, {newest:%Y-%m-%d %H:%M} UTC ({_age_text(age)} ago).")
    return newest


def selected_regions() -> list[str]:
    regions = st.session_state.get("regions")
    return list(regions) if regions else list(config().region_codes)


# ---- prefetching: a page's later parts asked of the source while its first parts load ---------------
_prefetch_pool: ThreadPoolExecutor | None = None
_prefetch_pool_lock = threading.Lock()
PREFETCH_WORKERS = 6


def prefetch(kind: str, ask: Callable[[Any], object]) -> None:
    """Run `ask(source)` in the background when the source keeps its answers and joins a request already
    in flight (core.ports.JoinsRequestsInFlight: Prometheus), so the call a later part of the page
    makes with the same arguments waits on that request or finds the answer, instead of the page
    waiting on the source part after part. Nothing else happens here: no banner, no error (the later
    part asks again and shows any failure)."""
    src = source(kind)
    if not isinstance(src, JoinsRequestsInFlight):
        return
    global _prefetch_pool
    with _prefetch_pool_lock:
        if _prefetch_pool is None:
            _prefetch_pool = ThreadPoolExecutor(max_workers=PREFETCH_WORKERS, thread_name_prefix="prefetch")
        pool = _prefetch_pool

    def run() -> None:
        try:
            ask(src)
        except Exception as exc:  # the part that needs it asks again and shows the failure
            logging.getLogger(__name__).debug("prefetch from %s failed: %s", kind, exc)

    pool.submit(run)


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


@contextmanager
def loading(what: str) -> Iterator[None]:
    """A visible loading state where a section's content will be, while its data loads or is computed
    (issue 15: pages stayed blank for seconds). Streamlit shows the spinner only past a short delay, so
    cached data does not flicker."""
    with st.spinner(f"Loading {what}..."):
        yield


def load_last_good(
    view: tuple[Any, ...],
    fetch: Callable[[], T],
    empty: Callable[[], T],
    source_name: str,
    what: str | None = None,
) -> T:
    """The one "last good data" loader every page uses: run `fetch()` and remember the result for this
    session under `view`; when the source fails, show a banner and the last good result of exactly this
    view, or `empty()` with an error when there is none. `view` must hold everything that defines the
    data (source, metrics, start, end, step, regions; billing start and end), so a failure never shows
    another range's data under this range's title. `what` names the data in the loading state shown
    while `fetch()` runs (default: from `source_name`)."""
    last_good: dict = st.session_state.setdefault("_last_good", {})
    try:
        with loading(what or f"data from {source_name}"):
            result = fetch()
    except SourceError as exc:
        failure = exc
    except Exception as exc:  # anything else from a source is still the source's failure, not a crash
        failure = SourceError(source_name, f"unexpected error: {exc}")
    else:
        if source_name in PARTIAL_ANSWER_KINDS:
            partial_answer_banner(source_name, answer_warnings(result))
        last_good.pop(view, None)  # re-inserted last: the dict's order is least recently fetched first
        last_good[view] = (result, time.time())
        while len(last_good) > LAST_GOOD_VIEWS:  # the range is in the key, so bound what a session keeps
            last_good.pop(next(iter(last_good)))
        return result
    entry = last_good.get(view)
    if entry is None:
        st.error(
            f"⚠️ **{md_text(failure.source)} is unavailable**: {md_text(failure.message)} "
            "No earlier data for this view yet."
        )
        return empty()
    result, when = entry
    st.warning(
        f"⚠️ **{md_text(failure.source)} is unavailable**: {md_text(failure.message)} Showing the last good data, "
        f"fetched {(time.time() - when) / 60:.0f} min ago."
    )
    return result


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
    regions_key = tuple(regions) if regions is not None else tuple(selected_regions())
    step = step or choose_step(start, end, max_points)
    metrics_key = tuple(metrics)
    return load_last_good(
        ("metrics", kind, metrics_key, start, end, step, regions_key),
        lambda: _query(kind, metrics_key, start, end, step, regions_key),
        empty_metrics_frame,
        kind,
        what=f"{', '.join(metrics_key)} ({kind})",
    )


def load_chart_metrics(
    metrics: Sequence[str],
    start: datetime | None = None,
    end: datetime | None = None,
    regions: Sequence[str] | None = None,
    kind: str = "metrics",
    points: int = CHART_QUERY_POINTS,
) -> pd.DataFrame:
    """Metrics for charts only: asked at the chart's width (core.timeseries.chart_step, ~1,500 points a
    series; `points` for a narrower chart), never at the source's ceiling. Range-wide figures come from
    `load_aggregates`."""
    if start is None or end is None:
        start, end = time_range()
    return load_metrics(metrics, start, end, regions, kind, step=chart_step(start, end, points))


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False, max_entries=64)
def _query_across(
    kind: str,
    ops: tuple[tuple[str, str], ...],
    start: datetime,
    end: datetime,
    step: timedelta,
    regions: tuple[str, ...],
) -> pd.DataFrame:
    src = source(kind)
    if isinstance(src, AcrossRegionsSource):
        return src.query_range_across(dict(ops), start, end, step, list(regions))
    # a source that cannot combine regions itself (the store, CloudWatch): every region's points, here
    return across_regions(src.query_range([m for m, _ in ops], start, end, step, list(regions)), dict(ops))


def load_across_regions(
    ops: Mapping[str, str],
    start: datetime,
    end: datetime,
    regions: Sequence[str],
    kind: str = "metrics",
    points: int = CHART_QUERY_POINTS,
) -> pd.DataFrame:
    """A chart's "all regions" line: each metric combined over `regions` (core.ports.ACROSS_REGIONS_OPS:
    sum, avg, max) by the source when it can, at the chart's width; region = core.ports.ACROSS_REGIONS."""
    step = chart_step(start, end, points)
    ops_key = tuple(sorted(ops.items()))
    regions_key = tuple(regions)
    return load_last_good(
        ("across", kind, ops_key, start, end, step, regions_key),
        lambda: _query_across(kind, ops_key, start, end, step, regions_key),
        empty_metrics_frame,
        kind,
        what=f"{', '.join(ops)} over all regions ({kind})",
    )


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False, max_entries=64)
def _aggregate(
    kind: str,
    aggregates: tuple[RangeAggregate, ...],
    start: datetime,
    end: datetime,
    regions: tuple[str, ...],
) -> pd.DataFrame:
    src = source(kind)
    if isinstance(src, RangeAggregateSource):
        return src.aggregate_range(list(aggregates), start, end, list(regions))
    # a source that cannot aggregate (CloudWatch): the points at the usual resolution, summarised here
    metrics = sorted({m for a in aggregates for m in a.metrics})
    first = min((a.first(start, end) for a in aggregates), default=start)
    frame = src.query_range(metrics, first, end, choose_step(first, end), list(regions))
    return summarise_range(frame, aggregates, start, end)


def load_aggregates(
    aggregates: Sequence[RangeAggregate],
    start: datetime,
    end: datetime,
    regions: Sequence[str] | None = None,
    kind: str = "metrics",
) -> pd.DataFrame:
    """Range-wide figures per region (core.ports.RangeAggregate), computed by the source (Prometheus:
    instant queries) instead of from every point; a banner and the last good figures on failure."""
    regions_key = tuple(regions) if regions is not None else tuple(selected_regions())
    aggregates_key = tuple(aggregates)
    return load_last_good(
        ("aggregates", kind, aggregates_key, start, end, regions_key),
        lambda: _aggregate(kind, aggregates_key, start, end, regions_key),
        empty_aggregates_frame,
        kind,
        what=f"range figures ({kind})",
    )


def load_costs(start: date, end: date) -> pd.DataFrame:
    """Billing frame for days start..end; on failure a banner and the last good data of these days."""
    return load_last_good(
        ("billing", start, end),
        lambda: source("billing").daily_costs(start, end),
        empty_billing_frame,
        "billing",
        what=f"costs {start:%Y-%m-%d} to {end:%Y-%m-%d}",
    )


def events(start: datetime, end: datetime) -> pd.DataFrame:
    """Incidents, changes and annotations overlapping the range from every configured events source
    (headroom.wiring.build_events_source: the store, plus Prometheus annotations when configured). The
    one place pages read events from; a source that fails is named in a warning, the rest still show."""
    src = source("events")
    with loading("incidents and changes"):
        frame = src.events(start, end)
    for problem in getattr(src, "errors", []):
        st.warning(f"⚠️ Events: {problem}", icon=None)
    return frame


# ---- charts -------------------------------------------------------------------------------------
REGION_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf"]


LEGEND_ABOVE = {"orientation": "h", "x": 1, "xanchor": "right", "y": 1.02, "yanchor": "bottom"}


def region_colour(code: str, codes: Sequence[str] | None = None) -> str:
    """A region's line colour, by its place in the config (`codes`: the config's region codes, when a
    caller colours many lines: config() checks the file each call)."""
    codes = list(config().region_codes) if codes is None else list(codes)
    return REGION_COLOURS[codes.index(code) % len(REGION_COLOURS)] if code in codes else "#7f7f7f"


# above this many points in one chart, WebGL draws faster than SVG; below it SVG shows sooner (no WebGL
# context per chart: in headless Chromium the Triage page loaded in 1.1 s instead of 2.5 s)
WEBGL_MIN_POINTS = 20_000


def chart_arrays(series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """A trace's x and y as compact arrays for the browser: x as float64 epoch milliseconds (plotly sends
    typed arrays base64-encoded: 8 bytes a point instead of a 25-character ISO string; the axis is typed
    'date', so it reads as UTC time) and y as float32 (7 significant digits, more than a chart shows)."""
    x = pd.DatetimeIndex(series.index).as_unit("ms").asi8.astype(np.float64)
    return np.ascontiguousarray(x, dtype=np.float64), series.to_numpy(dtype=np.float32)


def trace_data(series: pd.Series) -> dict[str, Any]:
    """A time series as the compact data of one plotly trace at a chart's width: on a regular step (every
    source's and the simulator's output) MinMax buckets with `x0`/`dx` and float32 y values
    (core.timeseries.regular_minmax: peaks kept, no x values); otherwise MinMaxLTTB points."""
    series = series.dropna()
    regular = regular_minmax(series)
    if regular is not None:
        # plotly.js reads zone-less date strings; dx on a date axis is in milliseconds
        x0 = regular.x0.tz_convert("UTC").strftime("%Y-%m-%d %H:%M:%S")
        return {"x0": x0, "dx": regular.dx_ms, "y": regular.y.astype(np.float32)}
    x, y = chart_arrays(downsample_series(series))
    return {"x": x, "y": y}


def timeseries_figure(
    frame: pd.DataFrame,
    metric: str,
    title: str,
    y_title: str | None = None,
    scale: float = 1.0,
    marks: pd.DataFrame | None = None,
    height: int = 320,
    wide: pd.DataFrame | None = None,
    webgl: bool | None = None,
) -> go.Figure:
    """One line per region at the chart's width, UTC x axis, incidents shaded and deploys drawn as
    vertical markers when `marks` (events frame) is given. A series on a regular step (every source's
    output) goes as MinMax buckets on a regular grid (core.timeseries.regular_minmax: peaks kept, float32
    y values, no x values); others as MinMaxLTTB points. One trace per series and nothing hidden; WebGL
    (`webgl=None`: decided by the point count) only for charts with many points (bench/pages.py
    measures the bytes each page sends)."""
    wide = pivot_metric(frame, metric) if wide is None else wide
    # the "all regions" line last: drawn over the regions' own, last in the legend
    columns = sorted(wide.columns, key=lambda region: region == ACROSS_REGIONS)
    traces = {str(region): trace_data(wide[region] * scale) for region in columns}
    if webgl is None:
        webgl = sum(len(t["y"]) for t in traces.values()) > WEBGL_MIN_POINTS
    trace = go.Scattergl if webgl else go.Scatter
    fig = go.Figure()
    codes = list(config().region_codes)
    for region, data in traces.items():
        fig.add_trace(
            trace(
                **data,
                mode="lines",
                name=region,
                # the line for every region together (core.ports.ACROSS_REGIONS) stands out from theirs
                line={"width": 2.4, "color": "#212121", "dash": "dot"}
                if region == ACROSS_REGIONS
                else {"width": 1.4, "color": region_colour(region, codes)},
            )
        )
    unit = y_title or METRIC_UNITS.get(metric, "")
    fig.update_layout(
        title=title,
        height=height,
        margin={"l": 10, "r": 10, "t": 64, "b": 10},
        xaxis_title="time (UTC)",
        xaxis_type="date",  # x0/dx and epoch-ms x values read as UTC dates
        yaxis_title=unit,
        # above the plot, right-aligned under the title: below it, it covered the x axis title
        legend=LEGEND_ABOVE,
        hovermode="x unified",
    )
    if marks is not None and not marks.empty:
        add_event_marks(fig, marks)
    return fig


# ---- built figures and tables, kept by their inputs across reruns and sessions ---------------------
BUILT_MAX_ENTRIES = 96


def frame_fingerprint(frame: pd.DataFrame | pd.Series | None, labels: bool = False) -> tuple[Any, ...]:
    """A cheap identity of a frame's content (~1 ms for 30k rows): its shape, columns, and a hash of its
    numeric and time values and of its index (with `labels`, of its text columns too: ~8 ms for 30k
    rows, fine for a small frame such as the events). Cached loaders hand out a fresh copy per rerun,
    so the object's id says nothing; the labels a page puts in the key (metric, range, regions) pin
    what the text columns of a metrics frame hold, and the values say whether the data moved."""
    if frame is None:
        return ("none",)
    if isinstance(frame, pd.Series):
        frame = frame.to_frame()
    if frame.empty:
        return ("empty", tuple(map(str, frame.columns)))
    values = frame if labels else frame.select_dtypes(include=["number", "datetime", "datetimetz", "bool"])
    try:
        digest = int(pd.util.hash_pandas_object(values, index=True).sum()) if values.shape[1] else 0
    except TypeError:  # unhashable cells (lists, dicts): their text
        digest = int(pd.util.hash_pandas_object(values.astype(str), index=True).sum())
    return (frame.shape, tuple(map(str, frame.columns)), digest)


# st.cache_resource (not st.cache_data): the built figure is handed out as it is, not pickled per rerun;
# `_build` (leading underscore) is left out of the key, `key` names what it builds from
@st.cache_resource(max_entries=BUILT_MAX_ENTRIES, show_spinner=False)
def _built(key: tuple[Any, ...], _build: Callable[[], Any]) -> Any:
    return _build()


def built(key: tuple[Any, ...], build: Callable[[], T]) -> T:
    """What `build()` returns, kept under `key` (the builder's inputs: labels and frame_fingerprint of
    its frames) for every later rerun and session, the least recently used dropped past
    BUILT_MAX_ENTRIES: charts and tables rebuilt from unchanged data cost most of a warm rerun (the
    Overview's six charts ~0.3 s at 20 regions x 30 days, issue 17). The result is shared: never
    change it after. Kept in Streamlit's resource cache, so st.cache_resource.clear() empties it too."""
    return _built(key, build)


def event_mark_layout(marks: pd.DataFrame) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Incidents (shaded spans), deploys and actions (dotted lines) as plotly shape and annotation dicts:
    the ones fig.add_vrect / add_vline / add_annotation make, built as plain dicts because those calls
    validate and deep-copy the whole layout per mark (66 marks on 6 charts took over a second of every
    Overview rerun at 30 days, issue 17)."""
    shapes: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for ev in marks.to_dict("records"):
        region = ev.get("region")  # None, NaN (pandas' missing string) or "" for a fleet-wide event
        label = f"{ev['title']}" + (f" ({region})" if isinstance(region, str) and region else "")
        span = {"xref": "x", "y0": 0, "y1": 1, "yref": "y domain"}
        if ev["kind"] in ("deploy", "action") or ev["end_ts"] <= ev["start_ts"]:
            action = ev["kind"] == "action"
            line = {"color": "#6a1b9a" if action else "#607d8b", "dash": "dot"}
            shapes.append(
                {
                    "type": "line",
                    "x0": ev["start_ts"],
                    "x1": ev["start_ts"],
                    "line": line,
                    "opacity": 0.7,
                    **span,
                }
            )
            text = "🛠️" if action else "🚀"
        else:
            shapes.append(
                {
                    "type": "rect",
                    "x0": ev["start_ts"],
                    "x1": ev["end_ts"],
                    "fillcolor": "#e53935",
                    "opacity": 0.12,
                    "line": {"width": 0},
                    **span,
                }
            )
            text = "⚠"
        annotations.append(
            {
                "x": ev["start_ts"],
                "y": 1.0,
                "yref": "paper",
                "text": text,
                "showarrow": False,
                "hovertext": label,
            }
        )
    return shapes, annotations


def add_event_marks(fig: go.Figure, marks: pd.DataFrame) -> None:
    """The marks of `marks` (an events frame) on `fig`, in one layout update (event_mark_layout)."""
    shapes, annotations = event_mark_layout(marks)
    fig.update_layout(
        shapes=[*fig.layout.shapes, *shapes], annotations=[*fig.layout.annotations, *annotations]
    )


# ---- tables: one way to build a column's format, and the read-only table every page shows ---------
UTC_MINUTE = "YYYY-MM-DD HH:mm"  # every table shows times to the minute, in UTC


def number_column(label: str | None = None, decimals: int = 1, help: str | None = None) -> Any:
    """A number shown with a fixed count of decimals (percent figures already scaled to 0-100 included)."""
    return st.column_config.NumberColumn(label, format=f"%.{decimals}f", help=help)


def count_column(label: str | None = None, help: str | None = None) -> Any:
    """A whole number (instances, events)."""
    return st.column_config.NumberColumn(label, format="%d", help=help)


def usd_column(label: str | None = None, decimals: int | None = None, help: str | None = None) -> Any:
    """Dollars: Streamlit's locale dollar format, or '$' and a fixed count of decimals when given."""
    return st.column_config.NumberColumn(
        label, format="dollar" if decimals is None else f"$%.{decimals}f", help=help
    )


def percent_column(label: str | None = None, decimals: int = 1, help: str | None = None) -> Any:
    """A 0-100 figure shown with a % sign."""
    return st.column_config.NumberColumn(label, format=f"%.{decimals}f%%", help=help)


def change_column(label: str | None = None, decimals: int = 1, percent: bool = False) -> Any:
    """A signed change (+/-), in the column's unit or in percent."""
    return st.column_config.NumberColumn(label, format=f"%+.{decimals}f" + ("%%" if percent else ""))


def utc_time_column(label: str | None = None) -> Any:
    return st.column_config.DatetimeColumn(label, format=UTC_MINUTE)


# The main area's width at 1440 px with the sidebar open (issue 15, #9: tables were clipped there): a
# table's columns are sized to fit it, the long text ones narrowed first (their full text on hover).
TABLE_WIDTH_PX = 960
_CHAR_PX, _CELL_PAD_PX, _HELP_PX, _MAX_COLUMN_PX, _MIN_TEXT_PX, _MIN_NUMBER_PX = 7.2, 26, 18, 420, 110, 90
_SELECT_PX = 36  # the row-selection checkbox column


def _text_px(text: str) -> float:
    wide = sum(1 for ch in text if ord(ch) > 0x2E80)  # emoji and CJK: about two characters each
    return (len(text) + wide) * _CHAR_PX + _CELL_PAD_PX


def _cell_text(value: Any) -> str:
    return "" if value is None else str(value)


def _number_cell_text(value: Any) -> str:
    try:
        return f"{value:,.2f}"
    except (TypeError, ValueError):  # a None, a bool or text in a numeric column
        return _cell_text(value)


def fit_columns(data: pd.DataFrame, columns: Mapping[str, Any], width_px: float) -> dict[str, Any]:
    """Column configs with pixel widths so the table fits `width_px` without a horizontal scroll bar:
    each column as wide as its header and its longest cell (sampled), capped; when they do not fit, the
    text columns with long cells give way first, down to a readable minimum, then every column in
    proportion. A width already given in `columns` is kept."""
    fitted: dict[str, Any] = {}
    wanted: dict[str, float] = {}
    floor: dict[str, float] = {}
    sample = data.head(200)
    for name in data.columns:
        given = columns.get(name)
        config = dict(given) if isinstance(given, Mapping) else st.column_config.Column(given or None)
        label = config.get("label") or str(name)
        header = _text_px(label) + (_HELP_PX if config.get("help") else 0)
        is_text = not pd.api.types.is_numeric_dtype(sample[name])
        # numbers are drawn formatted (a few decimals), not as their full repr
        cells = sample[name].map(_cell_text if is_text else _number_cell_text)
        longest = float(cells.map(_text_px).max()) if len(cells) else 0.0
        fitted[name] = config
        if config.get("width") is not None:
            continue
        wanted[name] = min(max(header, longest), _MAX_COLUMN_PX)
        # what a column keeps when space is short: a number its figures and most of its header (the
        # whole label is on hover), a text column a readable start of its cells
        floor[name] = min(
            wanted[name], _MIN_TEXT_PX if is_text else max(longest, min(header, _MIN_NUMBER_PX))
        )
    fixed = sum(
        {"small": 75, "medium": 200, "large": 400}.get(c["width"], c["width"])
        for c in fitted.values()
        if c.get("width") is not None and not isinstance(c.get("width"), bool)
    )
    budget = max(width_px - fixed, 0.0)
    total, least = sum(wanted.values()), sum(floor.values())
    for name, want in wanted.items():
        if total <= budget:
            width = want
        elif least <= budget:  # the long text columns give way, each in proportion to what it can spare
            spare = total - least
            width = floor[name] + (want - floor[name]) * ((budget - least) / spare if spare else 0.0)
        else:
            width = floor[name] * budget / least
        fitted[name]["width"] = max(int(width), 40)
    return fitted


def data_table(
    frame: Any,
    key: str,
    columns: Mapping[str, Any] | None = None,
    select_row: bool = False,
    shown: Sequence[str] | None = None,
) -> int | None:
    """A read-only, full-width table without the index, its columns sized to fit the page (fit_columns);
    `columns` maps a column to its label or to one of the *_column formats above. With select_row, a
    click on a row selects it (for drill-down) and its position is returned (None when nothing is
    selected). `shown` lists the columns drawn, in order (the frame keeps the others)."""
    data = frame.data if hasattr(frame, "data") and isinstance(frame.data, pd.DataFrame) else frame
    config = dict(columns or {})
    if isinstance(data, pd.DataFrame):
        drawn = data[list(shown)] if shown is not None else data
        config = fit_columns(drawn, config, TABLE_WIDTH_PX - (_SELECT_PX if select_row else 0))
    order = list(shown) if shown is not None else None
    if not select_row:
        st.dataframe(
            frame, hide_index=True, width="stretch", column_config=config, key=key, column_order=order
        )
        return None
    event = st.dataframe(
        frame,
        hide_index=True,
        width="stretch",
        column_config=config,
        column_order=order,
        key=key,
        on_select="rerun",
        selection_mode="single-row",
    )
    rows = event.selection.rows if event is not None else []
    return rows[0] if rows else None


def open_triage_for(region: str) -> None:
    """Drill down: open Triage focused on `region` (kept in its URL as ?region=)."""
    st.session_state["triage_region"] = region
    st.switch_page("pages/triage.py", query_params={"region": region})


def show_table(frame: pd.DataFrame, key: str, decimals: int = 1) -> None:
    """A read-only table with rounded floats and UTC timestamps, for report-like sections."""
    columns: dict[str, Any] = {}
    for col in frame.columns:
        label = col.replace("_", " ")
        if pd.api.types.is_float_dtype(frame[col]):
            columns[col] = number_column(label, decimals)
        elif pd.api.types.is_datetime64_any_dtype(frame[col]):
            columns[col] = utc_time_column(label + " (UTC)")
        else:
            columns[col] = st.column_config.Column(label)
    data_table(frame, key, columns)


def bit_rate_unit(gbps: Any) -> tuple[str, float]:
    """The unit that shows bit rates (given in Gbit/s) as readable numbers, and the factor from Gbit/s:
    a CDN region serving 5 Mbit/s read as "0.005 Gbit/s" (issue 15, #9)."""
    values = pd.to_numeric(pd.Series(gbps, dtype="float64"), errors="coerce").abs().dropna()
    peak = float(values.max()) if not values.empty else 0.0
    if peak >= 1.0:
        return "Gbit/s", 1.0
    if peak >= 1e-3:
        return "Mbit/s", 1e3
    return "kbit/s", 1e6


def state_badge(state: str) -> str:
    return {"ok": "🟢 ok", "warn": "🟡 warn", "critical": "🔴 critical"}.get(state, "⚪ no data")


def state_colour(state: str) -> str:
    return STATE_COLOURS.get(state, STATE_COLOURS["no data"])


def page_header(title: str, description: str) -> tuple[datetime, datetime]:
    """Title, one-line description, and the range in force; returns (start, end)."""
    config()  # first, so a cold deep link leaves the legacy pages mode before anything is drawn
    st.title(title)
    start, end = time_range()
    st.caption(f"{description}  ·  {start:%Y-%m-%d %H:%M} → {end:%Y-%m-%d %H:%M} UTC")
    return start, end


def table_of(items: Sequence[Any], columns: Mapping[str, Any]) -> pd.DataFrame:
    """One row per item, one column per entry of `columns` (column name -> function of the item), in
    order: the table pages build from a list of domain objects (audit entries, actions, checks)."""
    return pd.DataFrame({name: [column(item) for item in items] for name, column in columns.items()})


# ---- untrusted text and page-level failures (issue 19; docs/ARCHITECTURE.md, "Threat model") ------
# the marks Streamlit's markdown gives a meaning to: links and images, emphasis, headings, lists, code,
# tables, HTML, maths, `:red[...]` directives (their `[`), and the `http://`, `www.` and `a@b.c`
# autolinks (dots, colons and digits stay as they are, so "99.95" and "failed: ..." read as typed)
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-!|<>~$@&])")
_AUTOLINK = re.compile(r"(?i)\b(www)\.|(:)//")


def md_text(text: object) -> str:
    """Text from a person or an outside system (an action's reason, a source's error, a runbook title),
    escaped so that markdown shows it as typed: never an image fetched, a live link or a heading. Line
    breaks become spaces (a reason must not start a new block)."""
    flat = " ".join(str(text).splitlines())
    escaped = _MARKDOWN_SPECIAL.sub(r"\\\1", flat)
    return _AUTOLINK.sub(lambda m: f"{m.group(1)}\\." if m.group(1) else ":\\/\\/", escaped)


def describe_failure(exc: BaseException) -> str:
    """One sentence naming what failed (the store, a source, a config key, an action row), for a page
    that cannot go on. Never a traceback: that goes to the server log."""
    if isinstance(exc, SourceError):
        return f"{exc.source} is unavailable: {exc.message}"
    if isinstance(exc, ConfigError):
        return f"the configuration file {exc.path} has problems: {'; '.join(exc.problems)}"
    if isinstance(exc, sqlite3.DatabaseError | UnreadableActionRow):
        try:
            where = str(config().store_path())
        except Exception:  # the config itself is the problem: already named elsewhere
            where = "(unknown path)"
        return (
            f"the store {where} cannot be used ({type(exc).__name__}: {exc}). It may be read-only, "
            "truncated or damaged: check the file and its permissions, or restore it from a backup"
        )
    if isinstance(exc, OSError) and exc.filename:
        return f"the file {exc.filename} cannot be used ({exc.strerror or exc})"
    message = getattr(exc, "message", None) or str(exc)
    return f"{type(exc).__name__}: {message}"


@dataclass
class GuardOutcome:
    failed: bool = False


@contextmanager
def page_guard(what: str) -> Iterator[GuardOutcome]:
    """Run a page (or a step every page needs) so that whatever it cannot handle ends in a clear message
    naming the store, source or key, and the app keeps working; the traceback goes to the server log
    only (`client.showErrorDetails = "none"` in .streamlit/config.toml hides any that slips past).
    The outcome says whether it failed."""
    outcome = GuardOutcome()
    try:
        yield outcome
    except Exception as exc:  # st.stop() and reruns are BaseException: they pass through
        outcome.failed = True
        _LOG.error("%s failed", what, exc_info=exc)
        st.error(f"⚠️ **{md_text(what)} cannot be shown**: {md_text(describe_failure(exc))}.")
        st.caption("The rest of Headroom still works: pick another page, or reload once the cause is fixed.")


# ---- who is using this session (pages other than Actions, which draws the demo picker) --------------
DEMO_USER_KEPT = "_demo_user_kept"  # the Actions page's demo choice, kept when its widget is not drawn


def current_identity() -> Identity:
    """The person using this session, from the one mechanism auth.mode trusts, without drawing a widget:
    demo mode's picker on the Actions page, the proxy's header (all its values: several are refused in
    core.auth), or the OIDC login."""
    cfg = config()
    if cfg.auth.mode == "demo":
        choice = st.session_state.get("demo_user") or st.session_state.get(DEMO_USER_KEPT)
        return resolve_identity(cfg.auth, cfg.user, demo_choice=choice)
    if cfg.auth.mode == "proxy":
        return resolve_identity(cfg.auth, cfg.user, headers=st.context.headers)
    try:
        claims = st.user.to_dict()
    except Exception:  # no [auth] in secrets.toml: nobody can be signed in
        claims = {}
    return resolve_identity(cfg.auth, cfg.user, oidc_claims=claims)
