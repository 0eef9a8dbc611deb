"""Connectors: one small class per outside system, each behind a protocol in base.py."""
