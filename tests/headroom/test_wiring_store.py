"""headroom.wiring.guarded_store: where the guarded path lives (issue 14), and `[store] url` validation."""

from __future__ import annotations

import pytest

from core.config import ConfigError, config_from_dict
from headroom.wiring import guarded_store
from tests.core.actions.support import shipped_dict


def _cfg(**store):
    data = shipped_dict()
    data["store"] = {**data.get("store", {}), **store}
    return config_from_dict(data)


def test_sqlite_file_is_the_default() -> None:
    cfg = _cfg()
    assert guarded_store(cfg, {}, {}) == str(cfg.store_path())


def test_url_from_config_with_the_password_from_secrets() -> None:
    cfg = _cfg(url="postgresql://headroom@db.internal:5432/headroom")
    assert guarded_store(cfg, {}, {}) == "postgresql://headroom@db.internal:5432/headroom"
    secrets = {"connections": {"store": {"password": "p@ss:word"}}}
    assert guarded_store(cfg, secrets, {}) == "postgresql://headroom:p%40ss%3Aword@db.internal:5432/headroom"


def test_secrets_url_then_environment_win() -> None:
    cfg = _cfg(url="postgresql://headroom@db.internal/headroom")
    env = {"HEADROOM_STORE_URL": "postgresql://env@h/db"}
    assert guarded_store(cfg, {}, env) == "postgresql://env@h/db"
    secrets = {"connections": {"store": {"url": "postgresql://sec@h/db"}}}
    assert guarded_store(cfg, secrets, env) == "postgresql://sec@h/db"
    with pytest.raises(ValueError, match="HEADROOM_STORE_URL: must be a postgresql:// URL"):
        guarded_store(cfg, {}, {"HEADROOM_STORE_URL": "mysql://x@h/db"})


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://headroom@h/db", "store.url: must be a postgresql:// URL"),
        ("postgresql://headroom:hunter2@h/db", "store.url: holds a password"),
    ],
)
def test_bad_store_urls_are_refused_naming_the_key(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as error:
        _cfg(url=url)
    assert "hunter2" not in str(error.value)  # the refusal never repeats the password
