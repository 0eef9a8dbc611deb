"""Headroom and Prometheus fire the same alerts on the same series (issue 12).

For each scenario (a burst, a slow burn, a low-traffic blip, a quiet period) the same exporter series go
two ways:
- backfilled into a real Prometheus and read through the Prometheus connector, as Headroom reads them
  live; Headroom's own evaluation (core.slo.alert_state for the burn-rate alerts, the threshold rules'
  `for` semantics) gives the set of firing alerts at every minute;
- as the input series of a generated `promtool test rules` file, whose expected alerts at those minutes
  are Headroom's sets, labels and annotations included.
`promtool test rules` passing means Prometheus, running the generated rule file, fires exactly what
Headroom computes at every one of those evaluation times. The scenario checks below keep the agreement
from being vacuous (each scenario's defining alert does fire, or must not).
"""

from __future__ import annotations

import subprocess
import tomllib
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from connectors.prometheus import PrometheusSource
from core.alerting.evaluate import burn_window_aggregates, burn_windows, headroom_alerts
from core.alerting.rules import write_rules
from core.alerting.types import SLO_BURN_ALERT, Alert
from core.config import HeadroomConfig, config_from_dict
from core.slo import SLO, alert_state, metric_grid, slo_counts
from tests.conftest import SHIPPED_CONFIG
from tests.core.alerting.scenarios import BIG, SCENARIOS, SMALL, Scenario, openmetrics

pytestmark = pytest.mark.slow

BASE = datetime(2026, 1, 5, tzinfo=UTC)
METRICS = ["requests_per_second", "errors_per_second", "latency_p95_ms"]
# the guard of the test config: a page needs 500 requests in each of its windows; the low-traffic region
# serves 60 in 5 minutes and 360 in 30 (the shipped 100 would let the 6h/30m page through on 36 errors)
MIN_EVENTS = 500.0


def base_of(index: int) -> datetime:
    # scenarios 5 days apart: no window (3 days at most) reaches into the previous one
    return BASE + timedelta(days=5 * index)


def scenario_config() -> HeadroomConfig:
    """The shipped config (its queries, SLOs, burn-rate and threshold rules) on the scenarios' two regions."""
    data = tomllib.loads(SHIPPED_CONFIG.read_text())
    data["region"] = [r for r in data["region"] if r["code"] in (BIG, SMALL)]
    data["fleet"], data["target"] = [], []
    for slo in data["slo"]:
        slo["min_events"] = MIN_EVENTS
    # a region-specific runbook: Prometheus must render the annotation's per-region choice as Headroom does
    data["runbook"].append(
        {
            "title": "EU 5xx",
            "url": "https://runbooks.example.com/eu/5xx",
            "slo": "api-availability",
            "region": SMALL,
        }
    )
    return config_from_dict(data, "scenario config")


@pytest.fixture(scope="module")
def world(prometheus_factory, tmp_path_factory: pytest.TempPathFactory) -> dict:
    config = scenario_config()
    directory = tmp_path_factory.mktemp("agreement")
    rules_path = directory / "rules.yml"
    write_rules(config, rules_path)
    prom = prometheus_factory(openmetrics([(s, base_of(i)) for i, s in enumerate(SCENARIOS)]))
    source = PrometheusSource(replace(config.prometheus, url=prom.url), config.region_codes)
    grids = {}
    for i, s in enumerate(SCENARIOS):
        start = base_of(i)
        frame = source.query_range(METRICS, start, start + timedelta(minutes=s.minutes), timedelta(minutes=1))
        grids[s.name] = metric_grid(frame)
    return {"config": config, "rules": rules_path, "grids": grids, "dir": directory, "source": source}


def eval_minutes(s: Scenario) -> list[int]:
    return list(range(1, s.minutes + 1, s.eval_every))


def firing(world: dict, index: int) -> dict[int, list[Alert]]:
    s = SCENARIOS[index]
    grid = world["grids"][s.name]
    return {
        m: headroom_alerts(world["config"], grid, base_of(index) + timedelta(minutes=m))
        for m in eval_minutes(s)
    }


def promtool_tests(world: dict) -> dict:
    names = [SLO_BURN_ALERT] + [r.name for r in world["config"].alert_rule]
    tests = []
    for i, s in enumerate(SCENARIOS):
        cases = []
        for minute, alerts in firing(world, i).items():
            for name in names:
                expected = [
                    {
                        "exp_labels": {k: v for k, v in a.labels.items() if k != "alertname"},
                        "exp_annotations": dict(a.annotations),
                    }
                    for a in alerts
                    if a.name == name
                ]
                cases.append({"eval_time": f"{minute}m", "alertname": name, "exp_alerts": expected})
        tests.append(
            {"name": s.name, "interval": "1m", "input_series": s.promtool_input(), "alert_rule_test": cases}
        )
    return {"rule_files": [world["rules"].name], "evaluation_interval": "1m", "tests": tests}


