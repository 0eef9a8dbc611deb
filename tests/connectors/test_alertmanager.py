"""connectors/alertmanager.py against Debian's real Alertmanager, with a stdlib webhook receiver standing in
for the pager and the ticket queue: pushed alerts are routed by severity and notified exactly once, active
alerts and silences are read back, and an unreachable Alertmanager is a SourceError naming it."""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from connectors.alertmanager import AlertmanagerAuth, AlertmanagerSource
from core.alerting.types import HEADROOM_SIGNAL_ALERT, Alert, AlertSource
from core.config import AlertmanagerConfig
from core.ports import SourceError
from tests.conftest import free_port

pytestmark = pytest.mark.slow


class Receiver:
    """Collects webhook notifications per path (/pager, /tickets, /default)."""

    def __init__(self) -> None:
        self.received: dict[str, list[dict]] = {}
        self.changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with receiver.changed:
                    receiver.received.setdefault(self.path, []).append(body)
                    receiver.changed.notify_all()
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, path: str, predicate, timeout: float = 30.0) -> list[dict]:
        """Wait until predicate(notifications received on path) holds (no fixed sleep)."""
        with self.changed:
            ok = self.changed.wait_for(lambda: predicate(self.received.get(path, [])), timeout=timeout)
        assert ok, f"timed out waiting on {path}; received: {self.received}"
        return list(self.received.get(path, []))


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()


def routing_config(receiver_url: str) -> str:
    # one group per signal and subject; sev1/sev2 page, sev3/sev4 go to the ticket queue
    return f"""
route:
  receiver: default
  group_by: [alertname, signal, subject]
  group_wait: 2s
  group_interval: 1s
  repeat_interval: 4h
  routes:
    - receiver: pager
      matchers: ['severity=~"sev1|sev2"']
    - receiver: tickets
      matchers: ['severity=~"sev3|sev4"']
receivers:
  - name: default
    webhook_configs: [{{url: "{receiver_url}/default"}}]
  - name: pager
    webhook_configs: [{{url: "{receiver_url}/pager"}}]
  - name: tickets
    webhook_configs: [{{url: "{receiver_url}/tickets"}}]
"""


def signal(subject: str, severity: str = "sev3") -> Alert:
    labels = {
        "alertname": HEADROOM_SIGNAL_ALERT,
        "signal": "budget_overrun",
        "subject": subject,
        "severity": severity,
    }
    return Alert(labels, {"summary": f"{subject} is projected to overrun", "headroom_url": "http://h/costs"})


def subjects(notification: dict) -> list[str]:
    return [a["labels"]["subject"] for a in notification["alerts"]]


def test_a_pushed_alert_reaches_its_receiver_once(alertmanager_factory, receiver: Receiver) -> None:
    am = alertmanager_factory(routing_config(receiver.url))
    source = AlertmanagerSource(AlertmanagerConfig(url=am.url))
    assert source.push([signal("Total cloud spend")]) == 1
    first = receiver.wait_for("/tickets", lambda got: len(got) >= 1)
    assert subjects(first[0]) == ["Total cloud spend"] and first[0]["status"] == "firing"
    assert first[0]["alerts"][0]["annotations"]["summary"] == "Total cloud spend is projected to overrun"

    # cron pushes the same signal again: same labels, so Alertmanager updates the one alert
    source.push([signal("Total cloud spend")])
    # a sentinel in its own group is notified after group_wait (2 s), by which time the first group has
    # had a group_interval tick (1 s) after the repeat: a duplicate would have been sent before it
    source.push([signal("sentinel")])
    got = receiver.wait_for("/tickets", lambda got: any("sentinel" in subjects(n) for n in got))
    assert sum("Total cloud spend" in subjects(n) for n in got) == 1
    assert len(got) == 2
    assert "/pager" not in receiver.received and "/default" not in receiver.received
    alerts = source.alerts()
    assert sorted(a.labels["subject"] for a in alerts) == ["Total cloud spend", "sentinel"]


def test_severity_routes_to_the_pager(alertmanager_factory, receiver: Receiver) -> None:
    am = alertmanager_factory(routing_config(receiver.url))
    AlertmanagerSource(AlertmanagerConfig(url=am.url)).push([signal("eu-west-1", severity="sev2")])
    got = receiver.wait_for("/pager", lambda got: len(got) >= 1)
    assert subjects(got[0]) == ["eu-west-1"]
    assert "/tickets" not in receiver.received


def test_active_alerts_and_silences_are_read_back(alertmanager_factory, receiver: Receiver) -> None:
    am = alertmanager_factory(routing_config(receiver.url))
    source = AlertmanagerSource(AlertmanagerConfig(url=am.url))
    now = datetime.now(UTC)
    source.push([signal("quiet one"), signal("loud one")], now=now)
    silence = {
        "matchers": [{"name": "subject", "value": "quiet one", "isRegex": False, "isEqual": True}],
        "startsAt": now.isoformat(),
        "endsAt": (now + timedelta(hours=1)).isoformat(),
        "createdBy": "alice@example.com",
        "comment": "known, budget raised on Monday",
    }
    req = urllib.request.Request(
        f"{am.url}/api/v2/silences", json.dumps(silence).encode(), {"Content-Type": "application/json"}
    )
    silence_id = json.loads(urllib.request.urlopen(req, timeout=10).read())["silenceID"]

    silences = source.silences()
    assert [(s.id, s.matchers, s.created_by, s.state) for s in silences] == [
        (silence_id, ('subject="quiet one"',), "alice@example.com", "active")
    ]
    by_subject = {a.labels["subject"]: a for a in source.alerts()}
    assert by_subject["quiet one"].state == "suppressed" and by_subject["quiet one"].silenced_by == (
        silence_id,
    )
    assert by_subject["loud one"].state == "active" and by_subject["loud one"].starts_at is not None
    assert [a.labels["subject"] for a in source.alerts(include_silenced=False)] == ["loud one"]


def test_unreachable_alertmanager_is_a_source_error() -> None:
    source = AlertmanagerSource(
        AlertmanagerConfig(url=f"http://127.0.0.1:{free_port()}", timeout=timedelta(seconds=2))
    )
    with pytest.raises(SourceError, match=r"Alertmanager \(127\.0\.0\.1:\d+\): cannot reach"):
        source.alerts()
    assert source.health().state == "down"


def test_settings_and_empty_url() -> None:
    auth = AlertmanagerAuth.from_settings({"url": "http://am:9093", "token": "s3cret"}, {})
    assert auth.bearer_token == "s3cret" and "s3cret" not in repr(auth)
    env = {"HEADROOM_ALERTMANAGER_USERNAME": "u", "HEADROOM_ALERTMANAGER_TOKEN": "t"}
    with pytest.raises(ValueError, match="either token or username/password"):
        AlertmanagerAuth.from_settings({}, env)
    with pytest.raises(ValueError, match=r"\[alertmanager\] url is empty"):
        AlertmanagerSource(AlertmanagerConfig())
    assert isinstance(AlertmanagerSource(AlertmanagerConfig(url="http://am:9093")), AlertSource)
