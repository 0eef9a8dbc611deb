"""Actions page: Propose, approve and execute scaling and failover through one guarded path, with a tamper-evident audit log."""

import streamlit as st

from pages import _ui as ui

ui.page_header(
    "Actions",
    "Propose, approve and execute scaling and failover through one guarded path, with a tamper-evident audit log.",
)
st.info("This page is being built; see the issue tracker for its scope.")
