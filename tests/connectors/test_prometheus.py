"""PrometheusSource against Debian's real Prometheus, backfilled with OpenMetrics data written here."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from connectors.prometheus import (
    MAX_POINTS_PER_SERIES,
    PrometheusAuth,
    PrometheusSource,
    aligned_range,
    check_template,
    prometheus_step_seconds,
    render_query,
)
from core.config import PrometheusConfig, load_config
from core.ports import SourceError
from tests.conftest import SHIPPED_CONFIG
from tests.connectors.promdata import CDN_QUERIES, openmetrics

pytestmark = pytest.mark.slow

REGIONS = ["us-east-1", "eu-west-1", "ap-northeast-1", "ap-southeast-1"]
ASKED = REGIONS[:3]  # ap-southeast-1 has data but is never asked for, so leaks would show
END = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=1)
START = END - timedelta(days=3)
HOSTILE = [
    '"}) or vector(1) #',
    "'}) or vector(1) #",
    ".*",
    ".+",
    "us-east-1|ap-southeast-1",
    "eu-west-1)|(.*",
    'a\\"}',
    "ap-southeast-1\n",
]
SHIPPED = load_config(SHIPPED_CONFIG).prometheus
QUERIES = dict(SHIPPED.queries) | CDN_QUERIES


@pytest.fixture(scope="module")
def prom(prometheus_factory):
    return prometheus_factory(openmetrics(REGIONS, START, END, interval_s=60, cdn=True))


def make_source(url: str, **overrides) -> PrometheusSource:
    config = replace(SHIPPED, url=url, queries=QUERIES, **overrides)
    return PrometheusSource(config, ASKED)


def raw_get(url: str, path: str, **params) -> dict:
    with urllib.request.urlopen(f"{url}{path}?{urllib.parse.urlencode(params)}", timeout=30) as resp:
        return json.load(resp)


def raw_range(url: str, query: str, start: int, end: int, step: int) -> set[tuple[int, str, float]]:
    """(ts ns, region, value) straight from the HTTP API, finite values only."""
    out = set()
    for series in raw_get(url, "/api/v1/query_range", query=query, start=start, end=end, step=step)["data"][
        "result"
    ]:
        for t, v in series["values"]:
            if np.isfinite(float(v)):
                out.add((round(t * 1000) * 1_000_000, series["metric"]["region"], float(v)))
    return out


def result_set(url: str, query: str) -> list[tuple]:
    data = raw_get(
        url,
        "/api/v1/query_range",
        query=query,
        start=int(START.timestamp()),
        end=int(END.timestamp()),
        step=3600,
    )
    return sorted((tuple(sorted(s["metric"].items())), len(s["values"])) for s in data["data"]["result"])


def query_range_requests(url: str) -> float:
    """Prometheus's own count of query_range requests it has served (independent of the connector)."""
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    pattern = re.compile(
        r'^prometheus_http_requests_total\{[^}]*handler="/api/v1/query_range"[^}]*\} (\S+)$', re.M
    )
    return sum(float(v) for v in pattern.findall(text))


# ---- correctness against the raw API -----------------------------------------------------------
def test_frame_equals_raw_http_api_for_every_metric(prom):
    source = make_source(prom.url)
    frame = source.query_range(list(QUERIES), START, END, timedelta(minutes=5))

    assert list(frame.columns) == ["ts", "region", "metric", "value"]
    assert str(frame["ts"].dtype) == "datetime64[ns, UTC]"
    assert frame["ts"].is_monotonic_increasing
    assert set(frame["region"]) == set(ASKED)
    assert set(frame["metric"]) == set(QUERIES)

    step = prometheus_step_seconds(START, END, timedelta(minutes=5), SHIPPED.scrape_interval)
    start_s, end_s = aligned_range(START, END, step)
    for metric, template in QUERIES.items():
        expected = raw_range(prom.url, render_query(template, ASKED), start_s, end_s, step)
        sub = frame[frame["metric"] == metric]
        got = set(zip(sub["ts"].astype("int64"), sub["region"], sub["value"], strict=True))
        assert got == expected, metric
        assert len(got) > 100, metric


def test_values_follow_the_generated_data(prom):
    """A sanity anchor independent of the raw API: instances per region are 3, 4, 5 as written."""
    source = make_source(prom.url)
    frame = source.query_range(["instances", "cdn_hit_ratio"], START, END, timedelta(hours=1))
    inst = frame[frame["metric"] == "instances"].groupby("region")["value"].agg(["min", "max"])
    assert inst.to_dict("index") == {
        "us-east-1": {"min": 3.0, "max": 3.0},
        "eu-west-1": {"min": 4.0, "max": 4.0},
        "ap-northeast-1": {"min": 5.0, "max": 5.0},
    }
    hit = frame[frame["metric"] == "cdn_hit_ratio"]["value"]
    assert np.allclose(hit, 0.9)


