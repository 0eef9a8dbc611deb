"""Capacity page: What-if capacity plans: simulate scaling policies on real or forecast demand; region-loss (N+1) check."""

import streamlit as st

from pages import _ui as ui

ui.page_header(
    "Capacity",
    "What-if capacity plans: simulate scaling policies on real or forecast demand; region-loss (N+1) check.",
)
st.info("This page is being built; see the issue tracker for its scope.")