def test_prometheus_fires_what_headroom_computes(world: dict) -> None:
    path: Path = world["dir"] / "agreement_test.yml"
    doc = promtool_tests(world)
    path.write_text(yaml.safe_dump(doc, sort_keys=False, width=100_000))
    result = subprocess.run(
        ["promtool", "test", "rules", path.name], cwd=path.parent, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]
    assert "SUCCESS" in result.stdout + result.stderr
    # the figures of the agreement (shown with pytest -s)
    for test in doc["tests"]:
        cases = test["alert_rule_test"]
        per_name: dict[str, int] = {}
        for case in cases:
            per_name[case["alertname"]] = per_name.get(case["alertname"], 0) + len(case["exp_alerts"])
        minutes = len({c["eval_time"] for c in cases})
        print(f"agreement {test['name']}: {minutes} evaluation times, {len(cases)} cases, firing {per_name}")


def _fired(alerts: dict[int, list[Alert]], **labels: str) -> list[int]:
    return [
        m for m, xs in alerts.items() if any(all(a.labels.get(k) == v for k, v in labels.items()) for a in xs)
    ]


def test_burst_pages_and_crosses_both_thresholds(world: dict) -> None:
    alerts = firing(world, 0)
    page = _fired(alerts, alertname=SLO_BURN_ALERT, slo="api-availability", region=BIG, notify="page")
    assert page and min(page) > 60  # only once the burst (minutes 61-85) has burnt enough
    assert _fired(alerts, alertname=SLO_BURN_ALERT, slo="api-latency-p95", region=BIG, notify="page")
    error_rate = _fired(alerts, alertname="HighErrorRate", region=BIG)
    latency = _fired(alerts, alertname="HighLatencyP95", region=BIG)
    assert error_rate and min(error_rate) >= 66  # `for: 5m` after the first bad minute
    assert latency and min(latency) >= 71  # `for: 10m`
    assert not _fired(alerts, region=SMALL)


def test_slow_burn_tickets_without_paging(world: dict) -> None:
    alerts = firing(world, 1)
    assert _fired(alerts, slo="api-availability", region=BIG, notify="ticket")
    assert not _fired(alerts, slo="api-availability", notify="page")
    assert not _fired(alerts, alertname="HighErrorRate")


def test_low_traffic_blip_pages_only_without_the_guard(world: dict) -> None:
    config = world["config"]
    alerts = firing(world, 2)
    assert not _fired(alerts, slo="api-availability", region=SMALL, notify="page")
    # a genuine 2.5% error rate over 1440 requests in 2 h still tickets, linking the region's runbook
    tickets = [
        a
        for xs in alerts.values()
        for a in xs
        if a.labels.get("region") == SMALL and a.labels.get("slo") == "api-availability"
    ]
    assert tickets and all(a.labels["notify"] == "ticket" for a in tickets)
    assert all(a.annotations["runbook_url"] == "https://runbooks.example.com/eu/5xx" for a in tickets)
    # the guard is what keeps it quiet: the same data without it pages
    grid = world["grids"]["low_traffic"]
    slo = SLO.from_config(config.slo[0])
    counts = slo_counts(grid, slo)
    unguarded = [
        m
        for m in eval_minutes(SCENARIOS[2])
        if alert_state(counts, slo, base_of(2) + timedelta(minutes=m), config.burn_rate_rule, SMALL, 0.0).page
    ]
    assert unguarded


def test_quiet_period_fires_nothing(world: dict) -> None:
    assert not any(firing(world, 3).values())


def test_rule_window_sums_fire_what_the_grid_fires(world: dict) -> None:
    """The alerts panel's path (issue 17): each burn-rate window's sums computed by Prometheus (instant
    queries over the windows' disjoint pieces, each window one slot of its length ending at the
    evaluation time) give the very alerts the 3-day grid gives, at every minute where the grid's firing
    set changes (and the minute before) and every half hour; at a time off the minute too."""
    config, source = world["config"], world["source"]
    figures = burn_window_aggregates(config)
    assert figures
    burning = 0
    for i, s in enumerate(SCENARIOS):
        on_grid = firing(world, i)
        minutes = sorted(on_grid)
        changes = {
            m for before, m in zip(minutes, minutes[1:], strict=False) if on_grid[m] != on_grid[before]
        }
        asked = sorted({m for m in minutes if m in changes or m + s.eval_every in changes or m % 30 == 1})
        for m in asked:
            at = base_of(i) + timedelta(minutes=m)
            windows = source.aggregate_windows(figures, at, burn_windows(config), config.region_codes)
            from_windows = headroom_alerts(config, world["grids"][s.name], at, windows)
            assert from_windows == on_grid[m], (s.name, m)
            # 20 s past the minute: the same samples in every window (the grid's windows end at `at`)
            later = at + timedelta(seconds=20)
            off_minute = source.aggregate_windows(figures, later, burn_windows(config), config.region_codes)
            grid = world["grids"][s.name]
            assert headroom_alerts(config, grid, later, off_minute) == headroom_alerts(config, grid, later)
            burning += sum(1 for a in from_windows if a.name == SLO_BURN_ALERT)
    assert burning > 0  # not vacuous: burn-rate alerts fire at some of the compared minutes
