"""Events sources: annotations from a real Prometheus (backfilled series), the store's demo and recorded
events, and the combination that keeps the store when Prometheus is down."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connectors.events import CombinedEventsSource, PrometheusAnnotationsSource, StoreEventsSource
from connectors.store import open_db
from core.config import EventsConfig
from core.incidents import record_event
from core.ports import EVENT_COLUMNS, SourceError
from tests.conftest import free_port

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def annotation_openmetrics() -> str:
    """headroom_annotation: a 30-minute incident in eu-west-1 switched off by a 0 sample, then a deploy
    marker of 3 samples in us-east-1; ALERTS-like series with other labels."""
    t0 = int(T0.timestamp())
    lines = ["# TYPE headroom_annotation gauge"]
    incident = 'headroom_annotation{region="eu-west-1",kind="incident",title="checkout 5xx",team="payments"}'
    lines += [f"{incident} 1 {t0 + 60 * i}" for i in range(31)]
    lines += [f"{incident} 0 {t0 + 60 * 31}"]
    deploy = 'headroom_annotation{region="us-east-1",kind="change",title="deploy v2.3"}'
    lines += [f"{deploy} 1 {t0 + 3600 + 60 * i}" for i in range(3)]
    lines += [f"{deploy} 0 {t0 + 3600 + 180}"]
    lines += ["# TYPE ALERTS gauge"]
    alert = 'ALERTS{alertname="HighLatency",alertstate="firing",severity="critical",region="us-west-2"}'
    lines += [f"{alert} 1 {t0 + 7200 + 60 * i}" for i in range(10)]
    lines += [f"{alert} 0 {t0 + 7200 + 600}"]
    return "\n".join(lines) + "\n# EOF\n"


@pytest.fixture(scope="module")
def prom_url(prometheus_factory) -> str:
    return prometheus_factory(annotation_openmetrics()).url


def test_prometheus_annotations_become_events(prom_url: str) -> None:
    source = PrometheusAnnotationsSource(prom_url, EventsConfig(prometheus=True))
    frame = source.events(T0 - timedelta(hours=1), T0 + timedelta(hours=3))
    assert tuple(frame.columns) == EVENT_COLUMNS
    assert list(frame["title"]) == ["checkout 5xx", "deploy v2.3"]
    incident, deploy = frame.iloc[0], frame.iloc[1]
    assert (incident["region"], incident["kind"]) == ("eu-west-1", "incident")
    assert incident["start_ts"] == T0 and incident["end_ts"] == T0 + timedelta(minutes=30)
    assert incident["detail"] == "team=payments"
    assert deploy["start_ts"] == T0 + timedelta(hours=1) and deploy["end_ts"] == T0 + timedelta(
        hours=1, minutes=2
    )
    assert source.health().state == "ok"


def test_alerts_with_other_labels(prom_url: str) -> None:
    cfg = EventsConfig(
        prometheus=True, query='ALERTS{alertstate="firing"}', kind_label="severity", title_label="alertname"
    )
    frame = PrometheusAnnotationsSource(prom_url, cfg).events(T0, T0 + timedelta(hours=3))
    assert list(zip(frame["title"], frame["kind"], frame["region"], strict=True)) == [
        ("HighLatency", "critical", "us-west-2")
    ]
    assert frame["end_ts"].iloc[0] - frame["start_ts"].iloc[0] == timedelta(minutes=9)


def test_a_bad_query_and_a_dead_server_are_source_errors(prom_url: str) -> None:
    bad = PrometheusAnnotationsSource(prom_url, EventsConfig(prometheus=True, query="sum(("))
    with pytest.raises(SourceError, match="annotation query failed"):
        bad.events(T0, T0 + timedelta(hours=1))
    assert bad.health().state == "down"
    dead = PrometheusAnnotationsSource(
        f"http://127.0.0.1:{free_port()}", EventsConfig(prometheus=True), timeout_s=2
    )
    with pytest.raises(SourceError, match="cannot read annotations"):
        dead.events(T0, T0 + timedelta(hours=1))


def test_store_source_has_recorded_events_and_combined_survives_prometheus_down(tmp_path: Path) -> None:
    db = open_db(tmp_path / "store.db")
    record_event(
        tmp_path / "store.db",
        actor="carol@example.com",
        role="operator",
        kind="change",
        title="feature flag checkout-v2 on",
        region="eu-west-1",
        start=T0,
        now=T0,
        regions=("eu-west-1",),
    )
    store = StoreEventsSource(db)
    frame = store.events(T0 - timedelta(hours=1), T0 + timedelta(hours=1))
    assert list(frame["title"]) == ["feature flag checkout-v2 on"] and list(frame["kind"]) == ["change"]
    dead = PrometheusAnnotationsSource(
        f"http://127.0.0.1:{free_port()}", EventsConfig(prometheus=True), timeout_s=2
    )
    combined = CombinedEventsSource([store, dead])
    both = combined.events(T0 - timedelta(hours=1), T0 + timedelta(hours=1))
    assert list(both["title"]) == ["feature flag checkout-v2 on"]
    assert len(combined.errors) == 1 and "Prometheus annotations" in combined.errors[0]
    assert combined.health().state == "degraded"
