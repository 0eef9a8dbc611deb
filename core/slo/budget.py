"""SLIs over a window, the error budget of the SLO window, time to exhaustion and the burn-down."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

import numpy as np
import pandas as pd

from core.slo.grid import (
    SLOData,
    _as_counts,
    _dt,
    _none_if_nan,
    _series_ends,
    _to_epoch,
    _window_one,
    _windows,
)
from core.slo.types import GLOBAL, SLO, ErrorBudget, WindowSLI


# ---- public API ---------------------------------------------------------------------------------
def sli_detail(
    frame: SLOData,
    slo: SLO,
    start: datetime,
    end: datetime,
    region: str | None = None,
) -> WindowSLI:
    """The SLI over (start, end] with its bad / total counts, coverage and a partial-data flag."""
    counts = _as_counts(frame, slo)
    w = _window_one(counts, region, _to_epoch(start), _to_epoch(end))
    error_ratio = _none_if_nan(w.error_ratio[0])
    scale = counts.step_minutes if slo.budgeting == "timeslices" else 1.0
    return WindowSLI(
        start=start,
        end=end,
        sli=None if error_ratio is None else 1.0 - error_ratio,
        bad=float(w.bad[0]) * scale,
        total=float(w.units[0]) * scale,
        coverage=float(w.coverage[0]),
        partial=bool(w.partial[0]),
    )


def sli(
    frame: SLOData,
    slo: SLO,
    start: datetime,
    end: datetime,
    region: str | None = None,
) -> float | None:
    """Share of good events (or good minutes) in (start, end]; None when there was no traffic.

    `region` None means every region of the frame (or of the SLO), traffic-weighted.
    """
    return sli_detail(frame, slo, start, end, region).sli


def error_budget(
    frame: SLOData,
    slo: SLO,
    at: datetime,
    region: str | None = None,
) -> ErrorBudget:
    """The error budget of the SLO window (at - window, at]: allowed, consumed, remaining."""
    counts = _as_counts(frame, slo)
    end = _to_epoch(at)
    start = end - int(slo.window.total_seconds())
    w = _window_one(counts, region, start, end)
    error_ratio = _none_if_nan(w.error_ratio[0])
    bad, units = float(w.bad[0]), float(w.units[0])
    if slo.budgeting == "occurrences":
        total = slo.error_budget_ratio * units
        consumed = bad
        # total > 0 rather than units > 0: a vanishingly small request count can underflow the budget
        remaining = None if total <= 0 else 1.0 - consumed / total
        unit: Literal["events", "minutes"] = "events"
        events_remaining = None if total <= 0 else total - consumed
    else:
        total = slo.budget_minutes
        consumed = bad * counts.step_minutes
        # a window with no data at all has no SLI; it has not consumed budget either, but "100% left"
        # would be a claim about minutes nobody measured
        remaining = None if error_ratio is None else 1.0 - consumed / total
        unit = "minutes"
        events_remaining = None
    return ErrorBudget(
        slo=slo.name,
        region=region or GLOBAL,
        at=_dt(end),
        window_start=_dt(start),
        unit=unit,
        total=total,
        consumed=consumed,
        remaining_fraction=remaining,
        minutes_total=slo.budget_minutes,
        minutes_remaining=None if remaining is None else remaining * slo.budget_minutes,
        events_remaining=events_remaining,
        sli=None if error_ratio is None else 1.0 - error_ratio,
        coverage=float(w.coverage[0]),
        partial=bool(w.partial[0]),
        data_start=counts.data_start,
    )


def time_to_exhaustion(
    remaining_fraction: float | None, burn: float | None, window: timedelta
) -> timedelta | None:
    """How long the remaining budget lasts at `burn`: remaining x window / burn.

    A burn of b spends b / window of the budget per unit of time. None when not burning (b <= 0) or
    unknown; zero when the budget is already spent. (A rolling window also returns budget as old bad
    minutes age out; this ignores that, as on-call estimates usually do.)
    """
    if remaining_fraction is None or burn is None:
        return None
    if remaining_fraction <= 0:
        return timedelta(0)
    if burn <= 0:
        return None
    return timedelta(seconds=remaining_fraction * window.total_seconds() / burn)


def burn_down(
    frame: SLOData,
    slo: SLO,
    at: datetime,
    region: str | None = None,
    points: int = 600,
) -> pd.DataFrame:
    """Budget remaining across the SLO window ending at `at`: columns ts, remaining_fraction (actual) and
    ideal_fraction (straight line from 1 at the window start to 0 at its end, the constant burn of 1).

    The budget is the whole window's (so the last point equals error_budget(...).remaining_fraction).
    Empty frame when the window has no traffic."""
    counts = _as_counts(frame, slo)
    end = _to_epoch(at)
    start = end - int(slo.window.total_seconds())
    status = error_budget(counts, slo, at, region)
    if status.remaining_fraction is None or counts.slots == 0:
        return pd.DataFrame(
            {
                "ts": pd.Series([], dtype="datetime64[ns, UTC]"),
                "remaining_fraction": pd.Series([], dtype=float),
                "ideal_fraction": pd.Series([], dtype=float),
            }
        )
    ends = _series_ends(counts, start, end, points)
    res = _windows(counts, counts.rows(region), np.full(len(ends), start, dtype=np.int64), ends)
    if slo.budgeting == "occurrences":
        consumed_fraction = res.bad / status.total if status.total > 0 else np.zeros(len(ends))
    else:
        consumed_fraction = res.bad * counts.step_minutes / status.total
    window_s = float(end - start)
    return pd.DataFrame(
        {
            "ts": pd.to_datetime(ends, unit="s", utc=True),
            "remaining_fraction": 1.0 - consumed_fraction,
            "ideal_fraction": 1.0 - (ends - start) / window_s,
        }
    )
