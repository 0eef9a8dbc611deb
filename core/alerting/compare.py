"""What Headroom computes next to what Alertmanager is firing, and where they disagree (Triage).

Alerts are matched on the labels that identify them in the generated rules (alertname, slo, region,
severity, notify, windows; signal and subject for Headroom's pushed signals). Alertmanager adds labels of
its own (external labels, job...) which are ignored for matching.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from core.alerting.types import SEVERITY_ORDER, Alert

IDENTITY_LABELS: tuple[str, ...] = (
    "alertname",
    "slo",
    "region",
    "severity",
    "notify",
    "long_window",
    "short_window",
    "signal",
    "subject",
)


@dataclass(frozen=True)
class AlertComparison:
    """One alert as Headroom and Alertmanager see it."""

    labels: dict[str, str]  # the identifying labels
    headroom: str  # firing | not firing
    alertmanager: str  # active | suppressed | unprocessed | not firing | unknown (not asked)
    agree: bool
    note: str
    annotations: dict[str, str]


def identity(alert: Alert) -> tuple[tuple[str, str], ...]:
    return tuple((k, alert.labels[k]) for k in IDENTITY_LABELS if k in alert.labels)


def compare_alerts(
    headroom: Sequence[Alert], alertmanager: Sequence[Alert] | None, names: Collection[str]
) -> list[AlertComparison]:
    """Pair Headroom's firing alerts with Alertmanager's alerts of the same names (`names`: the
    alertnames Headroom's rules define). `alertmanager` None: not configured or unreachable, so nothing
    can be said to disagree. Sorted: disagreements first, then by severity."""
    mine = {identity(a): a for a in headroom}
    theirs = {identity(a): a for a in (alertmanager or ()) if a.name in names}
    rows: list[AlertComparison] = []
    for key in dict.fromkeys([*mine, *theirs]):
        h, m = mine.get(key), theirs.get(key)
        labels = dict(key)
        annotations = dict((h or m).annotations) if (h or m) else {}
        if alertmanager is None:
            rows.append(
                AlertComparison(labels, "firing", "unknown", True, "Alertmanager not configured", annotations)
            )
        elif h is not None and m is not None:
            silenced = f"; silenced by {', '.join(m.silenced_by)}" if m.silenced_by else ""
            rows.append(
                AlertComparison(labels, "firing", m.state, True, "firing in both" + silenced, annotations)
            )
        elif h is not None:
            rows.append(
                AlertComparison(
                    labels,
                    "firing",
                    "not firing",
                    False,
                    "Headroom computes it firing but Alertmanager has no such alert: are the generated rules "
                    "loaded, and does Prometheus see the same data?",
                    annotations,
                )
            )
        else:
            assert m is not None
            rows.append(
                AlertComparison(
                    labels,
                    "not firing",
                    m.state,
                    False,
                    "Alertmanager fires it but Headroom does not at this time: a different evaluation time, "
                    "different data, or rules generated from another config",
                    annotations,
                )
            )
    return sorted(rows, key=lambda r: (r.agree, SEVERITY_ORDER.get(r.labels.get("severity", ""), 9)))
