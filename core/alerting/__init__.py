"""Alerting (issue 12): Prometheus rules generated from the config, Headroom's own evaluation of the same
rules, the alert types shared with Alertmanager, and OpenSLO import/export (docs/ARCHITECTURE.md)."""
