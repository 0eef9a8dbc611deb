"""Per SLO x scope reports (budget, alert state, current burn, time to exhaustion), their flat table, the
worst alert per region, and the compact window / duration names the pages show."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from core.config import DEFAULT_BURN_RATE_RULES, BurnRateRule
from core.ports import RangeAggregate
from core.slo.alerts import alert_from_burn_rates, alert_state, burn_rate
from core.slo.budget import error_budget, time_to_exhaustion
from core.slo.grid import MetricGrid, SLOData, _as_counts, metric_grid, slo_counts
from core.slo.types import ALERT_ORDER, CURRENT_BURN_WINDOW, GLOBAL, SLO, SLOReport
from core.timeseries import aggregates_table


def slo_report(
    frame: SLOData,
    slo: SLO,
    at: datetime,
    region: str | None = None,
    rules: Sequence[BurnRateRule] = DEFAULT_BURN_RATE_RULES,
    with_budget: bool = True,
    budget_data: SLOData | None = None,
) -> SLOReport:
    """Budget, alert state, current burn and time to exhaustion of one SLO in one scope. With
    with_budget=False only the alert part is computed (for data covering the rule windows only). With
    `budget_data` the budget comes from it (counts on slots covering the SLO window, core.slo.slots) and
    the alert part from `frame` (a grid over the rule windows)."""
    counts = _as_counts(frame, slo)
    budget_counts = counts if budget_data is None else _as_counts(budget_data, slo)
    budget = error_budget(budget_counts, slo, at, region) if with_budget else None
    alert = alert_state(counts, slo, at, rules, region)
    current = alert.burn_rates.get(CURRENT_BURN_WINDOW)
    if CURRENT_BURN_WINDOW not in alert.burn_rates:
        current = burn_rate(counts, slo, CURRENT_BURN_WINDOW, at, region)
    return SLOReport(
        slo=slo,
        region=region or GLOBAL,
        budget=budget,
        alert=alert,
        current_burn=current,
        time_to_exhaustion=None
        if budget is None
        else time_to_exhaustion(budget.remaining_fraction, current, slo.window),
    )


def slo_reports(
    frame: pd.DataFrame | MetricGrid,
    slos: Sequence[SLO],
    at: datetime,
    regions: Sequence[str] | None = None,
    rules: Sequence[BurnRateRule] = DEFAULT_BURN_RATE_RULES,
    include_global: bool = True,
    with_budget: bool = True,
) -> list[SLOReport]:
    """One report per SLO x scope (each of the SLO's regions among `regions`, then global)."""
    grid = frame if isinstance(frame, MetricGrid) else metric_grid(frame)
    out: list[SLOReport] = []
    for slo in slos:
        counts = slo_counts(grid, slo)
        scopes = [r for r in (regions if regions is not None else counts.regions) if r in counts.regions]
        if slo.regions:
            scopes = [r for r in scopes if r in slo.regions]
        for region in scopes:
            out.append(slo_report(counts, slo, at, region, rules, with_budget))
        if include_global and len(counts.regions) > 1:
            out.append(slo_report(counts, slo, at, None, rules, with_budget))
    return out


def fastest_burning(reports: Sequence[SLOReport], limit: int) -> list[SLOReport]:
    """The global report(s) and the `limit` regional ones burning fastest (alert level, then current
    burn; ties keep the given order), in the given order: the cards a page draws when there are too
    many regions to draw every one (issue 17)."""
    regional = [r for r in reports if r.region != GLOBAL]
    ranked = sorted(regional, key=lambda r: (-ALERT_ORDER[r.alert.level], -(r.current_burn or 0.0)))
    picked = {id(r) for r in ranked[: max(limit, 0)]}
    return [r for r in reports if r.region == GLOBAL or id(r) in picked]


def reports_table(reports: Sequence[SLOReport]) -> pd.DataFrame:
    """A flat table of reports (one row each), the window burn rates as columns named like 'burn_1h'."""
    rows = []
    for rep in reports:
        b = rep.budget
        row: dict[str, object] = {
            "slo": rep.slo.name,
            "region": rep.region,
            "objective": rep.slo.objective,
            "sli": None if b is None else b.sli,
            "budget_remaining": None if b is None else b.remaining_fraction,
            "minutes_remaining": None if b is None else b.minutes_remaining,
            "minutes_total": rep.slo.budget_minutes,
            "current_burn": rep.current_burn,
            "time_to_exhaustion_h": None
            if rep.time_to_exhaustion is None
            else rep.time_to_exhaustion.total_seconds() / 3600,
            "alert": rep.alert.level,
            "partial": None if b is None else b.partial,
        }
        for window, burn in rep.alert.burn_rates.items():
            row[f"burn_{format_window(window)}"] = burn
        rows.append(row)
    return pd.DataFrame(rows)


def region_slo_states(
    frame: pd.DataFrame | MetricGrid,
    slos: Sequence[SLO],
    at: datetime,
    regions: Sequence[str],
    rules: Sequence[BurnRateRule] = DEFAULT_BURN_RATE_RULES,
) -> pd.DataFrame:
    """Per region, the worst alert level over the SLOs that cover it and the SLO responsible:
    columns region, alert ('page' | 'ticket' | 'ok' | 'no data'), worst_slo, current_burn.
    Needs data over the rule windows only (rules_lookback)."""
    reports = slo_reports(frame, slos, at, regions, rules, include_global=False, with_budget=False)
    rows = []
    for region in regions:
        mine = [r for r in reports if r.region == region]
        if not mine:
            rows.append({"region": region, "alert": "no data", "worst_slo": "", "current_burn": np.nan})
            continue
        worst = max(mine, key=lambda r: (ALERT_ORDER[r.alert.level], r.current_burn or 0.0))
        rows.append(
            {
                "region": region,
                "alert": worst.alert.level,
                "worst_slo": worst.slo.name,
                "current_burn": np.nan if worst.current_burn is None else worst.current_burn,
            }
        )
    return pd.DataFrame(rows, columns=["region", "alert", "worst_slo", "current_burn"])


def slo_aggregates(slo: SLO, window: timedelta | None = None) -> tuple[RangeAggregate, ...]:
    """The per-region sums one SLO's error ratio over the range's last `window` needs
    (core.ports.RangeAggregate): bad (or good) and total events for ratio SLIs, the share of steps over
    the threshold for latency."""
    if slo.is_latency:
        return (RangeAggregate(slo.total, "share_above", threshold=slo.threshold, window=window),)
    return (
        RangeAggregate(slo.bad or slo.good or "", "sum", window=window),
        RangeAggregate(slo.total, "sum", window=window),
    )


def rule_windows(rules: Sequence[BurnRateRule] = DEFAULT_BURN_RATE_RULES) -> tuple[timedelta, ...]:
    """Every window the burn-rate rules read, and the current-burn window."""
    windows = [w for r in rules for w in (r.long_window, r.short_window)] + [CURRENT_BURN_WINDOW]
    return tuple(sorted(set(windows)))


def slo_window_aggregates(
    slos: Sequence[SLO], rules: Sequence[BurnRateRule] = DEFAULT_BURN_RATE_RULES
) -> tuple[RangeAggregate, ...]:
    """Every figure region_slo_states_from_aggregates reads: each SLO's sums over each rule window
    (ask them over a range ending where the alerts are evaluated, at least as long as the longest)."""
    wanted = (a for s in slos for w in rule_windows(rules) for a in slo_aggregates(s, w))
    return tuple(dict.fromkeys(wanted))


def _error_ratio(slo: SLO, table: pd.DataFrame, region: str, window: timedelta) -> float | None:
    if region not in table.index:
        return None
    row = table.loc[region]
    if slo.is_latency:
        value = row.get(slo_aggregates(slo, window)[0].key, np.nan)
        return None if not np.isfinite(value) else float(value)
    first, total_key = (a.key for a in slo_aggregates(slo, window))
    total, first_value = row.get(total_key, np.nan), row.get(first, np.nan)
    if not np.isfinite(total) or total <= 0:
        return None
    first_value = 0.0 if not np.isfinite(first_value) else first_value
    return float(first_value / total if slo.bad else 1.0 - first_value / total)


def region_slo_states_from_aggregates(
    aggregates: pd.DataFrame,
    slos: Sequence[SLO],
    regions: Sequence[str],
    rules: Sequence[BurnRateRule] = DEFAULT_BURN_RATE_RULES,
) -> pd.DataFrame:
    """region_slo_states from the sums a source computed over each rule window (an aggregates frame
    holding `slo_window_aggregates`): the Overview's SLO column without pulling three days of minutes.
    Same columns as region_slo_states."""
    table = aggregates_table(aggregates)
    rows = []
    for region in regions:
        candidates: list[tuple[str, str, float | None]] = []  # (alert level, SLO, current burn)
        for slo in slos:
            if slo.regions and region not in slo.regions:
                continue
            rates: dict[timedelta, float | None] = {}
            for window in rule_windows(rules):
                ratio = _error_ratio(slo, table, region, window)
                rates[window] = None if ratio is None else ratio / slo.error_budget_ratio
            if any(r is not None for r in rates.values()):
                alert = alert_from_burn_rates(rates, rules)
                candidates.append((alert.level, slo.name, rates.get(CURRENT_BURN_WINDOW)))
        if not candidates:
            rows.append({"region": region, "alert": "no data", "worst_slo": "", "current_burn": np.nan})
            continue
        level, name, current = max(candidates, key=lambda c: (ALERT_ORDER[c[0]], c[2] or 0.0))
        rows.append(
            {
                "region": region,
                "alert": level,
                "worst_slo": name,
                "current_burn": np.nan if current is None else current,
            }
        )
    return pd.DataFrame(rows, columns=["region", "alert", "worst_slo", "current_burn"])


def format_window(window: timedelta) -> str:
    """5m, 1h, 3d: the compact names the Workbook uses."""
    s = int(window.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s % size == 0 and s >= size:
            return f"{s // size}{unit}"
    return f"{s}s"


def format_duration(delta: timedelta | None) -> str:
    """A human duration for 'time to exhaustion': '3 d 4 h', '2 h 5 min', '12 min', 'now', 'never'."""
    if delta is None:
        return "not burning"
    s = delta.total_seconds()
    if s <= 0:
        return "exhausted"
    if s < 3600:
        return f"{max(s / 60, 1):.0f} min"
    if s < 86400:
        return f"{int(s // 3600)} h {int(s % 3600 // 60)} min"
    if s >= 365 * 86400:
        return "> 1 year"
    return f"{int(s // 86400)} d {int(s % 86400 // 3600)} h"
