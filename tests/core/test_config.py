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
