"""core/alerting/openslo.py: OpenSLO v1 round trips, imports from other tools, and the SLOs Headroom
cannot represent are refused naming the document and field."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
import yaml

from core.alerting.openslo import OpenSLOError, export_openslo, import_openslo, slos_to_toml
from core.config import config_from_dict, load_config
from headroom.cli import main
from tests.conftest import SHIPPED_CONFIG


def shipped_with_more_slos():
    data = tomllib.loads(SHIPPED_CONFIG.read_text())
    data["slo"].append(
        {
            "name": "cdn-hits",
            "service": "cdn",
            "objective": 0.8,
            "window": "7d",
            "total": "requests_per_second",
            "good": "requests_per_second",
            "budgeting": "timeslices",
        }
    )
    return config_from_dict(data)


def test_round_trip_keeps_every_slo() -> None:
    config = shipped_with_more_slos()
    text = export_openslo(config)
    docs = list(yaml.safe_load_all(text))
    assert [d["kind"] for d in docs] == ["SLI", "SLO"] * len(config.slo)
    assert all(d["apiVersion"] == "openslo/v1" for d in docs)
    assert import_openslo(text, config) == list(config.slo)
    # and through the TOML the import prints
    again = config_from_dict(
        {**tomllib.loads(SHIPPED_CONFIG.read_text()), **tomllib.loads(slos_to_toml(config.slo))}
    )
    assert list(again.slo) == list(config.slo)


def test_latency_slo_is_a_threshold_metric_with_timeslices() -> None:
    docs = list(yaml.safe_load_all(export_openslo(load_config(SHIPPED_CONFIG))))
    sli, slo = docs[2], docs[3]
    assert sli["spec"]["thresholdMetric"]["metricSource"]["spec"]["headroomMetric"] == "latency_p95_ms"
    assert slo["spec"]["budgetingMethod"] == "Timeslices"
    assert slo["spec"]["objectives"] == [
        {"target": 0.99, "op": "lte", "value": 300.0, "timeSliceWindow": "1m"}
    ]


FOREIGN = """
apiVersion: openslo/v1
kind: SLO
metadata:
  name: web-availability
spec:
  service: web
  timeWindow: [{duration: 30d, isRolling: true}]
  budgetingMethod: Occurrences
  objectives: [{target: 0.995}]
  indicator:
    metadata: {name: web-errors}
    spec:
      ratioMetric:
        counter: false
        bad: {metricSource: {type: Prometheus, spec: {query: 'QUERY_BAD'}}}
        total: {metricSource: {type: Prometheus, spec: {query: 'QUERY_TOTAL'}}}
"""


def test_import_matches_queries_to_the_configured_templates() -> None:
    config = load_config(SHIPPED_CONFIG)
    queries = config.prometheus.queries
    text = FOREIGN.replace("QUERY_BAD", queries["errors_per_second"]).replace(
        "QUERY_TOTAL", queries["requests_per_second"]
    )
    [slo] = import_openslo(text, config)
    assert (slo.name, slo.service, slo.objective, slo.bad, slo.total) == (
        "web-availability",
        "web",
        0.995,
        "errors_per_second",
        "requests_per_second",
    )
    assert slo.window.days == 30


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda t: t.replace("isRolling: true", "isRolling: false"),
            r"SLO 'web-availability': timeWindow: calendar",
        ),
        (
            lambda t: t.replace("[{target: 0.995}]", "[{target: 0.99}, {target: 0.999}]"),
            r"exactly one objective",
        ),
        (lambda t: t.replace("Occurrences", "RatioTimeslices"), r"budgetingMethod 'RatioTimeslices'"),
        (
            lambda t: t.replace("counter: false", "counter: true"),
            r"ratioMetric.counter: true is not supported",
        ),
        (
            lambda t: t.replace("openslo/v1", "openslo/v2alpha"),
            r"document 1: apiVersion must be 'openslo/v1'",
        ),
        (lambda t: t.replace("{target: 0.995}", "{target: 1.5}"), r"SLO 'web-availability': objective"),
    ],
)
def test_unrepresentable_slos_are_named(edit, message: str) -> None:
    config = load_config(SHIPPED_CONFIG)
    queries = config.prometheus.queries
    text = FOREIGN.replace("QUERY_BAD", queries["errors_per_second"]).replace(
        "QUERY_TOTAL", queries["requests_per_second"]
    )
    with pytest.raises(OpenSLOError, match=message):
        import_openslo(edit(text), config)


def test_unknown_query_and_missing_indicator_are_named() -> None:
    config = load_config(SHIPPED_CONFIG)
    with pytest.raises(
        OpenSLOError, match=r"SLO 'web-availability' indicator ratioMetric.total: cannot tell which metric"
    ):
        import_openslo(FOREIGN, config)
    ref = FOREIGN.split("  indicator:")[0] + "  indicatorRef: nowhere\n"
    with pytest.raises(OpenSLOError, match=r"indicatorRef 'nowhere' names no SLI document"):
        import_openslo(ref, config)


def test_cli_export_then_import(tmp_path: Path, capsys) -> None:
    out = tmp_path / "slos.yaml"
    assert main(["openslo", "export", str(out), "--config", str(SHIPPED_CONFIG)]) == 0
    assert main(["openslo", "import", str(out), "--config", str(SHIPPED_CONFIG)]) == 0
    printed = capsys.readouterr().out
    assert [s["name"] for s in tomllib.loads(printed)["slo"]] == [
        s.name for s in load_config(SHIPPED_CONFIG).slo
    ]
    bad = tmp_path / "bad.yaml"
    bad.write_text(FOREIGN)
    assert main(["openslo", "import", str(bad), "--config", str(SHIPPED_CONFIG)]) == 2
    assert "cannot tell which metric" in capsys.readouterr().err
