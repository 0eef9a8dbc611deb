"""Issue 17: an Overview rerun whose data did not move rebuilds none of its charts, map, health rows or
KPI tiles (pages/_ui.built keeps them by their inputs), and shows the same page."""

from __future__ import annotations

import json

from streamlit.testing.v1 import AppTest

from pages import _ui as ui
from tests.conftest import REPO_ROOT


def test_a_rerun_with_the_same_data_builds_nothing_again(app_config, monkeypatch) -> None:
    from core import health, kpi

    ui._built.clear()  # st.cache_resource: empty, as a fresh server
    built: list[str] = []
    real_figure, real_health = ui.timeseries_figure, health.region_health_from_aggregates
    real_kpis = kpi.kpi_summary_from_aggregates

    def counted(name, real):
        def wrapper(*args, **kwargs):
            built.append(name)
            return real(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(ui, "timeseries_figure", counted("chart", real_figure))
    monkeypatch.setattr(health, "region_health_from_aggregates", counted("health", real_health))
    monkeypatch.setattr(kpi, "kpi_summary_from_aggregates", counted("kpis", real_kpis))
    at = AppTest.from_file(str(REPO_ROOT / "dashboard.py"), default_timeout=120)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert built.count("chart") == 6 and "health" in built and "kpis" in built
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    grid = at.dataframe[0].value
    built.clear()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert built == []
    assert [json.loads(c.proto.spec) for c in at.get("plotly_chart")] == charts
    assert at.dataframe[0].value.equals(grid)
