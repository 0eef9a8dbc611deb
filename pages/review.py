"""Weekly review page: The weekly capacity review: SLOs, traffic, forecast vs actual, headroom, costs and actions for one ISO week, exportable."""

import streamlit as st

from pages import _ui as ui

ui.page_header(
    "Weekly review",
    "The weekly capacity review: SLOs, traffic, forecast vs actual, headroom, costs and actions for one ISO week, exportable.",
)
st.info("This page is being built; see the issue tracker for its scope.")
