"""Region health: availability weighted by traffic, burn-based states, latency share."""

from __future__ import annotations

import pandas as pd
import pytest

from core.config import load_config
from core.health import region_health
from tests.conftest import SHIPPED_CONFIG

CFG = load_config(SHIPPED_CONFIG)


def _frame(rows: dict[str, dict[str, list[float]]]) -> pd.DataFrame:
    parts = []
    for region, metrics in rows.items():
        for metric, values in metrics.items():
            ts = pd.date_range("2026-11-01", periods=len(values), freq="1min", tz="UTC")
            parts.append(pd.DataFrame({"ts": ts, "region": region, "metric": metric, "value": values}))
    return pd.concat(parts, ignore_index=True)


def test_availability_is_traffic_weighted_and_states_follow_burn() -> None:
    frame = _frame(
        {
            # 2 minutes: 100 req/s with 0 errors, then 300 req/s with 3 errors/s -> 3/400 = 0.75% errors
            "us-east-1": {
                "requests_per_second": [100, 300],
                "errors_per_second": [0, 3],
                "latency_p95_ms": [100, 120],
                "cpu_utilization": [0.5, 0.6],
                "instances": [4, 6],
            },
            "eu-west-1": {
                "requests_per_second": [100, 100],
                "errors_per_second": [0.05, 0.05],
                "latency_p95_ms": [100, 100],
                "cpu_utilization": [0.5, 0.5],
                "instances": [3, 3],
            },
            "ap-southeast-1": {
                "requests_per_second": [100, 100],
                "errors_per_second": [0, 0],
                "latency_p95_ms": [100, 400],
                "cpu_utilization": [0.5, 0.5],
                "instances": [2, 2],
            },
        }
    )
    h = region_health(frame, CFG, ["us-east-1", "eu-west-1", "ap-southeast-1"]).set_index("region")
    assert h.loc["us-east-1", "error_rate"] == pytest.approx(3 / 400)
    assert h.loc["us-east-1", "availability_burn"] == pytest.approx((3 / 400) / 0.001)
    assert h.loc["us-east-1", "state"] == "critical"  # burn 7.5 >= 6
    assert h.loc["us-east-1", "instances"] == 6  # latest, not mean
    assert h.loc["eu-west-1", "availability_burn"] == pytest.approx(0.5)
    assert h.loc["eu-west-1", "state"] == "ok"
    # half the minutes over 300 ms against a 99% latency objective: burn 50
    assert h.loc["ap-southeast-1", "latency_burn"] == pytest.approx(50)
    assert h.loc["ap-southeast-1", "state"] == "critical"


def test_no_traffic_is_no_data_not_perfect() -> None:
    frame = _frame({"us-east-1": {"requests_per_second": [0, 0], "errors_per_second": [0, 0]}})
    h = region_health(frame, CFG, ["us-east-1"]).iloc[0]
    assert pd.isna(h["availability"])
    assert h["state"] == "no data"


def _with_fleet_targets(cpu_target: float, memory_target: float):
    """The shipped config with us-east-1's fleet given these utilisation targets."""
    import tomllib

    from core.config import config_from_dict

    data = tomllib.loads(SHIPPED_CONFIG.read_text())
    for fleet in data["fleet"]:
        if fleet["region"] == "us-east-1":
            fleet |= {"cpu_target": cpu_target, "memory_target": memory_target}
    return config_from_dict(data)


def test_utilisation_warnings_follow_the_fleets_configured_targets() -> None:
    healthy = {"requests_per_second": [100, 100], "errors_per_second": [0, 0], "latency_p95_ms": [100, 100]}
    frame = _frame(
        {
            "us-east-1": healthy | {"cpu_utilization": [0.6, 0.7], "memory_utilization": [0.5, 0.5]},
            "eu-west-1": healthy | {"cpu_utilization": [0.6, 0.7], "memory_utilization": [0.9, 0.9]},
        }
    )
    # the defaults (0.85): us-east-1 at 65% CPU is fine, eu-west-1's memory at 90% warns
    h = region_health(frame, CFG, ["us-east-1", "eu-west-1"]).set_index("region")
    assert h.loc["us-east-1", "state"] == "ok" and h.loc["us-east-1", "utilisation_warning"] == ""
    assert h.loc["eu-west-1", "state"] == "warn"
    assert h.loc["eu-west-1", "utilisation_warning"] == "memory 90% ≥ target 85%"
    assert h.loc["us-east-1", "memory_mean"] == pytest.approx(0.5)
    # a CPU target of 60% makes the same 65% mean a warning; memory 50% against 45% too
    h = region_health(frame, _with_fleet_targets(0.6, 0.45), ["us-east-1"]).set_index("region")
    assert h.loc["us-east-1", "state"] == "warn"
    assert h.loc["us-east-1", "utilisation_warning"] == "CPU 65% ≥ target 60%; memory 50% ≥ target 45%"
