"""Config validation: the shipped file loads; bad files fail naming the file, the key and the expectation."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from core.config import (
    CANONICAL_METRICS,
    ConfigError,
    config_path,
    load_config,
    parse_duration,
)
from tests.conftest import SHIPPED_CONFIG, write_config


def test_shipped_config_describes_the_demo_world() -> None:
    cfg = load_config(SHIPPED_CONFIG)
    assert cfg.region_codes == (
        "us-east-1",
        "us-west-2",
        "eu-west-1",
        "eu-central-1",
        "ap-northeast-1",
        "ap-southeast-1",
    )
    assert cfg.sources.metrics == "demo" and cfg.sources.executor == "sandbox"
    assert {s.name for s in cfg.slo} >= {"api-availability", "api-latency-p95"}
    assert all(cfg.fleet_for(code) is not None for code in cfg.region_codes)
    assert {u.role for u in cfg.user} == {"viewer", "operator", "approver", "admin"}
    assert set(cfg.prometheus.queries) <= set(CANONICAL_METRICS)


def test_env_var_overrides_the_default_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_config(tmp_path, {"demo": {"seed": 7}})
    monkeypatch.setenv("HEADROOM_CONFIG", str(path))
    assert config_path() == path
    assert load_config().demo.seed == 7


def _error_for(tmp_path: Path, overrides: dict) -> ConfigError:
    path = write_config(tmp_path, overrides)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(path) in str(info.value)
    return info.value


def _slos_with(index: int, **changes) -> list[dict]:
    import tomllib

    slos = tomllib.loads(SHIPPED_CONFIG.read_text())["slo"]
    slos[index] = slos[index] | changes
    return slos


def test_objective_out_of_range_names_the_key_and_value(tmp_path: Path) -> None:
    err = _error_for(tmp_path, {"slo": _slos_with(2, objective=99.9)})
    assert any(p.startswith("slo[2].objective:") and "99.9" in p and "less than 1" in p for p in err.problems)


def test_misspelt_key_is_named(tmp_path: Path) -> None:
    err = _error_for(tmp_path, {"sources": {"metrcis": "prometheus"}})
    assert err.problems == [
        "sources.metrcis: unknown key (check the spelling; see .streamlit/headroom.toml for the keys)"
    ]


def test_wrong_choice_lists_the_allowed_values(tmp_path: Path) -> None:
    err = _error_for(tmp_path, {"sources": {"metrics": "influxdb"}})
    (problem,) = err.problems
    assert problem.startswith("sources.metrics:") and "'prometheus'" in problem and "influxdb" in problem


def test_bad_duration_and_unknown_metric(tmp_path: Path) -> None:
    err = _error_for(tmp_path, {"slo": _slos_with(0, window="28 days", total="requests")})
    assert any(p.startswith("slo[0].window:") and "'28 days'" in p for p in err.problems)
    assert any(p.startswith("slo[0].total:") and "'requests'" in p for p in err.problems)


def test_cross_references_are_checked(tmp_path: Path) -> None:
    import tomllib

    fleets = tomllib.loads(SHIPPED_CONFIG.read_text())["fleet"]
    fleets[1] = fleets[1] | {"region": "mars-north-1"}
    err = _error_for(tmp_path, {"fleet": fleets})
    assert any("fleet[1].region: unknown region 'mars-north-1'" in p for p in err.problems)


def test_min_above_max_is_refused(tmp_path: Path) -> None:
    import tomllib

    fleets = tomllib.loads(SHIPPED_CONFIG.read_text())["fleet"]
    fleets[0] = fleets[0] | {"min_instances": 100, "max_instances": 10}
    err = _error_for(tmp_path, {"fleet": fleets})
    assert any(
        p.startswith("fleet[0]") and "min_instances (100) > max_instances (10)" in p for p in err.problems
    )


def test_missing_file_and_invalid_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "nope.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[sources\nmetrics = 'demo'\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(broken)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("300s", timedelta(seconds=300)),
        ("5m", timedelta(minutes=5)),
        ("6h", timedelta(hours=6)),
        ("28d", timedelta(days=28)),
        ("1w", timedelta(days=7)),
        ("1.5h", timedelta(minutes=90)),
        (90, timedelta(seconds=90)),
    ],
)
def test_parse_duration(text, expected) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("bad", ["5 minutes", "", "m5", True, None])
def test_parse_duration_rejects(bad) -> None:
    with pytest.raises(ValueError):
        parse_duration(bad)


# ---- values that used to be accepted silently, or crashed with a traceback instead of a ConfigError ----
def _shipped() -> dict:
    import tomllib

    return tomllib.loads(SHIPPED_CONFIG.read_text())


def _list_with(section: str, index: int, **changes) -> list[dict]:
    items = _shipped()[section]
    items[index] = items[index] | changes
    return items


def _appended(section: str, item: dict) -> list[dict]:
    return [*_shipped()[section], item]


INF, NAN = float("inf"), float("nan")

BAD_VALUES = [
    ({"prometheus": {"timeout": "0s"}}, "prometheus.timeout"),
    ({"prometheus": {"timeout": -5}}, "prometheus.timeout"),
    ({"cloudwatch": {"timeout": 0}}, "cloudwatch.timeout"),
    ({"cost_explorer": {"timeout": -1}}, "cost_explorer.timeout"),
    ({"auth": {"approval_expiry": "0s"}}, "auth.approval_expiry"),
    ({"target": _list_with("target", 0, cooldown=-60)}, "target[0].cooldown"),
    ({"prometheus": {"cache_ttl": -1}}, "prometheus.cache_ttl"),
    ({"cloudwatch": {"cache_ttl": -1}}, "cloudwatch.cache_ttl"),
    ({"prometheus": {"scrape_interval": 0}}, "prometheus.scrape_interval"),
    ({"region": _list_with("region", 1, routing_weight=INF)}, "region[1].routing_weight"),
    ({"region": _list_with("region", 1, routing_weight=NAN)}, "region[1].routing_weight"),
    ({"budget": _list_with("budget", 0, monthly_usd=INF)}, "budget[0].monthly_usd"),
    ({"fleet": _list_with("fleet", 2, capacity_per_instance=INF)}, "fleet[2].capacity_per_instance"),
    ({"fleet": _list_with("fleet", 2, price_per_hour=NAN)}, "fleet[2].price_per_hour"),
    ({"target": _list_with("target", 1, min_instances=50, max_instances=10)}, "target[1]"),
    ({"target": _appended("target", _shipped()["target"][0])}, "target"),
    ({"user": _appended("user", {"email": "ALICE@example.com", "role": "viewer"})}, "user"),
    ({"user": _list_with("user", 3, email="carol.example.com")}, "user[3].email"),
    ({"user": _list_with("user", 3, email="\u212aarol@example.com")}, "user[3].email"),
    (
        {
            "burn_rate_rule": [
                {"severity": "page", "long_window": "5m", "short_window": "1h", "burn_rate": 14.4}
            ]
        },
        "burn_rate_rule[0]",
    ),
    ({"prometheus": {"queries": {"instances": "count(up{job=$regions})"}}}, "prometheus.queries.instances"),
    ({"prometheus": {"queries": {"instances": 'up{region="$regions"}'}}}, "prometheus.queries.instances"),
    # huge and infinite durations (timedelta overflow), bad seeds, zones and timestamps
    ({"prometheus": {"timeout": INF}}, "prometheus.timeout"),
    ({"prometheus": {"timeout": 10**30}}, "prometheus.timeout"),
    ({"demo": {"refresh_after": "99999999999999w"}}, "demo.refresh_after"),
    ({"region": _list_with("region", 0, timezone="Mars/Olympus_Mons")}, "region[0].timezone"),
    ({"region": _list_with("region", 0, timezone="../../etc/passwd")}, "region[0].timezone"),
    ({"demo": {"seed": -1}}, "demo.seed"),
    ({"deploy": [{"at": "yesterday", "description": "release 1.2"}]}, "deploy[0].at"),
]


@pytest.mark.parametrize(("overrides", "key"), BAD_VALUES, ids=[k for _, k in BAD_VALUES])
def test_bad_values_are_refused_naming_the_key(tmp_path: Path, overrides: dict, key: str) -> None:
    err = _error_for(tmp_path, overrides)
    assert any(p.startswith(key) for p in err.problems), err.problems


def test_a_non_utf8_byte_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(SHIPPED_CONFIG.read_bytes().replace(b'name = "Europe (Ireland)"', b'name = "\xc9ire"'))
    with pytest.raises(ConfigError, match="UTF-8") as info:
        load_config(path)
    assert str(path) in str(info.value) and "line" in str(info.value)


def test_deep_nesting_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "deep.toml"
    depth = 100_000
    path.write_text(SHIPPED_CONFIG.read_text() + "\n[demo2]\nx = " + "[" * depth + "]" * depth + "\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(path) in str(info.value)


def test_a_store_path_under_a_file_is_a_config_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    err = _error_for(tmp_path, {"store": {"path": str(blocker / "headroom.db")}})
    assert any(p.startswith("store.path") and "not a directory" in p for p in err.problems), err.problems
    err = _error_for(tmp_path, {"store": {"path": str(tmp_path)}})
    assert any(p.startswith("store.path") and "a directory" in p for p in err.problems), err.problems


def test_long_inputs_are_shortened_in_the_message(tmp_path: Path) -> None:
    err = _error_for(tmp_path, {"sources": {"metrics": "x" * 100_000}})
    (problem,) = err.problems
    assert problem.startswith("sources.metrics:") and len(problem) < 1000


def test_legal_edge_values_still_load(tmp_path: Path) -> None:
    cfg = load_config(
        write_config(
            tmp_path,
            {
                "prometheus": {"cache_ttl": 0},
                "target": _list_with("target", 0, cooldown=0, min_instances=6, max_instances=6),
                "demo": {"seed": 0, "refresh_after": "3650d"},
            },
        )
    )
    assert cfg.prometheus.cache_ttl == timedelta(0) and cfg.target[0].cooldown == timedelta(0)
