"""headroom/notify.py on the demo world: which signals it collects, with a stand-in forecaster so the
capacity path is exercised without fitting models."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd

from connectors.store import StoreBillingSource, StoreMetricsSource, open_db
from core.config import load_config
from headroom.notify import collect_signals
from tests.conftest import DEMO_END


def test_capacity_exhaustion_is_signalled_per_fleet(app_config) -> None:
    config = load_config(app_config.path)
    db = open_db(app_config.store)
    asked: list[int] = []

    def doubling(history: pd.Series, horizon: int) -> pd.DataFrame:
        asked.append(horizon)
        ts = pd.date_range(history.index[-1] + pd.Timedelta(hours=1), periods=horizon, freq="1h")
        # demand grows without bound: every fleet's ceiling is crossed within the horizon
        return pd.DataFrame({"ts": ts, "mean": history.iloc[-1] * (1.0 + pd.RangeIndex(horizon) / 10.0)})

    alerts = collect_signals(config, StoreMetricsSource(db), StoreBillingSource(db), DEMO_END, doubling)
    capacity = [a for a in alerts if a.labels["signal"] == "capacity_exhaustion"]
    assert sorted(a.labels["subject"] for a in capacity) == sorted(f.name for f in config.fleet)
    assert set(asked) == {int(config.alerting.capacity_warning_horizon / timedelta(hours=1))}

    def flat(history: pd.Series, horizon: int) -> pd.DataFrame:
        ts = pd.date_range(history.index[-1] + pd.Timedelta(hours=1), periods=horizon, freq="1h")
        return pd.DataFrame({"ts": ts, "mean": [0.0] * horizon})

    quiet = collect_signals(config, StoreMetricsSource(db), None, DEMO_END, flat)
    assert not [a for a in quiet if a.labels["signal"] in ("capacity_exhaustion", "budget_overrun")]
