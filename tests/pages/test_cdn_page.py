"""CDN page (AppTest on the demo world): hit ratio vs target, offload, and the purge dip explained."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import REPO_ROOT

REGIONS = ["us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-northeast-1", "ap-southeast-1"]


def open_cdn(preset: str | None = None) -> AppTest:
    at = AppTest.from_file(str(REPO_ROOT / "dashboard.py"), default_timeout=120)
    if preset is not None:
        at.session_state["range_preset"] = preset
    at.run()
    at.switch_page("pages/cdn.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_summary_per_region_against_the_target(app_config) -> None:
    at = open_cdn()
    assert at.title[0].value == "CDN"
    summary = at.dataframe[0].value
    assert list(summary["region"]) == REGIONS
    assert summary["hit_ratio"].between(85, 100).all()  # the demo world's CDN is healthy in the last 24 h
    assert summary["offload"].between(85, 100).all()
    assert (summary["edge_gbps_mean"] > 0).all()
    tiles = {m.label: m.value for m in at.metric}
    assert tiles["Regions meeting the target"] == "6 of 6"
    assert "Target hit ratio 85%" in " ".join(c.value for c in at.caption)
    assert "Dips below 85% (0)" in [s.value for s in at.subheader]


def test_the_purge_dip_is_explained_by_its_incident(app_config) -> None:
    at = open_cdn("7d")
    dips = at.dataframe[1].value
    purge = dips[dips["region"] == "us-west-2"]
    assert len(purge) == 1
    row = purge.iloc[0]
    assert "CDN cache purge in us-west-2" in row["explained_by"]
    assert 30 <= row["lowest"] <= 45  # percent: the purge dropped the hit ratio to ~35%
    assert 60 <= row["minutes"] <= 180
    summary = at.dataframe[0].value.set_index("region")
    assert summary.loc["us-west-2", "min_hit_ratio"] < 45


def test_target_comes_from_the_config(app_config) -> None:
    text = app_config.path.read_text().replace("hit_ratio_target = 0.85", "hit_ratio_target = 0.95")
    app_config.path.write_text(text)
    at = open_cdn()
    tiles = {m.label: m.value for m in at.metric}
    assert tiles["Regions meeting the target"] == "0 of 6"
    assert "Target hit ratio 95%" in " ".join(c.value for c in at.caption)
    dips = at.dataframe[1].value
    assert set(dips["region"]) == set(REGIONS)


def test_cdn_page_on_prometheus(app_config, prometheus_factory, tmp_path) -> None:
    """CDN metrics from Prometheus counters (no origin-bytes series there: offload says n/a)."""
    from datetime import UTC, datetime, timedelta

    from tests.conftest import write_config
    from tests.connectors.promdata import CDN_QUERIES, openmetrics

    end = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=1)
    prom = prometheus_factory(openmetrics(REGIONS, end - timedelta(hours=6), end, interval_s=60, cdn=True))
    write_config(
        tmp_path,
        {
            "demo": {"refresh_after": "3650d"},
            "sources": {"metrics": "prometheus", "cdn": "prometheus"},
            "prometheus": {"url": prom.url, "queries": CDN_QUERIES},
        },
    )
    at = open_cdn()
    assert not at.error, [e.value for e in at.error]
    summary = at.dataframe[0].value
    assert list(summary["region"]) == REGIONS
    # the exporter counts 4.5 cache hits per 5 CDN requests in every region
    assert summary["hit_ratio"].to_numpy() == pytest.approx(90.0, abs=0.01)
    assert summary["edge_gbps_mean"].notna().all()
    tiles = {m.label: m.value for m in at.metric}
    assert tiles["Origin offload"] == "n/a"
    assert tiles["Hit ratio (all regions)"] == "90.0%"
    assert tiles["Regions meeting the target"] == "6 of 6"


def test_cloudfront_4xx_and_5xx_error_rates_from_cloudwatch(app_config, aws_env, tmp_path) -> None:
    """Issue 18: the error rates the CloudWatch source fetches are drawn (moto_server as CloudWatch)."""
    import json
    from datetime import timedelta

    from tests.conftest import DEMO_END, write_config
    from tests.connectors.awsdata import cloudfront_sample, put_cloudfront_data

    # the sidebar's range ends where the demo metrics end: put CloudFront's minutes there
    put_cloudfront_data(aws_env, {"E1": "us-east-1"}, DEMO_END - timedelta(hours=2), 120)
    write_config(
        tmp_path,
        {
            "demo": {"refresh_after": "3650d"},
            "sources": {"cdn": "cloudwatch"},
            "cloudwatch": {"endpoint_url": aws_env, "distributions": [{"id": "E1", "region": "us-east-1"}]},
        },
    )
    at = open_cdn()
    charts = {c.proto.id: json.loads(c.proto.spec) for c in at.get("plotly_chart")}
    specs = [s for s in charts.values() if "CDN 4xx" in s["layout"]["title"]["text"]]
    assert len(specs) == 1
    ys = [y for trace in specs[0]["data"] for y in _values(trace["y"])]
    # distribution 0 reports a 4xxErrorRate of 1.0% at every minute
    assert ys and all(y == pytest.approx(cloudfront_sample(0, 0)["4xxErrorRate"]) for y in ys)
    assert any("CDN 5xx" in s["layout"]["title"]["text"] for s in charts.values())


def _values(y) -> list[float]:
    """A plotly trace's y: a list, or {"dtype", "bdata"} (base64 typed array) as plotly 6 writes it."""
    import base64

    import numpy as np

    if isinstance(y, dict):
        return np.frombuffer(base64.b64decode(y["bdata"]), dtype=y["dtype"]).tolist()
    return [v for v in y if v is not None]


def test_demo_cdn_source_says_where_error_rates_come_from(app_config) -> None:
    at = open_cdn()
    assert any("come from CloudWatch" in c.value for c in at.caption)
