"""Signals only Headroom computes, as alerts for Alertmanager (`python -m headroom notify`): a budget
spent or projected to overrun this month, a fleet whose forecast demand reaches its capacity within the
warning horizon, a region whose loss the others cannot absorb (the N+1 check turning red).

Labels are stable (alertname, signal, subject, severity: never a figure or a date), so a cron job
pushing the same situation again updates one alert in Alertmanager instead of raising a new one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

import pandas as pd

from core.alerting.types import HEADROOM_SIGNAL_ALERT, Alert
from core.config import HeadroomConfig
from core.costs import BudgetState


def _signal(config: HeadroomConfig, signal: str, subject: str, summary: str, page: str) -> Alert:
    labels = {
        "alertname": HEADROOM_SIGNAL_ALERT,
        "signal": signal,
        "subject": subject,
        "severity": config.alerting.notify_severity,
    }
    base = config.alerting.headroom_url.rstrip("/")
    return Alert(labels, {"summary": summary, "headroom_url": f"{base}/{page}"})


def budget_signals(config: HeadroomConfig, overrunning: Sequence[BudgetState]) -> list[Alert]:
    """One alert per budget spent or projected past its amount this month."""
    out = []
    for s in overrunning:
        if s.already_over:
            text = f"{s.name} ({s.scope}): ${s.spent_usd:,.0f} spent of ${s.monthly_usd:,.0f}, over since {s.overrun_date}"
        else:
            text = (
                f"{s.name} ({s.scope}): projected ${s.projected_usd:,.0f} of ${s.monthly_usd:,.0f}, "
                f"overrun expected on {s.overrun_date}"
            )
        out.append(_signal(config, "budget_overrun", s.name, text, "costs"))
    return out


def capacity_signals(
    config: HeadroomConfig, exhaustion: Mapping[str, datetime | pd.Timestamp | None], now: datetime
) -> list[Alert]:
    """One alert per region whose forecast demand reaches its fleet's capacity within
    `alerting.capacity_warning_horizon` of `now` (exhaustion: region -> first time, None when never)."""
    horizon = config.alerting.capacity_warning_horizon
    out = []
    for region, when in exhaustion.items():
        if when is None:
            continue
        when = pd.Timestamp(when).to_pydatetime()
        if when <= now + horizon:
            fleet = config.fleet_for(region)
            subject = fleet.name if fleet else region
            text = (
                f"{subject}: forecast demand reaches the fleet's capacity (max_instances x capacity per "
                f"instance) on {when:%Y-%m-%d %H:%M} UTC, within the {horizon.days}-day warning horizon"
            )
            out.append(_signal(config, "capacity_exhaustion", subject, text, "forecast"))
    return out


def region_loss_signals(config: HeadroomConfig, summary: pd.DataFrame) -> list[Alert]:
    """One alert per failed region whose traffic the survivors cannot absorb (N+1 status red)."""
    out = []
    if summary.empty:
        return out
    for row in summary.itertuples(index=False):
        if getattr(row, "status", "") == "red":
            text = f"If {row.failed_region} fails, the others cannot take its traffic: {row.worst_case}"
            out.append(_signal(config, "region_loss", str(row.failed_region), text, "capacity"))
    return out
