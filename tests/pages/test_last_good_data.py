"""pages/_ui.py's one "last good data" loader: a dead source shows a banner and the last good data of
exactly the view asked for (same source, range, metrics, regions), never another range's."""

from __future__ import annotations

from datetime import date

from streamlit.testing.v1 import AppTest

NOV = (date(2026, 11, 1), date(2026, 11, 30))
OCT = (date(2026, 10, 1), date(2026, 10, 31))


def _billing_script() -> None:
    """Loads the bill for st.session_state['days'] through ui.load_costs from a billing source that fails
    while st.session_state['down'] is set; each bill's cost is its first day's day-of-year, so the frame
    shown says which range it belongs to."""
    import pandas as pd
    import streamlit as st

    from core.ports import SourceError
    from pages import _ui as ui

    class FlakyBilling:
        name = "flaky billing"

        def daily_costs(self, start, end):
            if st.session_state["down"]:
                raise SourceError("flaky billing", "refused for the test.")
            return pd.DataFrame(
                {
                    "day": [start],
                    "service": ["EC2"],
                    "region": ["us-east-1"],
                    "cost_usd": [float(start.timetuple().tm_yday)],
                }
            )

    real_source = ui.source
    ui.source = lambda kind="metrics": FlakyBilling()
    try:
        frame = ui.load_costs(*st.session_state["days"])
    finally:
        ui.source = real_source  # the module is shared with the other AppTests of this process
    st.session_state["shown"] = frame["cost_usd"].tolist()


def _run(at: AppTest, days: tuple[date, date], down: bool) -> AppTest:
    at.session_state["days"] = days
    at.session_state["down"] = down
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_a_failed_bill_never_shows_another_ranges_bill() -> None:
    at = AppTest.from_function(_billing_script, default_timeout=60)
    _run(at, NOV, down=False)
    assert at.session_state["shown"] == [float(NOV[0].timetuple().tm_yday)]
    assert not at.warning and not at.error

    # October fails and was never read: an error and no bill, not November's bill under October's title
    _run(at, OCT, down=True)
    assert at.session_state["shown"] == []
    assert any("flaky billing is unavailable" in e.value for e in at.error)
    assert not at.warning

    # November fails after a good read: a banner and November's own bill
    _run(at, NOV, down=True)
    assert at.session_state["shown"] == [float(NOV[0].timetuple().tm_yday)]
    assert any("Showing the last good data" in w.value for w in at.warning)
    assert not at.error


def _generic_script() -> None:
    """ui.load_last_good with a view key from session state and a fetch that fails while 'down' is set."""
    import streamlit as st

    from pages import _ui as ui

    def fetch() -> str:
        if st.session_state["down"]:
            raise RuntimeError("socket closed")
        return f"data for {st.session_state['view']}"

    view = tuple(st.session_state["view"])
    st.session_state["shown"] = ui.load_last_good(view, fetch, lambda: "nothing", "test source")


def test_any_exception_from_a_source_is_a_banner_keyed_by_the_whole_view() -> None:
    at = AppTest.from_function(_generic_script, default_timeout=60)
    at.session_state["view"] = ("metrics", "p95", "2026-11-01", "2026-11-02", 60, ("us-east-1",))
    at.session_state["down"] = False
    at.run()
    assert at.session_state["shown"].startswith("data for")

    # the same view with another region is another view: nothing to fall back on
    at.session_state["view"] = ("metrics", "p95", "2026-11-01", "2026-11-02", 60, ("eu-west-1",))
    at.session_state["down"] = True
    at.run()
    assert not at.exception
    assert at.session_state["shown"] == "nothing"
    assert any("test source is unavailable" in e.value and "socket closed" in e.value for e in at.error)


def _many_views_script() -> None:
    """Fetches views 0..n-1 successfully, then view 0 again with the source down."""
    import streamlit as st

    from pages import _ui as ui

    def failing() -> str:
        raise RuntimeError("down")

    for i in range(st.session_state["views"]):
        ui.load_last_good(("view", i), lambda i=i: f"data {i}", lambda: "nothing", "test source")
    st.session_state["oldest"] = ui.load_last_good(("view", 0), failing, lambda: "nothing", "test source")
    st.session_state["newest"] = ui.load_last_good(
        ("view", st.session_state["views"] - 1), failing, lambda: "nothing", "test source"
    )


def test_a_session_keeps_a_bounded_number_of_views() -> None:
    from pages._ui import LAST_GOOD_VIEWS

    at = AppTest.from_function(_many_views_script, default_timeout=60)
    at.session_state["views"] = LAST_GOOD_VIEWS + 1
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert len(at.session_state["_last_good"]) == LAST_GOOD_VIEWS
    assert at.session_state["oldest"] == "nothing"  # the least recently fetched view was dropped
    assert at.session_state["newest"] == f"data {LAST_GOOD_VIEWS}"
