"""SLO definitions and the value types the SLO functions return: the SLO itself, an SLI over a window,
an error budget, a multiwindow alert state and the per-scope report (core/slo/__init__.py has the
conventions every SLO function follows)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from core.config import DEFAULT_BURN_RATE_RULES, BurnRateRule, SLOConfig

Budgeting = Literal["occurrences", "timeslices"]
AlertLevel = Literal["page", "ticket", "ok", "no data"]

TRAFFIC_METRIC = "requests_per_second"  # weights regions for global latency SLIs
DEFAULT_STEP_S = 60
GLOBAL = "global"  # the scope name of "all of the SLO's regions, traffic-weighted"
# "Time to exhaustion at the current burn" uses the burn over this window: long enough not to flap on a
# single bad minute, short enough to be "now" (it is the fast page rule's long window).
CURRENT_BURN_WINDOW = timedelta(hours=1)
ALERT_ORDER: dict[str, int] = {"no data": -1, "ok": 0, "ticket": 1, "page": 2}


# ---- definitions --------------------------------------------------------------------------------
@dataclass(frozen=True)
class SLO:
    """An SLO over canonical metric names.

    Ratio SLI: `total` and one of `good` / `bad` name event-rate metrics (req/s).
    Latency SLI: `total` names a percentile gauge (e.g. latency_p95_ms) and `threshold` is in the same
    unit; with timeslice budgeting a step is good when value <= threshold.
    `regions` empty means every region present in the data.
    """

    name: str
    objective: float
    window: timedelta
    total: str
    good: str | None = None
    bad: str | None = None
    budgeting: Budgeting = "occurrences"
    threshold: float | None = None
    regions: tuple[str, ...] = ()
    service: str = ""
    description: str = ""
    min_events: float = 0.0  # low-traffic guard of the burn-rate rules (0: none); see alert_state

    def __post_init__(self) -> None:
        if not 0.0 < self.objective < 1.0:
            raise ValueError(f"SLO {self.name!r}: objective must be between 0 and 1, got {self.objective}")
        if self.window <= timedelta(0):
            raise ValueError(f"SLO {self.name!r}: window must be positive, got {self.window}")
        if self.budgeting not in ("occurrences", "timeslices"):
            raise ValueError(f"SLO {self.name!r}: budgeting must be occurrences or timeslices")
        if self.good is not None and self.bad is not None:
            raise ValueError(f"SLO {self.name!r}: give `good` or `bad`, not both")
        if self.threshold is None and self.good is None and self.bad is None:
            raise ValueError(f"SLO {self.name!r}: needs `good` or `bad` (ratio) or `threshold` (latency)")
        if self.threshold is not None and self.budgeting != "timeslices":
            raise ValueError(f"SLO {self.name!r}: a latency threshold needs budgeting = 'timeslices'")

    @classmethod
    def from_config(cls, config: SLOConfig) -> SLO:
        return cls(
            name=config.name,
            objective=config.objective,
            window=config.window,
            total=config.total,
            good=config.good,
            bad=config.bad,
            budgeting=config.budgeting,
            threshold=config.threshold,
            regions=tuple(config.regions),
            service=config.service,
            description=config.description,
            min_events=config.min_events,
        )

    @property
    def error_budget_ratio(self) -> float:
        """The share of events (or minutes) allowed to be bad: 1 - objective."""
        return 1.0 - self.objective

    @property
    def budget_minutes(self) -> float:
        """The budget as minutes of complete outage over the window, e.g. 40.32 min for 99.9% over 28d."""
        return self.error_budget_ratio * self.window.total_seconds() / 60.0

    @property
    def is_latency(self) -> bool:
        return self.threshold is not None

    @property
    def metrics(self) -> tuple[str, ...]:
        """The metrics to load for this SLO (latency SLIs also need traffic to weight regions)."""
        names = [self.total, self.good, self.bad]
        if self.budgeting == "timeslices":
            names.append(TRAFFIC_METRIC)
        return tuple(dict.fromkeys(n for n in names if n))


def slos_from_config(configs: Iterable[SLOConfig]) -> list[SLO]:
    return [SLO.from_config(c) for c in configs]


def metrics_for(slos: Iterable[SLO]) -> tuple[str, ...]:
    """Every metric these SLOs read, sorted (a stable cache key for loaders)."""
    return tuple(sorted({m for s in slos for m in s.metrics}))


def lookback(slos: Iterable[SLO], step: timedelta = timedelta(seconds=DEFAULT_STEP_S)) -> timedelta:
    """How much data ending at `at` the SLO windows need: the longest window plus one step (the
    sample at the window's start is outside the window but tells whether the data reaches it)."""
    return max((s.window for s in slos), default=timedelta(0)) + step


def rules_lookback(
    rules: Sequence[BurnRateRule] = DEFAULT_BURN_RATE_RULES,
    step: timedelta = timedelta(seconds=DEFAULT_STEP_S),
) -> timedelta:
    """How much data the alert rules need (the longest rule window plus one step)."""
    return max((w for r in rules for w in (r.long_window, r.short_window)), default=timedelta(0)) + step


# ---- results ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class WindowSLI:
    """The SLI over one window with what it was computed from."""

    start: datetime
    end: datetime
    sli: float | None  # None: no traffic / no data in the window
    bad: float  # bad events (occurrences) or bad minutes (timeslices), traffic-weighted when global
    total: float  # events or minutes with data
    coverage: float  # share of the window's steps with data (mean over regions)
    partial: bool  # the data does not span the whole window


@dataclass(frozen=True)
class ErrorBudget:
    """Error budget over the SLO window ending at `at`.

    `total` and `consumed` are in `unit`: bad events allowed / seen (occurrences) or bad minutes
    allowed / seen (timeslices). `minutes_*` express the budget as minutes of complete outage, the
    unit on-call people compare (for timeslices that is exactly the bad-minute count).
    """

    slo: str
    region: str
    at: datetime
    window_start: datetime
    unit: Literal["events", "minutes"]
    total: float
    consumed: float
    remaining_fraction: float | None  # None without traffic; negative when overspent
    minutes_total: float
    minutes_remaining: float | None
    events_remaining: float | None  # occurrences only
    sli: float | None
    coverage: float
    partial: bool  # the data does not cover the whole window: figures are for the covered part
    data_start: datetime | None

    @property
    def exhausted(self) -> bool:
        return self.remaining_fraction is not None and self.remaining_fraction <= 0.0


@dataclass(frozen=True)
class RuleEvaluation:
    rule: BurnRateRule
    long_burn: float | None
    short_burn: float | None
    firing: bool


@dataclass(frozen=True)
class AlertState:
    """Multiwindow burn-rate alert state: page / ticket, and the burn rate of every window used."""

    page: bool
    ticket: bool
    burn_rates: dict[timedelta, float | None]
    rules: tuple[RuleEvaluation, ...]
    partial_windows: tuple[timedelta, ...] = ()  # windows the data does not fully cover

    @property
    def level(self) -> AlertLevel:
        if self.page:
            return "page"
        if self.ticket:
            return "ticket"
        if all(b is None for b in self.burn_rates.values()):
            return "no data"
        return "ok"


@dataclass(frozen=True)
class SLOReport:
    """Everything the SLO and Triage pages show for one SLO in one scope (a region or global)."""

    slo: SLO
    region: str
    budget: ErrorBudget | None  # None when asked for alerts only (data shorter than the SLO window)
    alert: AlertState
    current_burn: float | None  # over CURRENT_BURN_WINDOW
    time_to_exhaustion: timedelta | None  # None: not burning (or no data)
