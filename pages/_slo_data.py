"""Streamlit glue shared by the SLO-facing pages (SLOs, Triage, Overview): SLO metrics at 1-minute steps
for every region, put on a MetricGrid and cached as a resource.

Why not ui.load_metrics: st.cache_data pickles what it caches, and 30 days x 6 regions x 3 metrics is
~780k tidy rows whose unpickling alone took 0.2-0.6 s per rerun here; the grid is a few numpy arrays,
shared read-only between sessions without a copy. Failures go through the same ui.load_last_good: a
banner and the last good grid of exactly this view.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import streamlit as st

from core.config import config_path
from core.ports import empty_metrics_frame
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
    metrics_key, regions_key = tuple(metrics), tuple(regions)
    return ui.load_last_good(
        ("slo_grid", kind, metrics_key, start, end, SLO_STEP, regions_key),
        lambda: _grid(kind, metrics_key, start, end, regions_key, mtime),
        lambda: metric_grid(empty_metrics_frame()),
        kind,
        what=f"SLO data ({', '.join(metrics_key)})",
    )
