"""The alert vocabulary shared by the rule generator, Headroom's own evaluation and Alertmanager.

An alert is identified the Prometheus way, by its label set (alertname, slo, region, severity, ...), so
Headroom's firing set and Alertmanager's active alerts compare as sets of label sets.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

from core.ports import SourceHealth

SLO_BURN_ALERT = "SLOErrorBudgetBurn"  # the alertname of every multiwindow burn-rate alert
HEADROOM_SIGNAL_ALERT = "HeadroomSignal"  # the alertname of signals only Headroom computes (notify)
SEVERITY_ORDER: dict[str, int] = {"sev1": 1, "sev2": 2, "sev3": 3, "sev4": 4}
SEVERITY_BADGES: dict[str, str] = {"sev1": "🟥 sev1", "sev2": "🔴 sev2", "sev3": "🟡 sev3", "sev4": "🔵 sev4"}


@dataclass(frozen=True)
class Alert:
    """One firing (or pending) alert: its identifying labels, its annotations and where it was seen."""

    labels: Mapping[str, str]
    annotations: Mapping[str, str] = field(default_factory=dict)
    state: str = "firing"  # firing | pending (Headroom) ; active | suppressed | unprocessed (Alertmanager)
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    fingerprint: str = ""
    silenced_by: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "")

    @property
    def severity(self) -> str:
        return self.labels.get("severity", "")

    @property
    def key(self) -> tuple[tuple[str, str], ...]:
        """The label set as a hashable, sorted tuple (Alertmanager's identity of an alert)."""
        return tuple(sorted(self.labels.items()))


@dataclass(frozen=True)
class Silence:
    """An Alertmanager silence (v2 API), reduced to what a page shows."""

    id: str
    matchers: tuple[str, ...]  # e.g. ('slo="api-availability"', 'region=~"eu-.*"')
    created_by: str
    comment: str
    starts_at: datetime | None
    ends_at: datetime | None
    state: str  # active | pending | expired


@runtime_checkable
class AlertSource(Protocol):
    """What Headroom needs from an alert router (connectors/alertmanager.py implements it)."""

    name: str

    def alerts(self, include_silenced: bool = True, include_inhibited: bool = True) -> list[Alert]: ...

    def silences(self, include_expired: bool = False) -> list[Silence]: ...

    def push(self, alerts: Sequence[Alert], now: datetime | None = None) -> int: ...

    def health(self) -> SourceHealth: ...
