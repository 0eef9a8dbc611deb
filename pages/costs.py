"""Costs page: Spend by service and region, budget vs actual vs forecast, unit cost per million requests."""

import streamlit as st

from pages import _ui as ui

ui.page_header(
    "Costs", "Spend by service and region, budget vs actual vs forecast, unit cost per million requests."
)
st.info("This page is being built; see the issue tracker for its scope.")
