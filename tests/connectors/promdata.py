"""Synthetic exporter data as OpenMetrics text, for backfilling a real Prometheus (tests and bench).

The families are what the shipped [prometheus.queries] templates read: http_requests_total (counter,
code 200 and 503), http_request_duration_seconds (histogram), node_cpu_seconds_total (counter),
node_memory_* (gauges), sqs_approximate_number_of_messages_visible (gauge), up (gauge), plus CDN
families (cdn_requests_total, cdn_cache_hits_total, cdn_edge_bytes_total counters) for a Prometheus-fed
CDN view. Values are deterministic functions of (region index, time) so tests can reason about them.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from datetime import datetime

LATENCY_BUCKETS: tuple[str, ...] = ("0.05", "0.1", "0.25", "0.5", "1", "+Inf")
# extra templates for the CDN families above (not shipped: CDN metrics usually come from CloudWatch)
CDN_QUERIES: dict[str, str] = {
    "cdn_requests_per_second": 'sum by (region) (rate(cdn_requests_total{region=~"$regions"}[5m]))',
    "cdn_hit_ratio": 'sum by (region) (rate(cdn_cache_hits_total{region=~"$regions"}[5m])) '
    '/ sum by (region) (rate(cdn_requests_total{region=~"$regions"}[5m]))',
    "cdn_bytes_edge_per_second": 'sum by (region) (rate(cdn_edge_bytes_total{region=~"$regions"}[5m]))',
}


def request_rate(region_index: int, t: float) -> float:
    """req/s of region i at epoch second t: a daily wave around 100 + 40 i."""
    return (100.0 + 40.0 * region_index) * (1.0 + 0.3 * math.sin(2 * math.pi * t / 86400.0))


def _stamps(start: datetime, end: datetime, interval_s: int) -> list[int]:
    s = int(start.timestamp()) // interval_s * interval_s
    return list(range(s, int(end.timestamp()) + 1, interval_s))


def openmetrics(
    regions: Sequence[str],
    start: datetime,
    end: datetime,
    interval_s: int = 60,
    cdn: bool = False,
    max_instances: int | None = None,
) -> str:
    """OpenMetrics text with samples every `interval_s` seconds from start to end (seconds timestamps,
    families grouped, series in ascending time, final `# EOF`). Region i has 3 + i `up` instances, at
    most `max_instances` when given (bench/pages.py caps them so 50 regions backfill in minutes)."""
    stamps = _stamps(start, end, interval_s)
    return "\n".join(_lines(list(regions), stamps, interval_s, cdn, max_instances)) + "\n# EOF\n"


def _lines(
    regions: list[str], stamps: list[int], interval_s: int, cdn: bool, max_instances: int | None = None
) -> Iterator[str]:
    def counter_series(name: str, labels: str, rate: callable) -> Iterator[str]:  # type: ignore[valid-type]
        total = 0.0
        for t in stamps:
            total += rate(t) * interval_s
            yield f"{name}{{{labels}}} {total:.3f} {t}"

    yield "# TYPE http_requests counter"
    for i, r in enumerate(regions):
        yield from counter_series(
            "http_requests_total", f'region="{r}",code="200",job="api"', lambda t, i=i: request_rate(i, t)
        )
        yield from counter_series(
            "http_requests_total",
            f'region="{r}",code="503",job="api"',
            lambda t, i=i: request_rate(i, t) * 0.0002 * (1 + i),
        )

    yield "# TYPE http_request_duration_seconds histogram"
    # share of requests at or under each bucket bound; later regions are a little slower
    for i, r in enumerate(regions):
        shares = [s ** (1 + 0.1 * i) for s in (0.30, 0.60, 0.90, 0.97, 0.995)] + [1.0]
        for le, share in zip(LATENCY_BUCKETS, shares, strict=True):
            yield from counter_series(
                "http_request_duration_seconds_bucket",
                f'region="{r}",le="{le}"',
                lambda t, i=i, share=share: request_rate(i, t) * share,
            )
        yield from counter_series(
            "http_request_duration_seconds_count", f'region="{r}"', lambda t, i=i: request_rate(i, t)
        )
        yield from counter_series(
            "http_request_duration_seconds_sum", f'region="{r}"', lambda t, i=i: request_rate(i, t) * 0.12
        )

    yield "# TYPE node_cpu_seconds counter"
    for i, r in enumerate(regions):
        yield from counter_series(
            "node_cpu_seconds_total",
            f'region="{r}",mode="idle",cpu="0"',
            lambda t, i=i: 1.0 - (0.3 + 0.05 * i) * (1.0 + 0.3 * math.sin(2 * math.pi * t / 86400.0)),
        )

    for family, value in (
        ("node_memory_MemAvailable_bytes", lambda i, t: 4e9 - 2e8 * i - 1e8 * math.sin(t / 7200.0)),
        ("node_memory_MemTotal_bytes", lambda i, t: 8e9),
        ("sqs_approximate_number_of_messages_visible", lambda i, t: float((t // 60 + 7 * i) % 50)),
    ):
        yield f"# TYPE {family} gauge"
        for i, r in enumerate(regions):
            for t in stamps:
                yield f'{family}{{region="{r}"}} {value(i, t):.1f} {t}'

    yield "# TYPE up gauge"
    for i, r in enumerate(regions):
        for instance in range(3 + i if max_instances is None else min(3 + i, max_instances)):
            for t in stamps:
                yield f'up{{job="api",region="{r}",instance="i{instance}"}} 1 {t}'

    if cdn:
        for family, factor in (
            ("cdn_requests", 5.0),
            ("cdn_cache_hits", 4.5),
            ("cdn_edge_bytes", 5.0 * 40_000),
        ):
            yield f"# TYPE {family} counter"
            for i, r in enumerate(regions):
                yield from counter_series(
                    f"{family}_total", f'region="{r}"', lambda t, i=i, f=factor: request_rate(i, t) * f
                )
