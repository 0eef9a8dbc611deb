"""PrometheusSource against a local misbehaving HTTP server (stdlib http.server in a thread): a body dribbled
one byte at a time must not hold the connector past its total deadline, and partial answers (`warnings`)
must stay visible in health() until a clean answer arrives."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest

from connectors.prometheus import PrometheusSource
from core.config import PrometheusConfig
from core.ports import SourceError, answer_warnings

REGIONS = ["us-east-1", "eu-west-1"]
QUERIES = {"requests_per_second": 'sum by (region) (rate(http_requests_total{region=~"$regions"}[5m]))'}
END = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
DRIBBLE_FOR_S = 30.0  # how long the slow server keeps sending, far beyond any configured timeout below


@dataclass
class FakePrometheus:
    """Behaviour switches read by the handler on every request."""

    mode: str = "clean"  # clean | warnings | dribble_body (query_range) | dribble_probe (instant query)
    warnings: list[str] = field(default_factory=lambda: ["PromQL info: 3 of 12 store gateways unavailable"])
    stop: threading.Event = field(default_factory=threading.Event)
    requests: list[str] = field(default_factory=list)
    url: str = ""


def _matrix(query_params: dict[str, list[str]]) -> dict:
    start, end, step = (int(float(query_params[k][0])) for k in ("start", "end", "step"))
    values = [[t, "1.5"] for t in range(start, end + 1, step)]
    return {
        "resultType": "matrix",
        "result": [{"metric": {"region": r}, "values": values} for r in REGIONS],
    }


def _handler(fake: FakePrometheus) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:  # keep pytest output clean
            pass

        def _send_json(self, payload: dict) -> None:
            body = json.dumps(payload).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            url = urlparse(self.path)
            params = parse_qs(url.query)
            fake.requests.append(url.path)
            payload: dict
            if url.path == "/api/v1/query":  # the health probe: clean unless told to dribble
                vector = [{"metric": {}, "value": [0, "1"]}]
                payload = {"status": "success", "data": {"resultType": "vector", "result": vector}}
                if fake.mode != "dribble_probe":
                    self._send_json(payload)
                    return
            else:
                payload = {"status": "success", "data": _matrix(params)}
                if fake.mode == "warnings":
                    payload["warnings"] = fake.warnings
                if fake.mode != "dribble_body":
                    self._send_json(payload)
                    return
            body = json.dumps(payload).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.flush()
            # one byte every half second: each read gets data well within the per-read timeout
            deadline = time.monotonic() + DRIBBLE_FOR_S
            for i in range(len(body)):
                if fake.stop.wait(0.5) or time.monotonic() > deadline:
                    return
                try:
                    self.wfile.write(body[i : i + 1])
                    self.wfile.flush()
                except OSError:  # the client gave up: what we want
                    return

    return Handler


@pytest.fixture
def fake_prometheus() -> Iterator[FakePrometheus]:
    fake = FakePrometheus()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    server.daemon_threads = True
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        fake.stop.set()
        server.shutdown()
        server.server_close()


def _source(url: str, **overrides: object) -> PrometheusSource:
    config = PrometheusConfig(url=url, queries=QUERIES, **overrides)  # type: ignore[arg-type]
    return PrometheusSource(config, REGIONS)


def _query(source: PrometheusSource):
    return source.query_range(["requests_per_second"], END - timedelta(hours=1), END, timedelta(minutes=1))


def test_a_dribbled_body_ends_at_the_total_deadline(fake_prometheus: FakePrometheus) -> None:
    fake_prometheus.mode = "dribble_body"
    timeout_s = 1.0
    source = _source(fake_prometheus.url, timeout=timedelta(seconds=timeout_s))
    t0 = time.monotonic()
    with pytest.raises(SourceError) as info:
        _query(source)
    elapsed = time.monotonic() - t0
    assert "timed out" in info.value.message and "1 s" in info.value.message, info.value.message
    assert info.value.query and "http_requests_total" in info.value.query
    # the per-read timeout alone would wait DRIBBLE_FOR_S (30 s); the deadline is the configured timeout
    assert elapsed < 3 * timeout_s, f"took {elapsed:.1f} s for a {timeout_s} s timeout"
    assert source.health().state == "down"


def test_a_dribbled_health_probe_ends_at_the_deadline_too(fake_prometheus: FakePrometheus) -> None:
    fake_prometheus.mode = "dribble_probe"  # the Overview's health tiles call the probe
    timeout_s = 1.0
    source = _source(fake_prometheus.url, timeout=timedelta(seconds=timeout_s))
    t0 = time.monotonic()
    health = source.health()
    elapsed = time.monotonic() - t0
    assert health.state == "down" and "timed out" in health.detail, health
    assert elapsed < 3 * timeout_s, f"took {elapsed:.1f} s for a {timeout_s} s timeout"


def test_a_fast_answer_is_unaffected_by_the_deadline(fake_prometheus: FakePrometheus) -> None:
    source = _source(fake_prometheus.url, timeout=timedelta(seconds=1))
    frame = _query(source)
    assert set(frame["region"]) == set(REGIONS) and (frame["value"] == 1.5).all()


def test_warnings_keep_the_source_degraded_until_a_clean_answer(fake_prometheus: FakePrometheus) -> None:
    fake_prometheus.mode = "warnings"
    # cache_ttl 0: every health() runs the cheap probe, which used to reset "degraded" to "ok"
    source = _source(fake_prometheus.url, cache_ttl=timedelta(0))
    frame = _query(source)
    assert not frame.empty
    assert source.last_warnings == tuple(fake_prometheus.warnings)
    for _ in range(2):  # the probe answers cleanly, but the data shown is still partial
        health = source.health()
        assert health.state == "degraded", health
        assert "3 of 12 store gateways unavailable" in health.detail
    assert fake_prometheus.requests.count("/api/v1/query") >= 2  # the probe really ran
    fake_prometheus.mode = "clean"
    _query(source)
    assert source.last_warnings == ()
    assert source.health().state == "ok"


def test_a_partial_answer_carries_its_warnings_to_the_page(fake_prometheus: FakePrometheus) -> None:
    """The frame itself says it is partial (core.ports.SOURCE_WARNINGS), from the server or from the
    connector's cache, so a page names the warning beside the data it drew (issue 19 item 12)."""
    fake_prometheus.mode = "warnings"
    source = _source(fake_prometheus.url)  # the default TTL: the second query is a cache hit
    assert answer_warnings(_query(source)) == tuple(fake_prometheus.warnings)
    sent = fake_prometheus.requests.count("/api/v1/query_range")
    assert answer_warnings(_query(source)) == tuple(fake_prometheus.warnings)
    assert fake_prometheus.requests.count("/api/v1/query_range") == sent  # from the cache
    fake_prometheus.mode = "clean"
    source.clear_cache()
    assert answer_warnings(_query(source)) == ()
