"""core.incidents: recorded incidents and changes, audited in the same transaction, validated before
anything is written, read back as the events frame."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core import audit
from core.incidents import (
    EVENT_COLUMNS,
    RecordError,
    events_frame,
    list_recorded_events,
    open_incidents,
    record_event,
    resolve_incident,
)

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
REGIONS = ("us-east-1", "eu-west-1")


def record(path: Path, **kw):
    args = {
        "actor": "carol@example.com",
        "role": "operator",
        "kind": "incident",
        "severity": "sev2",
        "region": "eu-west-1",
        "title": "checkout errors",
        "start": T0,
        "now": T0,
        "regions": REGIONS,
    } | kw
    return record_event(path, **args)


def test_an_incident_is_stored_and_audited_and_open_until_resolved(tmp_path: Path):
    path = tmp_path / "store.db"
    incident = record(path, severity="sev1", detail="5xx at 30%")
    assert incident.end is None and incident.open_at(T0 + timedelta(hours=3))
    assert [e.id for e in open_incidents(path, T0 + timedelta(minutes=1))] == [incident.id]
    entry = audit.entries(path)[-1]
    assert (entry.event, entry.actor, entry.detail["recorded_event"]) == (
        "record_incident",
        "carol@example.com",
        incident.id,
    )
    resolved = resolve_incident(
        path, incident.id, actor="bob@example.com", role="approver", at=T0 + timedelta(hours=1)
    )
    assert resolved.end == T0 + timedelta(hours=1) and not resolved.open_at(T0 + timedelta(hours=2))
    assert open_incidents(path, T0 + timedelta(hours=2)) == []
    assert audit.entries(path)[-1].event == "resolve_incident" and audit.verify_chain(path).ok
    with pytest.raises(RecordError, match="already resolved"):
        resolve_incident(path, incident.id, actor="bob@example.com", role="approver", at=T0)


def test_a_change_is_a_moment_and_both_read_back_as_the_events_frame(tmp_path: Path):
    path = tmp_path / "store.db"
    change = record(path, kind="change", severity="", title="deploy v2.3", start=T0 - timedelta(hours=2))
    assert change.end == change.start
    record(path, severity="sev1", title="outage")
    record(path, kind="change", severity="", title="last week", start=T0 - timedelta(days=7))
    events = list_recorded_events(path, T0 - timedelta(hours=3), T0 + timedelta(hours=1))
    assert [e.title for e in events] == ["deploy v2.3", "outage"]
    frame = events_frame(events, until=T0 + timedelta(hours=1))
    assert tuple(frame.columns) == EVENT_COLUMNS
    assert list(frame["kind"]) == ["change", "incident sev1"]
    assert frame["end_ts"].iloc[1] == T0 + timedelta(hours=1)  # open: drawn up to the range's end
    assert "recorded by carol@example.com" in frame["detail"].iloc[0]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"kind": "outage"}, "kind: expected one of incident, change, got 'outage'"),
        ({"severity": "critical"}, "severity: an incident needs one of sev1, sev2, sev3, sev4"),
        ({"kind": "change", "severity": "sev1"}, "severity: a change has no severity"),
        ({"region": "mars-north-1"}, "region: unknown region 'mars-north-1'"),
        ({"title": "  "}, "title: say what happened"),
        ({"end": T0 - timedelta(hours=1)}, "end: 2026-11-23 11:00 is before the start"),
        ({"start": datetime(2026, 11, 23, 12)}, "start/end: times must be timezone-aware UTC"),
    ],
)
def test_bad_input_names_the_field_and_writes_nothing(tmp_path: Path, overrides, message):
    path = tmp_path / "store.db"
    with pytest.raises(RecordError) as exc:
        record(path, **overrides)
    assert message in str(exc.value)
    assert list_recorded_events(path, T0 - timedelta(days=1), T0 + timedelta(days=1)) == []
    assert audit.entries(path) == []
