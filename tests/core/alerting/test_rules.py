"""core/alerting/rules.py: the generated rule file passes promtool, a real Prometheus loads it with every
rule healthy, and configs it cannot express are refused naming the entry, with nothing written."""

from __future__ import annotations

import json
import re
import subprocess
import time
import tomllib
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from core.alerting.rules import RuleError, burn_windows, generate_rules, write_rules
from core.alerting.types import SLO_BURN_ALERT
from core.config import ConfigError, HeadroomConfig, config_from_dict, load_config
from tests.conftest import SHIPPED_CONFIG
from tests.core.alerting.scenarios import SCENARIOS, openmetrics

RECORD_NAME = re.compile(r"^[a-z_]+:[a-z_]+:[a-z_0-9]+$")  # level:metric:operations


def shipped_data() -> dict:
    return tomllib.loads(SHIPPED_CONFIG.read_text())


def promtool_check(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["promtool", "check", "rules", str(path)], capture_output=True, text=True, timeout=60
    )


def test_shipped_config_rules_pass_promtool_check(tmp_path: Path) -> None:
    path = tmp_path / "headroom-rules.yml"
    write_rules(load_config(SHIPPED_CONFIG), path)
    result = promtool_check(path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_rule_counts_follow_the_config() -> None:
    config = load_config(SHIPPED_CONFIG)
    rules = generate_rules(config)
    windows = len(burn_windows(config.burn_rate_rule))
    expected_records = 0
    for slo in config.slo:
        scopes = 2 if len(slo.regions or config.region_codes) > 1 else 1
        per_window = scopes * (2 if slo.min_events > 0 else 1)
        expected_records += 2 + windows * per_window
    counts = rules.counts()
    assert counts["recording"] == expected_records
    assert counts["burn_rate_alerts"] == len(config.slo) * len(config.burn_rate_rule)
    assert counts["threshold_alerts"] == len(config.alert_rule) == 2
    assert counts["groups"] == len(config.slo) + 1


def test_names_labels_and_annotations() -> None:
    data = shipped_data()
    data["alerting"]["page_severity"] = "sev1"
    data["runbook"].append(
        {
            "title": "EU 5xx",
            "url": "https://runbooks.example.com/eu/5xx",
            "slo": "api-availability",
            "region": "eu-west-1",
        }
    )
    config = config_from_dict(data)
    doc = yaml.safe_load(generate_rules(config).to_yaml())
    records = [r for g in doc["groups"] for r in g["rules"] if "record" in r]
    assert all(RECORD_NAME.match(r["record"]) for r in records)
    assert {"slo:sli_error:ratio_rate5m", "slo:sli_error:ratio_rate3d"} <= {r["record"] for r in records}
    # every window of every burn-rate rule is recorded per region and globally
    for w in ("5m", "30m", "1h", "2h", "6h", "1d", "3d"):
        mine = [
            r
            for r in records
            if r["record"] == f"slo:sli_error:ratio_rate{w}" and r["labels"]["slo"] == "api-availability"
        ]
        assert sorted(r["labels"].get("region", "") for r in mine) == ["", "global"]
    burns = [r for g in doc["groups"] for r in g["rules"] if r.get("alert") == SLO_BURN_ALERT]
    pages = [r for r in burns if r["labels"]["notify"] == "page"]
    assert pages and all(r["labels"]["severity"] == "sev1" for r in pages)
    assert all(r["labels"]["severity"] == "sev3" for r in burns if r["labels"]["notify"] == "ticket")
    avail = next(r for r in pages if r["labels"]["slo"] == "api-availability")
    notes = avail["annotations"]
    assert (
        notes["headroom_url"]
        == "http://localhost:8501/triage?slo=api-availability&region={{ $labels.region }}"
    )
    # the region-specific runbook wins in its region, the SLO's own elsewhere
    assert notes["runbook_url"] == (
        '{{ if eq $labels.region "eu-west-1" }}https://runbooks.example.com/eu/5xx'
        "{{ else }}https://runbooks.example.com/api/5xx{{ end }}"
    )
    assert "slo:sli_events:increase1h" in avail["expr"]  # the low-traffic guard
    thresholds = {
        r["alert"]: r
        for g in doc["groups"]
        for r in g["rules"]
        if r.get("alert") not in (None, SLO_BURN_ALERT)
    }
    assert thresholds["HighErrorRate"]["for"] == "5m" and thresholds["HighErrorRate"]["expr"].endswith(
        "> 0.05"
    )
    assert thresholds["HighLatencyP95"]["for"] == "10m" and thresholds["HighLatencyP95"]["expr"].endswith(
        "> 2000.0"
    )
    assert thresholds["HighLatencyP95"]["labels"] == {"severity": "sev3"}


def test_without_a_guard_the_alerts_have_no_event_condition() -> None:
    data = shipped_data()
    for slo in data["slo"]:
        slo.pop("min_events", None)
    rules = generate_rules(config_from_dict(data))
    text = rules.to_yaml()
    assert "slo:sli_events" not in text


def test_unknown_metric_is_named_and_nothing_is_written(tmp_path: Path) -> None:
    data = shipped_data()
    del data["prometheus"]["queries"]["latency_p95_ms"]
    config = config_from_dict(data)
    path = tmp_path / "rules.yml"
    path.write_text("previous rules\n")
    with pytest.raises(RuleError, match=r"slo\[1\] 'api-latency-p95': metric 'latency_p95_ms' has no PromQL"):
        write_rules(config, path)
    assert path.read_text() == "previous rules\n"
    assert [p.name for p in tmp_path.iterdir()] == ["rules.yml"]  # no temp file left behind


def test_threshold_rule_without_a_template_is_named() -> None:
    data = shipped_data()
    data["alert_rule"].append(
        {
            "name": "DeepQueue",
            "metric": "cdn_hit_ratio",
            "operator": "<",
            "threshold": 50,
            "unit": "%",
            "severity": "sev4",
        }
    )
    with pytest.raises(RuleError, match=r"alert_rule\[2\] 'DeepQueue': metric 'cdn_hit_ratio'"):
        generate_rules(config_from_dict(data))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"operator": "=>"}, r"alert_rule\[0\]\.operator: input should be '>'"),
        ({"unit": "ms"}, r"alert_rule\[0\]: unit: 'ms' does not fit errors_per_second / requests_per_second"),
        ({"severity": "critical"}, r"alert_rule\[0\]\.severity: input should be 'sev1'"),
        ({"metric": "error_rate"}, r"alert_rule\[0\]\.metric: input should be"),
        ({"name": "high error rate"}, r"alert_rule\[0\]\.name: string should match pattern"),
        ({"for": "soon"}, r"alert_rule\[0\]\.for: expected a duration"),
        ({"regions": ["mars-north-1"]}, r"alert_rule\[0\]\.regions: unknown region 'mars-north-1'"),
    ],
)
def test_bad_alert_rules_are_named(change: dict, message: str) -> None:
    data = shipped_data()
    data["alert_rule"][0].update(change)
    with pytest.raises(ConfigError, match=message):
        config_from_dict(data)


