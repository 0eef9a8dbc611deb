"""Load and validate Headroom's one configuration file into frozen dataclasses.

The file is TOML (default `.streamlit/headroom.toml`, `HEADROOM_CONFIG` overrides). Validation is done by
pydantic dataclasses with `extra="forbid"`, so a misspelt key is named, and every error is reported as
`file: section[index].key: what was expected, got VALUE` (e.g. `slo[2].objective: ...`). Nothing else
escapes `load_config`: unreadable or non-UTF-8 files, TOML nested too deeply, infinite or huge numbers
and durations all become a ConfigError naming the file and, where there is one, the key
(tests/core/test_config_fuzz.py throws generated documents at it).
Secrets (AWS keys, Prometheus auth, OIDC) never live here: see `.streamlit/secrets.toml` / the environment.
"""

from __future__ import annotations

import json
import math
import os
import re
import reprlib
import tomllib
from collections.abc import Mapping
from dataclasses import field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    model_validator,
)
from pydantic.dataclasses import dataclass

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG_PATH = REPO_ROOT / ".streamlit" / "headroom.toml"
CONFIG_ENV_VAR = "HEADROOM_CONFIG"

CANONICAL_METRICS: tuple[str, ...] = (
    "requests_per_second",
    "errors_per_second",
    "latency_p50_ms",
    "latency_p95_ms",
    "latency_p99_ms",
    "latency_p90_ms",
    "cpu_utilization",
    "memory_utilization",
    "queue_depth",
    "instances",
    "cdn_requests_per_second",
    "cdn_hit_ratio",
    "cdn_bytes_edge_per_second",
    "cdn_bytes_origin_per_second",
)

METRIC_UNITS: dict[str, str] = {
    "requests_per_second": "req/s",
    "errors_per_second": "req/s",
    "latency_p50_ms": "ms",
    "latency_p95_ms": "ms",
    "latency_p99_ms": "ms",
    "latency_p90_ms": "ms",
    "cpu_utilization": "ratio (0..1)",
    "memory_utilization": "ratio (0..1)",
    "queue_depth": "messages",
    "instances": "instances",
    "cdn_requests_per_second": "req/s",
    "cdn_hit_ratio": "ratio (0..1)",
    "cdn_bytes_edge_per_second": "bytes/s",
    "cdn_bytes_origin_per_second": "bytes/s",
}

_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
# no setting needs more; longer ones only overflow datetime arithmetic later (now + 9000 years)
MAX_DURATION = timedelta(days=36_500)
REGIONS_PLACEHOLDER = "$regions"
# `$regions` must sit alone inside a quoted regex matcher, e.g. region=~"$regions", so that escaping the
# substituted alternation is complete (connectors/prometheus.py substitutes it).
PLACEHOLDER_IN_MATCHER = re.compile(r"""(=~|!~)(\s*)(["'])\$regions\3""")
# problems found by the cross-reference check start with their own key; this joins them in one error
_PROBLEM_SEPARATOR = "\n"


class ConfigError(Exception):
    """A configuration problem a human can fix; `problems` lists one sentence per bad key."""

    def __init__(self, path: Path | str, problems: list[str]):
        self.path = str(path)
        self.problems = problems
        super().__init__(f"{self.path}: " + "; ".join(problems))


def parse_duration(value: Any) -> timedelta:
    """'28d', '5m', '300s', '1.5h' or a number of seconds -> timedelta."""
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, bool):
        raise ValueError(f"expected a duration like '5m' or '28d', got {value!r}")
    elif isinstance(value, int | float):
        try:
            seconds = float(value)
        except OverflowError:  # an int too large for a float
            seconds = math.inf
    elif isinstance(value, str) and (m := _DURATION_RE.match(value)):
        seconds = float(m.group(1)) * _DURATION_UNITS[m.group(2)]
    else:
        raise ValueError(f"expected a duration like '5m', '6h' or '28d', got {_short_repr(value)}")
    if not math.isfinite(seconds) or seconds > MAX_DURATION.total_seconds():
        raise ValueError(f"expected a duration of at most {MAX_DURATION.days}d, got {_short_repr(value)}")
    if seconds < 0:
        raise ValueError(f"expected a duration of zero or more, got {_short_repr(value)}")
    return timedelta(seconds=seconds)


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError(f"must be longer than zero, got {value}")
    return value


def _iso_time(value: str) -> str:
    """An ISO 8601 time (date, or date and time; 'Z' allowed), kept as written."""
    try:
        datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"expected an ISO 8601 time like '2026-11-23T12:00:00Z', got {_short_repr(value)}"
        ) from None
    return value