def test_only_the_asked_regions_come_back(prom):
    source = make_source(prom.url)
    frame = source.query_range(
        ["requests_per_second"], START, END, timedelta(hours=1), regions=["ap-southeast-1"]
    )
    assert set(frame["region"]) == {"ap-southeast-1"}
    assert source.query_range(["requests_per_second"], START, END, timedelta(hours=1), regions=[]).empty


def test_unconfigured_metric_is_skipped_and_unknown_metric_refused(prom):
    config = replace(SHIPPED, url=prom.url, queries={"instances": SHIPPED.queries["instances"]})
    source = PrometheusSource(config, ASKED)
    frame = source.query_range(["instances", "queue_depth"], START, END, timedelta(hours=1))
    assert set(frame["metric"]) == {"instances"}
    assert "queue_depth" in source.health().detail
    with pytest.raises(ValueError, match="unknown metric"):
        source.query_range(["not_a_metric"], START, END, timedelta(hours=1))


# ---- injection ---------------------------------------------------------------------------------
@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_region_values_are_refused(prom, hostile):
    source = make_source(prom.url)
    with pytest.raises(SourceError, match="refusing region value"):
        source.query_range(
            ["requests_per_second"], START, END, timedelta(hours=1), regions=["us-east-1", hostile]
        )
    assert source.http_requests == 0


@pytest.mark.parametrize("quote", ['"', "'"])
def test_escaping_alone_keeps_hostile_values_from_changing_the_result_set(prom, quote):
    """Even without the refusal, the escaped query matches exactly the literal values; the naive
    substitution of the same values does change the result set (so the hostile values are real)."""
    template = f"sum by (region) (rate(http_requests_total{{region=~{quote}$regions{quote}}}[5m]))"
    baseline = result_set(prom.url, render_query(template, ["us-east-1"]))
    assert len(baseline) == 1
    changed_naively = 0
    for hostile in HOSTILE:
        assert result_set(prom.url, render_query(template, ["us-east-1", hostile])) == baseline, hostile
        naive = template.replace("$regions", "us-east-1|" + hostile)
        try:
            changed_naively += result_set(prom.url, naive) != baseline
        except urllib.error.HTTPError:  # a syntax error is a change too (the query no longer runs)
            changed_naively += 1
    assert changed_naively >= len(HOSTILE) - 2


def test_templates_must_quote_the_placeholder():
    check_template("x", 'up{region=~"$regions"}')
    check_template("x", "up{region!~ '$regions'}")
    for bad in ("up{region=~$regions}", 'up{region="$regions"}', 'up{region=~"x-$regions"}', "`$regions`"):
        with pytest.raises(ValueError, match="quoted regex matcher"):
            check_template("x", bad)


