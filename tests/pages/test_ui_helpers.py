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
