"""AppTest of the Forecast page through dashboard.py's navigation, on the demo world (one region keeps
each fit to a few seconds)."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from connectors.store import open_db
from connectors.store_forecasts import list_snapshots, load_snapshot
from core.config import load_config
from core.forecast import MODELS, clear_forecast_cache, forecast_cache_info
from tests.conftest import REPO_ROOT

REGION = "eu-west-1"


@pytest.fixture
def page(app_config) -> AppTest:
    at = AppTest.from_file(str(REPO_ROOT / "dashboard.py"), default_timeout=180)
    at.session_state["fc_regions"] = [REGION]
    at.run()
    at.switch_page("pages/forecast.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _summary(at: AppTest) -> pd.Series:
    frame = next(df.value for df in at.dataframe if "capacity reached (mean)" in df.value.columns)
    assert list(frame["region"]) == [REGION]
    return frame.iloc[0]


def _backtest(at: AppTest) -> pd.DataFrame:
    return next(df.value for df in at.dataframe if "mase" in df.value.columns)


def test_the_page_forecasts_with_bands_units_and_the_fleet_ceiling(page: AppTest, app_config) -> None:
    assert page.title[0].value == "Forecast"
    fleet = load_config(app_config.path).fleet_for(REGION)
    row = _summary(page)
    assert row["max capacity (req/s)"] == fleet.max_instances * fleet.capacity_per_instance
    assert row["model"] in MODELS
    assert 0 < row["peak (req/s)"] < row["max capacity (req/s)"]

    backtest = _backtest(page)
    chosen = backtest[backtest["chosen"] == "✅"]
    assert list(chosen["model"]) == [row["model"]]  # the chosen model is the one marked in the table
    assert len(backtest) >= 6 and backtest["mase"].notna().sum() >= 6

    charts = page.get("plotly_chart")
    assert len(charts) == 1
    spec = json.loads(charts[0].proto.spec)
    assert spec["layout"]["yaxis"]["title"]["text"] == "req/s"
    assert spec["layout"]["xaxis"]["title"]["text"] == "time (UTC)"
    names = [trace.get("name") for trace in spec["data"]]
    assert {"history", "forecast", "80% band", "95% band"} <= set(names)
    assert any("UTC" in c.value for c in page.caption)


def test_growth_and_known_events_raise_the_forecast_and_show_exhaustion(page: AppTest) -> None:
    base = _summary(page)
    assert base["capacity reached (mean)"].startswith("not within")

    page.number_input(key="fc_growth").set_value(20.0).run()
    grown = _summary(page)
    assert grown["peak (req/s)"] > base["peak (req/s)"]

    # three times the traffic for a whole day pushes the mean past the fleet's ceiling that day
    page.text_area(key="fc_events").set_value("2026-11-25 .. 2026-11-25 x3 launch").run()
    assert not page.exception
    launched = _summary(page)
    assert launched["capacity reached (mean)"].startswith("2026-11-25")
    assert launched["capacity reached (upper 95% band)"] <= launched["capacity reached (mean)"]

    page.text_area(key="fc_events").set_value("next tuesday x3").run()
    assert any("line 1" in w.value for w in page.warning)


def test_a_fixed_model_is_used_and_compared_with_the_others(page: AppTest) -> None:
    page.selectbox(key="fc_model").set_value("seasonal_naive").run()
    assert not page.exception
    assert _summary(page)["model"] == "seasonal_naive"
    backtest = _backtest(page)
    assert list(backtest.loc[backtest["chosen"] == "✅", "model"]) == ["seasonal_naive"]
    assert len(backtest) > 1


def test_saving_stores_the_forecast_shown_as_a_snapshot(page: AppTest, app_config) -> None:
    page.number_input(key="fc_growth").set_value(10.0).run()
    page.button(key="fc_save").click().run()
    assert not page.exception
    assert any("Saved 1 snapshot" in s.value for s in page.success)

    db = open_db(app_config.store)
    listed = list_snapshots(db, metric="requests_per_second", region=REGION)
    assert len(listed) == 1
    snap = load_snapshot(db, int(listed["id"].iloc[0]))
    assert snap.horizon == 7 * 24 and len(snap.frame) == 7 * 24
    assert snap.adjustments["growth_pct_per_month"] == 10.0
    assert snap.model_key == _summary(page)["model"]
    assert snap.frame["mean"].max() == pytest.approx(_summary(page)["peak (req/s)"])
    # the page lists it
    assert any("model_key" in df.value.columns for df in page.dataframe)


def test_no_region_chosen_asks_for_one(page: AppTest) -> None:
    page.multiselect(key="fc_regions").set_value([]).run()
    assert not page.exception
    assert any("Choose at least one region" in i.value for i in page.info)


def test_a_quarter_ahead_with_thirteen_weeks_of_history_where_data_allows(page: AppTest) -> None:
    """Issue 18: history and horizon up to 13 weeks; the demo world holds 35 days, and the page says so."""
    page.selectbox(key="fc_model").set_value("seasonal_naive")
    page.selectbox(key="fc_resolution").set_value("15 minutes")
    page.selectbox(key="fc_history").set_value("13 weeks")
    page.slider(key="fc_horizon").set_value(91).run()
    assert not page.exception, [e.value for e in page.exception]
    captions = " ".join(c.value for c in page.caption)
    assert "Horizons over 28 days are forecast at 1-hour steps" in captions
    assert "of the 91 days asked for" in captions
    assert "forecast 91 days (2184 steps)" in captions  # 91 x 24 hourly steps
    row = _summary(page)
    assert row["model"] == "seasonal_naive"


# ---- the region shown first, the others when asked (issue 17: a cold visit fitted every region) ------
THREE = ["eu-west-1", "us-east-1", "ap-northeast-1"]


def _open_three(**params: str) -> AppTest:
    at = AppTest.from_file(str(REPO_ROOT / "dashboard.py"), default_timeout=300)
    at.query_params.update(
        {"forecast_regions": ",".join(THREE), "history": "7 days", "horizon": "1", **params}
    )
    at.run()
    at.switch_page("pages/forecast.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _summary_regions(at: AppTest) -> list[str]:
    frame = next(df.value for df in at.dataframe if "capacity reached (mean)" in df.value.columns)
    return list(frame["region"])


def test_only_the_region_shown_is_fitted_until_all_are_asked_for(app_config) -> None:
    clear_forecast_cache()
    at = _open_three()
    assert _summary_regions(at) == [THREE[0]]
    assert forecast_cache_info()["size"] == 1  # one fit, not three
    assert len(at.get("plotly_chart")) == 1
    assert any("Forecast all 3 regions" in c.value for c in at.caption)

    at.radio(key="fc_shown").set_value(THREE[2]).run()
    assert not at.exception
    assert _summary_regions(at) == [THREE[2]]
    assert forecast_cache_info()["size"] == 2
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert THREE[2] in spec["layout"]["title"]["text"]

    at.toggle(key="fc_all").set_value(True).run()
    assert not at.exception, [e.value for e in at.exception]
    assert _summary_regions(at) == THREE
    assert forecast_cache_info()["size"] == 3  # the two stored fits reused, one more fitted
    assert at.query_params["all_regions"] == "true" and at.query_params["shown"] == THREE[2]


def test_a_second_visitor_reuses_every_stored_fit(app_config) -> None:
    clear_forecast_cache()
    first = _open_three(all_regions="true")
    assert _summary_regions(first) == THREE
    fitted = forecast_cache_info()
    assert fitted["size"] == 3

    second = _open_three(all_regions="true")  # another session, the same link
    assert _summary_regions(second) == THREE
    after = forecast_cache_info()
    assert after["size"] == 3 and after["hits"] - fitted["hits"] >= 3  # nothing refitted
    assert any("a stored fit, reused" in m.value for m in second.markdown)


def test_the_chart_sends_compact_traces(page: AppTest) -> None:
    """History and forecast go as x0/dx with float32 values (ui.trace_data), not a timestamp per point."""
    spec = json.loads(page.get("plotly_chart")[0].proto.spec)
    history = next(t for t in spec["data"] if t.get("name") == "history")
    assert "x0" in history and "dx" in history and "x" not in history
    forecast_trace = next(t for t in spec["data"] if t.get("name") == "forecast")
    assert forecast_trace["dx"] == 3600 * 1000  # hourly steps, in ms on a date axis
    assert spec["layout"]["shapes"]  # the history's end (and the ceiling) as layout shapes
