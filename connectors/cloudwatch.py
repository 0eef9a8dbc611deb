"""MetricsSource for CDN metrics from CloudWatch (namespace AWS/CloudFront) via GetMetricData.

Each CloudFront distribution in config [cloudwatch].distributions is reported under a region (or POP
group). CloudFront metrics map to the canonical cdn_* metrics:

| canonical | from | how |
|---|---|---|
| cdn_requests_per_second | Requests (Sum) | sum over the region's distributions / period |
| cdn_bytes_edge_per_second | BytesDownloaded (Sum) | sum / period |
| cdn_hit_ratio | CacheHitRate (Average, %) | request-weighted mean / 100 |
| cdn_bytes_origin_per_second | BytesDownloaded x (1 - CacheHitRate) | an estimate, see below |
| cdn_4xx_error_ratio, cdn_5xx_error_ratio | 4xxErrorRate, 5xxErrorRate (%) | request-weighted / 100 |

CloudFront publishes no origin-bytes metric; origin bytes are *estimated* as edge bytes x (1 - hit
ratio). CacheHitRate is a share of requests, not of bytes, so the estimate is off when misses are larger
or smaller than hits on average. CacheHitRate and the error rates need CloudFront's "additional metrics"
enabled on the distribution; without them those metrics come back empty. The two error ratios are not
canonical metrics: they are offered for the CDN page and ignored elsewhere.

Requests are batched at most 500 queries per GetMetricData call, each paginated by NextToken (at most
aws_common.MAX_PAGES pages, and a repeated token is an error rather than a loop); the
period is chosen so a call's datapoints stay within GetMetricData's limit and within CloudWatch's
retention of fine periods (1-minute data for 15 days, 5-minute for 63 days, then 1 hour).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from connectors.aws_common import AwsCredentials, Pager, client_for, source_error
from core.config import CANONICAL_METRICS, CloudWatchConfig
from core.ports import SourceError, SourceHealth, empty_metrics_frame, tidy_metrics

NAMESPACE = "AWS/CloudFront"
MAX_QUERIES_PER_CALL = 500
MAX_DATAPOINTS_PER_CALL = 100_800
# CloudFront statistics used for each CloudWatch metric
STATISTIC = {
    "Requests": "Sum",
    "BytesDownloaded": "Sum",
    "CacheHitRate": "Average",
    "4xxErrorRate": "Average",
    "5xxErrorRate": "Average",
}
EXTRA_METRICS: tuple[str, ...] = ("cdn_4xx_error_ratio", "cdn_5xx_error_ratio")
CDN_METRICS: tuple[str, ...] = (
    "cdn_requests_per_second",
    "cdn_hit_ratio",
    "cdn_bytes_edge_per_second",
    "cdn_bytes_origin_per_second",
    *EXTRA_METRICS,
)
# which CloudFront metrics each canonical metric needs (Requests weights the ratios across distributions)
NEEDS: dict[str, tuple[str, ...]] = {
    "cdn_requests_per_second": ("Requests",),
    "cdn_bytes_edge_per_second": ("BytesDownloaded",),
    "cdn_hit_ratio": ("CacheHitRate", "Requests"),
    "cdn_bytes_origin_per_second": ("BytesDownloaded", "CacheHitRate"),
    "cdn_4xx_error_ratio": ("4xxErrorRate", "Requests"),
    "cdn_5xx_error_ratio": ("5xxErrorRate", "Requests"),
}
# CloudWatch keeps 1-minute points for 15 days, 5-minute for 63 days, 1-hour for 455 days
_RETENTION_FLOORS = ((timedelta(days=63), 3600), (timedelta(days=15), 300))


def choose_period(
    start: datetime, end: datetime, step: timedelta, queries_per_call: int, now: datetime | None = None
) -> int:
    """Period in seconds (a multiple of 60): at least the step, coarse enough for the retention tier of
    `start`, and so that one call's queries x points stay within MAX_DATAPOINTS_PER_CALL."""
    now = now or datetime.now(UTC)
    period = max(60, math.ceil(step.total_seconds() / 60) * 60)
    for age, floor in _RETENTION_FLOORS:
        if now - start > age:
            period = max(period, floor)
            break
    per_query = MAX_DATAPOINTS_PER_CALL // max(1, min(queries_per_call, MAX_QUERIES_PER_CALL))
    span = max((end - start).total_seconds(), 0.0)
    needed = math.ceil(span / max(per_query - 1, 1) / 60) * 60
    return max(period, needed)


