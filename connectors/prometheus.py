"""MetricsSource over any PromQL engine (Prometheus, Thanos, Mimir, VictoriaMetrics, Grafana Cloud).

Each canonical metric has a PromQL template in config [prometheus.queries]; `$regions` in it is replaced
by a regex alternation of the wanted region codes. Region values are validated (a conservative label
value alphabet) *and* regex- and string-escaped, so a hostile value can neither close the label matcher
nor widen the regex. The connection (session, auth, TLS, retries) is prometheus-api-client's
PrometheusConnect; query_range JSON is parsed here with numpy because the client's DataFrame helper is
slow and warns under pandas 3.

Every query is fetched concurrently, step-aligned so that reruns within one step hit the TTL cache keyed
by (query, start, end, step), and every failure becomes a SourceError naming the source, query and why.

`[prometheus].timeout` is a total deadline per request, not only per socket read: `requests` timeouts
restart at every byte, so a server dribbling its body would otherwise hold the page for minutes. The body
is streamed and a watchdog shuts the socket down when the deadline passes. (Slowly dribbled *headers* are
still bounded per read only.) Answers carrying Prometheus `warnings` (partial data) are kept: health()
stays "degraded" with their text, and `last_warnings` holds them, until a query answers without warnings.
"""

from __future__ import annotations

import contextlib
import gc
import json
import math
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import urlparse

import numpy as np
import pandas as pd
import requests
from prometheus_api_client import PrometheusConnect
from urllib3.util.retry import Retry

from connectors.http_credentials import HttpCredentials
from core.config import CANONICAL_METRICS, PrometheusConfig
from core.ports import (
    ACROSS_REGIONS,
    AGGREGATE_COLUMNS,
    SOURCE_WARNINGS,
    RangeAggregate,
    SlotAggregates,
    SourceError,
    SourceHealth,
    empty_aggregates_frame,
    empty_metrics_frame,
    empty_slot_frame,
)

# the template rendering is shared with the rule generator (core/alerting/rules.py), so it lives in core
from core.promql import (  # noqa: F401  (re-exported: tests and callers import them from here)
    REGIONS_PLACEHOLDER,
    check_template,
    is_safe_label_value,
    promql_string_escape,
    regex_alternation,
    render_query,
)

# Prometheus refuses a query_range whose (end - start) / step exceeds 11,000 points per series.
MAX_POINTS_PER_SERIES = 11_000
REGION_LABEL = "region"
MAX_CONCURRENT_QUERIES = 8
MAX_CACHE_ENTRIES = 256
# ranges longer than a week are fetched as day pieces; a piece that ended over 10 minutes ago is closed
# (late samples have landed) and kept without a TTL, up to MAX_CLOSED_PIECES
SPLIT_LONGER_THAN_S = 7 * 86400
PIECE_S = 86400
# ... and a piece holds at least this many steps (whole days of them): at a chart's coarse step over a
# month (30-60 min) a day is only 24-48 points a series, and 31 pieces x 6 metrics made ~190 requests
# of mostly HTTP and JSON overhead for the Overview (issue 17); a few hundred steps stay cheap
PIECE_MIN_STEPS = 288  # a day at 5-minute steps
SLOT_PIECE_S = 4 * 86400  # aggregate_slots: slots per request
# aggregate_range over more than SPLIT_LONGER_THAN_S: one instant query per figure and 4-day piece
# (a month: 8), concurrently, closed pieces kept. A month's p95 subquery in one request took 5 s on a
# loaded Prometheus and a page's dozen of them passed the 10 s timeout together (issue 17)
AGGREGATE_PIECE_S = 4 * 86400
CLOSED_AFTER_S = 600
MAX_CLOSED_PIECES = 4096


def prometheus_step_seconds(
    start: datetime, end: datetime, requested: timedelta, scrape_interval: timedelta
) -> int:
    """The step a Prometheus range query is sent with, in whole seconds (core.timeseries.choose_step is
    the chart step a page asks for): at least the requested step and the scrape interval, and large
    enough that no series has more than MAX_POINTS_PER_SERIES points; steps of a minute or more are
    whole minutes."""
    span = max((end - start).total_seconds(), 0.0)
    floor = max(requested.total_seconds(), scrape_interval.total_seconds(), 1.0)
    # points = floor(span / step) + 1 <= MAX  <=>  step >= span / (MAX - 1)
    needed = span / (MAX_POINTS_PER_SERIES - 1)
    step = math.ceil(max(floor, needed))
    if step >= 60:
        step = math.ceil(step / 60) * 60
    return step


def aligned_range(start: datetime, end: datetime, step_s: int) -> tuple[int, int]:
    """[start, end] shrunk to multiples of the step (epoch-aligned like the store), in epoch seconds.

    Aligning keeps evaluation timestamps stable while `end` creeps forward, so reruns within one step
    reuse the cache; shrinking (not growing) keeps the point count within the step rule.
    """
    s = math.ceil(start.timestamp() / step_s) * step_s
    e = math.floor(end.timestamp() / step_s) * step_s
    return min(s, e), e


class PrometheusAuth(HttpCredentials):
    """`[connections.prometheus]` in secrets.toml and HEADROOM_PROMETHEUS_* environment variables, read by
    headroom/wiring.py (connectors/http_credentials.py)."""

    source: ClassVar[str] = "prometheus"


@dataclass
class _Series:
    """One query's parsed result: per region, timestamps (ns since epoch, UTC) and values."""

    by_region: dict[str, tuple[np.ndarray, np.ndarray]]
    warnings: tuple[str, ...] = ()


