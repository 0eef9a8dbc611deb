"""Headroom's own evaluation of the alerts the generated rules define (core/alerting/rules.py), on the
same per-step metric values: burn-rate alerts through core.slo.alert_state, threshold alerts with
Prometheus' `for` semantics. The result is the set of alerts Prometheus would be firing, with the same
labels, so Triage can put it next to what Alertmanager reports and the tests can compare the two.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from core.alerting.rules import (
    burn_annotations,
    burn_labels,
    rule_regions,
    slo_regions,
    threshold_annotations,
)
from core.alerting.types import SLO_BURN_ALERT, Alert
from core.config import AlertRuleConfig, HeadroomConfig
from core.ports import RangeAggregate, SlotAggregates
from core.slo import (
    GLOBAL,
    SLO,
    MetricGrid,
    alert_state,
    alert_state_from_windows,
    slo_counts,
    slot_counts,
)
from core.slo.slots import slo_slot_aggregates

_OPS: dict[str, Callable[[np.ndarray, float], np.ndarray]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}


@dataclass(frozen=True)
class ThresholdState:
    """One `[[alert_rule]]` in one region at one time."""

    rule: AlertRuleConfig
    region: str
    value: float | None  # the compared quantity at `at`, in its own unit (None: no data)
    state: str  # firing | pending (condition true, `for` not yet reached) | ok | no data
    active_since: datetime | None  # start of the current run of true evaluations


def _slot(grid: MetricGrid, at: datetime) -> int:
    return int((int(at.timestamp()) - grid.t0) // grid.step)


def threshold_states(config: HeadroomConfig, grid: MetricGrid, at: datetime) -> list[ThresholdState]:
    """Every threshold rule in each of its regions at `at`. A step without data breaks the condition
    (as a Prometheus evaluation that returns nothing resets a pending alert); `for` needs the condition
    at every step from at - for to at."""
    out: list[ThresholdState] = []
    k = _slot(grid, at)
    for rule in config.alert_rule:
        need = math.ceil(rule.for_.total_seconds() / grid.step) if grid.step else 0
        for region in rule_regions(config, rule):
            if region not in grid.regions or grid.slots == 0 or not 0 <= k < grid.slots:
                out.append(ThresholdState(rule, region, None, "no data", None))
                continue
            row = np.array([grid.regions.index(region)])
            values = grid.get(rule.metric, row)[0, : k + 1]
            if rule.per is not None:
                with np.errstate(divide="ignore", invalid="ignore"):
                    values = values / grid.get(rule.per, row)[0, : k + 1]
            with np.errstate(invalid="ignore"):
                cond = _OPS[rule.operator](values, rule.threshold_value) & ~np.isnan(values)
            now = values[-1]
            if not cond[-1]:
                state = "no data" if np.isnan(now) else "ok"
                out.append(ThresholdState(rule, region, None if np.isnan(now) else float(now), state, None))
                continue
            false_at = np.flatnonzero(~cond)
            run_start = int(false_at[-1]) + 1 if len(false_at) else 0
            run = k - run_start  # steps the condition has held before this one
            state = "firing" if run >= need else "pending"
            since = datetime.fromtimestamp(grid.t0 + run_start * grid.step, UTC)
            out.append(ThresholdState(rule, region, float(now), state, since))
    return out


def burn_window_aggregates(config: HeadroomConfig) -> tuple[RangeAggregate, ...] | None:
    """The figures every SLO's burn-rate rules read, as sums over one window (a source's
    aggregate_slots over (at - window, at] with one slot, for each rule window): the counts
    core.slo.slots reads. None when an SLO needs each step's own ratio (a timeslice ratio SLI): then
    the burn-rate alerts need the grid."""
    wanted: list[RangeAggregate] = []
    for slo_config in config.slo:
        mine = slo_slot_aggregates(SLO.from_config(slo_config))
        if mine is None:
            return None
        wanted += mine
    return tuple(dict.fromkeys(wanted))


def burn_windows(config: HeadroomConfig) -> tuple[timedelta, ...]:
    """The windows the burn-rate rules read (each asked as one slot ending at the evaluation time)."""
    return tuple(sorted({w for r in config.burn_rate_rule for w in (r.long_window, r.short_window)}))


def threshold_lookback(config: HeadroomConfig) -> timedelta:
    """The grid the threshold rules need: their longest `for` and a margin (pending since when)."""
    return max((r.for_ + timedelta(minutes=10) for r in config.alert_rule), default=timedelta(0))


def headroom_alerts(
    config: HeadroomConfig,
    grid: MetricGrid,
    at: datetime,
    windows: Mapping[timedelta, SlotAggregates] | None = None,
) -> list[Alert]:
    """The alerts the generated rules would fire at `at`, computed by Headroom: the burn-rate alert of
    every SLO, scope (region, and global for multi-region SLOs) and burn-rate rule that fires, and every
    threshold rule firing in a region. Labels and annotations are those of the rule file.

    With `windows` (each burn-rate window's `burn_window_aggregates` as one slot ending at `at`) the
    burn-rate alerts come from those sums and `grid` needs only the threshold rules' metrics over
    `threshold_lookback`; without, `grid` covers every SLO metric over the rules' lookback."""
    return burn_alerts(config, at, grid, windows) + threshold_alerts(config, grid, at)


def burn_alerts(
    config: HeadroomConfig,
    at: datetime,
    grid: MetricGrid | None = None,
    windows: Mapping[timedelta, SlotAggregates] | None = None,
) -> list[Alert]:
    """The burn-rate alerts firing at `at`, from `windows` (see headroom_alerts) or else from `grid`."""
    if windows is None and grid is None:
        raise ValueError("burn_alerts needs a grid or the windows' sums")
    alerts: list[Alert] = []
    for slo_config in config.slo:
        slo = SLO.from_config(slo_config)
        regions = slo_regions(config, slo_config)
        if windows is None:
            counts = slo_counts(grid, slo)
            present = set(counts.regions)
        else:
            by_window = {w: slot_counts(sums, slo) for w, sums in windows.items()}
            present = {r for c in by_window.values() for r in c.regions}
        scopes: list[str | None] = [r for r in regions if r in present]
        if len(regions) > 1:
            scopes.append(None)
        for region in scopes:
            state = (
                alert_state(counts, slo, at, config.burn_rate_rule, region)
                if windows is None
                else alert_state_from_windows(by_window, slo, at, config.burn_rate_rule, region)
            )
            for evaluation in state.rules:
                if not evaluation.firing:
                    continue
                scope = region or GLOBAL
                labels = {"alertname": SLO_BURN_ALERT, "slo": slo.name, "region": scope}
                labels.update(burn_labels(config, slo_config, evaluation.rule))
                alerts.append(
                    Alert(labels, burn_annotations(config, slo_config, evaluation.rule, scope), "firing")
                )
    return alerts


def threshold_alerts(config: HeadroomConfig, grid: MetricGrid, at: datetime) -> list[Alert]:
    """Every threshold rule firing in a region at `at` (threshold_states)."""
    alerts: list[Alert] = []
    for st in threshold_states(config, grid, at):
        if st.state == "firing":
            labels = {"alertname": st.rule.name, "region": st.region, "severity": st.rule.severity}
            alerts.append(
                Alert(labels, threshold_annotations(config, st.rule, st.region), "firing", st.active_since)
            )
    return alerts
