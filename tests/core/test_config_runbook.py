"""[[runbook]] url: only http(s) links reach the Triage page (issue 19 item 19; docs/ARCHITECTURE.md,
"Threat model")."""

import pytest

from core.config import ConfigError, config_from_dict
from tests.core.actions.support import shipped_dict


def _with_runbook(url: str) -> dict:
    data = shipped_dict()
    data["runbook"] = [*data["runbook"], {"title": "Evil book", "url": url}]
    return data


@pytest.mark.parametrize(
    "url",
    [
        "data:text/html,<script>alert(1)</script>",
        "javascript:alert(1)",
        "file:///etc/passwd",
        "//evil.example.com/x",
        "https://",
        "https://runbooks.example.com/a b",
        "runbooks.example.com/api",
    ],
)
def test_a_runbook_url_that_is_not_http_is_refused_naming_the_runbook(url: str):
    with pytest.raises(ConfigError) as exc:
        config_from_dict(_with_runbook(url))
    text = "; ".join(exc.value.problems)
    index = len(shipped_dict()["runbook"])
    assert f"runbook[{index}]" in text and "Evil book" in text and "http" in text


@pytest.mark.parametrize("url", ["https://runbooks.example.com/api/5xx", "http://wiki.internal/dr?x=1#y"])
def test_http_and_https_runbook_urls_are_accepted(url: str):
    cfg = config_from_dict(_with_runbook(url))
    assert cfg.runbook[-1].url == url
