"""Issue 18: every collected signal shown: memory and queue depth per region and the p90 tile on
Overview, each fleet's utilisation targets in the health grid."""

from __future__ import annotations

import json

from streamlit.testing.v1 import AppTest

from tests.conftest import REPO_ROOT


def test_memory_queue_depth_and_p90_on_overview(app_config) -> None:
    at = AppTest.from_file(str(REPO_ROOT / "dashboard.py"), default_timeout=120)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    titles = {json.loads(c.proto.spec)["layout"]["title"]["text"]: c for c in at.get("plotly_chart")}
    for title in ("Memory utilisation", "Queue depth"):
        spec = json.loads(titles[title].proto.spec)
        assert len(spec["data"]) == 6, title  # one line per region
    tiles = {m.label: m.value for m in at.metric}
    assert tiles["p90 latency"].endswith(" ms") and tiles["p90 latency"] != "no data"
    grid = at.dataframe[0].value
    assert grid["memory_mean"].between(1, 100).all()
    assert "utilisation_warning" in grid.columns