class CloudWatchCdnSource:
    """MetricsSource for the cdn_* metrics from CloudFront's CloudWatch metrics."""

    def __init__(
        self,
        config: CloudWatchConfig,
        credentials: AwsCredentials | None = None,
        client: Any | None = None,
        name: str = "CloudWatch (AWS/CloudFront)",
    ):
        self.config = config
        self.name = name
        self.client = client or client_for("cloudwatch", config, credentials)
        self._lock = threading.Lock()
        self._cache: dict[tuple[Any, ...], tuple[float, pd.DataFrame]] = {}
        self._last_success: datetime | None = None
        self._last_latency: float | None = None
        self._last_error: str | None = None
        self._last_messages: tuple[str, ...] = ()

    # -- MetricsSource -----------------------------------------------------------------------------
    def query_range(
        self,
        metrics: Sequence[str],
        start: datetime,
        end: datetime,
        step: timedelta,
        regions: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """Tidy frame of the requested cdn_* metrics; other canonical metrics are not served here."""
        unknown = [m for m in metrics if m not in CANONICAL_METRICS and m not in EXTRA_METRICS]
        if unknown:
            raise ValueError(f"unknown metric(s) {unknown}; known: {', '.join(CANONICAL_METRICS)}")
        if start.tzinfo is None or end.tzinfo is None:
            raise ValueError("start and end must be timezone-aware (UTC)")
        wanted = [m for m in dict.fromkeys(metrics) if m in CDN_METRICS]
        dists = [d for d in self.config.distributions if regions is None or d.region in regions]
        if not wanted or not dists or end <= start:
            return empty_metrics_frame()
        cf_metrics = sorted({cf for m in wanted for cf in NEEDS[m]})
        n_queries = len(dists) * len(cf_metrics)
        period = choose_period(start, end, step, n_queries)
        # periods are labelled by their start: keep the labels inside [start, end] (as Prometheus does);
        # EndTime is exclusive, so it is the end of the last period that starts by `end`
        start_s = math.ceil(start.timestamp() / period) * period
        end_s = math.floor(end.timestamp() / period) * period + period
        if start_s >= end_s:
            return empty_metrics_frame()
        key = (tuple(wanted), tuple((d.id, d.region) for d in dists), start_s, end_s, period)
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None and time.monotonic() - hit[0] <= self.config.cache_ttl.total_seconds():
                return hit[1]
        t0 = time.perf_counter()
        raw = self._fetch(dists, cf_metrics, start_s, end_s, period)
        frame = _to_canonical(raw, wanted, period)
        with self._lock:
            self._cache = {
                k: v
                for k, v in self._cache.items()
                if time.monotonic() - v[0] <= self.config.cache_ttl.total_seconds()
            }
            self._cache[key] = (time.monotonic(), frame)
            self._last_success = datetime.now(UTC)
            self._last_latency = time.perf_counter() - t0
            self._last_error = None
        return frame

    def health(self) -> SourceHealth:
        with self._lock:
            n = len(self.config.distributions)
            if not n:
                return SourceHealth(self.name, "down", "no distributions in [cloudwatch].distributions")
            if self._last_error:
                return SourceHealth(
                    self.name, "down", self._last_error, self._last_success, self._last_latency
                )
            if self._last_success is None:
                return SourceHealth(self.name, "unknown", f"{n} distribution(s), not queried yet")
            state = "degraded" if self._last_messages else "ok"
            detail = f"{n} distribution(s)" + (
                f"; {'; '.join(self._last_messages)}" if self._last_messages else ""
            )
            return SourceHealth(self.name, state, detail, self._last_success, self._last_latency)

    # -- internals -----------------------------------------------------------------------------------
    def _fetch(
        self, dists: list, cf_metrics: list[str], start_s: int, end_s: int, period: int
    ) -> pd.DataFrame:
        """Raw points as a frame: region, dist, cf_metric, ts, value."""
        specs = [(d, m) for d in dists for m in cf_metrics]
        rows_region: list[np.ndarray] = []
        rows_dist: list[np.ndarray] = []
        rows_metric: list[np.ndarray] = []
        rows_ts: list[np.ndarray] = []
        rows_value: list[np.ndarray] = []
        messages: list[str] = []
        for offset in range(0, len(specs), MAX_QUERIES_PER_CALL):
            batch = specs[offset : offset + MAX_QUERIES_PER_CALL]
            queries = [
                {
                    "Id": f"q{i}",
                    "MetricStat": {
                        "Metric": {
                            "Namespace": NAMESPACE,
                            "MetricName": metric,
                            "Dimensions": [
                                {"Name": "DistributionId", "Value": dist.id},
                                {"Name": "Region", "Value": "Global"},
                            ],
                        },
                        "Period": period,
                        "Stat": STATISTIC[metric],
                    },
                    "ReturnData": True,
                }
                for i, (dist, metric) in enumerate(batch)
            ]
            points: dict[str, tuple[list, list]] = {q["Id"]: ([], []) for q in queries}
            token: str | None = None
            pager = Pager(self.name, "GetMetricData", "NextToken")
            while True:
                kwargs: dict[str, Any] = {
                    "MetricDataQueries": queries,
                    "StartTime": datetime.fromtimestamp(start_s, UTC),
                    "EndTime": datetime.fromtimestamp(end_s, UTC),
                    "ScanBy": "TimestampAscending",
                }
                if token:
                    kwargs["NextToken"] = token
                try:
                    resp = self.client.get_metric_data(**kwargs)
                except Exception as exc:
                    err = source_error(self.name, "GetMetricData", exc, self.config.max_attempts)
                    with self._lock:
                        self._last_error = err.message
                    raise err from None
                for result in resp.get("MetricDataResults", []):
                    ts, vals = points.setdefault(result["Id"], ([], []))
                    ts.extend(result.get("Timestamps", []))
                    vals.extend(result.get("Values", []))
                    if result.get("StatusCode") not in (None, "Complete", "PartialData"):
                        messages.append(f"{result.get('Label', result['Id'])}: {result.get('StatusCode')}")
                messages.extend(m.get("Value", "") for m in resp.get("Messages", []) if m.get("Value"))
                token = resp.get("NextToken")
                try:
                    if not pager.more(token):
                        break
                except SourceError as err:
                    with self._lock:
                        self._last_error = err.message
                    raise
            for i, (dist, metric) in enumerate(batch):
                ts, vals = points.get(f"q{i}", ([], []))
                if not ts:
                    continue
                n = len(ts)
                rows_ts.append(np.array([int(t.timestamp()) for t in ts], dtype=np.int64))
                rows_value.append(np.asarray(vals, dtype=np.float64))
                rows_region.append(np.full(n, dist.region, dtype=object))
                rows_dist.append(np.full(n, dist.id, dtype=object))
                rows_metric.append(np.full(n, metric, dtype=object))
        with self._lock:
            self._last_messages = tuple(dict.fromkeys(messages))[:5]
        if not rows_ts:
            return pd.DataFrame(columns=["region", "dist", "cf_metric", "ts", "value"])
        return pd.DataFrame(
            {
                "region": np.concatenate(rows_region),
                "dist": np.concatenate(rows_dist),
                "cf_metric": np.concatenate(rows_metric),
                "ts": np.concatenate(rows_ts),
                "value": np.concatenate(rows_value),
            }
        )


def _to_canonical(raw: pd.DataFrame, wanted: list[str], period: int) -> pd.DataFrame:
    """Raw CloudFront points -> tidy canonical frame, distributions of a region combined."""
    if raw.empty:
        return empty_metrics_frame()
    # duplicates of (dist, metric, ts) can only come from overlapping pages; keep the last
    wide = raw.pivot_table(
        index=["region", "dist", "ts"], columns="cf_metric", values="value", aggfunc="last"
    )
    for cf in STATISTIC:
        if cf not in wide.columns:
            wide[cf] = np.nan
    req = wide["Requests"]
    hit = wide["CacheHitRate"] / 100.0
    per_dist = pd.DataFrame(
        {
            "requests": req,
            "edge_bytes": wide["BytesDownloaded"],
            "origin_bytes": wide["BytesDownloaded"] * (1.0 - hit),
            # weights: requests where known, so a busy distribution counts more in the region's ratio
            "hit_w": hit * req,
            "hit_n": req.where(hit.notna()),
            "e4_w": wide["4xxErrorRate"] / 100.0 * req,
            "e4_n": req.where(wide["4xxErrorRate"].notna()),
            "e5_w": wide["5xxErrorRate"] / 100.0 * req,
            "e5_n": req.where(wide["5xxErrorRate"].notna()),
        }
    )
    by_region = per_dist.groupby(level=["region", "ts"]).sum(min_count=1)
    canonical = pd.DataFrame(index=by_region.index)
    canonical["cdn_requests_per_second"] = by_region["requests"] / period
    canonical["cdn_bytes_edge_per_second"] = by_region["edge_bytes"] / period
    canonical["cdn_bytes_origin_per_second"] = by_region["origin_bytes"] / period
    canonical["cdn_hit_ratio"] = by_region["hit_w"] / by_region["hit_n"].where(by_region["hit_n"] > 0)
    canonical["cdn_4xx_error_ratio"] = by_region["e4_w"] / by_region["e4_n"].where(by_region["e4_n"] > 0)
    canonical["cdn_5xx_error_ratio"] = by_region["e5_w"] / by_region["e5_n"].where(by_region["e5_n"] > 0)
    long = (
        canonical[wanted]
        .reset_index()
        .melt(id_vars=["region", "ts"], var_name="metric", value_name="value")
        .dropna(subset=["value"])
    )
    long["ts"] = pd.to_datetime(long["ts"], unit="s", utc=True)
    return tidy_metrics(long)
