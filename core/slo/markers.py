"""What the SLO and Triage pages show next to an SLO: deploy markers from the config and the runbooks
that apply to an SLO in a region."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import pandas as pd

from core.config import Deploy, Runbook


def deploy_markers(deploys: Iterable[Deploy], start: datetime, end: datetime) -> pd.DataFrame:
    """Deploy annotations from the config ([[deploy]]) within [start, end], shaped like the store's events
    (start_ts, end_ts, region, kind='deploy', title, detail) so charts draw them as change markers.
    Raises ValueError naming an `at` that is not an ISO 8601 time."""
    rows = []
    for d in deploys:
        try:
            when = pd.Timestamp(d.at)
        except ValueError:
            raise ValueError(
                f"deploy {d.description!r}: `at` must be an ISO 8601 time, got {d.at!r}"
            ) from None
        when = when.tz_localize("UTC") if when.tzinfo is None else when.tz_convert("UTC")
        if pd.Timestamp(start) <= when <= pd.Timestamp(end):
            rows.append(
                {
                    "start_ts": when,
                    "end_ts": when,
                    "region": d.region,
                    "kind": "deploy",
                    "title": d.description,
                }
            )
    frame = pd.DataFrame(rows, columns=["start_ts", "end_ts", "region", "kind", "title"])
    frame["detail"] = "from the config"
    for col in ("start_ts", "end_ts"):
        frame[col] = pd.to_datetime(frame[col], utc=True)
    return frame


def runbooks_for(runbooks: Iterable[Runbook], slo: str, region: str) -> list[Runbook]:
    """Runbooks that apply to this SLO and region (an empty slo / region in the config means 'any')."""
    return [r for r in runbooks if r.slo in ("", slo) and r.region in ("", region)]
