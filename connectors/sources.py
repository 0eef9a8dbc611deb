"""Build the configured sources from config: one place that knows which class serves which source."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlite_utils

from connectors.base import BillingSource, MetricsSource
from connectors.store import StoreBillingSource, StoreMetricsSource
from core.config import HeadroomConfig


def uses_demo_world(config: HeadroomConfig) -> bool:
    s = config.sources
    return "demo" in (s.metrics, s.cdn, s.billing)


def build_metrics_source(
    config: HeadroomConfig, db: sqlite_utils.Database, secrets: Mapping[str, Any] | None = None
) -> MetricsSource:
    """The source of the service metrics (request rate, errors, latency, CPU, instances...)."""
    kind = config.sources.metrics
    if kind == "demo":
        return StoreMetricsSource(db)
    raise NotImplementedError(f"sources.metrics = {kind!r} is not available in this build")


def build_cdn_source(
    config: HeadroomConfig, db: sqlite_utils.Database, secrets: Mapping[str, Any] | None = None
) -> MetricsSource:
    """The source of the cdn_* metrics."""
    kind = config.sources.cdn
    if kind == "demo":
        return StoreMetricsSource(db, name="demo CDN (embedded SQLite)")
    if kind == config.sources.metrics:
        return build_metrics_source(config, db, secrets)
    raise NotImplementedError(f"sources.cdn = {kind!r} is not available in this build")


def build_billing_source(
    config: HeadroomConfig, db: sqlite_utils.Database, secrets: Mapping[str, Any] | None = None
) -> BillingSource:
    kind = config.sources.billing
    if kind == "demo":
        return StoreBillingSource(db)
    raise NotImplementedError(f"sources.billing = {kind!r} is not available in this build")
