"""Source selection from config, with credentials from `[connections.*]` secrets or the environment."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime, timedelta

import pytest

from connectors.cloudwatch import CloudWatchCdnSource
from connectors.cost_explorer import CostExplorerSource
from connectors.prometheus import PrometheusSource
from connectors.store import StoreMetricsSource, open_db
from core.config import HeadroomConfig, config_from_dict
from core.ports import SourceError
from headroom.wiring import build_billing_source, build_cdn_source, build_metrics_source
from tests.conftest import SHIPPED_CONFIG, deep_merge
from tests.connectors.promdata import openmetrics

pytestmark = pytest.mark.slow

END = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=1)
# bcrypt (cost 4, quick to check) of the test password "s3cret"
BCRYPT_S3CRET = "$2b$04$8goAWNPR2YE9qVNYk86VnOX2DSJDyiiWHTHu8zrnGq0qK2.rYd1JK"


def config_with(**overrides) -> HeadroomConfig:
    return config_from_dict(deep_merge(tomllib.loads(SHIPPED_CONFIG.read_text()), overrides))


@pytest.fixture
def db(tmp_path):
    database = open_db(tmp_path / "headroom.db")
    yield database
    database.conn.close()


def test_prometheus_basic_auth_from_secrets_then_env(prometheus_factory, tmp_path, monkeypatch, db):
    web = tmp_path / "web.yml"
    web.write_text("{}\n")  # no auth while the fixture waits for /-/ready
    server = prometheus_factory(
        openmetrics(["us-east-1"], END - timedelta(hours=1), END), extra_args=[f"--web.config.file={web}"]
    )
    web.write_text(f'basic_auth_users:\n  headroom: "{BCRYPT_S3CRET}"\n')  # re-read on every request
    monkeypatch.delenv("HEADROOM_PROMETHEUS_PASSWORD", raising=False)
    cfg = config_with(sources={"metrics": "prometheus"}, prometheus={"url": server.url})
    start, step = END - timedelta(minutes=30), timedelta(minutes=1)

    anonymous = build_metrics_source(cfg, db, {})
    with pytest.raises(SourceError, match=r"refused \(HTTP 401\).*connections.prometheus"):
        anonymous.query_range(["instances"], start, END, step)

    secrets = {"connections": {"prometheus": {"username": "headroom", "password": "s3cret"}}}
    source = build_metrics_source(cfg, db, secrets)
    assert isinstance(source, PrometheusSource)
    frame = source.query_range(["instances"], start, END, step, ["us-east-1"])
    assert set(frame["value"]) == {3.0}
    assert source.health().state == "ok"

    monkeypatch.setenv("HEADROOM_PROMETHEUS_PASSWORD", "wrong")  # the environment wins over secrets.toml
    with pytest.raises(SourceError, match="HTTP 401"):
        build_metrics_source(cfg, db, secrets).query_range(["instances"], start, END, step)


def test_prometheus_token_and_headers_reach_the_session(db, monkeypatch):
    monkeypatch.setenv("HEADROOM_PROMETHEUS_HEADERS", '{"X-Scope-OrgID": "team-a"}')
    cfg = config_with(sources={"metrics": "prometheus", "cdn": "prometheus"})
    secrets = {"connections": {"prometheus": {"token": "t0ken", "url": "https://mimir.example/prometheus/"}}}
    source = build_cdn_source(cfg, db, secrets)
    assert isinstance(source, PrometheusSource)
    assert source.url == "https://mimir.example/prometheus"
    assert source.client.url == source.url
    assert source.session.headers["Authorization"] == "Bearer t0ken"
    assert source.session.headers["X-Scope-OrgID"] == "team-a"


def test_bad_settings_become_source_errors(db, monkeypatch):
    monkeypatch.setenv("HEADROOM_PROMETHEUS_HEADERS", "not json")
    cfg = config_with(sources={"metrics": "prometheus"})
    with pytest.raises(SourceError, match="JSON object"):
        build_metrics_source(cfg, db, {})
    cfg = config_with(sources={"cdn": "cloudwatch", "billing": "cost_explorer"})
    bad_profile = {"connections": {"aws": {"profile_name": "no-such-profile-here"}}}
    with pytest.raises(SourceError, match="cannot be set up"):
        build_cdn_source(cfg, db, bad_profile)
    with pytest.raises(SourceError, match="cannot be set up"):
        build_billing_source(cfg, db, bad_profile)


def test_aws_sources_are_selected_with_their_endpoints(aws_env, db):
    cfg = config_with(
        sources={"metrics": "demo", "cdn": "cloudwatch", "billing": "cost_explorer"},
        cloudwatch={"endpoint_url": aws_env, "distributions": [{"id": "E1", "region": "us-east-1"}]},
        cost_explorer={"endpoint_url": aws_env, "retry_mode": "adaptive"},
    )
    assert isinstance(build_metrics_source(cfg, db), StoreMetricsSource)
    cdn = build_cdn_source(cfg, db, {})
    billing = build_billing_source(cfg, db, {})
    assert isinstance(cdn, CloudWatchCdnSource) and cdn.client.meta.endpoint_url == aws_env
    assert isinstance(billing, CostExplorerSource) and billing.client.meta.endpoint_url == aws_env
    assert billing.client.meta.config.retries["mode"] == "adaptive"
    # both answer over real HTTP (moto holds no data yet)
    assert cdn.query_range(
        ["cdn_requests_per_second"], END - timedelta(hours=1), END, timedelta(minutes=5)
    ).empty
    assert billing.daily_costs(END.date() - timedelta(days=2), END.date()).empty
