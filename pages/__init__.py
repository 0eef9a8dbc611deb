"""Thin page scripts run by st.navigation in dashboard.py; shared glue lives in pages/_ui.py."""
