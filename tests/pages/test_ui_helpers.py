"""Small presentation helpers of pages/_ui.py, called outside a page run (Streamlit's bare mode)."""

from __future__ import annotations

import pandas as pd

from pages import _ui as ui


def test_bit_rates_get_a_readable_unit() -> None:
    """A CDN region serving 5 Mbit/s was shown as "0.005 Gbit/s" (issue 15, #9)."""
    assert ui.bit_rate_unit([0.005, 0.002]) == ("Mbit/s", 1e3)
    assert ui.bit_rate_unit([2.5]) == ("Gbit/s", 1.0)
    assert ui.bit_rate_unit([0.0000004]) == ("kbit/s", 1e6)
    assert ui.bit_rate_unit([float("nan")]) == ("kbit/s", 1e6)


def test_multi_region_legend_sits_above_the_plot(app_config) -> None:
    """The legend was drawn at y=-0.2, over the x axis title of every multi-region chart."""
    ts = pd.date_range("2026-11-23 10:00", periods=3, freq="1min", tz="UTC")
    frame = pd.DataFrame(
        {
            "ts": list(ts) * 2,
            "region": ["us-east-1"] * 3 + ["eu-west-1"] * 3,
            "metric": "requests_per_second",
            "value": [1.0, 2.0, 3.0, 2.0, 3.0, 4.0],
        }
    )
    legend = ui.timeseries_figure(frame, "requests_per_second", "Request rate").layout.legend
    assert legend.y >= 1 and legend.yanchor == "bottom"


def test_a_relative_range_follows_the_clock_and_a_custom_one_stays() -> None:
    """What a self-refreshing part redraws (issue 12 item 4): '1h' ends at the new 'now', custom stays."""
    from datetime import UTC, datetime, timedelta

    now = datetime(2026, 12, 3, 4, 10, tzinfo=UTC)
    assert ui.range_at("1h", None, now) == (now - timedelta(hours=1), now)
    later = now + timedelta(minutes=1)
    assert ui.range_at("1h", (now - timedelta(hours=1), now), later) == (later - timedelta(hours=1), later)
    custom = (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 2, tzinfo=UTC))
    assert ui.range_at(ui.CUSTOM, custom, later) == custom


def test_refreshed_range_moves_the_sessions_relative_range(monkeypatch) -> None:
    """A fragment's run (no sidebar) moves the session's range to the new 'now' for a relative preset,
    so the rest of the page agrees at its next run; a custom range is left where it is."""
    from datetime import UTC, datetime, timedelta

    from streamlit.testing.v1 import AppTest

    def script() -> None:
        import streamlit as st

        from pages import _ui as ui

        st.session_state["seen"] = ui.refreshed_range()

    clock = {"now": datetime(2026, 12, 3, 4, 10, tzinfo=UTC)}
    monkeypatch.setattr(ui, "data_anchor", lambda: clock["now"])
    at = AppTest.from_function(script)
    drawn = clock["now"] - timedelta(hours=6), clock["now"]
    at.session_state["range_preset"] = "6h"
    at.session_state["time_range"] = drawn
    at.run()
    assert at.session_state["seen"] == drawn
    clock["now"] += timedelta(minutes=1)
    at.run()
    moved = (clock["now"] - timedelta(hours=6), clock["now"])
    assert at.session_state["seen"] == moved and at.session_state["time_range"] == moved
    at.session_state["range_preset"] = ui.CUSTOM
    clock["now"] += timedelta(minutes=1)
    at.run()
    assert at.session_state["seen"] == moved  # a custom range does not follow the clock


def test_event_marks_are_the_shapes_plotly_s_own_calls_make() -> None:
    """add_event_marks builds its shapes and annotations as plain dicts in one layout update (the plotly
    calls per mark cost over a second of every Overview rerun): the figure is the one those calls give."""
    import plotly.graph_objects as go

    t = pd.Timestamp("2026-11-02 10:00", tz="UTC")
    marks = pd.DataFrame(
        [
            {"start_ts": t, "end_ts": t, "region": "eu-west-1", "kind": "deploy", "title": "v1.2"},
            {"start_ts": t, "end_ts": t, "region": None, "kind": "action", "title": "scale out"},
            {
                "start_ts": t,
                "end_ts": t + pd.Timedelta("2h"),
                "region": "us-east-1",
                "kind": "incident",
                "title": "5xx",
            },
            {"start_ts": t, "end_ts": t, "region": "", "kind": "incident", "title": "blip"},
        ]
    )
    expected = go.Figure()
    expected.add_vline(x=t, line_dash="dot", line_color="#607d8b", opacity=0.7)
    expected.add_annotation(
        x=t, y=1.0, yref="paper", text="🚀", showarrow=False, hovertext="v1.2 (eu-west-1)"
    )
    expected.add_vline(x=t, line_dash="dot", line_color="#6a1b9a", opacity=0.7)
    expected.add_annotation(x=t, y=1.0, yref="paper", text="🛠️", showarrow=False, hovertext="scale out")
    expected.add_vrect(x0=t, x1=t + pd.Timedelta("2h"), fillcolor="#e53935", opacity=0.12, line_width=0)
    expected.add_annotation(x=t, y=1.0, yref="paper", text="⚠", showarrow=False, hovertext="5xx (us-east-1)")
    expected.add_vline(x=t, line_dash="dot", line_color="#607d8b", opacity=0.7)
    expected.add_annotation(x=t, y=1.0, yref="paper", text="🚀", showarrow=False, hovertext="blip")
    got = go.Figure()
    ui.add_event_marks(got, marks)
    assert got.to_plotly_json()["layout"] == expected.to_plotly_json()["layout"]
    assert len(got.layout.shapes) == 4 and len(got.layout.annotations) == 4


def _tidy(values: list[float]) -> pd.DataFrame:
    ts = pd.date_range("2026-11-23 10:00", periods=len(values), freq="1min", tz="UTC")
    return pd.DataFrame({"ts": ts, "region": "us-east-1", "metric": "requests_per_second", "value": values})


def test_a_frames_fingerprint_follows_its_values_not_the_object() -> None:
    """ui.frame_fingerprint keys what ui.built keeps: a copy (what a cached loader hands out per rerun)
    keeps it, a moved value or a new point changes it, and text matters only with labels=True."""
    frame = _tidy([1.0, 2.0, 3.0])
    assert ui.frame_fingerprint(frame.copy()) == ui.frame_fingerprint(frame)
    assert ui.frame_fingerprint(_tidy([1.0, 2.0, 3.5])) != ui.frame_fingerprint(frame)
    assert ui.frame_fingerprint(_tidy([1.0, 2.0, 3.0, 4.0])) != ui.frame_fingerprint(frame)
    renamed = frame.assign(region="eu-west-1")
    assert ui.frame_fingerprint(renamed) == ui.frame_fingerprint(frame)  # the caller's labels pin text
    assert ui.frame_fingerprint(renamed, labels=True) != ui.frame_fingerprint(frame, labels=True)
    assert ui.frame_fingerprint(frame.iloc[:0]) != ui.frame_fingerprint(frame)


def test_built_builds_once_per_key() -> None:
    calls: list[int] = []

    def build() -> list[int]:
        calls.append(1)
        return [len(calls)]

    key = ("test_built_builds_once_per_key", ui.frame_fingerprint(_tidy([1.0])))
    first = ui.built(key, build)
    assert ui.built(key, build) is first and len(calls) == 1
    other = ("test_built_builds_once_per_key", ui.frame_fingerprint(_tidy([2.0])))
    assert ui.built(other, build) == [2] and len(calls) == 2
