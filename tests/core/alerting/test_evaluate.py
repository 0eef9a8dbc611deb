"""core/alerting/evaluate.py and the low-traffic guard of core.slo.alert_state, on small frames whose
answers can be worked out by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from core.alerting.evaluate import headroom_alerts, threshold_states
from core.config import load_config
from core.slo import SLO, alert_state, metric_grid
from tests.conftest import SHIPPED_CONFIG

T0 = datetime(2026, 3, 2, tzinfo=UTC)


def frame(region: str, metric: str, values: list[float], start: datetime = T0) -> pd.DataFrame:
    ts = pd.date_range(start, periods=len(values), freq="1min", tz="UTC")
    return pd.DataFrame({"ts": ts, "region": region, "metric": metric, "value": np.asarray(values, float)})


def states_at(grid, minute: int, name: str, region: str):
    config = load_config(SHIPPED_CONFIG)
    found = threshold_states(config, grid, T0 + timedelta(minutes=minute))
    return next(s for s in found if s.rule.name == name and s.region == region)


def test_threshold_needs_the_condition_for_its_whole_for_duration() -> None:
    # p95 above 2000 ms from minute 5 on; HighLatencyP95 has for = 10m
    latency = [100.0] * 5 + [2500.0] * 20
    grid = metric_grid(frame("us-east-1", "latency_p95_ms", latency))
    assert states_at(grid, 4, "HighLatencyP95", "us-east-1").state == "ok"
    pending = states_at(grid, 14, "HighLatencyP95", "us-east-1")
    assert pending.state == "pending" and pending.active_since == T0 + timedelta(minutes=5)
    assert states_at(grid, 15, "HighLatencyP95", "us-east-1").state == "firing"
    assert states_at(grid, 15, "HighLatencyP95", "us-east-1").value == 2500.0
    assert states_at(grid, 15, "HighLatencyP95", "us-west-2").state == "no data"


def test_a_step_without_data_resets_the_for_clock() -> None:
    latency = [2500.0] * 30
    latency[20] = np.nan
    grid = metric_grid(frame("us-east-1", "latency_p95_ms", latency))
    assert states_at(grid, 19, "HighLatencyP95", "us-east-1").state == "firing"
    assert states_at(grid, 20, "HighLatencyP95", "us-east-1").state == "no data"
    assert states_at(grid, 29, "HighLatencyP95", "us-east-1").state == "pending"


def test_ratio_threshold_divides_the_two_metrics() -> None:
    requests = frame("eu-west-1", "requests_per_second", [100.0] * 12)
    errors = frame("eu-west-1", "errors_per_second", [1.0] * 3 + [6.0] * 9)  # 6% from minute 3
    grid = metric_grid(pd.concat([requests, errors]))
    assert states_at(grid, 7, "HighErrorRate", "eu-west-1").state == "pending"
    firing = states_at(grid, 8, "HighErrorRate", "eu-west-1")
    assert firing.state == "firing" and abs(firing.value - 0.06) < 1e-12
    everything = headroom_alerts(load_config(SHIPPED_CONFIG), grid, T0 + timedelta(minutes=8))
    alerts = [a for a in everything if a.name != "SLOErrorBudgetBurn"]  # 6% errors burn the SLOs too
    assert [(a.name, a.labels["region"], a.severity) for a in alerts] == [
        ("HighErrorRate", "eu-west-1", "sev2")
    ]
    assert alerts[0].annotations["headroom_url"] == "http://localhost:8501/triage?region=eu-west-1"


def test_low_traffic_guard_counts_requests_in_both_windows() -> None:
    # 1 request per second... 60 a minute; half fail from minute 50
    requests = frame("us-east-1", "requests_per_second", [1.0] * 70)
    errors = frame("us-east-1", "errors_per_second", [0.0] * 50 + [0.5] * 20)
    data = pd.concat([requests, errors])
    slo = SLO("a", 0.999, timedelta(days=28), "requests_per_second", bad="errors_per_second")
    at = T0 + timedelta(minutes=69)
    assert alert_state(data, slo, at).page  # no guard: today's behaviour
    # the 5m window holds 300 requests, the 30m one 1800, the 1h and 6h ones 4200 (all the data)
    fast, slow = alert_state(data, slo, at, min_events=300).rules[:2]
    assert fast.rule.short_window == timedelta(minutes=5) and fast.firing and slow.firing
    fast, slow = alert_state(data, slo, at, min_events=301).rules[:2]
    assert not fast.firing and slow.firing
    assert not alert_state(data, slo, at, min_events=1801).page
    guarded = SLO(
        "a", 0.999, timedelta(days=28), "requests_per_second", bad="errors_per_second", min_events=1801
    )
    assert not alert_state(data, guarded, at).page
