"""Streamlit glue for alerting (Triage, Overview, SLOs): the one severity vocabulary, the auto-refresh
choice kept in the URL, and the alerts panel (Headroom's firing set beside what Alertmanager is firing)
that reruns on its own as an `st.fragment(run_every=...)`."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import streamlit as st

from core.alerting.compare import AlertComparison, compare_alerts
from core.alerting.evaluate import (
    burn_alerts,
    burn_window_aggregates,
    burn_windows,
    threshold_alerts,
    threshold_lookback,
    threshold_states,
)
from core.alerting.rules import RuleError, generate_rules
from core.alerting.types import SEVERITY_BADGES, SLO_BURN_ALERT, Alert, Silence
from core.config import HeadroomConfig
from core.ports import RangeAggregate, SourceError, WindowAggregateSource, empty_metrics_frame
from core.slo import SLO, MetricGrid, metric_grid, metrics_for, rules_lookback
from pages import _ui as ui
from pages._slo_data import SLO_STEP, slo_grid

LEVEL_ICONS = {"page": "🔴 page", "ticket": "🟡 ticket", "ok": "🟢 ok", "no data": "⚪ no data"}
# label shown -> (URL value, interval)
REFRESH: dict[str, tuple[str, timedelta | None]] = {
    "off": ("off", None),
    "30 s": ("30s", timedelta(seconds=30)),
    "1 min": ("1m", timedelta(minutes=1)),
    "5 min": ("5m", timedelta(minutes=5)),
}


def level_badges(cfg: HeadroomConfig) -> dict[str, str]:
    """Burn-rate levels with their configured sev level, e.g. '🔴 page · sev2' (one vocabulary)."""
    return {
        level: f"{icon} · {cfg.alerting.severity_of(level)}" if level in ("page", "ticket") else icon
        for level, icon in LEVEL_ICONS.items()
    }


def refresh_control(page: str, default: str) -> timedelta | None:
    """Auto-refresh off / 30 s / 1 min / 5 min, kept in the URL (?refresh=30s) so a link reproduces it.
    The page passes the interval to its data parts (st.fragment(run_every=...)): only they rerun."""
    key = f"{page}_refresh"
    by_url = {url: label for label, (url, _) in REFRESH.items()}
    if key not in st.session_state:
        asked = st.query_params.get("refresh", "")
        if asked and asked not in by_url:
            ui.bad_url_value(
                "refresh", asked, f"{default} (the page's default)", f"one of {', '.join(by_url)}"
            )
        st.session_state[key] = by_url.get(asked, default)
    label = (
        st.segmented_control(
            "Auto-refresh",
            list(REFRESH),
            key=key,
            help="Only the parts showing data rerun (and follow the clock when the source is live); "
            "the rest of the page, and what you typed in it, stays as it is.",
        )
        or default
    )
    # written only when it differs from the page's default, so one page's default does not travel
    # to the next page through the shared query string
    if label == default:
        st.query_params.pop("refresh", None)
    else:
        st.query_params["refresh"] = REFRESH[label][0]
    return REFRESH[label][1]


def evaluation_time() -> datetime:
    """The time the panel evaluates at: a relative range follows the clock (the newest minute of a live
    source; the end of the demo world), a custom range stays at its end."""
    return ui.refreshed_range()[1]


@st.cache_resource(show_spinner=False)
def _alertmanager(config_mtime: float):  # -> AlertmanagerSource | None
    from headroom.wiring import build_alertmanager

    return build_alertmanager(ui.config(), ui.secrets())


@st.cache_data(ttl=15, show_spinner=False)
def _alertmanager_state(config_mtime: float) -> tuple[list[Alert] | None, list[Silence], str]:
    # cached briefly, failures included: an unreachable Alertmanager costs one timeout per 15 s, not
    # one per rerun of every open page
    try:
        source = _alertmanager(config_mtime)
        if source is None:
            return None, [], ""
        return source.alerts(), source.silences(), ""
    except SourceError as exc:
        return None, [], f"{exc.source}: {exc.message}"


def alertmanager_state() -> tuple[list[Alert] | None, list[Silence], str]:
    """(alerts, silences, problem): alerts None when Alertmanager is not configured or unreachable."""
    from core.config import config_path

    try:
        mtime = config_path().stat().st_mtime
    except OSError:
        mtime = 0.0
    return _alertmanager_state(mtime)


def _rows(cfg: HeadroomConfig, rows: list[AlertComparison], pending: list[Alert]) -> pd.DataFrame:
    out = []
    for r in rows:
        labels = r.labels
        out.append(
            {
                "Severity": SEVERITY_BADGES.get(labels.get("severity", ""), labels.get("severity", "")),
                "Alert": labels.get("alertname", ""),
                "SLO / signal": labels.get("slo") or labels.get("subject", ""),
                "Region": labels.get("region", ""),
                "Windows": f"{labels['long_window']}/{labels['short_window']}"
                if "long_window" in labels
                else "",
                "Headroom": r.headroom,
                "Alertmanager": r.alertmanager,
                "Agree": "✅" if r.agree else "⚠️ no",
                "Note": r.note,
                "Runbook": r.annotations.get("runbook_url", ""),
            }
        )
    for a in pending:
        out.append(
            {
                "Severity": SEVERITY_BADGES.get(a.severity, a.severity),
                "Alert": a.name,
                "SLO / signal": "",
                "Region": a.labels.get("region", ""),
                "Windows": "",
                "Headroom": "pending",
                "Alertmanager": "",
                "Agree": "",
                "Note": f"condition holds since {a.starts_at:%H:%M} UTC; fires after its `for`",
                "Runbook": a.annotations.get("runbook_url", ""),
            }
        )
    return pd.DataFrame(out)


@st.cache_resource(ttl=ui.CACHE_TTL_S, max_entries=8, show_spinner=False)
def _window_burn_alerts(
    kind: str,
    figures: tuple[RangeAggregate, ...],
    at: datetime,
    windows: tuple[timedelta, ...],
    regions: tuple[str, ...],
    config_key: tuple[str, float],
) -> list[Alert]:
    """The burn-rate alerts from the windows' sums, shared by every session and rerun in the same
    minute: the sums and the ~50 alert states of 20 regions cost ~0.2 s a rerun otherwise."""
    sums = ui.source(kind).aggregate_windows(list(figures), at, list(windows), list(regions))
    return burn_alerts(ui.config(), at, windows=sums)


def window_burn_alerts(
    cfg: HeadroomConfig, at: datetime, regions: tuple[str, ...], kind: str = "metrics"
) -> list[Alert] | None:
    """The burn-rate alerts at `at` from each rule window's sums, computed by the source (Prometheus:
    instant queries over the windows' disjoint pieces: `sum_over_time` / `avg_over_time` /
    `count_over_time` of the SLO metrics' templates, the counters the generated rules read), so the
    panel reads a few numbers per region instead of a 3-day grid (1.7 MB at 20 regions, issue 17).
    None when the source cannot (the store, CloudWatch) or an SLO needs every step's own ratio: the
    panel then reads the grid as before. On a source failure the same banner and last good alerts as
    every loader (none without)."""
    src = ui.source(kind)
    figures = burn_window_aggregates(cfg)
    windows = burn_windows(cfg)
    if not isinstance(src, WindowAggregateSource) or not figures or not windows:
        return None
    config_key = ui.config_key()
    return ui.load_last_good(
        ("burn_windows", kind, figures, at, windows, regions),
        lambda: _window_burn_alerts(kind, figures, at, windows, regions, config_key),
        list,
        kind,
        what="burn-rate windows",
    )


def grid_fingerprint(grid: MetricGrid) -> tuple[object, ...]:
    """A grid's identity for ui.built: its layout and a digest of its values (~1 ms for 3 days x 20
    regions x 3 metrics)."""
    digest = hashlib.blake2b(digest_size=16)
    for metric in sorted(grid.values):
        digest.update(metric.encode())
        digest.update(np.ascontiguousarray(grid.values[metric]).tobytes())
    return (grid.regions, grid.t0, grid.step, grid.slots, digest.hexdigest())


def prefetch_panel(cfg: HeadroomConfig, kind: str = "metrics") -> None:
    """Start the panel's requests now (ui.prefetch): a page calls this at its top so the rule windows'
    sums and the threshold grid load while its first parts do. The same arguments as panel_alerts."""
    at = evaluation_time()
    regions = tuple(cfg.region_codes)
    figures, windows = burn_window_aggregates(cfg), burn_windows(cfg)
    if figures and windows:
        ui.prefetch(kind, lambda src: src.aggregate_windows(list(figures), at, list(windows), list(regions)))
    metrics = sorted({m for r in cfg.alert_rule for m in (r.metric, r.per) if m})
    if metrics and figures and windows:
        first = at - threshold_lookback(cfg)
        ui.prefetch(kind, lambda src: src.query_range(metrics, first, at, SLO_STEP, list(regions)))


def panel_alerts(cfg: HeadroomConfig, at: datetime) -> tuple[list[Alert], list[Alert]]:
    """(firing, pending) at `at`: the burn-rate alerts from the rule windows' sums where the source
    computes them (window_burn_alerts), else from a grid over the rules' lookback; threshold rules from
    a grid over their longest `for`."""
    slos = [SLO.from_config(s) for s in cfg.slo]
    threshold_metrics = {m for r in cfg.alert_rule for m in (r.metric, r.per) if m}
    regions = tuple(cfg.region_codes)
    burning = window_burn_alerts(cfg, at, regions)
    if burning is None:
        metrics = sorted(set(metrics_for(slos)) | threshold_metrics)
        lookback = max(rules_lookback(cfg.burn_rate_rule), threshold_lookback(cfg))
    else:
        metrics, lookback = sorted(threshold_metrics), threshold_lookback(cfg)
    # no threshold rule and the windows' sums: no grid at all
    grid = slo_grid(metrics, at - lookback, at, regions) if metrics else metric_grid(empty_metrics_frame())
    if burning is None:
        # once per (config, time, grid): ~0.1 s a rerun on the demo's 3-day grid otherwise
        key = ("grid_burn_alerts", ui.config_key(), at, grid_fingerprint(grid))
        burning = ui.built(key, lambda: burn_alerts(cfg, at, grid))
    mine = list(burning) + threshold_alerts(cfg, grid, at)
    pending = [
        Alert(
            {"alertname": s.rule.name, "region": s.region, "severity": s.rule.severity},
            {"runbook_url": s.rule.runbook},
            "pending",
            s.active_since,
        )
        for s in threshold_states(cfg, grid, at)
        if s.state == "pending"
    ]
    return mine, pending


def alerts_panel(cfg: HeadroomConfig, page: str, compare: bool = True) -> None:
    """Headroom's burn-rate and threshold alerts at the evaluation time, beside Alertmanager's."""
    # a relative range follows the clock here, as in the page's other self-refreshing parts: no rerun
    # of the whole page (that would redraw every control and lose what a user is typing)
    at = evaluation_time()
    mine, pending = panel_alerts(cfg, at)
    theirs, silences, problem = alertmanager_state() if compare else (None, [], "")
    names = {SLO_BURN_ALERT, "HeadroomSignal", *(r.name for r in cfg.alert_rule)}
    rows = compare_alerts(mine, theirs, names)
    firing = sum(1 for r in rows if r.headroom == "firing")
    st.caption(
        f"Last updated {datetime.now(UTC):%H:%M:%S} UTC · evaluated at {at:%Y-%m-%d %H:%M} UTC · "
        f"{firing} firing in Headroom"
        + ("" if theirs is None else f", {sum(1 for a in theirs if a.name in names)} in Alertmanager")
    )
    if problem:
        st.warning(f"⚠️ **Alertmanager is unavailable**: {problem} Showing Headroom's own alerts only.")
    elif compare and theirs is None:
        st.caption("Set `[alertmanager] url` in the config to compare with what Alertmanager is firing.")
    if not rows and not pending:
        st.caption("No burn-rate or threshold alert is firing.")
        return
    disagreements = [r for r in rows if not r.agree]
    if disagreements:
        st.warning(
            f"⚠️ Headroom and Alertmanager disagree on {len(disagreements)} alert(s): see the Note column."
        )
    st.dataframe(
        _rows(cfg, rows, pending),
        hide_index=True,
        width="stretch",
        key=f"{page}_alerts",
        column_config={"Runbook": st.column_config.LinkColumn("Runbook", display_text="open")},
    )
    if silences:
        st.caption(
            "Silences in Alertmanager: "
            + "; ".join(
                f"{', '.join(s.matchers)} by {s.created_by} until {s.ends_at:%Y-%m-%d %H:%M}"
                for s in silences
            )
        )


def render_alerts_panel(
    cfg: HeadroomConfig, page: str, interval: timedelta | None, compare: bool = True
) -> None:
    """The panel as a fragment rerunning on its own at the page's refresh interval (refresh_control)."""
    st.fragment(run_every=interval)(alerts_panel)(cfg, page, compare)