def _time_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ValueError, KeyError, OSError):  # ZoneInfoNotFoundError is a KeyError
        raise ValueError(f"unknown IANA time zone {_short_repr(value)} (e.g. 'Europe/Dublin')") from None
    return value


def _email(value: str) -> str:
    """One plain ASCII address: roles are matched on it (core/auth.py), so no Unicode look-alikes."""
    local, at, domain = value.partition("@")
    if (
        not value.isascii()
        or not value.isprintable()
        or any(c.isspace() for c in value)
        or not at
        or not local
        or not domain
        or "@" in domain
    ):
        raise ValueError(
            f"expected one plain ASCII e-mail address like 'alice@example.com', got {_short_repr(value)}"
        )
    return value


def _short_repr(value: Any) -> str:
    """repr() of a value cut to a readable length (a config value can be megabytes or nested deeply)."""
    return _REPR.repr(value)


_REPR = reprlib.Repr()
_REPR.maxstring, _REPR.maxother, _REPR.maxlist, _REPR.maxdict, _REPR.maxlevel = 80, 80, 6, 6, 3


def template_problem(template: str) -> str | None:
    """Why a PromQL template's `$regions` is unsafe to substitute, or None when it is fine."""
    if template.count(REGIONS_PLACEHOLDER) != len(PLACEHOLDER_IN_MATCHER.findall(template)):
        return (
            '`$regions` must appear only as a whole quoted regex matcher, e.g. region=~"$regions"; '
            f"got {_short_repr(template)}"
        )
    return None


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
PositiveDuration = Annotated[timedelta, BeforeValidator(parse_duration), AfterValidator(_positive)]
IsoTime = Annotated[str, AfterValidator(_iso_time)]
Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
MetricName = Literal[CANONICAL_METRICS]  # type: ignore[valid-type]

# allow_inf_nan=False: an `inf` or `nan` weight, budget or capacity is refused rather than propagated
_STRICT = ConfigDict(extra="forbid", str_strip_whitespace=True, allow_inf_nan=False)
_REGION_CODE_RE = r"^[a-z]{2}(-[a-z]+)+-\d+$"


@dataclass(config=_STRICT, frozen=True)
class Region:
    code: Annotated[str, Field(pattern=_REGION_CODE_RE)]
    name: str
    lat: Annotated[float, Field(ge=-90, le=90)]
    lon: Annotated[float, Field(ge=-180, le=180)]
    timezone: Annotated[str, AfterValidator(_time_zone)]
    # share of global traffic this region receives under normal routing (failover redistributes it)
    routing_weight: Annotated[float, Field(ge=0)] = 1.0
    # the standby region that takes ALL of this region's traffic when it fails (active/passive); empty:
    # a `route53_failover` target's secondary, else the survivors by routing weight
    failover_to: str = ""


@dataclass(config=_STRICT, frozen=True)
class SLOConfig:
    """An SLO, OpenSLO-like. Ratio SLIs name event-rate metrics; latency SLIs name a percentile metric
    in `total` with a `threshold` (ms) and timeslice budgeting (a minute is good when metric <= threshold)."""

    name: str
    objective: Annotated[float, Field(gt=0.0, lt=1.0)]
    window: PositiveDuration
    total: MetricName
    good: MetricName | None = None
    bad: MetricName | None = None
    budgeting: Literal["occurrences", "timeslices"] = "occurrences"
    threshold: Annotated[float, Field(gt=0)] | None = None
    service: str = "api"
    regions: tuple[str, ...] = ()  # empty: every configured region
    description: str = ""
    # low-traffic guard: a burn-rate rule fires only when both its windows saw at least this many
    # requests (0: no guard), in Headroom's alert states and in the generated Prometheus rules alike
    min_events: Annotated[float, Field(ge=0)] = 0.0

    @model_validator(mode="after")
    def _sli_is_complete(self) -> SLOConfig:
        if self.threshold is None and self.good is None and self.bad is None:
            raise ValueError("needs `good` or `bad` (a ratio SLI) or `threshold` (a latency SLI)")
        if self.good is not None and self.bad is not None:
            raise ValueError("give `good` or `bad`, not both")
        if self.threshold is not None and self.budgeting != "timeslices":
            raise ValueError("a latency `threshold` SLI needs budgeting = 'timeslices'")
        if self.window < timedelta(hours=1):
            raise ValueError(f"window must be at least 1h, got {self.window}")
        return self


