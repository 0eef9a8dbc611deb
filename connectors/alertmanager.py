"""Alertmanager's v2 API: the alerts it is firing, its silences, and pushing Headroom's own signals.

`GET /api/v2/alerts` and `GET /api/v2/silences` feed the Triage page's comparison with what Headroom
computes; `POST /api/v2/alerts` is how `python -m headroom notify` raises the signals only Headroom has
(a budget projected to overrun, a capacity-exhaustion date, a red N+1 check). Alertmanager identifies an
alert by its label set, so a repeated push of the same labels updates one alert instead of adding one.

Credentials follow the Prometheus connector: `[connections.alertmanager]` in secrets.toml (url, token,
username, password, headers, verify_tls, ca_bundle) or HEADROOM_ALERTMANAGER_* variables. Every failure
becomes a SourceError naming Alertmanager and what went wrong.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import urlparse

import requests

from connectors.http_credentials import HttpCredentials
from core.alerting.types import Alert, Silence
from core.config import AlertmanagerConfig
from core.ports import SourceError, SourceHealth


class AlertmanagerAuth(HttpCredentials):
    """`[connections.alertmanager]` in secrets.toml and HEADROOM_ALERTMANAGER_* environment variables."""

    source: ClassVar[str] = "alertmanager"


def _time(text: str | None) -> datetime | None:
    if not text or text.startswith("0001-"):
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _matcher(m: Mapping[str, Any]) -> str:
    op = (
        ("=" if m.get("isEqual", True) else "!=")
        if not m.get("isRegex")
        else ("=~" if m.get("isEqual", True) else "!~")
    )
    return f"{m.get('name')}{op}{json.dumps(str(m.get('value', '')))}"


class AlertmanagerSource:
    """Reads and pushes alerts over Alertmanager's v2 HTTP API."""

    def __init__(self, config: AlertmanagerConfig, auth: AlertmanagerAuth | None = None):
        auth = auth or AlertmanagerAuth()
        url = (auth.url or config.url).rstrip("/")
        if not url:
            raise ValueError(
                "[alertmanager] url is empty: set it (e.g. http://alertmanager:9093) to use Alertmanager"
            )
        self.url = url
        self.name = f"Alertmanager ({urlparse(url).netloc or url})"
        self.timeout_s = max(config.timeout.total_seconds(), 0.001)
        self.resolve_after = config.resolve_after
        session = requests.Session()
        verify = config.verify_tls if auth.verify_tls is None else auth.verify_tls
        session.verify = auth.ca_bundle if (verify and auth.ca_bundle) else verify
        session.headers.update(auth.headers)
        if auth.bearer_token:
            session.headers["Authorization"] = f"Bearer {auth.bearer_token}"
        if auth.username:
            session.auth = (auth.username, auth.password or "")
        self._session = session
        self._last_ok: datetime | None = None
        self._last_error: str = ""

    # -- HTTP ------------------------------------------------------------------------------------------
    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        where = f"{method} {path}"
        try:
            resp = self._session.request(method, f"{self.url}{path}", timeout=self.timeout_s, **kwargs)
        except requests.Timeout:
            self._last_error = f"{where} timed out after {self.timeout_s:g} s"
            raise SourceError(self.name, self._last_error + ".", query=path) from None
        except requests.RequestException as exc:
            self._last_error = f"cannot reach {self.url} ({type(exc).__name__})"
            raise SourceError(self.name, self._last_error + ".", query=path) from None
        if resp.status_code in (401, 403):
            self._last_error = f"{where} was refused ({resp.status_code}): check [connections.alertmanager]"
            raise SourceError(self.name, self._last_error + ".", query=path)
        if resp.status_code >= 400:
            self._last_error = f"{where} failed with HTTP {resp.status_code}: {resp.text[:300]}"
            raise SourceError(self.name, self._last_error, query=path)
        self._last_ok = datetime.now(UTC)
        self._last_error = ""
        if not resp.content:
            return None
        try:
            return resp.json()
        except ValueError:
            raise SourceError(self.name, f"{where} did not return JSON", query=path) from None

    # -- reading ---------------------------------------------------------------------------------------
    def alerts(self, include_silenced: bool = True, include_inhibited: bool = True) -> list[Alert]:
        """Alerts Alertmanager holds now (active, and suppressed ones unless excluded)."""
        params = {"silenced": str(include_silenced).lower(), "inhibited": str(include_inhibited).lower()}
        body = self._request("GET", "/api/v2/alerts", params=params) or []
        out = []
        for item in body:
            status = item.get("status") or {}
            out.append(
                Alert(
                    labels={str(k): str(v) for k, v in (item.get("labels") or {}).items()},
                    annotations={str(k): str(v) for k, v in (item.get("annotations") or {}).items()},
                    state=str(status.get("state", "active")),
                    starts_at=_time(item.get("startsAt")),
                    ends_at=_time(item.get("endsAt")),
                    fingerprint=str(item.get("fingerprint", "")),
                    silenced_by=tuple(status.get("silencedBy") or ()),
                )
            )
        return out

    def silences(self, include_expired: bool = False) -> list[Silence]:
        body = self._request("GET", "/api/v2/silences") or []
        out = []
        for item in body:
            state = str((item.get("status") or {}).get("state", ""))
            if state == "expired" and not include_expired:
                continue
            out.append(
                Silence(
                    id=str(item.get("id", "")),
                    matchers=tuple(_matcher(m) for m in item.get("matchers") or ()),
                    created_by=str(item.get("createdBy", "")),
                    comment=str(item.get("comment", "")),
                    starts_at=_time(item.get("startsAt")),
                    ends_at=_time(item.get("endsAt")),
                    state=state,
                )
            )
        return out

    # -- pushing ---------------------------------------------------------------------------------------
    def push(self, alerts: Sequence[Alert], now: datetime | None = None) -> int:
        """POST the alerts (firing until now + resolve_after unless pushed again). Returns how many."""
        if not alerts:
            return 0
        now = now or datetime.now(UTC)
        payload = [
            {
                "labels": dict(a.labels),
                "annotations": dict(a.annotations),
                "startsAt": _iso(a.starts_at or now),
                "endsAt": _iso(a.ends_at or now + self.resolve_after),
                "generatorURL": a.annotations.get("headroom_url", ""),
            }
            for a in alerts
        ]
        self._request("POST", "/api/v2/alerts", json=payload)
        return len(payload)

    def health(self) -> SourceHealth:
        started = time.monotonic()
        try:
            self._request("GET", "/api/v2/status")
        except SourceError as exc:
            return SourceHealth(self.name, "down", exc.message, self._last_ok)
        return SourceHealth(self.name, "ok", "", self._last_ok, time.monotonic() - started)
