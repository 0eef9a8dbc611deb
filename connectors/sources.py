"""Build the configured sources from config: one place that knows which class serves which source.

Credentials follow Streamlit's convention: `[connections.prometheus]` and `[connections.aws]` sections of
`.streamlit/secrets.toml` (passed in here as a plain mapping), or environment variables
(HEADROOM_PROMETHEUS_*; boto3's own AWS_* chain). The connector classes never import Streamlit.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import sqlite_utils

from connectors.base import BillingSource, MetricsSource, SourceError
from connectors.store import StoreBillingSource, StoreMetricsSource
from core.config import HeadroomConfig


def connection_settings(secrets: Mapping[str, Any] | None, name: str) -> Mapping[str, Any]:
    """`[connections.<name>]` from secrets.toml as a plain dict (empty when absent)."""
    connections = (secrets or {}).get("connections") or {}
    section = connections.get(name) if isinstance(connections, Mapping) else None
    return dict(section) if isinstance(section, Mapping) else {}


# The real connectors are imported lazily: the embedded demo never pays for boto3 or requests.
def _prometheus(config: HeadroomConfig, secrets: Mapping[str, Any] | None) -> MetricsSource:
    from connectors.prometheus import PrometheusAuth, PrometheusSource

    try:
        auth = PrometheusAuth.from_settings(connection_settings(secrets, "prometheus"), os.environ)
        return PrometheusSource(config.prometheus, config.region_codes, auth)
    except ValueError as exc:  # bad [connections.prometheus] values or a template without a quoted matcher
        raise SourceError("Prometheus", f"cannot be set up: {exc}") from None


def _cloudwatch(config: HeadroomConfig, secrets: Mapping[str, Any] | None) -> MetricsSource:
    from connectors.aws_common import AwsCredentials
    from connectors.cloudwatch import CloudWatchCdnSource

    try:
        return CloudWatchCdnSource(
            config.cloudwatch, AwsCredentials.from_settings(connection_settings(secrets, "aws"))
        )
    except Exception as exc:  # e.g. botocore's ProfileNotFound for a misspelt profile_name
        raise SourceError("CloudWatch", f"cannot be set up: {exc}") from None


def _cost_explorer(
    config: HeadroomConfig, db: sqlite_utils.Database, secrets: Mapping[str, Any] | None
) -> BillingSource:
    from connectors.aws_common import AwsCredentials
    from connectors.cost_explorer import CostExplorerSource

    try:
        credentials = AwsCredentials.from_settings(connection_settings(secrets, "aws"))
        return CostExplorerSource(config.cost_explorer, db, credentials)
    except Exception as exc:
        raise SourceError("AWS Cost Explorer", f"cannot be set up: {exc}") from None


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
    if kind == "prometheus":
        return _prometheus(config, secrets)
    raise NotImplementedError(f"sources.metrics = {kind!r} is not available in this build")


def build_cdn_source(
    config: HeadroomConfig, db: sqlite_utils.Database, secrets: Mapping[str, Any] | None = None
) -> MetricsSource:
    """The source of the cdn_* metrics."""
    kind = config.sources.cdn
    if kind == "demo":
        return StoreMetricsSource(db, name="demo CDN (embedded SQLite)")
    if kind == "cloudwatch":
        return _cloudwatch(config, secrets)
    if kind == "prometheus":
        # the cdn_* templates live in [prometheus.queries] like the service metrics
        return _prometheus(config, secrets)
    raise NotImplementedError(f"sources.cdn = {kind!r} is not available in this build")


def build_billing_source(
    config: HeadroomConfig, db: sqlite_utils.Database, secrets: Mapping[str, Any] | None = None
) -> BillingSource:
    kind = config.sources.billing
    if kind == "demo":
        return StoreBillingSource(db)
    if kind == "cost_explorer":
        return _cost_explorer(config, db, secrets)
    raise NotImplementedError(f"sources.billing = {kind!r} is not available in this build")