@dataclass(config=_STRICT, frozen=True)
class BurnRateRule:
    """One multiwindow burn-rate rule (Google SRE Workbook): fire when both windows exceed `burn_rate`."""

    severity: Literal["page", "ticket"]
    long_window: PositiveDuration
    short_window: PositiveDuration
    burn_rate: Annotated[float, Field(gt=0)]

    @model_validator(mode="after")
    def _short_within_long(self) -> BurnRateRule:
        if self.short_window >= self.long_window:
            raise ValueError(
                f"short_window ({self.short_window}) must be shorter than long_window ({self.long_window})"
            )
        return self


DEFAULT_BURN_RATE_RULES: tuple[BurnRateRule, ...] = (
    BurnRateRule("page", timedelta(hours=1), timedelta(minutes=5), 14.4),
    BurnRateRule("page", timedelta(hours=6), timedelta(minutes=30), 6.0),
    BurnRateRule("ticket", timedelta(hours=24), timedelta(hours=2), 3.0),
    BurnRateRule("ticket", timedelta(days=3), timedelta(hours=6), 1.0),
)


@dataclass(config=_STRICT, frozen=True)
class Budget:
    """A monthly spend budget; empty service/region means 'all'."""

    name: str
    monthly_usd: Annotated[float, Field(gt=0)]
    service: str = ""
    region: str = ""


@dataclass(config=_STRICT, frozen=True)
class FleetConfig:
    """A scalable fleet of one service in one region (the unit the planner simulates)."""

    name: str
    service: str
    region: str
    capacity_per_instance: Annotated[float, Field(gt=0)]  # req/s one instance serves at 100% CPU
    min_instances: Annotated[int, Field(ge=0)]
    max_instances: Annotated[int, Field(ge=1)]
    warmup_s: Annotated[float, Field(ge=0)] = 0.0
    price_per_hour: Annotated[float, Field(ge=0)] = 0.0
    target_utilization: Annotated[float, Field(gt=0, le=1)] = 0.6
    policy: Literal["target_tracking", "step_scaling", "kubernetes_hpa", "scheduled", "predictive"] = (
        "target_tracking"
    )
    instance_type: str = ""
    # the utilisation the fleet should stay under: above it Overview and Triage warn (mean over the
    # range); the weekly review's waste compares the week's p95 against it
    cpu_target: Annotated[float, Field(gt=0, le=1)] = 0.85
    memory_target: Annotated[float, Field(gt=0, le=1)] = 0.85

    @model_validator(mode="after")
    def _bounds(self) -> FleetConfig:
        if self.min_instances > self.max_instances:
            raise ValueError(f"min_instances ({self.min_instances}) > max_instances ({self.max_instances})")
        return self


@dataclass(config=_STRICT, frozen=True)
class FreezeWindow:
    """No changes between start and end (UTC, ISO 8601), e.g. a release freeze."""

    # not parsed here: the action service refuses any change while a window cannot be read
    # (tests/core/test_actions.py), which is the safe reading of a typo in a freeze
    start: str
    end: str
    reason: str = ""


@dataclass(config=_STRICT, frozen=True)
class ActionTarget:
    """Something Headroom may change, with its guardrails. `params` carry the system's identifiers
    (ECS cluster/service, ASG name, Application Auto Scaling resource id, Route 53 zone/record...)."""

    name: str
    kind: Literal[
        "ecs_service", "autoscaling_group", "app_autoscaling", "route53_failover", "route53_weighted"
    ]
    region: str
    fleet: str = ""
    min_instances: Annotated[int, Field(ge=0)] = 0
    max_instances: Annotated[int, Field(ge=0)] = 1000
    max_step: Annotated[int, Field(ge=1)] = 20  # largest change in instances in one action
    max_step_factor: Annotated[float, Field(ge=1)] = 2.0  # largest multiplicative change in one action
    approval_step: Annotated[int, Field(ge=0)] = 5  # changes larger than this need a second person
    cooldown: Duration = timedelta(minutes=5)
    freeze: tuple[FreezeWindow, ...] = ()
    params: dict[str, str] = field(default_factory=dict)

    @model_validator(mode="after")
    def _bounds(self) -> ActionTarget:
        if self.min_instances > self.max_instances:
            raise ValueError(f"min_instances ({self.min_instances}) > max_instances ({self.max_instances})")
        return self


@dataclass(config=_STRICT, frozen=True)
class User:
    email: Annotated[str, AfterValidator(_email)]
    role: Literal["viewer", "operator", "approver", "admin"]
    name: str = ""