_gc_lock = threading.Lock()
_gc_pausers = 0


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic GC while decoding a large JSON body: the millions of small lists it creates
    trigger repeated full collections that would otherwise cost several times the decoding itself.
    Counted, so concurrent decoders re-enable it only when the last one finishes."""
    global _gc_pausers
    with _gc_lock:
        if _gc_pausers == 0 and gc.isenabled():
            gc.disable()
            _gc_pausers = 1
        elif _gc_pausers:
            _gc_pausers += 1
    try:
        yield
    finally:
        with _gc_lock:
            if _gc_pausers:
                _gc_pausers -= 1
                if _gc_pausers == 0:
                    gc.enable()


class PrometheusSource:
    """MetricsSource over the Prometheus HTTP API (`/api/v1/query_range`)."""

    # core.ports.JoinsRequestsInFlight: answers kept (TTL, closed pieces) and one request per query at a
    # time (_single_flight), so pages may prefetch their later parts
    joins_requests_in_flight: ClassVar[bool] = True

    def __init__(
        self,
        config: PrometheusConfig,
        regions: Sequence[str],
        auth: PrometheusAuth | None = None,
        name: str | None = None,
        aggregate_queries: Mapping[str, str] | None = None,
    ):
        auth = auth or PrometheusAuth()
        self.config = config
        self.url = (auth.url or config.url).rstrip("/")
        self.name = name or f"Prometheus ({urlparse(self.url).netloc or self.url})"
        self.regions: tuple[str, ...] = tuple(regions)
        for metric, template in config.queries.items():
            check_template(metric, template)
        self.queries: dict[str, str] = dict(config.queries)
        self.timeout_s = max(config.timeout.total_seconds(), 0.001)
        self.cache_ttl_s = config.cache_ttl.total_seconds()

        session = requests.Session()
        verify = config.verify_tls if auth.verify_tls is None else auth.verify_tls
        session.verify = auth.ca_bundle if (verify and auth.ca_bundle) else verify
        session.headers.update(auth.headers)
        if auth.bearer_token:
            session.headers["Authorization"] = f"Bearer {auth.bearer_token}"
        if auth.username:
            session.auth = (auth.username, auth.password or "")
        # one quick retry on refused connections and gateway errors; never retry a slow read (the
        # page would wait twice the timeout)
        retry = Retry(
            total=2,
            connect=1,
            read=False,  # re-raise read timeouts at once (as requests.ReadTimeout)
            status=1,
            backoff_factor=0.2,
            status_forcelist=(502, 503, 504),
            allowed_methods=frozenset({"GET", "POST"}),
            raise_on_status=False,
        )
        self.client = PrometheusConnect(url=self.url, session=session, retry=retry, timeout=self.timeout_s)
        self.session = session

        self._lock = threading.Lock()
        self._cache: OrderedDict[tuple[str, int, int, int], tuple[float, _Series]] = OrderedDict()
        self._last_success: datetime | None = None
        self._last_latency: float | None = None
        self._last_error: str | None = None
        self._last_warnings: tuple[str, ...] = ()
        self._last_checked: float | None = None
        self.http_requests = 0  # query_range calls actually sent (cache misses)
        # RangeAggregate.key -> a PromQL template for that figure (`$regions`, `$range`): the hook for
        # recording rules (issue 12); figures without one are computed from the metric's template
        for key, template in (aggregate_queries or {}).items():
            check_template(key, template)
        self.aggregate_queries: dict[str, str] = dict(aggregate_queries or {})
        self._closed: OrderedDict[tuple[str, int, int, int], _Series] = OrderedDict()  # closed days
        # (query, time) of a long range's aggregate piece that has closed -> its values and warnings
        self._closed_instant: OrderedDict[tuple[str, int], tuple[dict[str, float], tuple[str, ...]]] = (
            OrderedDict()
        )
        # (query, time) -> (fetched at, values per region, the answer's warnings)
        self._instant_cache: OrderedDict[tuple[str, int], tuple[float, dict[str, float], tuple[str, ...]]] = (
            OrderedDict()
        )
        # requests in flight by (kind, query, times), and the slots every caller shares (_single_flight)
        self._inflight: dict[tuple[Any, ...], Future] = {}
        self._slots = threading.BoundedSemaphore(MAX_CONCURRENT_QUERIES)

    # -- MetricsSource -----------------------------------------------------------------------------
    def query_range(
        self,
        metrics: Sequence[str],
        start: datetime,
        end: datetime,
        step: timedelta,
        regions: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """Tidy frame for `metrics` over [start, end]; metrics without a configured query are skipped
        (health() names them). The effective step follows `prometheus_step_seconds`."""
        planned = self._range_plan(metrics, start, end, step, regions)
        if planned is None:
            return empty_metrics_frame()
        wanted, wanted_regions, grid = planned
        queries = {m: render_query(self.queries[m], wanted_regions) for m in wanted}
        return self._range_frame(queries, grid, wanted_regions)

    def _range_plan(
        self,
        metrics: Iterable[str],
        start: datetime,
        end: datetime,
        step: timedelta,
        regions: Sequence[str] | None,
    ) -> tuple[list[str], list[str], tuple[int, int, int]] | None:
        """The checked inputs of a range query: (metrics with a query, regions, (start_s, end_s, step_s)
        aligned to the step Prometheus will use); None when there is nothing to ask."""
        unknown = [m for m in metrics if m not in CANONICAL_METRICS]
        if unknown:
            raise ValueError(f"unknown metric(s) {unknown}; known: {', '.join(CANONICAL_METRICS)}")
        if start.tzinfo is None or end.tzinfo is None:
            raise ValueError("start and end must be timezone-aware (UTC)")
        wanted_regions = self._checked_regions(self.regions if regions is None else regions)
        wanted = [m for m in dict.fromkeys(metrics) if m in self.queries]
        if not wanted or not wanted_regions or end <= start:
            return None
        step_s = prometheus_step_seconds(start, end, step, self.config.scrape_interval)
        start_s, end_s = aligned_range(start, end, step_s)
        return wanted, wanted_regions, (start_s, end_s, step_s)

    def _range_frame(
        self, queries: Mapping[str, str], grid: tuple[int, int, int], frame_regions: list[str]
    ) -> pd.DataFrame:
        """Each metric's query fetched on the grid (split into pieces, closed ones cached), as a tidy frame
        carrying the queries' warnings."""
        start_s, end_s, step_s = grid
        results = self._fetch_split(list(dict.fromkeys(queries.values())), start_s, end_s, step_s)
        frame = _assemble({m: results[q] for m, q in queries.items()}, frame_regions)
        return _with_warnings(frame, (w for q in queries.values() for w in results[q].warnings))

    def query_range_across(
        self,
        ops: Mapping[str, str],
        start: datetime,
        end: datetime,
        step: timedelta,
        regions: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """core.ports.AcrossRegionsSource: each metric combined over `regions` by Prometheus (`ops[m]`:
        sum, avg or max around the metric's template, its region label set to ACROSS_REGIONS), one series
        per metric at the same step, pieces and caches as query_range."""
        bad = {m: op for m, op in ops.items() if op not in ("sum", "avg", "max")}
        if bad:
            raise ValueError(f"query_range_across: unknown op(s) {bad}; known: sum, avg, max")
        planned = self._range_plan(ops, start, end, step, regions)
        if planned is None:
            return empty_metrics_frame()
        wanted, wanted_regions, grid = planned
        queries = {
            m: f"label_replace({ops[m]}({render_query(self.queries[m], wanted_regions)}), "
            f'"{REGION_LABEL}", "{ACROSS_REGIONS}", "", "")'
            for m in wanted
        }
        return self._range_frame(queries, grid, [ACROSS_REGIONS])

    def health(self) -> SourceHealth:
        """State of the last query (or of a cheap probe when nothing was asked recently)."""
        with self._lock:
            stale = self._last_checked is None or time.monotonic() - self._last_checked > self.cache_ttl_s
        if stale:
            self.probe()
        with self._lock:
            missing = [m for m in CANONICAL_METRICS if m not in self.queries and not m.startswith("cdn_")]
            note = f"; no query configured for {', '.join(missing)}" if missing else ""
            if self._last_error:
                return SourceHealth(
                    self.name, "down", self._last_error, self._last_success, self._last_latency
                )
            if self._last_warnings:
                return SourceHealth(
                    self.name,
                    "degraded",
                    "partial data: " + "; ".join(self._last_warnings)[:300],
                    self._last_success,
                    self._last_latency,
                )
            return SourceHealth(self.name, "ok", f"{self.url}{note}", self._last_success, self._last_latency)

    @property
    def last_warnings(self) -> tuple[str, ...]:
        """Warnings of the last query_range answer (partial data), empty once an answer is clean."""
        with self._lock:
            return self._last_warnings

    def probe(self) -> None:
        """One instant query of `vector(1)`: proves the URL, auth and PromQL engine answer.

        A clean probe does not clear the warnings of the last query: the data on the page is still the
        partial answer, so the source stays degraded until a query_range answers without warnings."""
        t0 = time.perf_counter()
        where = f"health check against {self.url}"
        try:
            status, body = self._get_within_deadline(f"{self.url}/api/v1/query", {"query": "vector(1)"})
            payload = json.loads(body)
        except (_DeadlineExceeded, requests.Timeout):
            self._record_error(f"{where} timed out after {self.timeout_s:g} s (total deadline)")
            return
        except requests.ConnectionError as exc:
            self._record_error(f"{where} failed: could not connect: {_connection_reason(exc)}")
            return
        except Exception as exc:  # requests errors, a body that is not JSON
            self._record_error(f"{where} failed: {_short(exc)}")
            return
        if not isinstance(payload, dict) or payload.get("status") != "success":
            error = payload.get("error", "") if isinstance(payload, dict) else ""
            self._record_error(f"{where} failed: HTTP {status} {error}".rstrip())
            return
        self._record_success(time.perf_counter() - t0, None)

    def clear_cache(self) -> None:
        with self._lock:
            self._cache.clear()
            self._closed.clear()
            self._instant_cache.clear()
            self._closed_instant.clear()

    # -- long ranges: per-day pieces, fetched concurrently, closed days kept ------------------------
    def _fetch_split(self, queries: list[str], start_s: int, end_s: int, step_s: int) -> dict[str, _Series]:
        """Ranges over SPLIT_LONGER_THAN_S go out as day-aligned pieces (whole days, trimmed to the
        range), so no single request carries a month (none times out on a busy server) and a day that
        has closed is kept beyond the TTL: a rerun of a 30-day view fetches only the open day."""
        if end_s - start_s <= SPLIT_LONGER_THAN_S:
            return self._fetch_all(queries, start_s, end_s, step_s)
        pieces = day_pieces(start_s, end_s, step_s)
        closed_before = time.time() - CLOSED_AFTER_S
        found: dict[tuple[str, int], _Series] = {}
        with self._lock:
            for piece_start, piece_end in pieces:
                for q in queries:
                    hit = self._closed.get((q, piece_start, piece_end, step_s))
                    if hit is not None:
                        self._closed.move_to_end((q, piece_start, piece_end, step_s))
                        found[(q, piece_start)] = hit
        wanted = [(piece, [q for q in queries if (q, piece[0]) not in found]) for piece in pieces]
        wanted = [(piece, qs) for piece, qs in wanted if qs]

        def fetch(item: tuple[tuple[int, int], list[str]]) -> tuple[tuple[int, int], dict[str, _Series]]:
            (piece_start, piece_end), qs = item
            return (piece_start, piece_end), self._fetch_all(qs, piece_start, piece_end, step_s)

        workers = max(1, min(len(wanted), MAX_CONCURRENT_QUERIES // max(1, len(queries))))
        if wanted:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                fetched = list(pool.map(fetch, wanted))
            with self._lock:
                for (piece_start, piece_end), by_query in fetched:
                    for q, series in by_query.items():
                        found[(q, piece_start)] = series
                        if piece_end < closed_before:
                            self._closed[(q, piece_start, piece_end, step_s)] = series
                while len(self._closed) > MAX_CLOSED_PIECES:
                    self._closed.popitem(last=False)
        return {
            q: _joined([found[(q, piece_start)] for piece_start, _ in pieces], start_s, end_s)
            for q in queries
        }

    # -- RangeAggregateSource (core.ports): range-wide figures computed by Prometheus ----------------
    def aggregate_range(
        self,
        aggregates: Sequence[RangeAggregate],
        start: datetime,
        end: datetime,
        regions: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """One instant query per figure (`*_over_time` of the metric's template on a subquery over the
        range, at the resolution a full-range query_range would have used), so a page gets one number per
        region instead of every point. Same semantics as core.timeseries.summarise_metrics."""
        if start.tzinfo is None or end.tzinfo is None:
            raise ValueError("start and end must be timezone-aware (UTC)")
        wanted_regions = self._checked_regions(self.regions if regions is None else regions)
        usable = [
            a
            for a in aggregates
            if a.key in self.aggregate_queries or all(m in self.queries for m in a.metrics)
        ]
        if not usable or not wanted_regions or end <= start:
            return empty_aggregates_frame()
        queries: dict[str, tuple[str, int]] = {}  # figure key -> (PromQL, evaluation time)
        split: dict[
            RangeAggregate, list[tuple[RangeAggregate, str, int]]
        ] = {}  # figure -> its pieces' queries
        for a in usable:
            # a figure over the last `window` before `end` gets that window's own resolution
            first = end - a.window if a.window is not None else start
            resolution_s = prometheus_step_seconds(
                first, end, timedelta(minutes=1), self.config.scrape_interval
            )
            start_s, end_s = aligned_range(first, end, resolution_s)
            # the range [start, end] includes its first step; a window (end - window, end] holds the
            # steps after the last one at or before end - window, whatever the seconds of `end` (from
            # start_s, an `end` off the step lost the window's first step)
            if a.window is None:
                span_s = max(end_s - start_s + resolution_s, resolution_s)
            else:
                span_s = max(
                    end_s - math.floor(first.timestamp() / resolution_s) * resolution_s, resolution_s
                )
            if span_s > SPLIT_LONGER_THAN_S and a.key not in self.aggregate_queries:
                split[a] = [
                    (
                        part,
                        aggregate_query(part, self.queries, {}, wanted_regions, piece_span_s, resolution_s),
                        at_s,
                    )
                    for at_s, piece_span_s in aggregate_pieces(end_s - span_s, end_s, resolution_s)
                    for part in piece_parts(a)
                ]
                continue
            promql = aggregate_query(
                a, self.queries, self.aggregate_queries, wanted_regions, span_s, resolution_s
            )
            queries[a.key] = (promql, end_s)
        asked = [*queries.values(), *((q, at_s) for parts in split.values() for _, q, at_s in parts)]
        results = self._instant_all(list(dict.fromkeys(asked)))
        rows = [
            (region, key, value)
            for key, q in queries.items()
            for region, value in results[q][0].items()
            if region in wanted_regions and math.isfinite(value)
        ]
        for a, parts in split.items():
            combined = combine_pieces(a, [(part, at_s, results[(q, at_s)][0]) for part, q, at_s in parts])
            rows += [
                (region, a.key, value)
                for region, value in combined.items()
                if region in wanted_regions and math.isfinite(value)
            ]
        warnings = (w for q in asked for w in results[q][1])
        if not rows:
            return _with_warnings(empty_aggregates_frame(), warnings)
        return _with_warnings(pd.DataFrame(rows, columns=list(AGGREGATE_COLUMNS)), warnings)

    def aggregate_slots(
        self,
        aggregates: Sequence[RangeAggregate],
        start: datetime,
        end: datetime,
        slot: timedelta,
        regions: Sequence[str] | None = None,
    ) -> SlotAggregates:
        """core.ports.SlotAggregateSource: one range query per figure, step = slot, of the figure's
        `*_over_time` subquery over (t - slot, t] at the resolution a query_range over [start, end] would
        use, the slots ending at `end` (aligned down to that resolution). The subquery's steps are the
        very points query_range returns, so the slots add up to the range's own figures."""
        if start.tzinfo is None or end.tzinfo is None:
            raise ValueError("start and end must be timezone-aware (UTC)")
        if any(a.window is not None for a in aggregates):
            raise ValueError("aggregate_slots: a RangeAggregate with a window has no meaning per slot")
        resolution_s = prometheus_step_seconds(start, end, timedelta(minutes=1), self.config.scrape_interval)
        slot_s = math.ceil(max(slot.total_seconds(), 1.0) / resolution_s) * resolution_s
        end_s = math.floor(end.timestamp() / resolution_s) * resolution_s
        slots = max(math.ceil((end_s - start.timestamp()) / slot_s), 1)
        first_s = end_s - (slots - 1) * slot_s
        result = SlotAggregates(
            empty_slot_frame(),
            datetime.fromtimestamp(end_s, UTC),
            timedelta(seconds=slot_s),
            slots,
            timedelta(seconds=resolution_s),
        )
        wanted_regions = self._checked_regions(self.regions if regions is None else regions)
        usable = [a for a in aggregates if all(m in self.queries for m in a.metrics)]
        if not usable or not wanted_regions or end <= start:
            return result
        queries = {
            a.key: aggregate_query(a, self.queries, {}, wanted_regions, slot_s, resolution_s) for a in usable
        }
        # a few days of slots per request, concurrently (as query_range's day pieces): each slot
        # evaluates every step under it, so one request for a month would take a month's work and time
        # out; a day per request made ~190 requests for two 30-day SLO windows, mostly HTTP overhead
        distinct = list(dict.fromkeys(queries.values()))
        per_piece = max(1, SLOT_PIECE_S // slot_s)
        pieces = [
            (first_s + i * slot_s, first_s + (min(i + per_piece, slots) - 1) * slot_s)
            for i in range(0, slots, per_piece)
        ]
        workers = max(1, min(len(pieces), MAX_CONCURRENT_QUERIES // max(1, len(distinct))))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            fetched_pieces = list(pool.map(lambda p: self._fetch_all(distinct, p[0], p[1], slot_s), pieces))
        fetched = {q: _joined([f[q] for f in fetched_pieces], first_s, end_s) for q in distinct}
        parts = []
        for key, q in queries.items():
            for region, (ts, values) in fetched[q].by_region.items():
                if region not in wanted_regions:
                    continue
                keep = np.isfinite(values)
                parts.append(
                    pd.DataFrame({"ts": ts[keep], "region": region, "aggregate": key, "value": values[keep]})
                )
        if not parts:
            return result
        frame = pd.concat(parts, ignore_index=True)
        frame["ts"] = pd.to_datetime(frame["ts"], unit="ns", utc=True)
        return replace(result, frame=frame)

    def aggregate_windows(
        self,
        aggregates: Sequence[RangeAggregate],
        at: datetime,
        windows: Sequence[timedelta],
        regions: Sequence[str] | None = None,
    ) -> dict[timedelta, SlotAggregates]:
        """core.ports.WindowAggregateSource: each figure over each window (at - w, at] (the burn-rate
        rule windows), as one slot of length w ending at `at` aligned down to the resolution of the
        longest window. Nested windows share their work: the windows cut (at - w_max, at] into disjoint
        pieces, one instant query per figure part and piece (a share as share and step count, as the
        long ranges' pieces), each window the sum of the pieces inside it, so Prometheus evaluates
        every step once per figure instead of once per window holding it (the 3-day window alone is
        most of the work). The steps are those of a query_range over the longest window."""
        if at.tzinfo is None:
            raise ValueError("at must be timezone-aware (UTC)")
        if any(a.window is not None for a in aggregates):
            raise ValueError("aggregate_windows: give the figures without a window; `windows` sets them")
        bad = [w for w in windows if w <= timedelta(0)]
        if bad:
            raise ValueError(f"aggregate_windows: windows must be positive, got {bad}")
        ordered = sorted(set(windows))
        if not ordered:
            return {}
        longest = ordered[-1]
        resolution_s = prometheus_step_seconds(
            at - longest, at, timedelta(minutes=1), self.config.scrape_interval
        )
        end_s = math.floor(at.timestamp() / resolution_s) * resolution_s

        def empty(window: timedelta) -> SlotAggregates:
            return SlotAggregates(
                empty_slot_frame(),
                datetime.fromtimestamp(end_s, UTC),
                window,
                1,
                timedelta(seconds=resolution_s),
            )

        wanted_regions = self._checked_regions(self.regions if regions is None else regions)
        usable = [a for a in aggregates if all(m in self.queries for m in a.metrics)]
        if not usable or not wanted_regions:
            return {w: empty(w) for w in ordered}
        # the last step of each window's start: a window holds the steps after it, up to end_s
        bounds = [
            math.floor((at.timestamp() - w.total_seconds()) / resolution_s) * resolution_s for w in ordered
        ]
        pieces = []  # (evaluation time, span) of each disjoint piece, newest first
        upper = end_s
        for lower in bounds:
            if lower < upper:
                pieces.append((upper, upper - lower))
            upper = min(upper, lower)
        parts = list(dict.fromkeys(part for a in usable for part in piece_parts(a)))
        asked = {
            (part, at_s): (
                aggregate_query(part, self.queries, {}, wanted_regions, span_s, resolution_s),
                at_s,
            )
            for part in parts
            for at_s, span_s in pieces
        }
        results = self._instant_all(list(dict.fromkeys(asked.values())))
        out: dict[timedelta, SlotAggregates] = {}
        for window, lower in zip(ordered, bounds, strict=True):
            inside = [(at_s, span_s) for at_s, span_s in pieces if at_s - span_s >= lower]
            rows = []
            for a in usable:
                combined = combine_pieces(
                    a,
                    [
                        (part, at_s, results[asked[(part, at_s)]][0])
                        for part in piece_parts(a)
                        for at_s, _ in inside
                    ],
                )
                rows += [
                    (region, a.key, value)
                    for region, value in combined.items()
                    if region in wanted_regions and math.isfinite(value)
                ]
            if not rows:
                out[window] = empty(window)
                continue
            frame = pd.DataFrame(rows, columns=["region", "aggregate", "value"])
            frame.insert(
                0,
                "ts",
                pd.to_datetime(
                    np.full(len(frame), end_s * 1_000_000_000, dtype=np.int64), unit="ns", utc=True
                ),
            )
            out[window] = replace(empty(window), frame=frame)
        return out

    def _instant_all(
        self, queries: list[tuple[str, int]]
    ) -> dict[tuple[str, int], tuple[dict[str, float], tuple[str, ...]]]:
        """Instant queries (PromQL, time), concurrently, TTL-cached by (query, time) like query_range;
        each with the warnings it was answered with."""
        now = time.monotonic()
        results: dict[tuple[str, int], tuple[dict[str, float], tuple[str, ...]]] = {}
        misses: list[tuple[str, int]] = []
        with self._lock:
            for q in queries:
                hit = self._instant_cache.get(q)
                closed = self._closed_instant.get(q)
                if closed is not None:  # a piece of a long range that ended long ago: it cannot change
                    self._closed_instant.move_to_end(q)
                    results[q] = closed
                elif hit is not None and now - hit[0] <= self.cache_ttl_s:
                    results[q] = (hit[1], hit[2])
                else:
                    misses.append(q)
        if not misses:
            return results
        t0 = time.perf_counter()
        with ThreadPoolExecutor(max_workers=min(MAX_CONCURRENT_QUERIES, len(misses))) as pool:
            outcomes = list(pool.map(lambda q: self._instant_one_safe(*q), misses))
        errors = [o for o in outcomes if isinstance(o, SourceError)]
        if errors:
            more = f" ({len(errors) - 1} more of {len(misses)} queries failed too)" if len(errors) > 1 else ""
            self._record_error(errors[0].message + more)
            raise SourceError(self.name, errors[0].message + more, query=errors[0].query)
        warnings: list[str] = []
        for q, (values, query_warnings) in zip(misses, outcomes, strict=True):  # type: ignore[misc]
            results[q] = (values, query_warnings)  # kept in the caches by _instant_one_safe already
            warnings.extend(query_warnings)
        self._record_success(time.perf_counter() - t0, tuple(dict.fromkeys(warnings)))
        return results

    def _instant_one_safe(
        self, query: str, at_s: int
    ) -> tuple[dict[str, float], tuple[str, ...]] | SourceError:
        def fetch() -> tuple[dict[str, float], tuple[str, ...]] | SourceError:
            try:
                return self._instant_one(query, at_s)
            except Exception as exc:  # nothing may escape to a page as a traceback
                return SourceError(
                    self.name, f"query {query!r} failed unexpectedly: {_short(exc)}", query=query
                )

        def keep(outcome: tuple[dict[str, float], tuple[str, ...]]) -> None:  # under self._lock
            values, query_warnings = outcome
            self._instant_cache[(query, at_s)] = (time.monotonic(), values, query_warnings)
            while len(self._instant_cache) > MAX_CACHE_ENTRIES * 4:
                self._instant_cache.popitem(last=False)
            if at_s < time.time() - CLOSED_AFTER_S and not query_warnings:
                self._closed_instant[(query, at_s)] = (values, query_warnings)
                while len(self._closed_instant) > MAX_CLOSED_PIECES:
                    self._closed_instant.popitem(last=False)

        def kept() -> tuple[dict[str, float], tuple[str, ...]] | None:  # under self._lock
            closed = self._closed_instant.get((query, at_s))
            if closed is not None:
                return closed
            hit = self._instant_cache.get((query, at_s))
            if hit is not None and time.monotonic() - hit[0] <= self.cache_ttl_s:
                return hit[1], hit[2]
            return None

        return self._single_flight(("instant", query, at_s), fetch, keep, kept)

    def _single_flight(
        self,
        key: tuple[Any, ...],
        fetch: Callable[[], Any],
        keep: Callable[[Any], None],
        kept: Callable[[], Any | None],
    ) -> Any:
        """One request per (query, times) at a time: a caller asking what another thread is already
        fetching waits for that answer instead of sending it again (a page prefetches its later parts
        while its first parts load: core.ports.prefetch); and at most MAX_CONCURRENT_QUERIES requests
        of this source in flight across every caller, so prefetches never pile up on Prometheus (the
        wait for a slot is not part of a request's deadline). A good answer goes into the cache (`keep`,
        under the lock) before the request stops being in flight, so a caller arriving in between finds
        one or the other, not neither (the caller's own batch may take seconds more); and the cache is
        looked at again here (`kept`, under the lock): a batch checks it once at its start, and another
        caller may have fetched the query while the batch's workers got to it."""
        with self._lock:
            hit = kept()
            if hit is not None:
                return hit
            pending = self._inflight.get(key)
            leader = pending is None
            if leader:
                pending = Future()
                self._inflight[key] = pending
        if not leader:
            return pending.result()
        try:
            with self._slots:
                outcome = fetch()
        except BaseException as exc:
            with self._lock:
                self._inflight.pop(key, None)
            pending.set_exception(exc)
            raise
        with self._lock:
            if not isinstance(outcome, SourceError):
                keep(outcome)
            self._inflight.pop(key, None)
        pending.set_result(outcome)
        return outcome

    def _instant_one(self, query: str, at_s: int) -> tuple[dict[str, float], tuple[str, ...]] | SourceError:
        where = f"query {query!r} at {self.url}"
        with self._lock:
            self.http_requests += 1
        try:
            resp = self.session.get(
                f"{self.url}/api/v1/query",
                params={
                    "query": query,
                    "time": str(at_s),
                    "timeout": f"{max(1, round(self.timeout_s * 1000))}ms",
                },
                timeout=(min(self.timeout_s, 5.0), self.timeout_s),
            )
            payload = resp.json()
        except requests.Timeout:
            return SourceError(self.name, f"{where} timed out after {self.timeout_s:g} s", query=query)
        except requests.ConnectionError as exc:
            return SourceError(
                self.name, f"could not connect for {where}: {_connection_reason(exc)}", query=query
            )
        except (requests.RequestException, ValueError) as exc:
            return SourceError(self.name, f"{where} failed: {_short(exc)}", query=query)
        if not isinstance(payload, dict) or payload.get("status") != "success":
            reason = (
                payload.get("error", "no reason given")
                if isinstance(payload, dict)
                else "not the Prometheus API"
            )
            return SourceError(
                self.name, f"{where} was rejected (HTTP {resp.status_code}): {reason}", query=query
            )
        data = payload.get("data") or {}
        if data.get("resultType") != "vector":
            return SourceError(
                self.name, f"{where} returned a {data.get('resultType')!r}, expected a vector", query=query
            )
        values: dict[str, float] = {}
        for series in data.get("result") or []:
            region = (series.get("metric") or {}).get(REGION_LABEL)
            if region is None:
                return SourceError(
                    self.name,
                    f"{where} returned a series without a `{REGION_LABEL}` label; aggregate it `by ({REGION_LABEL})`",
                    query=query,
                )
            values[region] = float(series["value"][1])
        return values, tuple(payload.get("warnings") or ())

    # -- internals -----------------------------------------------------------------------------------
    def _checked_regions(self, regions: Sequence[str]) -> list[str]:
        if isinstance(regions, str):  # a bare string would be read as its characters
            regions = [regions]
        bad = [r for r in regions if not is_safe_label_value(r)]
        if bad:
            raise SourceError(
                self.name,
                f"refusing region value(s) {', '.join(repr(b) for b in bad)}: label values may only hold "
                "letters, digits and . _ : / - (this keeps them from changing the PromQL query)",
            )
        return list(dict.fromkeys(regions))

    def _fetch_all(self, queries: list[str], start_s: int, end_s: int, step_s: int) -> dict[str, _Series]:
        now = time.monotonic()
        results: dict[str, _Series] = {}
        misses: list[str] = []
        with self._lock:
            for q in queries:
                hit = self._cache.get((q, start_s, end_s, step_s))
                if hit is not None and now - hit[0] <= self.cache_ttl_s:
                    self._cache.move_to_end((q, start_s, end_s, step_s))
                    results[q] = hit[1]
                else:
                    misses.append(q)
        if not misses:
            return results
        t0 = time.perf_counter()
        errors: list[SourceError] = []
        if len(misses) == 1:
            outcomes = [self._fetch_one_safe(misses[0], start_s, end_s, step_s)]
        else:
            with ThreadPoolExecutor(max_workers=min(MAX_CONCURRENT_QUERIES, len(misses))) as pool:
                outcomes = list(pool.map(lambda q: self._fetch_one_safe(q, start_s, end_s, step_s), misses))
        latency = time.perf_counter() - t0
        warnings: list[str] = []
        for q, outcome in zip(misses, outcomes, strict=True):
            if isinstance(outcome, SourceError):
                errors.append(outcome)
                continue
            results[q] = outcome  # kept in the cache by _fetch_one_safe already
            warnings.extend(outcome.warnings)
        if errors:
            first = errors[0]
            more = f" ({len(errors) - 1} more of {len(misses)} queries failed too)" if len(errors) > 1 else ""
            self._record_error(first.message + more)
            raise SourceError(self.name, first.message + more, query=first.query)
        self._record_success(latency, tuple(dict.fromkeys(warnings)))
        return results

    def _fetch_one_safe(self, query: str, start_s: int, end_s: int, step_s: int) -> _Series | SourceError:
        def fetch() -> _Series | SourceError:
            try:
                return self._fetch_one(query, start_s, end_s, step_s)
            except SourceError as exc:
                return exc
            except Exception as exc:  # nothing may escape to a page as a traceback
                return SourceError(
                    self.name, f"query {query!r} failed unexpectedly: {_short(exc)}", query=query
                )

        def keep(outcome: _Series) -> None:  # under self._lock
            self._cache[(query, start_s, end_s, step_s)] = (time.monotonic(), outcome)
            self._cache.move_to_end((query, start_s, end_s, step_s))
            while len(self._cache) > MAX_CACHE_ENTRIES:
                self._cache.popitem(last=False)

        def kept() -> _Series | None:  # under self._lock
            hit = self._cache.get((query, start_s, end_s, step_s))
            return hit[1] if hit is not None and time.monotonic() - hit[0] <= self.cache_ttl_s else None

        return self._single_flight(("range", query, start_s, end_s, step_s), fetch, keep, kept)

    def _fetch_one(self, query: str, start_s: int, end_s: int, step_s: int) -> _Series:
        params = {
            "query": query,
            "start": str(start_s),
            "end": str(end_s),
            "step": str(step_s),
            # the server gives up too instead of working on (PromQL durations take no decimals: use ms)
            "timeout": f"{max(1, round(self.timeout_s * 1000))}ms",
        }
        where = f"query_range {query!r} at {self.url}"
        with self._lock:
            self.http_requests += 1
        timed_out = SourceError(
            self.name, f"{where} timed out after {self.timeout_s:g} s (total deadline)", query=query
        )
        try:
            status, body = self._get_within_deadline(f"{self.url}/api/v1/query_range", params)
        except _DeadlineExceeded:
            raise timed_out from None
        except requests.Timeout:
            raise timed_out from None
        except requests.ConnectionError as exc:
            raise SourceError(
                self.name, f"could not connect for {where}: {_connection_reason(exc)}", query=query
            ) from None
        except requests.RequestException as exc:
            raise SourceError(self.name, f"{where} failed: {_short(exc)}", query=query) from None
        try:
            with _gc_paused():
                payload = json.loads(body)
        except ValueError:
            payload = None
        if status in (401, 403):
            raise SourceError(
                self.name,
                f"{where} was refused (HTTP {status}): check token or username/password in "
                "[connections.prometheus] of secrets.toml or HEADROOM_PROMETHEUS_* variables",
                query=query,
            )
        if not isinstance(payload, dict):
            raise SourceError(
                self.name,
                f"{where} answered HTTP {status} with something that is not the Prometheus API "
                f"(is the URL the API root, e.g. including /prometheus for Mimir?): "
                f"{body[:120].decode('utf-8', 'replace')!r}",
                query=query,
            )
        if payload.get("status") != "success":
            kind = payload.get("errorType", f"HTTP {status}")
            raise SourceError(
                self.name,
                f"{where} was rejected ({kind}): {payload.get('error', 'no reason given')}",
                query=query,
            )
        data = payload.get("data") or {}
        if data.get("resultType") != "matrix":
            raise SourceError(
                self.name, f"{where} returned a {data.get('resultType')!r}, expected a matrix", query=query
            )
        return _parse_matrix(self.name, query, data.get("result") or [], tuple(payload.get("warnings") or ()))

    def _get_within_deadline(self, url: str, params: Mapping[str, str]) -> tuple[int, bytes]:
        """GET with `timeout_s` as a total deadline: (status, decoded body) or _DeadlineExceeded.

        The headers are bounded per read by `requests`; the body is read in pieces while a watchdog timer
        shuts the socket down at the deadline, which wakes a read blocked on a dribbling server."""
        deadline = time.monotonic() + self.timeout_s
        resp = self.session.get(
            url, params=params, timeout=(min(self.timeout_s, 5.0), self.timeout_s), stream=True
        )
        watchdog = _Watchdog(resp)
        try:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _DeadlineExceeded
            watchdog.start(remaining)
            chunks: list[bytes] = []
            try:
                while chunk := resp.raw.read1(1 << 20, decode_content=True):
                    chunks.append(chunk)
                    if time.monotonic() >= deadline:
                        raise _DeadlineExceeded
            except _DeadlineExceeded:
                raise
            except Exception as exc:  # a shut-down socket surfaces as a protocol or connection error
                if watchdog.fired or time.monotonic() >= deadline:
                    raise _DeadlineExceeded from None
                raise requests.ConnectionError(str(exc)) from None
            if watchdog.stop():
                raise _DeadlineExceeded  # fired after the last read: the socket may be half-closed
            return resp.status_code, b"".join(chunks)
        finally:
            watchdog.stop()
            resp.close()

    def _record_success(self, latency: float, warnings: tuple[str, ...] | None) -> None:
        """`warnings` None (a probe) keeps those of the last query: they describe the data shown."""
        with self._lock:
            self._last_success = datetime.now(UTC)
            self._last_latency = latency
            self._last_error = None
            if warnings is not None:
                self._last_warnings = warnings
            self._last_checked = time.monotonic()

    def _record_error(self, message: str) -> None:
        with self._lock:
            self._last_error = message
            self._last_checked = time.monotonic()


class _DeadlineExceeded(Exception):
    """The total deadline of one request passed."""


class _Watchdog:
    """Shuts down a streaming response's socket once a deadline passes, unless stopped first."""

    def __init__(self, resp: requests.Response):
        self._sock: socket.socket | None = getattr(getattr(resp.raw, "connection", None), "sock", None)
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._stopped = False
        self.fired = False

    def start(self, seconds: float) -> None:
        if self._sock is None:
            return  # no socket to watch: the per-read timeout and the loop's deadline check remain
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self) -> None:
        with self._lock:
            if self._stopped or self._sock is None:
                return
            self.fired = True
            with contextlib.suppress(OSError):  # wakes the blocked recv; the socket is discarded
                self._sock.shutdown(socket.SHUT_RDWR)

    def stop(self) -> bool:
        """Stop watching; True if the watchdog had already fired."""
        with self._lock:
            self._stopped = True
            if self._timer is not None:
                self._timer.cancel()
            return self.fired


def day_pieces(start_s: int, end_s: int, step_s: int) -> list[tuple[int, int]]:
    """[start_s, end_s] (step-aligned) covered by whole pieces of about a day, or of as many whole days
    as hold PIECE_MIN_STEPS steps at a coarse step: each starts at a multiple of the piece length (a
    whole number of steps, so every piece's points sit on the range's grid) and ends one step before the
    next; the same days give the same pieces on every rerun (cache keys)."""
    days = max(1, math.ceil(PIECE_MIN_STEPS * step_s / PIECE_S))
    piece_s = math.ceil(days * PIECE_S / step_s) * step_s
    first = start_s // piece_s * piece_s
    return [(s, s + piece_s - step_s) for s in range(first, end_s + 1, piece_s)]


def aggregate_pieces(lo_s: int, hi_s: int, resolution_s: int) -> list[tuple[int, int]]:
    """(lo_s, hi_s] (multiples of the resolution) as the windows of a long range's aggregate pieces:
    (evaluation time, span) of each, cut at multiples of AGGREGATE_PIECE_S (a whole number of steps), so
    the pieces hold exactly the range's steps between them and the same days give the same pieces (and
    cache keys) on every rerun: only the open piece and the range's first are asked again."""
    piece_s = math.ceil(AGGREGATE_PIECE_S / resolution_s) * resolution_s
    out = []
    cut = lo_s // piece_s * piece_s
    while cut < hi_s:
        at_s = min(cut + piece_s, hi_s)
        out.append((at_s, at_s - max(cut, lo_s)))
        cut += piece_s
    return out


def piece_parts(aggregate: RangeAggregate) -> tuple[RangeAggregate, ...]:
    """What each piece of a long range is asked for a figure: the figure itself when pieces add up
    (sum, count, max, min, last, the weighted sums); a mean as its sum and its count; a share_above with
    the count of steps it is a share of."""
    if aggregate.stat == "mean":
        return (RangeAggregate(aggregate.metric, "sum"), RangeAggregate(aggregate.metric, "count"))
    if aggregate.stat == "share_above":
        return (aggregate, RangeAggregate(aggregate.metric, "count"))
    return (aggregate,)


def combine_pieces(
    aggregate: RangeAggregate, pieces: Sequence[tuple[RangeAggregate, int, Mapping[str, float]]]
) -> dict[str, float]:
    """A long range's figure per region from its pieces' values (piece_parts; each piece's part, its
    evaluation time and its values by region): the figure one query over the whole range gives."""

    def by_part(stat: str) -> list[tuple[int, Mapping[str, float]]]:
        return sorted((at_s, values) for part, at_s, values in pieces if part.stat == stat)

    regions = {r for _, _, values in pieces for r in values}
    if aggregate.stat in ("mean", "share_above"):
        counts = {r: sum(v.get(r, 0.0) for _, v in by_part("count")) for r in regions}
        if aggregate.stat == "mean":
            totals = {r: sum(v.get(r, 0.0) for _, v in by_part("sum")) for r in regions}
        else:  # each piece's share of its own steps, weighted by how many it has
            counted = dict(by_part("count"))
            totals = {
                r: sum(
                    v[r] * counted.get(at_s, {}).get(r, 0.0) for at_s, v in by_part("share_above") if r in v
                )
                for r in regions
            }
        return {r: totals[r] / counts[r] for r in regions if counts[r] > 0}
    own = by_part(aggregate.stat)
    present = {r: [v[r] for _, v in own if r in v] for r in regions}
    if aggregate.stat == "max":
        return {r: max(vs) for r, vs in present.items() if vs}
    if aggregate.stat == "min":
        return {r: min(vs) for r, vs in present.items() if vs}
    if aggregate.stat == "last":  # the latest piece that has the region
        return {r: vs[-1] for r, vs in present.items() if vs}
    return {r: math.fsum(vs) for r, vs in present.items() if vs}  # sums and counts add up


def _joined(parts: Sequence[_Series], start_s: int, end_s: int) -> _Series:
    """Pieces of one query, in time order, as one series per region trimmed to [start_s, end_s]."""
    lo, hi = start_s * 1_000_000_000, end_s * 1_000_000_000
    by_region: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for region in dict.fromkeys(r for part in parts for r in part.by_region):
        ts = np.concatenate([p.by_region[region][0] for p in parts if region in p.by_region])
        values = np.concatenate([p.by_region[region][1] for p in parts if region in p.by_region])
        keep = (ts >= lo) & (ts <= hi)
        by_region[region] = (ts[keep], values[keep])
    warnings = tuple(dict.fromkeys(w for part in parts for w in part.warnings))
    return _Series(by_region, warnings)


def _finite(expr: str) -> str:
    """Only the finite samples of `expr` (histogram_quantile gives NaN for a region without requests;
    the tidy frame drops those points, so the aggregates must too)."""
    return f"(({expr}) > -Inf < +Inf)"


def aggregate_query(
    aggregate: RangeAggregate,
    templates: Mapping[str, str],
    aggregate_templates: Mapping[str, str],
    regions: Sequence[str],
    span_s: int,
    resolution_s: int,
) -> str:
    """The instant PromQL for one RangeAggregate over the `span_s` seconds before the query time.

    A template registered for the aggregate's key (e.g. a recording rule from issue 12) wins; otherwise
    the metric's own template is evaluated on a subquery at `resolution_s`."""
    # the steps in (at - span, at]: one second short, as Prometheus 2.x subqueries also take the step at
    # exactly at - span (3.x ranges are left-open)
    window = f"[{max(span_s - 1, 1)}s:{resolution_s}s]"
    if aggregate.key in aggregate_templates:
        return render_query(aggregate_templates[aggregate.key], regions).replace("$range", f"{span_s}s")
    metric = _finite(render_query(templates[aggregate.metric], regions))
    if aggregate.stat == "share_above":
        return f"avg_over_time(({metric} > bool {aggregate.threshold!r}){window})"
    if aggregate.weight is not None:
        weight = _finite(render_query(templates[aggregate.weight], regions))
        inner = (
            f"{metric} * on({REGION_LABEL}) {weight}"
            if aggregate.stat == "weighted_sum"
            else (f"{weight} and on({REGION_LABEL}) {metric}")
        )
        return f"sum_over_time(({inner}){window})"
    function = {"mean": "avg", "sum": "sum", "count": "count", "max": "max", "min": "min", "last": "last"}[
        aggregate.stat
    ]
    return f"{function}_over_time({metric}{window})"


def _parse_matrix(
    source: str, query: str, result: list[dict[str, Any]], warnings: tuple[str, ...]
) -> _Series:
    """query_range `result` -> arrays; one series per region is required (aggregate `by (region)`)."""
    by_region: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for series in result:
        labels = series.get("metric") or {}
        region = labels.get(REGION_LABEL)
        if region is None:
            raise SourceError(
                source,
                f"query {query!r} returned a series without a `{REGION_LABEL}` label ({labels}); "
                f"aggregate it `by ({REGION_LABEL})`",
                query=query,
            )
        if region in by_region:
            raise SourceError(
                source,
                f"query {query!r} returned several series for region {region!r}; aggregate it "
                f"`by ({REGION_LABEL})` so each region has one series",
                query=query,
            )
        pairs = series.get("values") or []
        n = len(pairs)
        ts = np.fromiter((p[0] for p in pairs), dtype=np.float64, count=n)
        values = np.array([p[1] for p in pairs], dtype=np.float64)  # "NaN", "+Inf" parse too
        # Prometheus timestamps are seconds with millisecond precision
        by_region[region] = (np.rint(ts * 1000.0).astype(np.int64) * 1_000_000, values)
    return _Series(by_region, warnings)


def _with_warnings(frame: pd.DataFrame, warnings: Iterable[str]) -> pd.DataFrame:
    """The answer with the warnings it came with (core.ports.SOURCE_WARNINGS), each once."""
    unique = tuple(dict.fromkeys(warnings))
    if unique:
        frame.attrs[SOURCE_WARNINGS] = unique
    return frame


def _assemble(by_metric: Mapping[str, _Series], allowed_regions: Sequence[str]) -> pd.DataFrame:
    """Per-metric arrays -> one tidy frame (UTC, sorted by ts, region, metric); NaN/Inf points dropped
    (histogram_quantile yields NaN when a region had no requests) and regions outside the request too.

    Sorting works on integer codes: series are laid out in (region, metric) order and a stable sort on
    the timestamps alone then gives (ts, region, metric) order without comparing strings."""
    region_names = sorted(set(allowed_regions))
    metric_names = sorted(by_metric)
    parts_ts, parts_value, parts_region, parts_metric = [], [], [], []
    for r_code, region in enumerate(region_names):
        for m_code, metric in enumerate(metric_names):
            arrays = by_metric[metric].by_region.get(region)
            if arrays is None:
                continue
            ts, values = arrays
            keep = np.isfinite(values)
            n = int(keep.sum())
            if n == 0:
                continue
            if n < len(values):
                ts, values = ts[keep], values[keep]
            parts_ts.append(ts)
            parts_value.append(values)
            parts_region.append(np.full(n, r_code, dtype=np.int32))
            parts_metric.append(np.full(n, m_code, dtype=np.int32))
    if not parts_ts:
        return empty_metrics_frame()
    ts = np.concatenate(parts_ts)
    order = np.argsort(ts, kind="stable")
    return pd.DataFrame(
        {
            "ts": pd.DatetimeIndex(ts[order].astype("datetime64[ns]")).tz_localize("UTC"),
            "region": pd.Series(
                np.array(region_names, dtype=object)[np.concatenate(parts_region)[order]], dtype=object
            ),
            "metric": pd.Series(
                np.array(metric_names, dtype=object)[np.concatenate(parts_metric)[order]], dtype=object
            ),
            "value": np.concatenate(parts_value)[order],
        }
    )


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 200 else text[:200] + "..."


def _connection_reason(exc: BaseException) -> str:
    text = str(exc)
    if "timed out" in text.lower():
        return "timed out"
    if "refused" in text.lower():
        return "connection refused (is Prometheus running at that address?)"
    if "Name or service not known" in text or "nodename nor servname" in text:
        return "the host name does not resolve"
    if "CERTIFICATE_VERIFY_FAILED" in text or "SSLError" in text:
        return "TLS certificate verification failed (set ca_bundle or verify_tls in [connections.prometheus])"
    return _short(exc)