def test_duplicate_alert_rule_names_are_refused() -> None:
    data = shipped_data()
    data["alert_rule"][1]["name"] = data["alert_rule"][0]["name"]
    with pytest.raises(ConfigError, match=r"alert_rule\[1\]\.name: 'HighErrorRate' is used twice"):
        config_from_dict(data)


def test_threshold_units_convert_to_the_metric_unit() -> None:
    data = shipped_data()
    data["alert_rule"][0].update({"threshold": 0.05, "unit": "ratio"})
    data["alert_rule"][1].update({"threshold": 2, "unit": "s"})
    config: HeadroomConfig = config_from_dict(data)
    assert [r.threshold_value for r in config.alert_rule] == [0.05, 2000.0]


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.loads(resp.read())


@pytest.mark.slow
def test_a_real_prometheus_loads_the_rules_and_every_rule_is_healthy(
    prometheus_factory, tmp_path: Path
) -> None:
    config = load_config(SHIPPED_CONFIG)
    path = tmp_path / "headroom-rules.yml"
    rules = write_rules(config, path)
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=3)
    prom = prometheus_factory(openmetrics([(SCENARIOS[0], start)]), rule_files=[path])
    total = rules.count("record") + rules.count("alert")
    deadline = time.monotonic() + 150  # a group first evaluates within one interval (1m) of loading
    while True:
        groups = _get(f"{prom.url}/api/v1/rules")["data"]["groups"]
        loaded = [r for g in groups for r in g["rules"]]
        evaluated = all(g["lastEvaluation"] and not g["lastEvaluation"].startswith("0001") for g in groups)
        if (len(loaded) == total and evaluated) or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert len(loaded) == total
    assert {g["name"] for g in groups} == {g["name"] for g in rules.groups}
    unhealthy = [(r["name"], r.get("lastError")) for r in loaded if r["health"] != "ok"]
    assert not unhealthy


def test_good_based_and_ratio_timeslice_slis_pass_promtool(tmp_path: Path) -> None:
    data = shipped_data()
    data["prometheus"]["queries"]["cdn_requests_per_second"] = (
        'sum by (region) (rate(cdn_requests_total{region=~"$regions"}[5m]))'
    )
    data["slo"] += [
        {  # good events / total events
            "name": "api-success",
            "objective": 0.99,
            "window": "7d",
            "total": "requests_per_second",
            "good": "cdn_requests_per_second",
        },
        {  # a minute is good when its own error ratio meets the objective
            "name": "api-good-minutes",
            "objective": 0.995,
            "window": "7d",
            "total": "requests_per_second",
            "bad": "errors_per_second",
            "budgeting": "timeslices",
            "regions": ["us-east-1"],
        },
    ]
    path = tmp_path / "rules.yml"
    rules = write_rules(config_from_dict(data), path)
    result = promtool_check(path)
    assert result.returncode == 0, result.stdout + result.stderr
    doc = yaml.safe_load(path.read_text())
    good = next(g for g in doc["groups"] if g["name"] == "headroom-slo-api-success")
    assert "and on(region)" in good["rules"][0]["expr"]  # total only where good is known
    minutes = next(g for g in doc["groups"] if g["name"] == "headroom-slo-api-good-minutes")
    assert "< bool 0.995" in minutes["rules"][0]["expr"]
    # a single-region SLO has no global scope
    assert not [r for r in minutes["rules"] if r.get("labels", {}).get("region") == "global"]
    assert rules.counts()["burn_rate_alerts"] == 5 * len(config_from_dict(data).burn_rate_rule)
