"""CDN page: CDN hit ratio, origin offload, bandwidth and error rates by region."""

import streamlit as st

from pages import _ui as ui

ui.page_header("CDN", "CDN hit ratio, origin offload, bandwidth and error rates by region.")
st.info("This page is being built; see the issue tracker for its scope.")
