"""Wiring: build the configured sources and the action executor from config. The one place that knows
which connector class serves which `[sources]` choice (docs/ARCHITECTURE.md, "Layers").

Credentials follow Streamlit's convention: `[connections.prometheus]` and `[connections.aws]` sections of
`.streamlit/secrets.toml` (passed in here as a plain mapping), or environment variables
(HEADROOM_PROMETHEUS_*; boto3's own AWS_* chain). The connector classes never import Streamlit.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import sqlite_utils

from connectors.store import StoreBillingSource, StoreMetricsSource
from core import audit
from core.config import HeadroomConfig
from core.ports import ActionExecutor, BillingSource, EventsSource, MetricsSource, SourceError

if TYPE_CHECKING:
    from core.alerting.types import AlertSource
    from core.report import ReportInputs, Week


def connection_settings(secrets: Mapping[str, Any] | None, name: str) -> Mapping[str, Any]:
    """`[connections.<name>]` from secrets.toml as a plain dict (empty when absent)."""
    connections = (secrets or {}).get("connections") or {}
    section = connections.get(name) if isinstance(connections, Mapping) else None
    return dict(section) if isinstance(section, Mapping) else {}


STORE_URL_ENV = "HEADROOM_STORE_URL"


def guarded_store(
    config: HeadroomConfig,
    secrets: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> str:
    """Where the guarded path (actions, audit) lives: a PostgreSQL URL shared by every replica, or the
    SQLite file. In order: secrets.toml `[connections.store] url`, HEADROOM_STORE_URL, `[store] url` with
    `[connections.store]` username/password added, else `[store] path`. A URL's scheme is checked here
    so a typo names its source."""
    env = os.environ if environ is None else environ
    settings = connection_settings(secrets, "store")
    for source, url in (
        ("secrets [connections.store] url", settings.get("url")),
        (STORE_URL_ENV, env.get(STORE_URL_ENV)),
    ):
        if url:
            if not str(url).startswith(("postgresql://", "postgresql+psycopg://", "postgres://")):
                raise ValueError(f"{source}: must be a postgresql:// URL")
            return str(url)
    if config.store.url:
        user, password = settings.get("username"), settings.get("password")
        if not user and not password:
            return config.store.url
        from urllib.parse import quote

        scheme, rest = config.store.url.split("://", 1)
        rest = rest.split("@", 1)[-1]  # the host part; a user in the config is replaced by the secret's
        config_user = config.store.url.split("://", 1)[1].split("@", 1)[0] if "@" in config.store.url else ""
        auth = quote(str(user or config_user), safe="")
        if password:
            auth += ":" + quote(str(password), safe="")
        return f"{scheme}://{auth}@{rest}"
    return str(config.store_path())


def configure_audit(
    config: HeadroomConfig, store: Any, secrets: Mapping[str, Any] | None = None
) -> audit.ChainSettings:
    """The audit chain's HMAC key (`[audit] hmac_key` in secrets.toml, else HEADROOM_AUDIT_KEY) and its
    outside anchor (`[audit] anchor_path`) for `store` (issue 19 item 2). Never the database or config."""
    section = (secrets or {}).get("audit") or {}
    secret = section.get("hmac_key") if isinstance(section, Mapping) else None
    locator = audit.store_locator(store)
    return audit.configure(
        store, key=audit.resolve_key(secret), anchor_path=config.audit_anchor_path(locator)
    )


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
    config: HeadroomConfig, db: sqlite_utils.Database | str, secrets: Mapping[str, Any] | None
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


def build_events_source(
    config: HeadroomConfig,
    db: sqlite_utils.Database,
    secrets: Mapping[str, Any] | None = None,
    recorded_store: str | None = None,
) -> EventsSource:
    """Incidents and changes: always the store (the demo world's and what people record on Triage),
    plus annotations from Prometheus when `[events] prometheus = true` (the [prometheus] url and the
    same credentials as the metrics)."""
    from connectors.events import CombinedEventsSource, StoreEventsSource, build_prometheus_annotations

    sources: list[EventsSource] = [StoreEventsSource(db, recorded_store=recorded_store)]
    if config.events.prometheus:
        from connectors.prometheus import PrometheusAuth, PrometheusSource

        try:
            auth = PrometheusAuth.from_settings(connection_settings(secrets, "prometheus"), os.environ)
            prom = PrometheusSource(config.prometheus, config.region_codes, auth)
        except ValueError as exc:
            raise SourceError("Prometheus annotations", f"cannot be set up: {exc}") from None
        sources.append(
            build_prometheus_annotations(config.events, prom.url, prom.session, config.prometheus.timeout)
        )
    return CombinedEventsSource(sources)


def build_billing_source(
    config: HeadroomConfig,
    db: sqlite_utils.Database,
    secrets: Mapping[str, Any] | None = None,
    shared_store: Any = None,
) -> BillingSource:
    """The configured BillingSource. Cost Explorer's cache lives in `shared_store` when given (the
    PostgreSQL URL every replica shares: a day bought once serves them all), else in `db`."""
    kind = config.sources.billing
    if kind == "demo":
        return StoreBillingSource(db)
    if kind == "cost_explorer":
        return _cost_explorer(config, db if shared_store is None else shared_store, secrets)
    raise NotImplementedError(f"sources.billing = {kind!r} is not available in this build")


def aws_credential_settings(secrets: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """The one AWS credentials convention, for readers and the executor alike: `[connections.aws]` in
    secrets.toml; otherwise boto3's own chain (environment, profile, SSO, instance/task role)."""
    return connection_settings(secrets, "aws")