@dataclass(config=_STRICT, frozen=True)
class AuthConfig:
    # demo: pick a user from [[user]] (embedded default only); oidc: st.login via [auth] in secrets.toml;
    # proxy: trust `proxy_header` set by an authenticating reverse proxy (e.g. oauth2-proxy)
    mode: Literal["demo", "oidc", "proxy"] = "demo"
    proxy_header: str = "X-Forwarded-Email"
    approval_expiry: PositiveDuration = timedelta(minutes=30)
    # a break-glass failover (an approver alone during a sev1) must be countersigned within this
    countersign_within: PositiveDuration = timedelta(hours=24)


@dataclass(config=_STRICT, frozen=True)
class Sources:
    metrics: Literal["demo", "prometheus"] = "demo"
    cdn: Literal["demo", "cloudwatch", "prometheus"] = "demo"
    billing: Literal["demo", "cost_explorer"] = "demo"
    executor: Literal["sandbox", "aws"] = "sandbox"


@dataclass(config=_STRICT, frozen=True)
class StoreConfig:
    # relative paths are relative to the repository root; git-ignored
    path: str = "headroom.db"
    # a shared PostgreSQL store for the guarded path (actions, audit) across replicas (issue 14), e.g.
    # "postgresql://headroom@db.internal:5432/headroom"; "" = the SQLite file above. The password goes
    # in secrets.toml [connections.store] or HEADROOM_STORE_URL, never here.
    url: str = ""

    @model_validator(mode="after")
    def _url(self) -> StoreConfig:
        if not self.url:
            return self
        if not self.url.startswith(("postgresql://", "postgresql+psycopg://", "postgres://")):
            raise ValueError(f"store.url: must be a postgresql:// URL, got {self.url!r}")
        if re.search(r"://[^/@]*:[^/@]*@", self.url):
            raise ValueError(
                "store.url: holds a password; put it in .streamlit/secrets.toml [connections.store] "
                "password (or the whole URL in HEADROOM_STORE_URL), never in the config file"
            )
        return self


@dataclass(config=_STRICT, frozen=True)
class AuditConfig:
    # where the audit chain's head is exported after every entry: a file to ship off the machine (issue
    # 19 item 2). "" = beside the SQLite store (headroom.db -> headroom.audit-anchor.json). Relative paths
    # are relative to the repository root. The HMAC key is a secret: secrets.toml or the environment.
    anchor_path: str = ""


@dataclass(config=_STRICT, frozen=True)
class DemoConfig:
    seed: Annotated[int, Field(ge=0, le=2**32 - 1)] = 42  # numpy seeds are non-negative
    days: Annotated[int, Field(ge=1, le=400)] = 35
    # regenerate the demo world when its newest minute is older than this
    refresh_after: PositiveDuration = timedelta(hours=6)


@dataclass(config=_STRICT, frozen=True)
class PrometheusConfig:
    url: str = "http://127.0.0.1:9090"
    scrape_interval: PositiveDuration = timedelta(seconds=15)
    timeout: PositiveDuration = timedelta(seconds=10)
    verify_tls: bool = True
    cache_ttl: Duration = timedelta(seconds=60)
    # canonical metric -> PromQL template; `$regions` is replaced by an escaped regex of region codes
    queries: dict[str, str] = field(default_factory=dict)


@dataclass(config=_STRICT, frozen=True)
class Distribution:
    id: str
    region: str  # the region (or POP group) this CloudFront distribution's traffic is reported under


RetryMode = Literal["standard", "adaptive"]  # botocore retry modes (both retry throttling with backoff)


@dataclass(config=_STRICT, frozen=True)
class CloudWatchConfig:
    region_name: str = "us-east-1"  # CloudFront metrics live in us-east-1
    endpoint_url: str | None = None
    distributions: tuple[Distribution, ...] = ()
    retry_mode: RetryMode = "standard"
    max_attempts: Annotated[int, Field(ge=1, le=20)] = 5
    timeout: PositiveDuration = timedelta(seconds=20)
    cache_ttl: Duration = timedelta(seconds=60)  # GetMetricData is billed per metric requested


@dataclass(config=_STRICT, frozen=True)
class CostExplorerConfig:
    region_name: str = "us-east-1"
    endpoint_url: str | None = None
    retry_mode: RetryMode = "standard"
    max_attempts: Annotated[int, Field(ge=1, le=20)] = 5
    timeout: PositiveDuration = timedelta(seconds=30)
    # each GetCostAndUsage request is billed: closed days are kept for good in the store; days whose
    # figures may still change (today, or flagged Estimated) are fetched again after this long
    refresh_open_days_after: PositiveDuration = timedelta(hours=6)


