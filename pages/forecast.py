"""Forecast page: Demand forecasts with calibrated bands, model backtests and capacity exhaustion dates."""

import streamlit as st

from pages import _ui as ui

ui.page_header(
    "Forecast", "Demand forecasts with calibrated bands, model backtests and capacity exhaustion dates."
)
st.info("This page is being built; see the issue tracker for its scope.")
