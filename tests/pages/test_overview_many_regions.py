"""Overview with more regions than a chart can tell apart, on a real Prometheus (issue 17): the charts
draw the worst and busiest few and one "all regions" line Prometheus combines; the grid keeps them all."""

from __future__ import annotations

import base64
import json
import tomllib
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
import tomli_w
from streamlit.testing.v1 import AppTest

from core.ports import ACROSS_REGIONS
from tests.conftest import REPO_ROOT, SHIPPED_CONFIG, write_config

pytestmark = pytest.mark.slow

SHIPPED_REGIONS = tomllib.loads(SHIPPED_CONFIG.read_text())["region"]
EXTRA = [f"zz-many-{i}" for i in range(4)]
CODES = [r["code"] for r in SHIPPED_REGIONS] + EXTRA  # 10 regions: above the charts' 8


@pytest.fixture(scope="module")
def prometheus_ten(prometheus_factory) -> str:
    from tests.connectors.promdata import openmetrics

    end = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=1)
    return prometheus_factory(
        openmetrics(CODES, end - timedelta(hours=26), end, interval_s=60, max_instances=3)
    ).url


def test_charts_draw_the_worst_and_busiest_regions_and_one_line_for_all(
    app_config, prometheus_ten, tmp_path
) -> None:
    extra = [
        {
            "code": c,
            "name": f"Many {i}",
            "lat": 10.0 * i,
            "lon": 20.0 * i,
            "timezone": "UTC",
            "routing_weight": 0.05,
        }
        for i, c in enumerate(EXTRA)
    ]
    config = write_config(
        tmp_path,
        {
            "demo": {"refresh_after": "3650d"},
            "sources": {"metrics": "prometheus"},
            "prometheus": {"url": prometheus_ten},
        },
    )
    data = tomllib.loads(config.read_text())
    data["region"] = SHIPPED_REGIONS + extra
    config.write_text(tomli_w.dumps(data))
    at = AppTest.from_file(str(REPO_ROOT / "dashboard.py"), default_timeout=180)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    grid = at.dataframe[0].value
    assert sorted(grid["region"]) == sorted(CODES)  # every region in the grid
    charts = {
        json.loads(c.proto.spec)["layout"]["title"]["text"]: json.loads(c.proto.spec)
        for c in at.get("plotly_chart")
    }
    # the exporter fails 0.02% x (1 + region index) of requests: the last three have the worst error rate
    worst = set(CODES[-3:])
    for title in ("Request rate", "Error rate (5xx share)", "p95 latency", "CPU utilisation", "Queue depth"):
        names = [t["name"] for t in charts[title]["data"]]
        assert len(names) == 7 and names[-1] == ACROSS_REGIONS, (title, names)
        assert worst <= set(names), (title, names)
    caption = " ".join(c.value for c in at.caption)
    assert "10 regions selected: the charts draw 6 of them" in caption
    # the "all regions" request rate is every region's together: its mean is the sum of their means
    total = next(t for t in charts["Request rate"]["data"] if t["name"] == ACROSS_REGIONS)
    y = total["y"]
    values = (
        np.frombuffer(base64.b64decode(y["bdata"]), dtype=y["dtype"]) if isinstance(y, dict) else np.array(y)
    )
    assert float(np.nanmean(values)) == pytest.approx(float(grid["rps_mean"].sum()), rel=0.03)
