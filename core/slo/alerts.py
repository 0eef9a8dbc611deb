"""Burn rates (one window, several at once, a sliding series), the multiwindow multi-burn-rate alert state
(Google SRE Workbook ch. 5) and what is burning now."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from core.config import DEFAULT_BURN_RATE_RULES, BurnRateRule
from core.slo.grid import (
    SLOData,
    _as_counts,
    _none_if_nan,
    _series_ends,
    _slot_bounds,
    _to_epoch,
    _window_one,
    _windows,
)
from core.slo.types import ALERT_ORDER, SLO, AlertState, RuleEvaluation, SLOReport


def burn_rate(
    frame: SLOData,
    slo: SLO,
    window: timedelta,
    at: datetime,
    region: str | None = None,
) -> float | None:
    """Error ratio over (at - window, at] divided by the allowed ratio (1 - objective); None without
    traffic. 1 spends the budget exactly over the SLO window; 14.4 spends 2% of a 30-day budget in 1 h."""
    counts = _as_counts(frame, slo)
    end = _to_epoch(at)
    w = _window_one(counts, region, end - int(window.total_seconds()), end)
    ratio = _none_if_nan(w.error_ratio[0])
    return None if ratio is None else ratio / slo.error_budget_ratio


def burn_rates(
    frame: SLOData,
    slo: SLO,
    windows: Sequence[timedelta],
    at: datetime,
    region: str | None = None,
) -> tuple[dict[timedelta, float | None], tuple[timedelta, ...]]:
    """Burn rates of several windows ending at `at` in one pass, and the windows the data does not cover."""
    counts = _as_counts(frame, slo)
    unique = list(dict.fromkeys(windows))
    end = _to_epoch(at)
    ends = np.full(len(unique), end, dtype=np.int64)
    starts = ends - np.array([int(w.total_seconds()) for w in unique], dtype=np.int64)
    res = _windows(counts, counts.rows(region), starts, ends)
    rates = {
        w: (None if not np.isfinite(r) else float(r) / slo.error_budget_ratio)
        for w, r in zip(unique, res.error_ratio, strict=True)
    }
    partial = tuple(w for w, p in zip(unique, res.partial, strict=True) if p)
    return rates, partial


def window_events(
    frame: SLOData,
    slo: SLO,
    windows: Sequence[timedelta],
    at: datetime,
    region: str | None = None,
) -> dict[timedelta, float]:
    """Requests seen in each window ending at `at` (summed over the scope's regions): the SLI's events
    for occurrences, the traffic of the steps with data for timeslices (what the low-traffic guard counts)."""
    counts = _as_counts(frame, slo)
    unique = list(dict.fromkeys(windows))
    rows = counts.rows(region)
    if len(rows) == 0 or counts.slots == 0:
        return dict.fromkeys(unique, 0.0)
    end = _to_epoch(at)
    ends = np.full(len(unique), end, dtype=np.int64)
    lo, hi = _slot_bounds(counts, ends - np.array([int(w.total_seconds()) for w in unique]), ends)
    weight = counts.cum_weight[rows]
    return {w: float(v) for w, v in zip(unique, (weight[:, hi] - weight[:, lo]).sum(axis=0), strict=True)}


def alert_state(
    frame: SLOData,
    slo: SLO,
    at: datetime,
    rules: Sequence[BurnRateRule] = DEFAULT_BURN_RATE_RULES,
    region: str | None = None,
    min_events: float | None = None,
) -> AlertState:
    """Multiwindow, multi-burn-rate alerts (SRE Workbook ch. 5): a rule fires when the burn rates of
    both its long and its short window exceed its threshold; page / ticket when any rule of that
    severity fires. A window without traffic never fires. Low-traffic guard: with `min_events` (None:
    the SLO's own, 0 by default) a rule also needs that many requests in each of its two windows."""
    windows = [w for r in rules for w in (r.long_window, r.short_window)]
    rates, partial = burn_rates(frame, slo, windows, at, region)
    guard = slo.min_events if min_events is None else min_events
    events = window_events(frame, slo, windows, at, region) if guard > 0 else None
    return alert_from_burn_rates(rates, rules, partial, events, guard)


def alert_state_from_windows(
    windows: Mapping[timedelta, SLOData],
    slo: SLO,
    at: datetime,
    rules: Sequence[BurnRateRule] = DEFAULT_BURN_RATE_RULES,
    region: str | None = None,
) -> AlertState:
    """alert_state from one counts per rule window (each covering at least that window ending at `at`,
    e.g. a single slot of the window's length: core.slo.slots.slot_counts of a source's sums), so the
    rules need a few sums per window instead of a grid over the longest one (issue 17). A window missing
    from `windows` has no burn rate (never fires). Same guard and results as alert_state on a grid."""
    rates: dict[timedelta, float | None] = {}
    partial: list[timedelta] = []
    events: dict[timedelta, float] = {}
    wanted = dict.fromkeys(w for r in rules for w in (r.long_window, r.short_window))
    for window in wanted:
        data = windows.get(window)
        if data is None:
            rates[window] = None
            partial.append(window)
            continue
        rate, missing = burn_rates(data, slo, [window], at, region)
        rates.update(rate)
        partial += missing
        if slo.min_events > 0:
            events.update(window_events(data, slo, [window], at, region))
    guard = slo.min_events
    return alert_from_burn_rates(rates, rules, tuple(partial), events if guard > 0 else None, guard)


def alert_from_burn_rates(
    rates: dict[timedelta, float | None],
    rules: Sequence[BurnRateRule] = DEFAULT_BURN_RATE_RULES,
    partial: tuple[timedelta, ...] = (),
    events: dict[timedelta, float] | None = None,
    min_events: float = 0.0,
) -> AlertState:
    """The alert state from the burn rate of every rule window, however they were computed (a grid, or
    the source's own sums: core.slo.reports.region_slo_states_from_aggregates). With `min_events` > 0
    and the requests of each window in `events`, a rule also needs that many in both its windows."""
    guard = min_events if events is not None else 0.0
    evaluations = []
    for rule in rules:
        long_burn, short_burn = rates.get(rule.long_window), rates.get(rule.short_window)
        firing = (
            long_burn is not None
            and short_burn is not None
            and long_burn > rule.burn_rate
            and short_burn > rule.burn_rate
            and (
                guard <= 0
                or min(events.get(rule.long_window, 0.0), events.get(rule.short_window, 0.0)) >= guard
            )
        )
        evaluations.append(RuleEvaluation(rule, long_burn, short_burn, firing))
    return AlertState(
        page=any(e.firing for e in evaluations if e.rule.severity == "page"),
        ticket=any(e.firing for e in evaluations if e.rule.severity == "ticket"),
        burn_rates=rates,
        rules=tuple(evaluations),
        partial_windows=partial,
    )


def burn_rate_series(
    frame: SLOData,
    slo: SLO,
    window: timedelta,
    start: datetime,
    end: datetime,
    region: str | None = None,
    points: int = 600,
) -> pd.DataFrame:
    """The burn rate over a sliding `window`, evaluated from start to end: columns ts, burn_rate (NaN
    without traffic)."""
    counts = _as_counts(frame, slo)
    if counts.slots == 0:
        return pd.DataFrame({"ts": pd.Series([], dtype="datetime64[ns, UTC]"), "burn_rate": []})
    ends = _series_ends(counts, _to_epoch(start), _to_epoch(end), points)
    res = _windows(counts, counts.rows(region), ends - int(window.total_seconds()), ends)
    return pd.DataFrame(
        {
            "ts": pd.to_datetime(ends, unit="s", utc=True),
            "burn_rate": res.error_ratio / slo.error_budget_ratio,
        }
    )


def burning_now(reports: Sequence[SLOReport], min_burn: float = 1.0) -> list[SLOReport]:
    """What is burning now, fastest first: any page/ticket alert, or a current burn above `min_burn`
    (spending faster than the objective allows), ranked by alert level then current burn."""
    burning = [
        r
        for r in reports
        if r.alert.level in ("page", "ticket") or (r.current_burn is not None and r.current_burn > min_burn)
    ]
    return sorted(burning, key=lambda r: (-ALERT_ORDER[r.alert.level], -(r.current_burn or 0.0)))
