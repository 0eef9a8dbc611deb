"""Headroom entry point: page config, data on first start, the sidebar, and navigation. Nothing else."""

# Import the heavy libraries before any page runs: a cold first load once failed with a partially
# initialised pandas when a page imported plotly first (docs/ARCHITECTURE.md, "Pitfalls").
import numpy  # noqa: F401
import pandas  # noqa: F401
import plotly.graph_objects  # noqa: F401
import streamlit as st

from pages import _ui as ui

st.set_page_config(page_title="Headroom", page_icon="📈", layout="wide")

ui.config()  # a bad config file stops here with every problem named
with ui.page_guard("Headroom's data") as data:  # e.g. a store file that is truncated or not SQLite
    ui.ensure_data()

PAGES = [
    st.Page("pages/overview.py", title="Overview", icon="🌍", default=True),
    st.Page("pages/triage.py", title="Triage", icon="🚨"),
    st.Page("pages/slo.py", title="SLOs", icon="🎯"),
    st.Page("pages/cdn.py", title="CDN", icon="🛰️"),
    st.Page("pages/costs.py", title="Costs", icon="💵"),
    st.Page("pages/forecast.py", title="Forecast", icon="🔮"),
    st.Page("pages/capacity.py", title="Capacity", icon="📐"),
    st.Page("pages/actions.py", title="Actions", icon="🛠️"),
    st.Page("pages/review.py", title="Weekly review", icon="🗓️"),
]
page = st.navigation(PAGES)
st.sidebar.markdown("## 📈 Headroom")
# whatever a page cannot handle ends in a message naming the store, source or key, never a traceback
# (docs/ARCHITECTURE.md, "Threat model"); navigation is always set up, so every URL reaches this guard
if not data.failed:
    with ui.page_guard("The sidebar"):
        ui.sidebar()
    try:
        with ui.page_guard(f"The {page.title} page"):
            page.run()
    finally:  # st.stop() included: a partial source whose data the page did not load is still named
        ui.finish_partial_banners()
