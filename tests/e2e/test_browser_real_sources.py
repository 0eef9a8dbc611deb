"""End to end with real sources: the config points at a backfilled Prometheus (metrics), moto's CloudWatch
(CDN) and moto's Cost Explorer (billing); every page must render from them in Chromium."""

from __future__ import annotations

import re
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest

from core.config import load_config
from tests.conftest import SHIPPED_CONFIG, start_streamlit, stop_streamlit, write_config
from tests.connectors.awsdata import (
    CDN,
    EC2,
    ce_group,
    ce_period,
    put_cloudfront_data,
    reset_moto,
    seed_cost_and_usage,
)
from tests.connectors.promdata import openmetrics
from tests.e2e.browser import PAGES, wait_for_charts, wait_until_idle

REAL_SOURCE_MIN_CHARTS = {"review": 0}

pytestmark = pytest.mark.slow

END = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=1)
REGIONS = list(load_config(SHIPPED_CONFIG).region_codes)
DISTRIBUTIONS = {"E1REALUS": "us-east-1", "E2REALEU": "eu-west-1"}


def served(url: str, handler: str) -> float:
    """Prometheus's own count of requests it served on `handler`."""
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    pattern = re.compile(
        rf'^prometheus_http_requests_total\{{[^}}]*handler="{re.escape(handler)}"[^}}]*\}} (\S+)$', re.M
    )
    return sum(float(v) for v in pattern.findall(text))


@pytest.fixture(scope="module")
def real_app(tmp_path_factory, prometheus_factory, moto_server):
    reset_moto(moto_server)
    prom = prometheus_factory(openmetrics(REGIONS, END - timedelta(days=2), END, interval_s=60))
    # CloudFront points every 5 minutes over the last 6 hours (moto's GetMetricData is slow on many points)
    put_cloudfront_data(moto_server, DISTRIBUTIONS, END - timedelta(hours=6), 6 * 60, every_minutes=5)
    days = [(END.date() - timedelta(days=k)).isoformat() for k in range(45, -1, -1)]
    result = {
        "ResultsByTime": [
            ce_period(d, [ce_group(EC2, "us-east-1", 300.0 + i), ce_group(CDN, "NoRegion", 700.0 - i)])
            for i, d in enumerate(days)
        ]
    }
    seed_cost_and_usage(moto_server, *[result] * 8)  # every distinct request takes one copy
    directory = tmp_path_factory.mktemp("e2e-real")
    config = write_config(
        directory,
        {
            "sources": {"metrics": "prometheus", "cdn": "cloudwatch", "billing": "cost_explorer"},
            "prometheus": {"url": prom.url},
            "cloudwatch": {
                "endpoint_url": moto_server,
                "distributions": [{"id": d, "region": r} for d, r in DISTRIBUTIONS.items()],
            },
            "cost_explorer": {"endpoint_url": moto_server},
        },
    )
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    server = start_streamlit(config, env_extra=env)
    yield server, prom
    stop_streamlit(server)


def test_every_page_renders_from_prometheus_and_moto(real_app, chromium) -> None:
    server, prom = real_app
    before = served(prom.url, "/api/v1/query_range")
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        for path, (title, min_charts) in PAGES.items():
            # Prometheus here holds 2 days: the last complete ISO week has no traffic, so the review
            # shows its explanation instead of the traffic chart (checked below)
            min_charts = REAL_SOURCE_MIN_CHARTS.get(path, min_charts)
            page.goto(f"{server.url}/{path}", wait_until="domcontentloaded")
            wait_until_idle(page)
            if min_charts:
                wait_for_charts(page, min_charts)
            if path == "review":
                # wait for the thing asserted: the built report (its explanation and its Export
                # section), not a quiet moment; it once was read while still "building costs"
                page.get_by_text("No request-rate data for this week").first.wait_for(timeout=120_000)
                page.get_by_role("heading", name="Export").wait_for(timeout=120_000)
            exceptions = page.locator('[data-testid="stException"]')
            assert exceptions.count() == 0, f"/{path}: {exceptions.first.inner_text()[:2000]}"
            heading = page.locator("h1").first.inner_text()
            assert title in heading, f"/{path}: expected title {title!r}, got {heading!r}"
            body = page.locator('[data-testid="stMain"]').inner_text()
            assert "is unavailable" not in body, f"/{path}: a source failed: {body[:1500]}"
            assert page.locator(".js-plotly-plot").count() >= min_charts, f"/{path}"
            if path == "review":
                assert "No request-rate data for this week" in body

        # the sidebar's health panel names the three real sources, all answering
        page.goto(server.url, wait_until="domcontentloaded")
        wait_until_idle(page)
        page.get_by_text("Data sources").click()
        panel = page.locator('[data-testid="stSidebar"]').inner_text()
        assert f"Prometheus ({prom.url.removeprefix('http://')})" in panel
        assert "CloudWatch" in panel and "AWS Cost Explorer" in panel
        assert "🔴" not in panel, panel
    finally:
        context.close()
    assert served(prom.url, "/api/v1/query_range") > before  # the charts really came from Prometheus
    assert not errors, f"JavaScript errors: {errors[:3]}"
