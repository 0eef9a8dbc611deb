"""Events sources (core/ports.py EventsSource): where incidents, changes and annotations come from.

- StoreEventsSource: the embedded store: the demo world's `events` table and what people record on
  Triage (core/incidents.py, audited).
- PrometheusAnnotationsSource: annotations as a Prometheus series (`headroom_annotation`, or `ALERTS`):
  every run of consecutive samples of one series is one event, from its first sample to its last.
- CombinedEventsSource: the union, so one page call sees them all; a source that fails is reported in
  `errors` and the others still answer (the store never hides behind a Prometheus outage).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlparse

import pandas as pd
import requests
import sqlite_utils

from connectors.store import EVENTS_TABLE, read_events
from core.config import EventsConfig
from core.incidents import events_frame, list_recorded_events
from core.ports import SourceError, SourceHealth, empty_events_frame, tidy_events


class StoreEventsSource:
    """The store's events: the demo world's incidents and deploys, and recorded incidents and changes."""

    def __init__(
        self,
        db: sqlite_utils.Database,
        name: str = "Headroom store (events)",
        recorded_store: str | None = None,
    ):
        self.db = db
        self.name = name
        # recorded incidents and changes live beside the audit chain they are entered in: the guarded
        # store (a shared PostgreSQL URL with several replicas), else this SQLite file
        self.recorded_store = recorded_store

    def _path(self) -> str:
        if self.recorded_store is not None:
            return self.recorded_store
        row = self.db.execute("PRAGMA database_list").fetchone()
        return row[2]

    def events(self, start: datetime, end: datetime) -> pd.DataFrame:
        demo = read_events(self.db, start, end) if EVENTS_TABLE in self.db.table_names() else None
        recorded = events_frame(list_recorded_events(self._path(), start, end), until=end)
        frames = [f for f in (demo, recorded) if f is not None and not f.empty]
        return tidy_events(pd.concat(frames, ignore_index=True)) if frames else empty_events_frame()

    def health(self) -> SourceHealth:
        return SourceHealth(self.name, "ok", "the embedded store")


@dataclass
class PrometheusAnnotationsSource:
    """Annotations from a Prometheus series over `/api/v1/query_range` (docs/ARCHITECTURE.md, "Real
    components in tests": tested against a real Prometheus with backfilled series)."""

    url: str
    config: EventsConfig
    session: requests.Session = field(default_factory=requests.Session)
    timeout_s: float = 10.0
    name: str = ""

    def __post_init__(self) -> None:
        self.url = self.url.rstrip("/")
        self.name = self.name or f"Prometheus annotations ({urlparse(self.url).netloc or self.url})"
        self._last_error: str | None = None

    def events(self, start: datetime, end: datetime) -> pd.DataFrame:
        step = max(1, int(self.config.step.total_seconds()))
        params = {
            "query": self.config.query,
            "start": math.floor(start.timestamp()),
            "end": math.ceil(end.timestamp()),
            "step": step,
        }
        try:
            resp = self.session.get(f"{self.url}/api/v1/query_range", params=params, timeout=self.timeout_s)
            body = resp.json()
        except (requests.RequestException, ValueError) as exc:
            self._last_error = f"cannot read annotations: {type(exc).__name__}"
            raise SourceError(self.name, self._last_error, query=self.config.query) from None
        if resp.status_code != 200 or body.get("status") != "success":
            self._last_error = f"the annotation query failed: {body.get('error') or resp.status_code}"
            raise SourceError(self.name, self._last_error, query=self.config.query)
        self._last_error = None
        return annotations_from_matrix(body["data"]["result"], step, self.config)

    def health(self) -> SourceHealth:
        if self._last_error:
            return SourceHealth(self.name, "down", self._last_error)
        return SourceHealth(self.name, "ok", f"query {self.config.query}")


def annotations_from_matrix(
    result: Sequence[Mapping[str, Any]], step_s: int, config: EventsConfig
) -> pd.DataFrame:
    """Prometheus matrix -> events: consecutive samples (no gap over 1.5 steps) of one series are one
    event from the first sample to the last; a zero sample ends a run (an annotation switched off)."""
    rows: list[dict[str, Any]] = []
    for series in result:
        labels = dict(series.get("metric", {}))
        title = labels.get(config.title_label) or labels.get("__name__") or config.query
        kind = labels.get(config.kind_label) or "annotation"
        region = labels.get(config.region_label, "")
        extra = ", ".join(
            f"{k}={v}"
            for k, v in sorted(labels.items())
            if k not in (config.title_label, config.kind_label, config.region_label, "__name__")
        )
        run_start: float | None = None
        last: float | None = None
        for ts, value in series.get("values", []):
            ts = float(ts)
            on = float(value) > 0
            if run_start is not None and (not on or ts - (last or ts) > 1.5 * step_s):
                rows.append(_annotation(run_start, last, region, kind, title, extra))
                run_start = None
            if on and run_start is None:
                run_start = ts
            last = ts if on else last
        if run_start is not None:
            rows.append(_annotation(run_start, last, region, kind, title, extra))
    return tidy_events(pd.DataFrame(rows)) if rows else empty_events_frame()


def _annotation(start: float, end: float | None, region: str, kind: str, title: str, detail: str) -> dict:
    return {
        "start_ts": pd.Timestamp(start, unit="s", tz="UTC"),
        "end_ts": pd.Timestamp(end if end is not None else start, unit="s", tz="UTC"),
        "region": region,
        "kind": kind,
        "title": title,
        "detail": detail,
    }


class CombinedEventsSource:
    """Every configured events source at once; `errors` holds the last call's failures (a sentence per
    source) so the page can say which one is missing while showing the rest."""

    def __init__(self, sources: Sequence[Any]):
        self.sources = list(sources)
        self.name = " + ".join(s.name for s in self.sources)
        self.errors: list[str] = []

    def events(self, start: datetime, end: datetime) -> pd.DataFrame:
        frames, errors = [], []
        for source in self.sources:
            try:
                frames.append(source.events(start, end))
            except SourceError as exc:
                errors.append(f"{exc.source}: {exc.message}")
        self.errors = errors
        frames = [f for f in frames if not f.empty]
        return tidy_events(pd.concat(frames, ignore_index=True)) if frames else empty_events_frame()

    def health(self) -> SourceHealth:
        down = [h for h in (s.health() for s in self.sources) if h.state != "ok"]
        if down:
            return SourceHealth(self.name, "degraded", "; ".join(f"{h.name}: {h.detail}" for h in down))
        return SourceHealth(self.name, "ok", f"{len(self.sources)} source(s)")


def build_prometheus_annotations(
    config: EventsConfig, url: str, session: requests.Session | None = None, timeout: timedelta | None = None
) -> PrometheusAnnotationsSource:
    return PrometheusAnnotationsSource(
        url, config, session or requests.Session(), (timeout or timedelta(seconds=10)).total_seconds()
    )
