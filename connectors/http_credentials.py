"""Credentials and transport options for an HTTP source (Prometheus, Alertmanager): plain values read from
a secrets.toml `[connections.<name>]` table, overridden by HEADROOM_<NAME>_* environment variables, so the
connectors never touch Streamlit. One reader for both, so the two sources accept the same keys and fail on
bad ones with the same message."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

_KEYS = ("url", "token", "username", "password", "verify_tls", "ca_bundle", "headers")


@dataclass(frozen=True)
class HttpCredentials:
    """A subclass names its secrets table (`[connections.<source>]`) and environment prefix."""

    source: ClassVar[str] = ""

    url: str | None = None  # overrides the config's url when set
    bearer_token: str | None = None
    username: str | None = None
    password: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)  # e.g. X-Scope-OrgID for Mimir tenants
    verify_tls: bool | None = None  # None: the config's verify_tls
    ca_bundle: str | None = None  # path to a CA bundle for private PKI

    @classmethod
    def from_settings(cls, section: Mapping[str, Any] | None, env: Mapping[str, str] | None = None) -> Self:
        """`[connections.<source>]` keys (url, token (alias bearer_token), username, password, headers,
        verify_tls, ca_bundle), overridden by HEADROOM_<SOURCE>_URL / _TOKEN / _USERNAME / _PASSWORD /
        _HEADERS (a JSON object) / _VERIFY_TLS / _CA_BUNDLE."""
        table, prefix = f"[connections.{cls.source}]", f"HEADROOM_{cls.source.upper()}_"
        values: dict[str, Any] = dict(section or {})
        for key in _KEYS:
            raw = (env or {}).get(f"{prefix}{key.upper()}")
            if raw:
                values[key] = raw
        headers = values.get("headers") or {}
        if isinstance(headers, str):
            try:
                headers = json.loads(headers)
            except json.JSONDecodeError:
                raise ValueError(
                    f'{prefix}HEADERS must be a JSON object, e.g. {{"X-Scope-OrgID": "team-a"}}'
                ) from None
        if not isinstance(headers, Mapping):
            raise ValueError(f"{table} headers must be a table of header names to values")
        verify = values.get("verify_tls")
        if isinstance(verify, str):
            verify = verify.strip().lower() not in ("0", "false", "no", "off")
        credentials = cls(
            url=values.get("url") or None,
            bearer_token=values.get("token") or values.get("bearer_token") or None,
            username=values.get("username") or None,
            password=values.get("password") or None,
            headers={str(k): str(v) for k, v in headers.items()},
            verify_tls=verify,
            ca_bundle=values.get("ca_bundle") or None,
        )
        if credentials.bearer_token and credentials.username:
            raise ValueError(f"{table}: give either token or username/password, not both")
        return credentials

    def __repr__(self) -> str:  # never print secrets (Streamlit shows reprs in error details)
        token = "***" if self.bearer_token else None
        return f"{type(self).__name__}(url={self.url!r}, token={token}, username={self.username!r})"
