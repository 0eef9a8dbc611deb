"""Overview additions of the SLO work: KPI tiles with change vs the previous period, SLO alert column."""

from __future__ import annotations

import json
import re

from streamlit.proto.Metric_pb2 import Metric
from streamlit.testing.v1 import AppTest

from core.health import STATE_COLOURS
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


def test_state_and_map_follow_the_alert_now_not_the_range_average(app_config) -> None:
    """At 7d the range average of a region paging right now is green: the State column and the map
    showed green beside "page" (issue 15, #4). Both now follow the alert at the newest data point."""
    at = AppTest.from_file(str(REPO_ROOT / "dashboard.py"), default_timeout=120)
    at.session_state["range_preset"] = "7d"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    grid = at.dataframe[0].value
    rows = grid.set_index("region")
    for region, row in rows.iterrows():
        if row["slo_alert"].startswith("🔴 page"):
            assert "critical" in row["state"], region
        elif row["slo_alert"].startswith("🟢 ok"):
            assert "ok" in row["state"], region
    assert rows.loc["ap-southeast-1", "slo_alert"].startswith("🔴 page")
    geo = next(c for c in at.get("plotly_chart") if '"scattergeo"' in c.proto.spec)
    trace = json.loads(geo.proto.spec)["data"][0]
    colours = dict(zip(trace["text"], trace["marker"]["color"], strict=True))
    assert colours["ap-southeast-1"] == STATE_COLOURS["critical"]
