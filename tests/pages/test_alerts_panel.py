"""The alerts panel (Triage, Overview) and the SLOs page's exports, by AppTest on the demo world: Headroom's
burn-rate and threshold alerts in the sev vocabulary, the comparison with a real Alertmanager, the
auto-refresh choice kept in the URL, and alert links opening exactly their SLO and region."""

from __future__ import annotations

import tomllib
from datetime import timedelta

import pandas as pd
import pytest
import tomli_w
from streamlit.testing.v1 import AppTest

from connectors.alertmanager import AlertmanagerSource
from connectors.store import StoreMetricsSource, open_db
from core.alerting.evaluate import headroom_alerts
from core.alerting.types import Alert
from core.config import AlertmanagerConfig, load_config
from core.slo import metric_grid
from tests.conftest import DEMO_END, REPO_ROOT, free_port


def open_page(page: str, query: dict[str, str] | None = None) -> AppTest:
    at = AppTest.from_file(str(REPO_ROOT / "dashboard.py"), default_timeout=120)
    at.run()
    if page != "overview":
        at.switch_page(f"pages/{page}.py")
    for k, v in (query or {}).items():
        at.query_params[k] = v
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def alerts_table(at: AppTest) -> pd.DataFrame:
    tables = [d.value for d in at.dataframe if "Alertmanager" in d.value.columns]
    assert len(tables) == 1, "exactly one alerts panel"
    return tables[0]


def captions(at: AppTest) -> str:
    return " ".join(c.value for c in at.caption)


def test_triage_panel_lists_headroom_alerts_with_severities(app_config) -> None:
    at = open_page("triage")
    table = alerts_table(at)
    burns = table[table["Alert"] == "SLOErrorBudgetBurn"]
    latency = burns[(burns["SLO / signal"] == "api-latency-p95") & (burns["Region"] == "ap-southeast-1")]
    assert not latency.empty and "sev2" in set(latency["Severity"].str.split().str[-1])
    assert set(burns["Region"]) <= {"ap-southeast-1", "global"}  # what the demo world burns at its end
    assert set(table["Alertmanager"]) == {"unknown"}
    assert "Set `[alertmanager] url`" in captions(at)
    assert "Last updated" in captions(at)
    # the burning list speaks the same vocabulary
    assert at.dataframe[0].value.iloc[0]["Alert"] == "🔴 page · sev2"


def test_refresh_choice_defaults_per_page_and_lives_in_the_url(app_config) -> None:
    at = open_page("triage")
    assert at.session_state["triage_refresh"] == "1 min" and "refresh" not in at.query_params
    at.session_state["triage_refresh"] = "30 s"
    at.run()
    assert at.query_params["refresh"] == "30s"
    linked = open_page("triage", {"refresh": "5m"})
    assert linked.session_state["triage_refresh"] == "5 min" and linked.query_params["refresh"] == "5m"
    overview = open_page("overview")
    assert overview.session_state["overview_refresh"] == "off" and "refresh" not in overview.query_params
    overview.session_state["overview_refresh"] = "1 min"
    overview.run()
    assert overview.query_params["refresh"] == "1m"
    assert "Last updated" in captions(overview)


def test_a_bad_refresh_value_in_the_link_is_named(app_config) -> None:
    at = open_page("triage", {"refresh": "weekly"})
    assert any("`refresh=weekly` is not valid" in w.value for w in at.warning), [w.value for w in at.warning]
    assert at.session_state["triage_refresh"] == "1 min" and "refresh" not in at.query_params


def test_the_data_parts_say_when_they_were_last_updated(app_config) -> None:
    """Triage's burning list and Overview's grid each carry their own "Last updated" and data end: the
    parts that rerun on their own (issue 12 item 4), beside the alerts panel's."""
    data_part = f"UTC · data to {DEMO_END:%Y-%m-%d %H:%M} UTC"
    for page in ("triage", "overview"):
        at = open_page(page)
        lines = [c.value for c in at.caption if c.value.startswith("Last updated")]
        assert len(lines) == 2, lines  # the data part's and the alerts panel's
        assert any(line.endswith(data_part) for line in lines), lines


def test_an_alert_link_opens_its_slo_and_region(app_config) -> None:
    at = open_page("triage", {"slo": "api-availability", "region": "ap-southeast-1"})
    focus = at.selectbox(key="triage_focus")
    assert "api-availability" in focus.format_func(focus.value) and "ap-southeast-1" in focus.format_func(
        focus.value
    )
    gone = open_page("triage", {"slo": "checkout-availability", "region": "us-east-1"})
    assert "checkout-availability in us-east-1 is not burning" in " ".join(i.value for i in gone.info)


def _with_alertmanager(app_config, url: str) -> None:
    data = tomllib.loads(app_config.path.read_text())
    data["alertmanager"] = {"url": url, "timeout": "2s"}
    app_config.path.write_text(tomli_w.dumps(data))


@pytest.mark.slow
def test_triage_compares_with_a_real_alertmanager(app_config, alertmanager_factory) -> None:
    am = alertmanager_factory("route: {receiver: none, group_wait: 1h}\nreceivers: [{name: none}]\n")
    _with_alertmanager(app_config, am.url)
    config = load_config(app_config.path)
    metrics = sorted({"requests_per_second", "errors_per_second", "latency_p95_ms"})
    frame = StoreMetricsSource(open_db(app_config.store)).query_range(
        metrics, DEMO_END - timedelta(days=3), DEMO_END, timedelta(minutes=1)
    )
    firing = headroom_alerts(config, metric_grid(frame), DEMO_END)
    assert len(firing) >= 2
    agreed = firing[0]
    bogus = Alert({**agreed.labels, "region": "eu-central-1"}, dict(agreed.annotations))
    # Prometheus adds labels of its own; they do not stop the match
    AlertmanagerSource(AlertmanagerConfig(url=am.url)).push(
        [Alert({**agreed.labels, "prometheus": "prod"}, dict(agreed.annotations)), bogus]
    )
    at = open_page("triage")
    table = alerts_table(at)
    match = (table["SLO / signal"] == agreed.labels["slo"]) & (table["Region"] == agreed.labels["region"])
    row = table[
        match & (table["Windows"] == f"{agreed.labels['long_window']}/{agreed.labels['short_window']}")
    ]
    assert list(row["Alertmanager"]) == ["active"] and list(row["Agree"]) == ["✅"]
    only_am = table[table["Region"] == "eu-central-1"]
    assert list(only_am["Headroom"]) == ["not firing"] and list(only_am["Agree"]) == ["⚠️ no"]
    only_headroom = table[(table["Headroom"] == "firing") & (table["Alertmanager"] == "not firing")]
    assert len(only_headroom) == len(firing) - 1
    assert "disagree on" in " ".join(w.value for w in at.warning)


def test_unreachable_alertmanager_keeps_the_page_working(app_config) -> None:
    _with_alertmanager(app_config, f"http://127.0.0.1:{free_port()}")
    at = open_page("triage")
    assert any("Alertmanager is unavailable" in w.value for w in at.warning)
    assert not alerts_table(at).empty  # Headroom's own alerts are still shown
    assert at.dataframe[0].value.iloc[0]["Region"] == "ap-southeast-1"


def test_slo_page_offers_the_rule_file_and_openslo(app_config) -> None:
    at = open_page("slo")
    labels = [b.proto.label for b in at.get("download_button")]
    assert labels == ["Prometheus rule file (headroom-rules.yml)", "OpenSLO v1 (slos.yaml)"]
    assert "the same as `python -m headroom rules`" in captions(at)