@st.cache_resource(max_entries=4, show_spinner=False)
def _exports(config_key: tuple[str, float]) -> tuple[str | None, dict[str, int], str, str]:
    """The rule file (or why it cannot be generated), its counts and the OpenSLO documents of the config,
    built once per config file across sessions: the YAML dump alone cost ~0.1 s a rerun (issue 17)."""
    from core.alerting.openslo import export_openslo

    cfg = ui.config()
    openslo = export_openslo(cfg)
    try:
        rules = generate_rules(cfg)
    except RuleError as exc:
        return None, {}, str(exc), openslo
    return rules.to_yaml(), rules.counts(), "", openslo


def export_buttons() -> None:
    """SLOs page: the Prometheus rule file and the OpenSLO documents of this config."""
    rules_yaml, counts, problem, openslo = _exports(ui.config_key())
    with st.expander("⬇️ Export: Prometheus rules, OpenSLO"):
        if rules_yaml is None:
            st.warning(f"The Prometheus rules cannot be generated: {problem}")
        else:
            st.download_button(
                "Prometheus rule file (headroom-rules.yml)",
                rules_yaml,
                file_name="headroom-rules.yml",
                mime="application/yaml",
                key="slo_download_rules",
            )
            st.caption(
                f"{counts['recording']} recording rules, {counts['burn_rate_alerts']} burn-rate alerts, "
                f"{counts['threshold_alerts']} threshold alerts; the same as `python -m headroom rules`."
            )
        st.download_button(
            "OpenSLO v1 (slos.yaml)",
            openslo,
            file_name="slos.yaml",
            mime="application/yaml",
            key="slo_download_openslo",
        )
