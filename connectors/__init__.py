"""Connectors: one small class per outside system, each implementing a protocol in core/ports.py."""
