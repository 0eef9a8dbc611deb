"""The one reader of `[connections.<source>]` secrets and HEADROOM_<SOURCE>_* variables that Prometheus and
Alertmanager share (connectors/http_credentials.py)."""

from __future__ import annotations

import pytest

from connectors.alertmanager import AlertmanagerAuth
from connectors.prometheus import PrometheusAuth


@pytest.mark.parametrize(
    ("auth", "prefix"), [(PrometheusAuth, "PROMETHEUS"), (AlertmanagerAuth, "ALERTMANAGER")]
)
def test_environment_overrides_the_secrets_table(auth, prefix) -> None:
    got = auth.from_settings(
        {"url": "http://from-secrets:9090", "username": "svc", "password": "pw", "verify_tls": True},
        {
            f"HEADROOM_{prefix}_URL": "https://from-env:9443",
            f"HEADROOM_{prefix}_HEADERS": '{"X-Scope-OrgID": "team-a"}',
            f"HEADROOM_{prefix}_VERIFY_TLS": "false",
        },
    )
    assert got.url == "https://from-env:9443"
    assert (got.username, got.password) == ("svc", "pw")
    assert got.headers == {"X-Scope-OrgID": "team-a"}
    assert got.verify_tls is False
    assert "pw" not in repr(got) and repr(got).startswith(auth.__name__)


@pytest.mark.parametrize(
    ("auth", "source"), [(PrometheusAuth, "prometheus"), (AlertmanagerAuth, "alertmanager")]
)
def test_bad_settings_name_the_table_or_variable(auth, source) -> None:
    with pytest.raises(ValueError, match=rf"\[connections\.{source}\]: give either token"):
        auth.from_settings({"token": "t", "username": "u"})
    with pytest.raises(ValueError, match=rf"HEADROOM_{source.upper()}_HEADERS must be a JSON object"):
        auth.from_settings({}, {f"HEADROOM_{source.upper()}_HEADERS": "X-Scope-OrgID: a"})
    with pytest.raises(ValueError, match=rf"\[connections\.{source}\] headers must be a table"):
        auth.from_settings({"headers": ["X-Scope-OrgID"]})


def test_the_token_is_read_under_either_name() -> None:
    assert AlertmanagerAuth.from_settings({"bearer_token": "t"}).bearer_token == "t"
    assert PrometheusAuth.from_settings({"token": "t"}).bearer_token == "t"
    assert "token=***" in repr(PrometheusAuth.from_settings({"token": "secret"}))
    assert "secret" not in repr(PrometheusAuth.from_settings({"token": "secret"}))
