"""Streamlit glue shared by the SLO-facing pages (SLOs, Triage, Overview): SLO metrics at 1-minute steps
for every region, put on a MetricGrid and cached as a resource.

Why not ui.load_metrics: st.cache_data pickles what it caches, and 30 days x 6 regions x 3 metrics is
~780k tidy rows whose unpickling alone took 0.2-0.6 s per rerun here; the grid is a few numpy arrays,
shared read-only between sessions without a copy. Failures behave like ui.load_metrics: a banner and
the last good data of this view.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime, timedelta

import streamlit as st

from core.config import config_path
from core.ports import SourceError, empty_metrics_frame
from core.slo import MetricGrid, metric_grid
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
    view = ("slo_grid", kind, tuple(metrics), tuple(regions))
    last_good: dict = st.session_state.setdefault("_last_good", {})
    try:
        grid = _grid(kind, tuple(metrics), start, end, tuple(regions), mtime)
    except Exception as exc:  # any source failure is the source's, not a crash of the page
        err = exc if isinstance(exc, SourceError) else SourceError(kind, f"unexpected error: {exc}")
        entry = last_good.get(view)
        if entry is None:
            st.error(f"⚠️ **{err.source} is unavailable**: {err.message} No earlier data for this view yet.")
            return metric_grid(empty_metrics_frame())
        grid, when = entry
        st.warning(
            f"⚠️ **{err.source} is unavailable**: {err.message} Showing the last good data, "
            f"fetched {(time.time() - when) / 60:.0f} min ago."
        )
        return grid
    last_good[view] = (grid, time.time())
    return grid
