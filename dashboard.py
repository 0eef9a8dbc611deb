"""Headroom entry point: page config, data on first start, the sidebar, and navigation. Nothing else."""

# Import the heavy libraries before any page runs: a cold first load once failed with a partially
# initialised pandas when a page imported plotly first.
import numpy  # noqa: F401
import pandas  # noqa: F401
import plotly.graph_objects  # noqa: F401
import streamlit as st

from pages import _ui as ui

st.set_page_config(page_title="Headroom", page_icon="📈", layout="wide")

ui.config()  # a bad config file stops here with every problem named
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
ui.sidebar()
page.run()
