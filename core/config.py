"""Load and validate Headroom's one configuration file into frozen dataclasses.

The file is TOML (default `.streamlit/headroom.toml`, `HEADROOM_CONFIG` overrides). Validation is done by
pydantic dataclasses with `extra="forbid"`, so a misspelt key is named, and every error is reported as
`file: section[index].key: what was expected, got VALUE` (e.g. `slo[2].objective: ...`).
Secrets (AWS keys, Prometheus auth, OIDC) never live here: see `.streamlit/secrets.toml` / the environment.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import field
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, ConfigDict, Field, TypeAdapter, ValidationError, model_validator
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


class ConfigError(Exception):
    """A configuration problem a human can fix; `problems` lists one sentence per bad key."""

    def __init__(self, path: Path | str, problems: list[str]):
        self.path = str(path)
        self.problems = problems
        super().__init__(f"{self.path}: " + "; ".join(problems))


def parse_duration(value: Any) -> timedelta:
    """'28d', '5m', '300s', '1.5h' or a number of seconds -> timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError(f"expected a duration like '5m' or '28d', got {value!r}")
    if isinstance(value, int | float):
        return timedelta(seconds=float(value))
    if isinstance(value, str):
        m = _DURATION_RE.match(value)
        if m:
            return timedelta(seconds=float(m.group(1)) * _DURATION_UNITS[m.group(2)])
    raise ValueError(f"expected a duration like '5m', '6h' or '28d', got {value!r}")


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
MetricName = Literal[CANONICAL_METRICS]  # type: ignore[valid-type]

_STRICT = ConfigDict(extra="forbid", str_strip_whitespace=True)
_REGION_CODE_RE = r"^[a-z]{2}(-[a-z]+)+-\d+$"


@dataclass(config=_STRICT, frozen=True)
class Region:
    code: Annotated[str, Field(pattern=_REGION_CODE_RE)]
    name: str
    lat: Annotated[float, Field(ge=-90, le=90)]
    lon: Annotated[float, Field(ge=-180, le=180)]
    timezone: str
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
    window: Duration
    total: MetricName
    good: MetricName | None = None
    bad: MetricName | None = None
    budgeting: Literal["occurrences", "timeslices"] = "occurrences"
    threshold: Annotated[float, Field(gt=0)] | None = None
    service: str = "api"
    regions: tuple[str, ...] = ()  # empty: every configured region
    description: str = ""

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
    long_window: Duration
    short_window: Duration
    burn_rate: Annotated[float, Field(gt=0)]


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


@dataclass(config=_STRICT, frozen=True)
class User:
    email: str
    role: Literal["viewer", "operator", "approver", "admin"]
    name: str = ""


@dataclass(config=_STRICT, frozen=True)
class AuthConfig:
    # demo: pick a user from [[user]] (embedded default only); oidc: st.login via [auth] in secrets.toml;
    # proxy: trust `proxy_header` set by an authenticating reverse proxy (e.g. oauth2-proxy)
    mode: Literal["demo", "oidc", "proxy"] = "demo"
    proxy_header: str = "X-Forwarded-Email"
    approval_expiry: Duration = timedelta(minutes=30)
    # a break-glass failover (an approver alone during a sev1) must be countersigned within this
    countersign_within: Duration = timedelta(hours=24)


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


@dataclass(config=_STRICT, frozen=True)
class DemoConfig:
    seed: int = 42
    days: Annotated[int, Field(ge=1, le=400)] = 35
    # regenerate the demo world when its newest minute is older than this
    refresh_after: Duration = timedelta(hours=6)


@dataclass(config=_STRICT, frozen=True)
class PrometheusConfig:
    url: str = "http://127.0.0.1:9090"
    scrape_interval: Duration = timedelta(seconds=15)
    timeout: Duration = timedelta(seconds=10)
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
    timeout: Duration = timedelta(seconds=20)
    cache_ttl: Duration = timedelta(seconds=60)  # GetMetricData is billed per metric requested


@dataclass(config=_STRICT, frozen=True)
class CostExplorerConfig:
    region_name: str = "us-east-1"
    endpoint_url: str | None = None
    retry_mode: RetryMode = "standard"
    max_attempts: Annotated[int, Field(ge=1, le=20)] = 5
    timeout: Duration = timedelta(seconds=30)
    # each GetCostAndUsage request is billed: closed days are kept for good in the store; days whose
    # figures may still change (today, or flagged Estimated) are fetched again after this long
    refresh_open_days_after: Duration = timedelta(hours=6)


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


@dataclass(config=_STRICT, frozen=True)
class Deploy:
    """A deploy or change annotation drawn as a marker on charts."""

    at: str  # ISO 8601 UTC
    description: str
    region: str = ""


@dataclass(config=_STRICT, frozen=True)
class HeadroomConfig:
    region: tuple[Region, ...]
    sources: Sources = field(default_factory=Sources)
    store: StoreConfig = field(default_factory=StoreConfig)
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
        problems += self._failover_problems(codes)
        for i, q in enumerate(self.prometheus.queries):
            if q not in CANONICAL_METRICS:
                problems.append(f"prometheus.queries: unknown metric {q!r} (entry {i})")
        if problems:
            raise ValueError("; ".join(problems))
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


_ADAPTER = TypeAdapter(HeadroomConfig)


def _loc_to_key(loc: tuple[Any, ...]) -> str:
    """('slo', 2, 'objective') -> 'slo[2].objective'; pydantic's own wrapper segments are dropped."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(part, str) and not part.startswith(("function-", "literal[", "tagged-union")):
            out += ("." if out else "") + part
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
        return f"{key}: {msg[0].lower() + msg[1:] if msg else 'invalid'}, got {err['input']!r}"
    return f"{key}: {msg}"


def config_from_dict(data: Mapping[str, Any], source: str = "<dict>") -> HeadroomConfig:
    try:
        return _ADAPTER.validate_python(dict(data))
    except ValidationError as exc:
        raise ConfigError(source, [_describe(e) for e in exc.errors()]) from None


def config_path() -> Path:
    return Path(os.environ.get(CONFIG_ENV_VAR) or DEFAULT_CONFIG_PATH)


def load_config(path: Path | str | None = None) -> HeadroomConfig:
    """Read and validate the config file; raises ConfigError naming the file and each bad key."""
    p = Path(path) if path is not None else config_path()
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(p, [f"file not found (set {CONFIG_ENV_VAR} or create it)"]) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(p, [f"not valid TOML: {exc}"]) from None
    return config_from_dict(data, str(p))
