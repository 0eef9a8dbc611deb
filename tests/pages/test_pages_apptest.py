"""AppTest of every page through dashboard.py's navigation: no exception, the title, real content."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import REPO_ROOT

PAGE_FILES = ["overview", "triage", "slo", "cdn", "costs", "forecast", "capacity", "actions", "review"]


@pytest.fixture
def app(app_config) -> AppTest:
    at = AppTest.from_file(str(REPO_ROOT / "dashboard.py"), default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    return at


@pytest.mark.parametrize("name", PAGE_FILES)
def test_page_renders_without_exception(app: AppTest, name: str) -> None:
    app.switch_page(f"pages/{name}.py")
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    assert app.title, f"{name} has no title"


def test_overview_shows_every_region_and_the_burning_one(app: AppTest) -> None:
    assert app.title[0].value == "Overview"
    grid = app.dataframe[0].value
    assert list(grid["region"]) == [
        "us-east-1",
        "us-west-2",
        "eu-west-1",
        "eu-central-1",
        "ap-northeast-1",
        "ap-southeast-1",
    ]
    states = dict(zip(grid["region"], grid["state"], strict=True))
    assert "critical" in states["ap-southeast-1"]  # the demo's ongoing regression
    assert "ok" in states["us-east-1"]


def test_bad_config_shows_the_problem_instead_of_a_traceback(app_config, tmp_path) -> None:
    text = app_config.path.read_text().replace("objective = 0.9995", "objective = 99.95")
    app_config.path.write_text(text)
    at = AppTest.from_file(str(REPO_ROOT / "dashboard.py"), default_timeout=60)
    at.run()
    assert not at.exception
    messages = " ".join(e.value for e in at.error) + " ".join(m.value for m in at.markdown)
    assert "configuration file has problems" in messages
    assert "slo[2].objective" in messages and "99.95" in messages


def test_region_filter_limits_the_grid(app: AppTest) -> None:
    app.sidebar.multiselect(key="regions").set_value(["eu-west-1"]).run()
    grid = app.dataframe[0].value
    assert list(grid["region"]) == ["eu-west-1"]
    # the URL side of this (regions in the query string) is checked in the browser: tests/e2e