@dataclass(config=_STRICT, frozen=True)
class AwsExecutorConfig:
    region_name: str = "us-east-1"
    # per-service endpoint overrides (tests point these at moto_server): ecs, autoscaling,
    # application-autoscaling, route53
    endpoint_urls: dict[str, str] = field(default_factory=dict)


@dataclass(config=_STRICT, frozen=True)
class CdnConfig:
    hit_ratio_target: Fraction = 0.85


@dataclass(config=_STRICT, frozen=True)
class EventsConfig:
    """Where incidents and changes come from besides the store (the demo world's events and what people
    record on Triage). `prometheus = true` also reads annotations from a Prometheus series (the
    [prometheus] url and credentials): every run of samples of `query` is one event, labelled by
    `region_label`, `kind_label` and `title_label` (for ALERTS: query = 'ALERTS{alertstate="firing"}',
    kind_label = "severity", title_label = "alertname")."""

    prometheus: bool = False
    query: str = "headroom_annotation"
    region_label: str = "region"
    kind_label: str = "kind"
    title_label: str = "title"
    step: Duration = timedelta(minutes=1)

    @model_validator(mode="after")
    def _query_given(self) -> EventsConfig:
        if self.prometheus and not self.query:
            raise ValueError("query: a PromQL expression is needed when prometheus = true")
        if self.step < timedelta(seconds=1):
            raise ValueError(f"step must be at least 1s, got {self.step}")
        return self


@dataclass(config=_STRICT, frozen=True)
class Runbook:
    title: str
    url: str
    slo: str = ""  # empty: applies to every SLO
    region: str = ""

    @model_validator(mode="after")
    def _url_is_http(self) -> Runbook:
        # the page renders it as a link for every on-call: no data:, javascript: or file: URLs
        parts = urlsplit(self.url)
        if (
            parts.scheme not in ("http", "https")
            or not parts.netloc
            or any(c.isspace() or ord(c) < 32 or c in '<>"' for c in self.url)
        ):
            raise ValueError(
                f"runbook {self.title!r}: url must be an http(s) URL without spaces, got {self.url!r}"
            )
        return self


@dataclass(config=_STRICT, frozen=True)
class Deploy:
    """A deploy or change annotation drawn as a marker on charts."""

    at: IsoTime  # ISO 8601 UTC
    description: str
    region: str = ""


# ---- alerting (issue 12): threshold rules, severities, Alertmanager ---------------------------------
AlertSeverity = Literal["sev1", "sev2", "sev3", "sev4"]
ALERT_SEVERITIES: tuple[str, ...] = ("sev1", "sev2", "sev3", "sev4")
ALERT_OPERATORS: tuple[str, ...] = (">", ">=", "<", "<=")
# the units a threshold may be written in, per unit of the quantity compared, with the factor that
# converts the threshold into that quantity's unit (5 % -> 0.05; 2 s -> 2000 ms)
THRESHOLD_UNITS: dict[str, dict[str, float]] = {
    "ratio (0..1)": {"ratio": 1.0, "%": 0.01},
    "ms": {"ms": 1.0, "s": 1000.0},
    "req/s": {"req/s": 1.0},
    "bytes/s": {"bytes/s": 1.0},
    "messages": {"messages": 1.0},
    "instances": {"instances": 1.0},
}
_ALERT_NAME_RE = r"^[A-Za-z_][A-Za-z0-9_]*$"  # a Prometheus alert name


@dataclass(config=ConfigDict(extra="forbid", str_strip_whitespace=True, populate_by_name=True), frozen=True)
class AlertRuleConfig:
    """A plain threshold alert (`[[alert_rule]]`): `metric` (or `metric` / `per`, a ratio) compared with
    `threshold` (written in `unit`) at every evaluation for `for`, per region. Headroom evaluates it and
    exports it as a Prometheus alerting rule."""

    name: Annotated[str, Field(pattern=_ALERT_NAME_RE)]
    metric: MetricName
    operator: Literal[">", ">=", "<", "<="]
    threshold: float
    unit: str
    severity: AlertSeverity
    per: MetricName | None = None  # the denominator of a ratio (errors_per_second per requests_per_second)
    for_: Annotated[Duration, Field(alias="for")] = timedelta(0)
    runbook: str = ""  # URL
    regions: tuple[str, ...] = ()  # empty: every configured region
    description: str = ""

    @property
    def quantity_unit(self) -> str:
        """The unit of the compared quantity: a ratio for metric / per, else the metric's unit."""
        return "ratio (0..1)" if self.per is not None else METRIC_UNITS[self.metric]

    @property
    def threshold_value(self) -> float:
        """The threshold in the quantity's own unit (what the metric values are compared with)."""
        return self.threshold * THRESHOLD_UNITS[self.quantity_unit][self.unit]

    @model_validator(mode="after")
    def _unit_fits(self) -> AlertRuleConfig:
        allowed = THRESHOLD_UNITS.get(self.quantity_unit, {})
        if self.unit not in allowed:
            what = f"{self.metric} / {self.per}" if self.per else self.metric
            raise ValueError(
                f"unit: {self.unit!r} does not fit {what} (a {self.quantity_unit}); use one of: "
                + ", ".join(repr(u) for u in allowed)
            )
        if self.for_ < timedelta(0):
            raise ValueError(f"`for` must not be negative, got {self.for_}")
        return self


