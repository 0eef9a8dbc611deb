"""Streamlit glue shared by the SLO-facing pages (SLOs, Triage, Overview): SLO metrics at 1-minute steps
for every region, put on a MetricGrid and cached as a resource.

Why not ui.load_metrics: st.cache_data pickles what it caches, and 30 days x 6 regions x 3 metrics is
~780k tidy rows whose unpickling alone took 0.2-0.6 s per rerun here; the grid is a few numpy arrays,
shared read-only between sessions without a copy. Failures go through the same ui.load_last_good: a
banner and the last good grid of exactly this view.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import streamlit as st

from core.config import config_path
from core.ports import (
    RangeAggregate,
    SlotAggregates,
    SlotAggregateSource,
    answer_warnings,
    empty_metrics_frame,
    empty_slot_frame,
)
from core.slo import (
    SLO,
    MetricGrid,
    SLICounts,
    budget_slot,
    lookback,
    metric_grid,
    slot_aggregates,
    slot_counts,
    slots_fit,
)
from pages import _ui as ui

# timeslice SLIs judge every minute, so ask for minutes; a source may return a coarser step (Prometheus
# keeps a series under 11k points: 4 minutes for 30 days) and the grid takes the step from the data
SLO_STEP = timedelta(minutes=1)


@st.cache_resource(ttl=ui.CACHE_TTL_S, max_entries=8, show_spinner=False)
def _grid(
    kind: str,
    metrics: tuple[str, ...],
    start: datetime,
    end: datetime,
    regions: tuple[str, ...],
    _mtime: float,
) -> MetricGrid:
    frame = ui.source(kind).query_range(list(metrics), start, end, SLO_STEP, list(regions))
    return metric_grid(frame)


def slo_grid(
    metrics: Sequence[str], start: datetime, end: datetime, regions: Sequence[str], kind: str = "metrics"
) -> MetricGrid:
    """The metrics on a 1-minute grid; on a source failure a banner and the last good grid of this view."""
    try:
        mtime = config_path().stat().st_mtime
    except OSError:
        mtime = 0.0
    metrics_key, regions_key = tuple(metrics), tuple(regions)
    return ui.load_last_good(
        ("slo_grid", kind, metrics_key, start, end, SLO_STEP, regions_key),
        lambda: _grid(kind, metrics_key, start, end, regions_key, mtime),
        lambda: metric_grid(empty_metrics_frame()),
        kind,
        what=f"SLO data ({', '.join(metrics_key)})",
    )


@dataclass(frozen=True)
class _BudgetCounts:
    """The slot sums and each SLO's counts from them (None when the windows are not whole slots),
    computed together so a rerun reuses both: counting every SLO's slots cost 0.1-0.2 s a rerun at 20
    regions (issue 17). `source_warnings`: a partial answer's warnings (core.ports.answer_warnings)."""

    counts: dict[str, SLICounts] | None
    source_warnings: tuple[str, ...] = ()


def _count_slots(result: SlotAggregates, slos: Sequence[SLO]) -> _BudgetCounts:
    counts = {s.name: slot_counts(result, s) for s in slos} if slots_fit(result, slos) else None
    return _BudgetCounts(counts, answer_warnings(result))


@st.cache_resource(ttl=ui.CACHE_TTL_S, max_entries=8, show_spinner=False)
def _slots(
    kind: str,
    aggregates: tuple[RangeAggregate, ...],
    start: datetime,
    end: datetime,
    slot: timedelta,
    regions: tuple[str, ...],
    slo_names: tuple[str, ...],
    _mtime: float,
    _slos: tuple[SLO, ...],
) -> _BudgetCounts:
    result = ui.source(kind).aggregate_slots(list(aggregates), start, end, slot, list(regions))
    return _count_slots(result, _slos)


def slo_budget_counts(
    slos: Sequence[SLO], at: datetime, regions: Sequence[str], kind: str = "metrics"
) -> dict[str, SLICounts] | None:
    """Each SLO's counts over its window ending at `at`, from per-slot sums the source computes
    (core.slo.slots: a few hundred sums per region instead of every point); None when the source cannot
    (the store, CloudWatch), an SLO needs every step's own ratio, or the windows are not whole slots:
    then the page reads the budgets from `slo_grid` over `lookback(slos)` as before. On a source failure
    the same banner and last good counts as slo_grid (empty counts when there are none). Cached with the
    sums, across sessions (the SLOs are the config's: its file's time is in the key of every cache)."""
    src = ui.source(kind)
    wanted = slot_aggregates(slos)
    slot = budget_slot(slos)
    if not isinstance(src, SlotAggregateSource) or wanted is None or slot is None:
        return None
    try:
        mtime = config_path().stat().st_mtime
    except OSError:
        mtime = 0.0
    start, regions_key, slos_key = at - lookback(slos), tuple(regions), tuple(slos)
    names = tuple(s.name for s in slos)

    def empty() -> _BudgetCounts:  # the source failed with nothing to fall back on: no data, no retry
        return _count_slots(SlotAggregates(empty_slot_frame(), at, slot, 0, slot), slos)

    result = ui.load_last_good(
        ("slo_slots", kind, wanted, start, at, slot, regions_key, names),
        lambda: _slots(kind, wanted, start, at, slot, regions_key, names, mtime, slos_key),
        empty,
        kind,
    )
    return result.counts