# ---- step rule ---------------------------------------------------------------------------------
def test_step_rule_over_90_days_against_prometheus(prom):
    start = END - timedelta(days=90)
    naive = raw_get_status(
        prom.url, query="up", start=int(start.timestamp()), end=int(END.timestamp()), step=60
    )
    assert naive == 400  # Prometheus itself refuses 1-minute steps over 90 days

    source = make_source(prom.url)
    frame = source.query_range(["requests_per_second"], start, END, timedelta(minutes=1))
    step = prometheus_step_seconds(start, END, timedelta(minutes=1), SHIPPED.scrape_interval)
    assert (END - start).total_seconds() / step <= MAX_POINTS_PER_SERIES - 1
    assert step % 60 == 0
    for _, sub in frame.groupby("region"):
        assert len(sub) <= MAX_POINTS_PER_SERIES
        gaps = sub["ts"].diff().dropna().dt.total_seconds().unique()
        assert set(gaps) == {float(step)}
        assert (sub["ts"].astype("int64") // 1_000_000_000 % step == 0).all()


def raw_get_status(url: str, **params) -> int:
    try:
        raw_get(url, "/api/v1/query_range", **params)
    except urllib.error.HTTPError as exc:
        return exc.code
    return 200


def test_step_never_below_scrape_interval_and_points_bounded():
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    assert (
        prometheus_step_seconds(t0, t0 + timedelta(hours=1), timedelta(seconds=1), timedelta(seconds=15))
        == 15
    )
    assert (
        prometheus_step_seconds(t0, t0 + timedelta(hours=1), timedelta(minutes=5), timedelta(seconds=15))
        == 300
    )
    for days in (1, 7, 30, 90, 365):
        for requested in (1, 15, 60):
            step = prometheus_step_seconds(
                t0, t0 + timedelta(days=days), timedelta(seconds=requested), timedelta(seconds=15)
            )
            s, e = aligned_range(t0 + timedelta(seconds=7), t0 + timedelta(days=days, seconds=7), step)
            assert (e - s) // step + 1 <= MAX_POINTS_PER_SERIES
            assert step >= max(requested, 15)


# ---- cache, concurrency, errors ----------------------------------------------------------------
def test_repeated_call_costs_no_http_request(prom):
    source = make_source(prom.url, cache_ttl=timedelta(minutes=10))
    metrics = list(QUERIES)
    before = query_range_requests(prom.url)
    first = source.query_range(metrics, START, END, timedelta(minutes=5))
    after_first = query_range_requests(prom.url)
    # end creeping forward by a few seconds (a rerun) stays within the same aligned step
    second = source.query_range(metrics, START, END + timedelta(seconds=5), timedelta(minutes=5))
    after_second = query_range_requests(prom.url)
    assert after_first - before == len(metrics)
    assert after_second == after_first
    pd.testing.assert_frame_equal(first, second)

    no_cache = make_source(prom.url, cache_ttl=timedelta(0))
    no_cache.query_range(metrics[:2], START, END, timedelta(minutes=5))
    no_cache.query_range(metrics[:2], START, END, timedelta(minutes=5))
    assert query_range_requests(prom.url) - after_second == 4


def test_bad_query_becomes_source_error_naming_source_and_query(prom):
    config = replace(SHIPPED, url=prom.url, queries={"instances": 'sum by (region) (up{region=~"$regions"}'})
    source = PrometheusSource(config, ASKED)
    with pytest.raises(SourceError) as err:
        source.query_range(["instances"], START, END, timedelta(hours=1))
    assert err.value.source == source.name
    assert "bad_data" in err.value.message and "sum by (region)" in err.value.message
    assert err.value.query is not None and "up{" in err.value.query
    assert source.health().state == "down"


def test_query_without_region_grouping_is_explained(prom):
    config = replace(SHIPPED, url=prom.url, queries={"instances": 'sum(up{region=~"$regions"})'})
    with pytest.raises(SourceError, match=r"by \(region\)"):
        PrometheusSource(config, ASKED).query_range(["instances"], START, END, timedelta(hours=1))
    config = replace(SHIPPED, url=prom.url, queries={"instances": 'up{region=~"$regions"}'})
    with pytest.raises(SourceError, match="several series for region"):
        PrometheusSource(config, ASKED).query_range(["instances"], START, END, timedelta(hours=1))


def test_timeout_becomes_source_error(prom):
    source = make_source(prom.url, timeout=timedelta(milliseconds=1))
    with pytest.raises(SourceError, match="timed out"):
        source.query_range(list(QUERIES), END - timedelta(days=90), END, timedelta(minutes=1))


def test_stopped_prometheus_yields_source_error(prometheus_factory):
    server = prometheus_factory(openmetrics(["us-east-1"], END - timedelta(hours=2), END))
    config = PrometheusConfig(url=server.url, queries={"instances": SHIPPED.queries["instances"]})
    source = PrometheusSource(config, ["us-east-1"])
    assert not source.query_range(["instances"], END - timedelta(hours=1), END, timedelta(minutes=1)).empty
    assert source.health().state == "ok"
    server.stop()
    with pytest.raises(SourceError) as err:
        source.query_range(["instances"], END - timedelta(hours=2), END, timedelta(minutes=1))
    assert "connection refused" in err.value.message
    assert 'up{job="api",region=~"us-east-1"}' in err.value.message  # names the query it ran
    health = source.health()
    assert health.state == "down" and health.last_success is not None


def test_auth_settings_from_secrets_and_env():
    section = {"token": "from-secrets", "headers": {"X-Scope-OrgID": "team-a"}, "verify_tls": False}
    auth = PrometheusAuth.from_settings(section, {})
    assert auth.bearer_token == "from-secrets" and auth.headers == {"X-Scope-OrgID": "team-a"}
    assert auth.verify_tls is False
    env = {"HEADROOM_PROMETHEUS_TOKEN": "from-env", "HEADROOM_PROMETHEUS_HEADERS": '{"X-Org": "b"}'}
    auth = PrometheusAuth.from_settings(section, env)
    assert auth.bearer_token == "from-env" and auth.headers == {"X-Org": "b"}
    assert "from-env" not in repr(auth)
    with pytest.raises(ValueError, match="not both"):
        PrometheusAuth.from_settings({"token": "t", "username": "u"}, {})


def test_shipped_p90_template_lies_between_p50_and_p95(prom):
    """latency_p90_ms joined the contract (issue 18): its shipped histogram_quantile template answers."""
    frame = make_source(prom.url).query_range(
        ["latency_p50_ms", "latency_p90_ms", "latency_p95_ms"],
        END - timedelta(hours=6),
        END,
        timedelta(minutes=5),
    )
    wide = frame.pivot_table(index=["ts", "region"], columns="metric", values="value").dropna()
    assert len(wide) > 50
    assert (wide["latency_p50_ms"] <= wide["latency_p90_ms"]).all()
    assert (wide["latency_p90_ms"] <= wide["latency_p95_ms"]).all()
