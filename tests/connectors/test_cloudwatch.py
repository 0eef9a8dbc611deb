"""CloudWatchCdnSource against moto_server over real HTTP (boto3 serialization, batching, errors)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from botocore.exceptions import ClientError

from connectors.aws_common import source_error
from connectors.cloudwatch import (
    MAX_DATAPOINTS_PER_CALL,
    MAX_QUERIES_PER_CALL,
    CloudWatchCdnSource,
    choose_period,
)
from core.config import CloudWatchConfig, Distribution
from core.ports import SourceError
from tests.conftest import free_port
from tests.connectors.awsdata import cloudfront_sample as sample
from tests.connectors.awsdata import put_cloudfront_data

pytestmark = pytest.mark.slow

PERIOD = 300
NOW = datetime.fromtimestamp(int(datetime.now(UTC).timestamp()) // PERIOD * PERIOD, UTC)
START = NOW - timedelta(hours=2)  # period-aligned, so 5-minute buckets hold whole minutes 0-4, 5-9, ...
DISTS = {"E1AAA": "us-east-1", "E2BBB": "us-east-1", "E3CCC": "eu-west-1"}


def make_source(endpoint: str, dists: dict[str, str], **overrides) -> CloudWatchCdnSource:
    config = CloudWatchConfig(
        endpoint_url=endpoint,
        distributions=tuple(Distribution(id=d, region=r) for d, r in dists.items()),
        **overrides,
    )
    return CloudWatchCdnSource(config)


def count_calls(source: CloudWatchCdnSource) -> list[str]:
    """HTTP requests botocore actually sends (retries included), recorded by operation name."""
    sent: list[str] = []
    source.client.meta.events.register(
        "before-send.cloudwatch.*", lambda request, **kw: sent.append(request.url)
    )
    return sent


def expected_by_hand(dists: dict[str, str], minutes: int) -> dict[tuple[str, int, str], float]:
    """What the canonical metrics must be, computed straight from `sample` (5-minute periods)."""
    out: dict[tuple[str, int, str], float] = {}
    start_s = int(START.timestamp())
    buckets: dict[tuple[str, int], list[tuple[int, dict]]] = {}
    for i, (_, region) in enumerate(dists.items()):
        for m in range(minutes):
            t = start_s + 60 * m
            bucket = t // PERIOD * PERIOD
            if not start_s <= bucket <= start_s + 60 * minutes:
                continue  # periods are labelled by their start, which must lie in the asked range
            buckets.setdefault((region, bucket), []).append((i, sample(i, m)))
    for (region, bucket), items in buckets.items():
        per_dist: dict[int, list[dict]] = {}
        for i, s in items:
            per_dist.setdefault(i, []).append(s)
        req = {i: sum(s["Requests"] for s in ss) for i, ss in per_dist.items()}
        edge = {i: sum(s["BytesDownloaded"] for s in ss) for i, ss in per_dist.items()}
        hit = {i: np.mean([s["CacheHitRate"] for s in ss]) / 100 for i, ss in per_dist.items()}
        e5 = {i: np.mean([s["5xxErrorRate"] for s in ss]) / 100 for i, ss in per_dist.items()}
        total = sum(req.values())
        out[(region, bucket, "cdn_requests_per_second")] = total / PERIOD
        out[(region, bucket, "cdn_bytes_edge_per_second")] = sum(edge.values()) / PERIOD
        out[(region, bucket, "cdn_hit_ratio")] = sum(hit[i] * req[i] for i in req) / total
        out[(region, bucket, "cdn_bytes_origin_per_second")] = (
            sum(edge[i] * (1 - hit[i]) for i in req) / PERIOD
        )
        out[(region, bucket, "cdn_5xx_error_ratio")] = sum(e5[i] * req[i] for i in req) / total
    return out


def test_cdn_frames_from_cloudfront_metrics(aws_env):
    minutes = 60
    put_cloudfront_data(aws_env, DISTS, START, minutes)
    source = make_source(aws_env, DISTS)
    metrics = [
        "cdn_requests_per_second",
        "cdn_hit_ratio",
        "cdn_bytes_edge_per_second",
        "cdn_bytes_origin_per_second",
        "cdn_5xx_error_ratio",
    ]
    frame = source.query_range(metrics, START, START + timedelta(minutes=minutes), timedelta(minutes=5))
    assert list(frame.columns) == ["ts", "region", "metric", "value"]
    assert str(frame["ts"].dtype) == "datetime64[ns, UTC]"
    assert frame["ts"].is_monotonic_increasing
    got = {
        (r, int(t.timestamp()), m): v
        for t, r, m, v in frame[["ts", "region", "metric", "value"]].itertuples(index=False)
    }
    expected = expected_by_hand(DISTS, minutes)
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, rel=1e-9), key
    # the region filter and metrics that CloudWatch does not serve
    eu = source.query_range(
        ["cdn_requests_per_second", "cpu_utilization"], START, NOW, timedelta(minutes=5), ["eu-west-1"]
    )
    assert set(eu["region"]) == {"eu-west-1"} and set(eu["metric"]) == {"cdn_requests_per_second"}
    assert source.health().state == "ok"


def test_more_than_500_queries_are_split_into_batches(aws_env):
    # 101 distributions x 5 CloudFront metrics = 505 queries: two GetMetricData calls
    dists = {f"EDIST{i:03d}": ("us-east-1" if i < 100 else "eu-west-1") for i in range(101)}
    with_data = {"EDIST000": "us-east-1", "EDIST100": "eu-west-1"}  # the last one lands in batch 2
    put_cloudfront_data(aws_env, with_data, START, 15)
    source = make_source(aws_env, dists)
    sent = count_calls(source)
    metrics = [
        "cdn_requests_per_second",
        "cdn_hit_ratio",
        "cdn_bytes_origin_per_second",
        "cdn_4xx_error_ratio",
        "cdn_5xx_error_ratio",
    ]
    frame = source.query_range(metrics, START, START + timedelta(minutes=15), timedelta(minutes=5))
    assert len(sent) == 2 == -(-505 // MAX_QUERIES_PER_CALL)
    assert set(frame["region"]) == {"us-east-1", "eu-west-1"}
    eu = frame[(frame["region"] == "eu-west-1") & (frame["metric"] == "cdn_requests_per_second")]
    assert eu["value"].tolist() == pytest.approx(
        [sum(sample(1, m)["Requests"] for m in range(b, b + 5)) / PERIOD for b in (0, 5, 10)]
    )


def test_repeated_call_costs_no_http_request(aws_env):
    put_cloudfront_data(aws_env, DISTS, START, 10)
    source = make_source(aws_env, DISTS, cache_ttl=timedelta(minutes=5))
    sent = count_calls(source)
    first = source.query_range(["cdn_hit_ratio"], START, START + timedelta(minutes=10), timedelta(minutes=5))
    second = source.query_range(
        ["cdn_hit_ratio"], START, START + timedelta(minutes=10, seconds=30), timedelta(minutes=5)
    )
    assert len(sent) == 1
    assert first.equals(second) and not first.empty
    source.query_range(
        ["cdn_requests_per_second"], START, START + timedelta(minutes=10), timedelta(minutes=5)
    )
    assert len(sent) == 2  # a different metric set is a different request


def test_unreachable_endpoint_is_source_error(aws_env):
    source = make_source(
        f"http://127.0.0.1:{free_port()}", DISTS, max_attempts=1, timeout=timedelta(seconds=2)
    )
    with pytest.raises(SourceError, match="could not connect") as err:
        source.query_range(["cdn_requests_per_second"], START, NOW, timedelta(minutes=5))
    assert err.value.source == source.name and err.value.query == "GetMetricData"
    assert source.health().state == "down"


def test_retry_mode_and_throttling_message(aws_env):
    source = make_source(aws_env, DISTS, retry_mode="adaptive", max_attempts=7)
    assert source.client.meta.config.retries == {"mode": "adaptive", "total_max_attempts": 7}
    throttled = ClientError({"Error": {"Code": "Throttling", "Message": "Rate exceeded"}}, "GetMetricData")
    err = source_error(source.name, "GetMetricData", throttled, 7)
    assert "throttling" in err.message and "7 attempts" in err.message


def test_period_respects_retention_and_datapoint_limit():
    now = datetime(2026, 6, 1, tzinfo=UTC)
    assert choose_period(now - timedelta(hours=3), now, timedelta(seconds=10), 10, now) == 60
    assert choose_period(now - timedelta(days=20), now, timedelta(minutes=1), 10, now) >= 300
    assert choose_period(now - timedelta(days=90), now, timedelta(minutes=1), 10, now) >= 3600
    for days, queries in ((1, 500), (30, 500), (30, 30), (400, 6)):
        start = now - timedelta(days=days)
        period = choose_period(start, now, timedelta(minutes=1), queries, now)
        assert period % 60 == 0
        points = (days * 86400) // period + 1
        assert min(queries, MAX_QUERIES_PER_CALL) * points <= MAX_DATAPOINTS_PER_CALL
