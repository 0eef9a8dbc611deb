"""Forecast's inputs live in the URL, so a copied link reproduces the forecast, and an input value
outside what a control allows is named with the value used instead (issue 15, #4 and #6)."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from tests.conftest import REPO_ROOT


def open_forecast(params: dict[str, str]) -> AppTest:
    at = AppTest.from_file(str(REPO_ROOT / "dashboard.py"), default_timeout=180)
    for key, value in params.items():
        at.query_params[key] = value
    at.run()
    at.switch_page("pages/forecast.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def link_of(at: AppTest) -> dict[str, str]:
    return {k: (v[0] if isinstance(v, list) else v) for k, v in at.query_params.items()}


def test_a_copied_link_reproduces_the_forecast_inputs(app_config) -> None:
    first = open_forecast({"forecast_regions": "eu-west-1", "model": "seasonal_naive", "history": "7 days"})
    first.slider(key="fc_horizon").set_value(3).run()
    first.number_input(key="fc_growth").set_value(12.5).run()
    first.selectbox(key="fc_metric").set_value("cpu_utilization").run()
    assert not first.exception, [e.value for e in first.exception]
    link = link_of(first)
    assert link["horizon"] == "3" and link["growth"] == "12.5" and link["metric"] == "cpu_utilization"

    copied = open_forecast(link)
    assert copied.slider(key="fc_horizon").value == 3
    assert copied.number_input(key="fc_growth").value == 12.5
    assert copied.selectbox(key="fc_metric").value == "cpu_utilization"
    assert copied.multiselect(key="fc_regions").value == ["eu-west-1"]
    assert copied.selectbox(key="fc_model").value == "seasonal_naive"
    assert copied.selectbox(key="fc_history").value == "7 days"


def test_out_of_range_and_unknown_values_in_the_link_are_named(app_config) -> None:
    at = open_forecast(
        {
            "forecast_regions": "eu-west-1",
            "model": "seasonal_naive",
            "history": "7 days",
            "horizon": "400",
            "growth": "-90",
            "metric": "bananas",
        }
    )
    text = " ".join(w.value for w in at.warning)
    assert "Horizon (days)" in text and "400 (from the link)" in text and "using 91 instead" in text
    assert "Growth override" in text and "-90 (from the link)" in text and "using -50 instead" in text
    assert "`metric=bananas` is not valid" in text and "requests_per_second" in text
    assert at.slider(key="fc_horizon").value == 91
    assert at.number_input(key="fc_growth").value == -50.0
