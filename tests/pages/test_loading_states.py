"""Every page shows a loading state where a section's data loads (issue 15: pages stayed blank for
seconds): each read of a metrics, CDN, billing or events source runs inside a visible st.spinner, on
every page of the navigation, from a cold cache."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import streamlit
from streamlit.testing.v1 import AppTest

from pages import _ui as ui
from tests.conftest import REPO_ROOT

PAGES = [
    "pages/overview.py",
    "pages/triage.py",
    "pages/slo.py",
    "pages/cdn.py",
    "pages/costs.py",
    "pages/forecast.py",
    "pages/capacity.py",
    "pages/actions.py",
    "pages/review.py",
]
DATA_METHODS = {"query_range", "aggregate_range", "daily_costs", "events"}


class Reads:
    """The data reads of a run, each with the spinner labels shown while it ran."""

    def __init__(self) -> None:
        self.shown: list[str] = []
        self.reads: list[tuple[str, tuple[str, ...]]] = []


class WatchedSource:
    """A source that records, for each data read, which loading states were on screen."""

    def __init__(self, inner: Any, reads: Reads) -> None:
        self._inner, self._reads = inner, reads

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name not in DATA_METHODS or not callable(attr):
            return attr

        def read(*args: Any, **kwargs: Any) -> Any:
            self._reads.reads.append((name, tuple(self._reads.shown)))
            return attr(*args, **kwargs)

        return read


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> Reads:
    seen = Reads()
    real_spinner = streamlit.spinner

    @contextmanager
    def spinner(text: str = "", *args: Any, **kwargs: Any) -> Iterator[None]:
        seen.shown.append(text)
        try:
            with real_spinner(text, *args, **kwargs):
                yield
        finally:
            seen.shown.pop()

    real_source = ui.source
    monkeypatch.setattr(streamlit, "spinner", spinner)
    monkeypatch.setattr(ui, "source", lambda kind="metrics": WatchedSource(real_source(kind), seen))
    return seen


@pytest.mark.parametrize("page", PAGES)
def test_every_data_read_shows_a_loading_state(app_config, reads: Reads, page: str) -> None:
    at = AppTest.from_file(str(REPO_ROOT / "dashboard.py"), default_timeout=300)
    at.run()
    streamlit.cache_data.clear()  # cold: every read of the page reaches the source
    streamlit.cache_resource.clear()
    reads.reads.clear()
    at.switch_page(page)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    if page != "pages/actions.py":  # the Actions page reads the store only
        assert reads.reads, f"{page} read no data source: the test would prove nothing"
    silent = [method for method, shown in reads.reads if not shown]
    assert not silent, f"{page}: {len(silent)} read(s) with nothing on screen saying so: {silent}"
    labels = {label for _, shown in reads.reads for label in shown}
    assert all(label.startswith("Loading ") for label in labels), labels
