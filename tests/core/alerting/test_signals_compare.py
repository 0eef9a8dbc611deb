"""core/alerting/signals.py and compare.py: stable labels for Headroom-only signals, and the pairing of
Headroom's firing set with Alertmanager's alerts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd

from core.alerting.compare import compare_alerts
from core.alerting.signals import capacity_signals, region_loss_signals
from core.alerting.types import SLO_BURN_ALERT, Alert
from core.config import load_config
from tests.conftest import SHIPPED_CONFIG

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)


def burn(region: str, **extra: str) -> Alert:
    labels = {"alertname": SLO_BURN_ALERT, "slo": "api-availability", "region": region, "severity": "sev2"}
    return Alert({**labels, "notify": "page", "long_window": "1h", "short_window": "5m", **extra})


def test_capacity_signal_only_inside_the_warning_horizon() -> None:
    config = load_config(SHIPPED_CONFIG)  # 30-day horizon
    alerts = capacity_signals(
        config,
        {"us-east-1": NOW + timedelta(days=12), "eu-west-1": NOW + timedelta(days=45), "us-west-2": None},
        NOW,
    )
    assert [a.labels for a in alerts] == [
        {
            "alertname": "HeadroomSignal",
            "signal": "capacity_exhaustion",
            "subject": "api-us-east-1",
            "severity": "sev3",
        }
    ]
    assert "2026-12-05" in alerts[0].annotations["summary"]
    # the labels carry no date: a later push with a new forecast is the same alert
    again = capacity_signals(config, {"us-east-1": NOW + timedelta(days=11)}, NOW)
    assert again[0].key == alerts[0].key


def test_region_loss_signal_for_red_rows_only() -> None:
    config = load_config(SHIPPED_CONFIG)
    summary = pd.DataFrame(
        {
            "failed_region": ["us-east-1", "eu-west-1"],
            "status": ["red", "amber"],
            "worst_case": ["us-west-2: needs 70 instances, max 60", "eu-central-1: tight"],
        }
    )
    alerts = region_loss_signals(config, summary)
    assert [a.labels["subject"] for a in alerts] == ["us-east-1"]
    assert "needs 70 instances" in alerts[0].annotations["summary"]


def test_compare_flags_each_side_and_ignores_extra_labels() -> None:
    headroom = [burn("us-east-1"), burn("eu-west-1")]
    alertmanager = [
        Alert({**burn("us-east-1").labels, "prometheus": "prod", "job": "api"}, state="active"),
        Alert({**burn("ap-southeast-1").labels, "cluster": "b"}, state="suppressed", silenced_by=("s1",)),
        Alert({"alertname": "SomeoneElsesAlert", "severity": "sev1"}),
    ]
    rows = compare_alerts(headroom, alertmanager, {SLO_BURN_ALERT})
    by_region = {r.labels["region"]: r for r in rows}
    assert set(by_region) == {"us-east-1", "eu-west-1", "ap-southeast-1"}  # the foreign alert is not compared
    assert by_region["us-east-1"].agree and by_region["us-east-1"].alertmanager == "active"
    assert not by_region["eu-west-1"].agree and by_region["eu-west-1"].alertmanager == "not firing"
    assert not by_region["ap-southeast-1"].agree and by_region["ap-southeast-1"].headroom == "not firing"
    assert [r.agree for r in rows] == [False, False, True]  # disagreements first


def test_compare_without_alertmanager_claims_no_disagreement() -> None:
    rows = compare_alerts([burn("us-east-1")], None, {SLO_BURN_ALERT})
    assert [(r.headroom, r.alertmanager, r.agree) for r in rows] == [("firing", "unknown", True)]
