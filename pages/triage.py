"""Triage page: On-call view: what is burning now, ranked by burn rate, with recent changes, runbooks and quick actions."""

import streamlit as st

from pages import _ui as ui

ui.page_header(
    "Triage",
    "On-call view: what is burning now, ranked by burn rate, with recent changes, runbooks and quick actions.",
)
st.info("This page is being built; see the issue tracker for its scope.")
