"""`python -m headroom notify`: compute the signals only Headroom has and push them to Alertmanager
(meant for cron, e.g. every 10 minutes; `[alertmanager] resolve_after` resolves a signal that is no
longer pushed). The signals themselves are pure functions in core/alerting/signals.py; this module reads
the sources they need."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from core.alerting.signals import budget_signals, capacity_signals, region_loss_signals
from core.alerting.types import Alert
from core.config import HeadroomConfig

# (hourly history, horizon in hours) -> forecast frame with columns ts and mean
Forecaster = Callable[[pd.Series, int], pd.DataFrame]
CAPACITY_HISTORY = timedelta(days=28)
MIN_HISTORY_HOURS = 48


def default_forecaster(history: pd.Series, horizon: int) -> pd.DataFrame:
    from core.forecast import forecast

    return forecast(history, horizon).frame


def collect_signals(
    config: HeadroomConfig,
    metrics: Any,
    billing: Any | None,
    now: datetime,
    forecaster: Forecaster | None = default_forecaster,
) -> list[Alert]:
    """Every Headroom-only signal at `now`: budgets projected to overrun, capacity exhaustion within the
    warning horizon (skipped when forecaster is None), red N+1 checks."""
    from core import costs
    from core.capacity import region_loss_check, region_loss_summary
    from core.forecast import capacity_exhaustion, max_capacity
    from core.timeseries import pivot_metric

    regions = list(config.region_codes)
    alerts: list[Alert] = []
    if billing is not None and config.budget:
        today = now.date()
        bill = billing.daily_costs(costs.history_start(today), today)
        alerts += budget_signals(config, costs.budgets_projected_to_overrun(bill, config.budget, today))

    demand = metrics.query_range(
        ["requests_per_second"], now - timedelta(hours=24), now, timedelta(minutes=1), regions
    )
    check = region_loss_check(config, pivot_metric(demand, "requests_per_second"))
    alerts += region_loss_signals(config, region_loss_summary(check))

    if forecaster is not None:
        hourly = metrics.query_range(
            ["requests_per_second"], now - CAPACITY_HISTORY, now, timedelta(hours=1), regions
        )
        wide = pivot_metric(hourly, "requests_per_second")
        horizon_h = max(1, int(config.alerting.capacity_warning_horizon.total_seconds() // 3600))
        exhaustion = {}
        for region in wide.columns:
            capacity = max_capacity(config, str(region), "requests_per_second")
            history = wide[region].dropna()
            if capacity is None or len(history) < MIN_HISTORY_HOURS:
                continue
            exhaustion[str(region)] = capacity_exhaustion(forecaster(history, horizon_h), capacity)
        alerts += capacity_signals(config, exhaustion, now)
    return alerts
