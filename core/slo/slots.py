"""SLO counts from per-slot sums a source computed (core.ports.SlotAggregates): a 30-day SLO window as a
few hundred sums per region instead of every point (issue 17: the SLOs page pulled 17 MB from Prometheus
at 20 regions x 30 days).

The slots sum the very steps a full-resolution grid would hold, so every window made of whole slots (the
SLO windows, which end where the slots end) gives the figures `slo_counts` gives on that grid; the
counts' `unit` keeps timeslices in the data's own steps. Windows shorter than a slot (the burn-rate
rules) still need the grid: pages read those from a short grid over `rules_lookback`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import timedelta

import numpy as np

from core.ports import RangeAggregate, SlotAggregates
from core.slo.grid import SLICounts, _cumulative, _epoch_seconds, _to_epoch
from core.slo.types import SLO, TRAFFIC_METRIC

# about one point per pixel of a burn-down chart (a third of the page wide), and few bytes per window
SLOT_POINTS = 240
# slot lengths that divide a day (so whole-day windows are whole slots) and every step up to 5 minutes
SLOT_CANDIDATES_S = (1800, 3600, 7200, 10800, 14400, 21600, 28800, 43200, 86400)


def slo_slot_aggregates(slo: SLO) -> tuple[RangeAggregate, ...] | None:
    """The per-slot figures `slot_counts` reads for `slo`; None when they cannot express it (a ratio SLI
    judged per timeslice needs each step's own ratio: use the grid)."""
    count = RangeAggregate(slo.total, "count")
    if slo.budgeting == "occurrences":
        # events only of the steps the grid counts: bad (or good) where the total exists, and for `good`
        # the total where good exists too (weight_sum: the weight over the steps where both are finite)
        if slo.bad is not None:
            part = RangeAggregate(slo.total, "weight_sum", weight=slo.bad)
            total = RangeAggregate(slo.total, "sum")
        else:
            part = RangeAggregate(slo.total, "weight_sum", weight=slo.good)
            total = RangeAggregate(slo.good or "", "weight_sum", weight=slo.total)
        return (part, total, count)
    if slo.is_latency:
        share = RangeAggregate(slo.total, "share_above", threshold=slo.threshold)
        return (share, count, RangeAggregate(slo.total, "weight_sum", weight=TRAFFIC_METRIC))
    return None


def slot_aggregates(slos: Iterable[SLO]) -> tuple[RangeAggregate, ...] | None:
    """Every SLO's per-slot figures, each once; None when one of the SLOs needs the grid."""
    wanted: list[RangeAggregate] = []
    for slo in slos:
        mine = slo_slot_aggregates(slo)
        if mine is None:
            return None
        wanted += mine
    return tuple(dict.fromkeys(wanted))


def budget_slot(slos: Sequence[SLO], points: int = SLOT_POINTS) -> timedelta | None:
    """The slot for the SLO windows: the shortest candidate giving at most about `points` slots over the
    longest window that divides every window; None when no candidate divides them all."""
    windows = [int(s.window.total_seconds()) for s in slos]
    if not windows:
        return None
    for slot in SLOT_CANDIDATES_S:
        if slot * points >= max(windows) and all(w % slot == 0 for w in windows):
            return timedelta(seconds=slot)
    fitting = [c for c in SLOT_CANDIDATES_S if all(w % c == 0 for w in windows)]
    return timedelta(seconds=fitting[-1]) if fitting else None


def slots_fit(slots: SlotAggregates, slos: Iterable[SLO]) -> bool:
    """Whether every SLO window is whole slots (a source may lengthen the slot to its resolution)."""
    slot_s = int(slots.slot.total_seconds())
    return slot_s > 0 and all(int(s.window.total_seconds()) % slot_s == 0 for s in slos)


def _empty(slo: SLO, step: int) -> SLICounts:
    empty = np.zeros((0, 1))
    none = np.array([], dtype=int)
    return SLICounts(slo, (), 0, step, 0, empty, empty, empty, empty, none, none)


def slot_counts(slots: SlotAggregates, slo: SLO) -> SLICounts:
    """`slo`'s cumulative counts on the slots (the layout of core.slo.grid.SLICounts, step = the slot,
    unit = the data's resolution). Same conventions as slo_counts: a slot's steps without the total are
    unknown; a missing `bad` sum is 0 bad events; a missing `good` sum leaves the slot unknown."""
    wanted = slo_slot_aggregates(slo)
    if wanted is None:
        raise ValueError(f"SLO {slo.name!r}: a per-timeslice ratio SLI cannot be read from slot sums")
    step = int(slots.slot.total_seconds())
    unit = int(slots.resolution.total_seconds())
    frame = slots.frame
    count_key = RangeAggregate(slo.total, "count").key
    present = set(frame["aggregate"].unique()) if not frame.empty else set()
    regions = (
        tuple(r for r in sorted(set(frame["region"])) if not slo.regions or r in slo.regions)
        if not frame.empty
        else ()
    )
    if not regions or count_key not in present or slots.slots == 0:
        return _empty(slo, step)
    t0 = _to_epoch(slots.end) - (slots.slots - 1) * step
    sub = frame[frame["region"].isin(regions)]
    epochs = _epoch_seconds(sub["ts"])
    cols = (epochs - t0) // step
    rows = np.searchsorted(np.array(regions), sub["region"].to_numpy(dtype=str))
    ok = (cols >= 0) & (cols < slots.slots)

    def table(key: str) -> np.ndarray:
        out = np.full((len(regions), slots.slots), np.nan)
        mask = ok & (sub["aggregate"].to_numpy() == key)
        out[rows[mask], cols[mask]] = sub["value"].to_numpy(dtype=float)[mask]
        return out

    known = np.nan_to_num(table(count_key))
    if slo.budgeting == "occurrences":
        part, total = (table(a.key) for a in wanted[:2])
        if slo.good is not None and slo.bad is None:
            known = np.where(np.isfinite(part), known, 0.0)
        units = np.where(known > 0, np.clip(np.nan_to_num(total), 0.0, None) * unit, 0.0)
        if slo.bad is not None:
            bad = np.clip(np.nan_to_num(part) * unit, 0.0, units)
        else:
            bad = np.clip(units - np.clip(np.nan_to_num(part), 0.0, None) * unit, 0.0, units)
        weight = units
    else:
        share, _, traffic = (table(a.key) for a in wanted)
        units = known
        bad = np.rint(np.nan_to_num(share) * known)  # share x steps = the steps over the threshold
        weight_key = wanted[2].key
        weight = np.nan_to_num(traffic) * unit if weight_key in present else units
    has = known > 0
    any_known = has.any(axis=1)
    first = np.where(any_known, has.argmax(axis=1), -1)
    last = np.where(any_known, slots.slots - 1 - has[:, ::-1].argmax(axis=1), -1)
    return SLICounts(
        slo=slo,
        regions=regions,
        t0=t0,
        step=step,
        slots=slots.slots,
        cum_bad=_cumulative(bad),
        cum_units=_cumulative(units),
        cum_known=_cumulative(known),
        cum_weight=_cumulative(weight),
        first_known=first,
        last_known=last,
        unit=unit,
    )