@dataclass(config=_STRICT, frozen=True)
class AlertingConfig:
    """One severity vocabulary everywhere: burn-rate page / ticket alerts are shown and exported as these
    sev levels. `headroom_url` is where alert annotations link to (the Triage page)."""

    page_severity: AlertSeverity = "sev2"
    ticket_severity: AlertSeverity = "sev3"
    headroom_url: str = "http://localhost:8501"
    # the rule groups' evaluation interval; Headroom judges every 1-minute step, so 1m keeps the two equal
    evaluation_interval: Duration = timedelta(minutes=1)
    # Headroom-only signals pushed by `python -m headroom notify`
    capacity_warning_horizon: Duration = timedelta(days=30)
    notify_severity: AlertSeverity = "sev3"

    def severity_of(self, level: str) -> str:
        """'page' / 'ticket' -> the configured sev level; other levels unchanged."""
        return {"page": self.page_severity, "ticket": self.ticket_severity}.get(level, level)


@dataclass(config=_STRICT, frozen=True)
class AlertmanagerConfig:
    """Alertmanager's v2 API (empty url: not used). Credentials: `[connections.alertmanager]` in
    secrets.toml or HEADROOM_ALERTMANAGER_* variables, as for Prometheus."""

    url: str = ""
    timeout: Duration = timedelta(seconds=10)
    verify_tls: bool = True
    # how long a pushed alert stays firing without a repeat push (cron should push more often)
    resolve_after: Duration = timedelta(minutes=30)


