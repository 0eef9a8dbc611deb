"""SLOs page: Availability and latency SLOs per region: error budgets, burn-down and multiwindow burn-rate alerts."""

import streamlit as st

from pages import _ui as ui

ui.page_header(
    "SLOs",
    "Availability and latency SLOs per region: error budgets, burn-down and multiwindow burn-rate alerts.",
)
st.info("This page is being built; see the issue tracker for its scope.")
