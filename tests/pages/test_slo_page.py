"""SLOs page (AppTest on the demo world ending at DEMO_END): the summary, the cards, the edges."""

from __future__ import annotations

from datetime import timedelta

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import DEMO_END, REPO_ROOT

REGIONS = ["us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-northeast-1", "ap-southeast-1"]


def open_page(preset: str | None = None, custom: tuple | None = None) -> AppTest:
    at = AppTest.from_file(str(REPO_ROOT / "dashboard.py"), default_timeout=120)
    if custom is not None:  # the sidebar's custom range, as a user would pick it
        start, end = custom
        at.session_state["range_preset"] = "custom"
        at.session_state["custom_start"] = True
        at.session_state["custom_start_date"], at.session_state["custom_start_time"] = (
            start.date(),
            start.time(),
        )
        at.session_state["custom_end_date"], at.session_state["custom_end_time"] = end.date(), end.time()
    elif preset is not None:
        at.session_state["range_preset"] = preset
    at.run()
    at.switch_page("pages/slo.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_summary_lists_every_slo_and_region_with_the_burning_one_paging(app_config) -> None:
    at = open_page()
    assert at.title[0].value == "SLOs"
    summary = at.dataframe[0].value
    rows = {(r.SLO, r.Region): r for r in summary.itertuples()}
    for name in ("api-availability", "api-latency-p95"):
        assert {region for slo, region in rows if slo == name} == {"global", *REGIONS}
    # checkout runs in two regions only
    assert {region for slo, region in rows if slo == "checkout-availability"} == {
        "global",
        "us-east-1",
        "eu-west-1",
    }
    assert "page" in rows[("api-availability", "ap-southeast-1")].Alert
    assert "page" in rows[("api-latency-p95", "ap-southeast-1")].Alert
    assert "ok" in rows[("api-availability", "us-east-1")].Alert
    for row in rows.values():
        assert 0 < row._6 <= 100  # budget left %: some budget spent, none of it overspent in the demo
    # the global latency SLO weighs ap-southeast-1 by its small traffic: far less spent than in the region
    assert rows[("api-latency-p95", "global")]._6 > rows[("api-latency-p95", "ap-southeast-1")]._6


def test_cards_default_to_the_fastest_burning_slo(app_config) -> None:
    at = open_page()
    assert at.selectbox(key="slo_pick").value == "api-latency-p95"
    # one card per region plus global: SLI, budget left in minutes and time to exhaustion
    stats = [m.value for m in at.markdown if m.value.startswith("**SLI**")]
    assert len(stats) == 7
    assert all("**Budget left**" in t and " min" in t and "**Exhausted in**" in t for t in stats)
    assert sum("not burning" not in t for t in stats) >= 1  # ap-southeast-1 has a time to exhaustion
    # the cards' window-pair tables, in card order: global, then the regions as configured
    tables = [d.value for d in at.dataframe if "Severity" in d.value.columns]
    assert len(tables) == 7
    rules = tables[-1]  # ap-southeast-1
    assert list(rules["Severity"]) == ["page", "page", "ticket", "ticket"]
    assert list(rules["Threshold"]) == [14.4, 6.0, 3.0, 1.0]
    assert rules.loc[0, "Firing"].startswith("🔥")
    calm = tables[1]  # us-east-1
    assert not any(v.startswith("🔥") for v in calm["Firing"])


def test_picking_another_slo_shows_its_regions_only(app_config) -> None:
    at = open_page()
    at.selectbox(key="slo_pick").set_value("checkout-availability").run()
    assert not at.exception
    stats = [m.value for m in at.markdown if m.value.startswith("**SLI**")]
    assert len(stats) == 3  # global, us-east-1, eu-west-1


def test_window_longer_than_the_data_is_called_out(app_config) -> None:
    from core.config import load_config

    days = load_config().demo.days
    at_time = DEMO_END - timedelta(days=days) + timedelta(days=7)  # 7 days into the demo world
    at = open_page(custom=(at_time - timedelta(hours=6), at_time))
    at.selectbox(key="slo_pick").set_value("api-availability").run()
    warnings = [w.value for w in at.warning]
    assert len(warnings) == 7  # every card of the 28-day SLO
    assert all("The data covers 25% of the 28d window" in w for w in warnings), warnings


def test_a_range_before_any_data_says_so(app_config) -> None:
    end = DEMO_END - timedelta(days=60)
    at = open_page(custom=(end - timedelta(hours=6), end))
    assert "No SLO data" in " ".join(i.value for i in at.info)
    assert not at.dataframe


@pytest.mark.parametrize("region", ["eu-west-1"])
def test_region_filter_limits_the_cards(app_config, region: str) -> None:
    at = AppTest.from_file(str(REPO_ROOT / "dashboard.py"), default_timeout=120)
    at.session_state["regions"] = [region]
    at.run()
    at.switch_page("pages/slo.py")
    at.run()
    assert not at.exception
    regions = set(at.dataframe[0].value["Region"])
    assert regions == {"global", region}


# ---- the same page on a real Prometheus ----------------------------------------------------------
@pytest.fixture(scope="module")
def prometheus_day(prometheus_factory) -> str:
    """A Prometheus holding one day of the synthetic exporter data, ending a minute ago."""
    from datetime import UTC, datetime

    from tests.connectors.promdata import openmetrics

    end = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=1)
    return prometheus_factory(openmetrics(REGIONS, end - timedelta(days=1), end, interval_s=60)).url