def build_executor(
    config: HeadroomConfig, db: Any, secrets: Mapping[str, Any] | None = None, shared_store: Any = None
) -> ActionExecutor:
    """The configured ActionExecutor (`[sources].executor`): the sandbox, or AWS. The sandbox keeps its
    simulated fleet in `shared_store` when given (the PostgreSQL URL every replica shares), else in `db`;
    its starting instance counts always come from `db`'s demo world."""
    kind = config.sources.executor
    if kind == "sandbox":
        from connectors.sandbox_executor import SandboxExecutor

        return SandboxExecutor(db if shared_store is None else shared_store, config, metrics=db)
    if kind == "aws":
        from connectors.aws_executor import AwsExecutor

        settings = aws_credential_settings(secrets)
        keys = ("aws_access_key_id", "aws_secret_access_key", "aws_session_token", "profile_name")
        return AwsExecutor(config.aws, credentials={k: str(settings[k]) for k in keys if settings.get(k)})
    raise ValueError(f"sources.executor = {kind!r} is not available (sandbox | aws)")


def gather_review_inputs(
    config: HeadroomConfig,
    metrics_source: Any,
    billing_source: Any,
    db: Any,
    week: Week,
    shared: Any = None,
    events_source: EventsSource | None = None,
) -> ReportInputs:
    """Read what the weekly review needs: hourly metrics from four weeks before the week to its end, the
    SLO metrics at 1 minute, the bill, and what the store holds (events, snapshots, scenarios, actions).
    `shared` is where the replicas' shared tables live (snapshots, scenarios, actions: a PostgreSQL URL);
    None = the embedded `db`."""
    shared = db if shared is None else shared
    from connectors.store_forecasts import list_snapshots, load_snapshot
    from connectors.store_scenarios import scenarios_for_review
    from core.actions import actions_proposed_between, unsigned_break_glass
    from core.actions.store import db_file_path
    from core.report import REPORT_METRICS, ReportInputs

    start = week.shifted(-4).start
    metrics = metrics_source.query_range(
        list(REPORT_METRICS), start, week.end, timedelta(hours=1), list(config.region_codes)
    )
    costs = None
    if billing_source is not None:
        costs = billing_source.daily_costs(
            (week.start - timedelta(days=35)).date(), (week.end - timedelta(days=1)).date()
        )
    if events_source is None and db is not None:
        events_source = build_events_source(config, db)
    events = events_source.events(start, week.end) if events_source is not None else None
    slo_metrics = None
    if config.slo:
        from core.slo import SLO, metrics_for

        slos = [SLO.from_config(s) for s in config.slo]
        longest = max(s.window for s in slos)
        wanted = sorted(set(metrics_for(slos)) | {"requests_per_second"})
        slo_metrics = metrics_source.query_range(
            wanted, week.start - longest, week.end, timedelta(minutes=1), list(config.region_codes)
        )
    snapshots = scenarios = actions = break_glass_unsigned = None
    if db is not None:
        listed = list_snapshots(shared, until=week.start)
        snapshots = [load_snapshot(shared, int(i)) for i in (listed["id"] if not listed.empty else [])]
        scenarios = scenarios_for_review(shared)
        actions = actions_proposed_between(shared, week.start, week.end)
        break_glass_unsigned = unsigned_break_glass(db_file_path(shared))
    return ReportInputs(
        config=config,
        metrics=metrics,
        costs=costs,
        events=events,
        slo_metrics=slo_metrics,
        snapshots=snapshots,
        scenarios=scenarios,
        actions=actions,
        break_glass_unsigned=break_glass_unsigned,
    )


def build_alertmanager(
    config: HeadroomConfig, secrets: Mapping[str, Any] | None = None
) -> AlertSource | None:
    """The Alertmanager v2 client, or None when `[alertmanager] url` (or the secrets' url) is empty."""
    from connectors.alertmanager import AlertmanagerAuth, AlertmanagerSource

    try:
        auth = AlertmanagerAuth.from_settings(connection_settings(secrets, "alertmanager"), os.environ)
    except ValueError as exc:
        raise SourceError("Alertmanager", f"cannot be set up: {exc}") from None
    if not (auth.url or config.alertmanager.url):
        return None
    return AlertmanagerSource(config.alertmanager, auth)
