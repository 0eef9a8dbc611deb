"""Partial Prometheus answers reach the page (issue 19 item 12): a Prometheus (here a local server that
answers like a Thanos querier missing some store gateways) returns data *and* `warnings`. The page shows
one banner naming the source and the warning, from the very first load; it stays while the answers stay
partial, health probes that answer cleanly in between included; a complete answer takes it away."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from core.config import load_config
from pages import _slo_data as slo_data
from tests.conftest import REPO_ROOT, SHIPPED_CONFIG, write_config

WARNING = "PromQL info: 3 of 12 store gateways unavailable, the answer may be incomplete"


@dataclass
class PartialPrometheus:
    """Answers every query_range and instant query with 1.5 in every region; with `warnings` set, the
    queries (never the `vector(1)` health probe) carry them."""

    regions: list[str]
    warnings: list[str] = field(default_factory=list)
    probes: int = 0
    url: str = ""


def _handler(fake: PartialPrometheus) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            url = urlparse(self.path)
            params = {k: v[0] for k, v in parse_qs(url.query).items()}
            if url.path == "/api/v1/query" and params.get("query") == "vector(1)":
                fake.probes += 1
                data = {"resultType": "vector", "result": [{"metric": {}, "value": [0, "1"]}]}
                payload: dict = {"status": "success", "data": data}
            elif url.path == "/api/v1/query":
                at = float(params.get("time", "0"))
                result = [{"metric": {"region": r}, "value": [at, "1.5"]} for r in fake.regions]
                payload = {"status": "success", "data": {"resultType": "vector", "result": result}}
            else:
                start, end, step = (int(float(params[k])) for k in ("start", "end", "step"))
                values = [[t, "1.5"] for t in range(start, end + 1, step)]
                result = [{"metric": {"region": r}, "values": values} for r in fake.regions]
                payload = {"status": "success", "data": {"resultType": "matrix", "result": result}}
            if fake.warnings and params.get("query") != "vector(1)":
                payload["warnings"] = list(fake.warnings)
            body = json.dumps(payload).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


@pytest.fixture
def partial_prometheus() -> Iterator[PartialPrometheus]:
    fake = PartialPrometheus(list(load_config(SHIPPED_CONFIG).region_codes))
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    server.daemon_threads = True
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()


def overview() -> AppTest:
    """A visit to the Overview in a new session (the sources, cached per process, are shared)."""
    at = AppTest.from_file(str(REPO_ROOT / "dashboard.py"), default_timeout=120)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert [t.value for t in at.title] == ["Overview"]
    return at


def _partial_banners(at: AppTest) -> list[str]:
    return [w.value for w in at.warning if "answered with partial data" in w.value]


def test_partial_answers_get_one_banner_that_stays_until_a_complete_answer(
    app_config, partial_prometheus: PartialPrometheus, tmp_path
) -> None:
    # sources and data are cached per process: an earlier test's would hide this server
    st.cache_resource.clear()
    st.cache_data.clear()
    write_config(
        tmp_path,
        {
            "demo": {"refresh_after": "3650d"},
            "sources": {"metrics": "prometheus"},
            # 0 s: every health check probes, the probe that used to turn "degraded" back into "ok"
            "prometheus": {"url": partial_prometheus.url, "cache_ttl": "0s", "timeout": "5s"},
        },
    )
    partial_prometheus.warnings = [WARNING]
    at = overview()  # the health check ran before any query; the queries came back partial
    banners = _partial_banners(at)
    assert len(banners) == 1, banners  # several partial loads, one banner
    assert "The metrics source (Prometheus" in banners[0] and "127.0.0.1" in banners[0]
    assert "3 of 12 store gateways unavailable" in banners[0]

    probes = partial_prometheus.probes
    at = overview()  # the next visit probes (cleanly) before the page asks again: still partial
    assert partial_prometheus.probes > probes
    banners = _partial_banners(at)
    assert len(banners) == 1 and "3 of 12 store gateways unavailable" in banners[0], banners
    assert not [w.value for w in at.warning if "is degraded" in w.value]  # not said twice

    partial_prometheus.warnings = []
    # the page's cached answers (60 s: frames, and the alerts panel's SLO grid) make way; the source
    # itself, and the warnings it still holds from the last answers, stay
    st.cache_data.clear()
    slo_data._grid.clear()
    at = overview()
    assert _partial_banners(at) == [], _partial_banners(at)
