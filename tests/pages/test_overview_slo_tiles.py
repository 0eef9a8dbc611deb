"""Overview additions of the SLO work: KPI tiles with change vs the previous period, SLO alert column."""

from __future__ import annotations

import re

from streamlit.proto.Metric_pb2 import Metric
from streamlit.testing.v1 import AppTest

from tests.conftest import REPO_ROOT

TILES = [
    "Availability",
    "p50 latency",
    "p95 latency",
    "p99 latency",
    "Error rate",
    "Requests",
    "CDN hit ratio",
    "Cost per day",
]


def test_kpi_tiles_show_values_and_changes(app_config) -> None:
    at = AppTest.from_file(str(REPO_ROOT / "dashboard.py"), default_timeout=120)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    tiles = {m.label: m for m in at.metric}
    assert list(tiles)[: len(TILES)] == TILES
    for label in TILES:
        assert tiles[label].value != "no data", label
        assert tiles[label].delta, f"{label} has no change vs the previous period"
    assert tiles["Availability"].value.endswith("%") and tiles["Availability"].delta.endswith("pts")
    assert tiles["p95 latency"].value.endswith(" ms")
    assert tiles["Requests"].value.endswith("req/s")
    assert tiles["Cost per day"].value.startswith("$")
    # a rise is good news for availability, requests and hit ratio, bad news for latency, errors, cost
    higher_is_better = {"Availability", "Requests", "CDN hit ratio"}
    for label in TILES:
        change = float(re.match(r"[-+][\d,.]+", tiles[label].delta).group().replace(",", ""))
        if change == 0:
            continue
        good = (change > 0) == (label in higher_is_better)
        assert Metric.MetricColor.Name(tiles[label].proto.color) == ("GREEN" if good else "RED"), label


def test_region_grid_carries_the_slo_alert_state(app_config) -> None:
    at = AppTest.from_file(str(REPO_ROOT / "dashboard.py"), default_timeout=120)
    at.run()
    grid = at.dataframe[0].value
    alerts = dict(zip(grid["region"], grid["slo_alert"], strict=True))
    assert alerts.pop("ap-southeast-1").startswith("🔴 page")
    assert set(alerts.values()) == {"🟢 ok"}