@dataclass(config=_STRICT, frozen=True)
class HeadroomConfig:
    region: tuple[Region, ...]
    sources: Sources = field(default_factory=Sources)
    store: StoreConfig = field(default_factory=StoreConfig)
    audit: AuditConfig = field(default_factory=AuditConfig)
    demo: DemoConfig = field(default_factory=DemoConfig)
    slo: tuple[SLOConfig, ...] = ()
    burn_rate_rule: tuple[BurnRateRule, ...] = DEFAULT_BURN_RATE_RULES
    budget: tuple[Budget, ...] = ()
    fleet: tuple[FleetConfig, ...] = ()
    target: tuple[ActionTarget, ...] = ()
    user: tuple[User, ...] = ()
    auth: AuthConfig = field(default_factory=AuthConfig)
    prometheus: PrometheusConfig = field(default_factory=PrometheusConfig)
    cloudwatch: CloudWatchConfig = field(default_factory=CloudWatchConfig)
    cost_explorer: CostExplorerConfig = field(default_factory=CostExplorerConfig)
    aws: AwsExecutorConfig = field(default_factory=AwsExecutorConfig)
    cdn: CdnConfig = field(default_factory=CdnConfig)
    events: EventsConfig = field(default_factory=EventsConfig)
    runbook: tuple[Runbook, ...] = ()
    deploy: tuple[Deploy, ...] = ()
    alert_rule: tuple[AlertRuleConfig, ...] = ()
    alerting: AlertingConfig = field(default_factory=AlertingConfig)
    alertmanager: AlertmanagerConfig = field(default_factory=AlertmanagerConfig)

    @model_validator(mode="after")
    def _cross_references(self) -> HeadroomConfig:
        codes = [r.code for r in self.region]
        if not codes:
            raise ValueError("at least one [[region]] is required")
        if len(set(codes)) != len(codes):
            raise ValueError(f"region codes must be unique, got {codes}")
        problems: list[str] = []
        for i, s in enumerate(self.slo):
            for r in s.regions:
                if r not in codes:
                    problems.append(f"slo[{i}].regions: unknown region {r!r} (known: {', '.join(codes)})")
        for i, f in enumerate(self.fleet):
            if f.region not in codes:
                problems.append(f"fleet[{i}].region: unknown region {f.region!r} (known: {', '.join(codes)})")
        fleet_names = {f.name for f in self.fleet}
        for i, t in enumerate(self.target):
            if t.region not in codes:
                problems.append(f"target[{i}].region: unknown region {t.region!r}")
            if t.fleet and t.fleet not in fleet_names:
                problems.append(f"target[{i}].fleet: unknown fleet {t.fleet!r}")
        for i, a in enumerate(self.alert_rule):
            for r in a.regions:
                if r not in codes:
                    problems.append(
                        f"alert_rule[{i}].regions: unknown region {r!r} (known: {', '.join(codes)})"
                    )
        rule_names = [a.name for a in self.alert_rule]
        for i, a in enumerate(self.alert_rule):
            if rule_names.index(a.name) != i:
                problems.append(f"alert_rule[{i}].name: {a.name!r} is used twice")
        problems += self._failover_problems(codes)
        for i, q in enumerate(self.prometheus.queries):
            if q not in CANONICAL_METRICS:
                problems.append(f"prometheus.queries: unknown metric {q!r} (entry {i})")
            elif (why := template_problem(self.prometheus.queries[q])) is not None:
                problems.append(f"prometheus.queries.{q}: {why}")
        # duplicates: lookups take the first match, so a second entry would be silently ignored
        for section, names in (
            ("target", [t.name for t in self.target]),
            ("fleet", [f.name for f in self.fleet]),
            ("slo", [s.name for s in self.slo]),
            ("user", [u.email.lower() for u in self.user]),  # addresses are ASCII (validated above)
        ):
            seen: dict[str, int] = {}
            for i, name in enumerate(names):
                if name in seen:
                    what = "email" if section == "user" else "name"
                    problems.append(
                        f"{section}[{i}].{what}: {name!r} is already used by {section}[{seen[name]}]"
                    )
                seen.setdefault(name, i)
        problems.extend(_store_path_problems(self.store_path()))
        if problems:
            raise ValueError(_PROBLEM_SEPARATOR.join(problems))
        return self

    def _failover_problems(self, codes: list[str]) -> list[str]:
        """A failover pair must name configured regions, never the region itself, and the two places a
        pair can be configured must not disagree (the planner would not know which one routing follows)."""
        problems: list[str] = []
        known = ", ".join(codes)
        for i, r in enumerate(self.region):
            if r.failover_to and r.failover_to not in codes:
                problems.append(f"region[{i}].failover_to: unknown region {r.failover_to!r} (known: {known})")
            elif r.failover_to == r.code:
                problems.append(f"region[{i}].failover_to: {r.code} cannot fail over to itself")
        for i, t in enumerate(self.target):
            if t.kind != "route53_failover":
                continue
            for key in ("primary", "secondary"):
                value = t.params.get(key)
                if value is not None and value not in codes:
                    problems.append(f"target[{i}].params.{key}: unknown region {value!r} (known: {known})")
            primary, secondary = t.params.get("primary"), t.params.get("secondary")
            if primary and primary == secondary:
                problems.append(f"target[{i}].params: primary and secondary are both {primary!r}")
            elif primary in codes and secondary in codes:
                explicit = self.region[codes.index(primary)].failover_to
                if explicit and explicit != secondary:
                    problems.append(
                        f"target[{i}].params.secondary: {secondary!r} disagrees with "
                        f"region[{codes.index(primary)}].failover_to = {explicit!r}"
                    )
        return problems

    # -- lookups used across pages ------------------------------------------------------------
    @property
    def region_codes(self) -> tuple[str, ...]:
        return tuple(r.code for r in self.region)

    def region_by_code(self, code: str) -> Region:
        for r in self.region:
            if r.code == code:
                return r
        raise KeyError(code)

    def fleet_for(self, region: str, service: str = "api") -> FleetConfig | None:
        return next((f for f in self.fleet if f.region == region and f.service == service), None)

    def failover_pair(self, region: str) -> tuple[str, str] | None:
        """(standby, where it is configured) when `region` fails over to one standby, else None: the
        region's own `failover_to` first, then a `route53_failover` target whose primary it is."""
        r = self.region_by_code(region)
        if r.failover_to:
            return r.failover_to, f"failover_to of region {region}"
        for t in self.target:
            if (
                t.kind == "route53_failover"
                and t.params.get("primary") == region
                and t.params.get("secondary")
            ):
                return t.params["secondary"], f"route53_failover target {t.name}"
        return None

    def store_path(self) -> Path:
        p = Path(os.path.expanduser(self.store.path))
        return p if p.is_absolute() else REPO_ROOT / p

    def audit_anchor_path(self, store_file: str | Path | None = None) -> Path | None:
        """`[audit] anchor_path`, or beside the SQLite store file when unset (None for a URL store)."""
        if self.audit.anchor_path:
            p = Path(os.path.expanduser(self.audit.anchor_path))
            return p if p.is_absolute() else REPO_ROOT / p
        store = Path(store_file) if store_file is not None else self.store_path()
        if "://" in str(store_file or ""):
            return None
        return store.with_name(store.stem + ".audit-anchor.json")