def test_slo_page_on_prometheus_shows_its_numbers(app_config, prometheus_day, tmp_path) -> None:
    from tests.conftest import write_config

    write_config(
        tmp_path,
        {
            "demo": {"refresh_after": "3650d"},
            "sources": {"metrics": "prometheus"},
            "prometheus": {"url": prometheus_day},
        },
    )
    at = open_page()
    assert not at.error, [e.value for e in at.error]
    rows = {(r.SLO, r.Region): r for r in at.dataframe[0].value.itertuples()}
    # the exporter fails 0.02% x (1 + region index) of requests (503s): SLI = 1 - e / (1 + e)
    for i, region in enumerate(REGIONS):
        e = 0.0002 * (1 + i)
        assert rows[("api-availability", region)]._5 == pytest.approx((1 - e / (1 + e)) * 100, abs=1e-4)
    # its p95 (histogram_quantile) is ~430 ms, over the 300 ms threshold every minute: overspent
    assert rows[("api-latency-p95", "us-east-1")]._5 == pytest.approx(0.0)
    assert rows[("api-latency-p95", "us-east-1")]._6 < 0
    assert "page" in rows[("api-latency-p95", "us-east-1")].Alert
    # one day of data in a 28-day window: every card says the figures cover part of it
    warnings = [w.value for w in at.warning]
    assert warnings and all("of the 28d window" in w for w in warnings)


def test_slo_page_budgets_on_prometheus_equal_the_full_grids(
    app_config, prometheus_day, tmp_path, monkeypatch
) -> None:
    """The budgets the page reads from Prometheus's slot sums are the ones it showed when it pulled every
    point of the SLO windows (issue 17): the same page forced onto the grid path agrees."""
    from pages import _slo_data
    from tests.conftest import write_config

    write_config(
        tmp_path,
        {
            "demo": {"refresh_after": "3650d"},
            "sources": {"metrics": "prometheus"},
            "prometheus": {"url": prometheus_day},
        },
    )
    calls: list[bool] = []
    real = _slo_data.slo_budget_counts

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        result = real(*args, **kwargs)
        calls.append(result is not None)
        return result

    monkeypatch.setattr(_slo_data, "slo_budget_counts", spy)
    slots = open_page().dataframe[0].value.set_index(["SLO", "Region"])
    assert calls and all(calls)  # the slot path was taken
    monkeypatch.setattr(_slo_data, "slo_budget_counts", lambda *args, **kwargs: None)
    grid = open_page().dataframe[0].value.set_index(["SLO", "Region"])
    assert sorted(slots.index) == sorted(grid.index)
    for column in ("SLI %", "Budget left %", "Minutes left"):
        for key in grid.index:
            assert slots.at[key, column] == pytest.approx(grid.at[key, column], rel=1e-9, abs=1e-9), (
                column,
                key,
            )


def test_slo_page_above_eight_regions_draws_global_and_the_six_fastest(
    app_config, prometheus_factory, tmp_path
) -> None:
    """Ten regions: the summary lists every one, the cards only global and the six burning the SLO
    fastest, and a caption says so (issue 17: 21 cards of charts at 20 regions were most of a rerun)."""
    import tomllib
    from datetime import UTC, datetime

    from tests.conftest import SHIPPED_CONFIG, write_config
    from tests.connectors.promdata import openmetrics

    shipped = tomllib.loads(SHIPPED_CONFIG.read_text())["region"]
    extra = [
        dict(shipped[0], code=f"zz-test-{i}", name=f"Test region {i}", routing_weight=0.05) for i in range(4)
    ]
    regions = [r["code"] for r in shipped] + [r["code"] for r in extra]
    assert len(regions) == 10
    end = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=1)
    url = prometheus_factory(openmetrics(regions, end - timedelta(hours=3), end, interval_s=60)).url
    write_config(
        tmp_path,
        {
            "demo": {"refresh_after": "3650d"},
            "sources": {"metrics": "prometheus"},
            "prometheus": {"url": url},
            "region": shipped + extra,
        },
    )
    at = open_page()
    assert not at.error, [e.value for e in at.error]
    at.selectbox(key="slo_pick").set_value("api-availability").run()
    assert not at.exception
    summary = at.dataframe[0].value
    assert set(summary[summary["SLO"] == "api-availability"]["Region"]) == {"global", *regions}
    stats = [m.value for m in at.markdown if m.value.startswith("**SLI**")]
    assert len(stats) == 7
    titles = [m.value for m in at.markdown if m.value.startswith("#### ")]
    shown = [t.split("📍 ", 1)[1].split(" ·", 1)[0] for t in titles if "📍" in t]
    # the exporter fails 0.02% x (1 + region index) of requests: the last six regions burn fastest
    assert shown == regions[4:]
    assert any("10 regions: the cards show the global figure and the 6" in c.value for c in at.caption)
