"""Every page that judges "now" says how old its newest data point is, and "no data after HH:MM" when
the range runs past it (issue 15, #3): the SLOs and CDN pages judged the end of the range silently."""

from __future__ import annotations

from datetime import timedelta

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import DEMO_END, REPO_ROOT


def open_page(page: str, past_the_data: bool) -> AppTest:
    at = AppTest.from_file(str(REPO_ROOT / "dashboard.py"), default_timeout=180)
    if past_the_data:  # a custom range ending two hours after the newest data point
        at.query_params["range"] = "custom"
        at.query_params["start"] = (DEMO_END - timedelta(hours=22)).strftime("%Y-%m-%dT%H:%MZ")
        at.query_params["end"] = (DEMO_END + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%MZ")
    at.run()
    at.switch_page(page)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.mark.parametrize("page", ["pages/slo.py", "pages/cdn.py"])
def test_a_range_past_the_data_says_no_data_after(app_config, page: str) -> None:
    at = open_page(page, past_the_data=True)
    warnings = " ".join(w.value for w in at.warning)
    assert f"No data after {DEMO_END:%Y-%m-%d %H:%M} UTC" in warnings, page
    assert "missing data is not a recovery" in warnings


@pytest.mark.parametrize("page", ["pages/slo.py", "pages/cdn.py"])
def test_a_relative_range_ends_at_the_data_and_warns_of_nothing(app_config, page: str) -> None:
    at = open_page(page, past_the_data=False)
    assert not any("No data after" in w.value for w in at.warning), page


def test_the_slo_page_keeps_the_last_known_burn_past_the_data(app_config) -> None:
    """Past the data the minutes after it are missing, not good: the burn is judged at the newest point,
    so the 1 h burn of the paging region is the same as with a range that ends at the data."""
    past = open_page("pages/slo.py", past_the_data=True)
    on = open_page("pages/slo.py", past_the_data=False)

    def burns(at: AppTest):
        table = next(d.value for d in at.dataframe if "Burn (1h)" in d.value.columns)
        return table.set_index(["SLO", "Region"])["Burn (1h)"]

    assert burns(past).round(6).equals(burns(on).round(6))