def _store_path_problems(path: Path) -> list[str]:
    """The SQLite store must be a file whose existing ancestors are directories."""
    try:
        if path.is_dir():
            return [f"store.path: {str(path)!r} is a directory; give the path of a database file"]
        for parent in path.parents:
            if parent.exists():
                if not parent.is_dir():
                    return [
                        f"store.path: {str(parent)!r} is not a directory, so {str(path)!r} cannot be created"
                    ]
                break
    except (OSError, ValueError) as exc:  # e.g. an embedded NUL byte, a name too long
        return [f"store.path: unusable path {_short_repr(str(path))}: {exc}"]
    return []


_ADAPTER = TypeAdapter(HeadroomConfig)
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _loc_to_key(loc: tuple[Any, ...]) -> str:
    """('slo', 2, 'objective') -> 'slo[2].objective'; pydantic's own wrapper segments are dropped."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(part, str) and not part.startswith(("function-", "literal[", "tagged-union")):
            # a key that is not a bare TOML key is quoted the TOML way, so `sources." "` stays readable
            name = part if _BARE_KEY.fullmatch(part) else json.dumps(part)
            out += ("." if out else "") + name
    return out or "(top level)"


def _describe(err: Mapping[str, Any]) -> str:
    key = _loc_to_key(tuple(err.get("loc", ())))
    kind = err.get("type", "")
    msg = str(err.get("msg", "")).removeprefix("Value error, ")
    if kind in ("extra_forbidden", "unexpected_keyword_argument"):
        return f"{key}: unknown key (check the spelling; see .streamlit/headroom.toml for the keys)"
    if kind == "missing":
        return f"{key}: required key is missing"
    if "input" in err and kind not in ("value_error", "assertion_error"):
        return f"{key}: {msg[0].lower() + msg[1:] if msg else 'invalid'}, got {_short_repr(err['input'])}"
    return f"{key}: {msg}"


def _problems(err: Mapping[str, Any]) -> list[str]:
    """One error -> its sentences; the top-level cross-reference check names its own keys."""
    if not tuple(err.get("loc", ())) and err.get("type") == "value_error":
        return str(err.get("msg", "")).removeprefix("Value error, ").split(_PROBLEM_SEPARATOR)
    return [_describe(err)]


def config_from_dict(data: Mapping[str, Any], source: str = "<dict>") -> HeadroomConfig:
    try:
        return _ADAPTER.validate_python(dict(data))
    except ValidationError as exc:
        try:
            errors = exc.errors(include_url=False)
        except (RecursionError, ValueError):  # a value pydantic cannot even describe
            raise ConfigError(
                source, ["(top level): the file holds values too large or deep to check"]
            ) from None
        raise ConfigError(source, [p for e in errors for p in _problems(e)]) from None
    except RecursionError:
        raise ConfigError(source, ["(top level): values are nested too deeply"]) from None


def config_path() -> Path:
    return Path(os.environ.get(CONFIG_ENV_VAR) or DEFAULT_CONFIG_PATH)


def load_config(path: Path | str | None = None) -> HeadroomConfig:
    """Read and validate the config file; raises ConfigError naming the file and each bad key."""
    p = Path(path) if path is not None else config_path()
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise ConfigError(p, [f"file not found (set {CONFIG_ENV_VAR} or create it)"]) from None
    except OSError as exc:  # a directory, no permission...
        raise ConfigError(p, [f"cannot read the file: {exc.strerror or exc}"]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ConfigError(
            p,
            [
                f"not UTF-8: byte 0x{raw[exc.start]:02x} at line {line}, column {column} (save the file as UTF-8)"
            ],
        ) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(p, [f"not valid TOML: {exc}"]) from None
    except RecursionError:
        raise ConfigError(p, ["not valid TOML: arrays or tables are nested too deeply"]) from None
    except ValueError as exc:  # e.g. an integer with more digits than Python converts
        raise ConfigError(p, [f"not valid TOML: {_short_repr(str(exc))}"]) from None
    return config_from_dict(data, str(p))
