"""Triage page (AppTest on the demo world): what burns, the focus region, changes, runbooks, actions."""

from __future__ import annotations

import re
import sqlite3
from datetime import timedelta

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import DEMO_END, REPO_ROOT


def open_triage(preset: str | None = None) -> AppTest:
    at = AppTest.from_file(str(REPO_ROOT / "dashboard.py"), default_timeout=120)
    if preset is not None:
        at.session_state["range_preset"] = preset
    at.run()
    at.switch_page("pages/triage.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_burning_list_is_ranked_fastest_first(app_config) -> None:
    at = open_triage()
    assert at.title[0].value == "Triage"
    burning = at.dataframe[0].value
    first = burning.iloc[0]
    assert first["Region"] == "ap-southeast-1" and "page" in first["Alert"]
    # pages rank above tickets above unalerted burns; within a level the faster burn comes first
    level = burning["Alert"].map(lambda a: 2 if "page" in a else 1 if "ticket" in a else 0)
    keys = list(zip(level, burning["Burn 1h"], strict=True))
    assert keys == sorted(keys, reverse=True)
    assert set(burning[burning["Alert"].str.contains("page")]["Region"]) == {"ap-southeast-1"}
    assert "ap-southeast-1" in at.subheader[1].value


def test_recent_changes_and_runbooks_for_the_focus(app_config) -> None:
    at = open_triage()
    changes = at.dataframe[1].value
    assert "Ongoing latency and error regression in ap-southeast-1" in set(changes["title"])
    assert set(changes["region"]) <= {"", "ap-southeast-1"}
    links = " ".join(m.value for m in at.markdown)
    # the focus is the latency SLO (fastest burn): its runbook and the region-agnostic failover one
    assert "runbooks.example.com/api/latency" in links
    assert "runbooks.example.com/dr/regional-failover" in links
    assert "runbooks.example.com/api/5xx" not in links


def test_focus_can_move_to_the_availability_slo(app_config) -> None:
    at = open_triage()
    options = at.selectbox(key="triage_focus").options
    index = next(
        i for i, label in enumerate(options) if "api-availability" in label and "ap-southeast-1" in label
    )
    at.selectbox(key="triage_focus").set_value(index).run()
    assert not at.exception
    assert "runbooks.example.com/api/5xx" in " ".join(m.value for m in at.markdown)


def test_failover_button_opens_actions_prefilled(app_config) -> None:
    at = open_triage()
    at.button(key="triage_failover").click().run()
    assert not at.exception, [e.value for e in at.exception]
    # the Actions page consumed the prefill: its propose form now drains the burning region's weight
    assert at.title[0].value == "Actions"
    assert "actions_prefill" not in at.session_state
    reason = at.session_state["act_reason"]
    assert "api-latency-p95" in reason and "burning" in reason
    target = at.session_state["act_target"]
    assert target == "api-dns-weights"
    assert at.session_state[f"act_w_{target}_ap-southeast-1"] == 0.0


def test_scale_button_prefills_a_scaling_proposal(app_config) -> None:
    at = open_triage()
    at.button(key="triage_scale").click().run()
    assert at.title[0].value == "Actions"
    assert "actions_prefill" not in at.session_state
    assert at.session_state["act_target"] == "api-ap-southeast-1"  # the burning region's fleet


def test_executed_actions_show_as_changes(app_config) -> None:
    # the actions table as core.actions keeps it (the columns the markers read)
    when = (DEMO_END - timedelta(minutes=30)).timestamp()
    with sqlite3.connect(app_config.store) as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS actions (id INTEGER PRIMARY KEY, target TEXT, kind TEXT, state TEXT, "
            "reason TEXT, started_at REAL, finished_at REAL)"
        )
        conn.execute(
            "INSERT INTO actions (target, kind, state, reason, started_at, finished_at) VALUES (?, ?, ?, ?, ?, ?)",
            ("api-ap-southeast-1", "scale", "succeeded", "more capacity", when, when + 60),
        )
    at = open_triage()
    changes = at.dataframe[1].value
    action = changes[changes["kind"] == "action"]
    assert list(action["title"]) == ["scale api-ap-southeast-1 (succeeded)"]
    assert list(action["region"]) == ["ap-southeast-1"]


def test_nothing_burning_before_the_regression(app_config) -> None:
    # a day before the end the demo world is calm: no alerts, the page says so and lists every scope
    at = AppTest.from_file(str(REPO_ROOT / "dashboard.py"), default_timeout=120)
    end = DEMO_END - timedelta(days=1)
    at.session_state["range_preset"] = "custom"
    at.session_state["custom_start"] = True
    at.session_state["custom_start_date"], at.session_state["custom_start_time"] = (
        end.date(),
        (end - timedelta(hours=6)).time(),
    )
    at.session_state["custom_end_date"], at.session_state["custom_end_time"] = end.date(), end.time()
    at.run()
    at.switch_page("pages/triage.py")
    at.run()
    assert not at.exception
    assert "Nothing is burning" in at.success[0].value
    assert len(at.dataframe[0].value) == 17  # 3 SLOs: 7 + 7 + 3 scopes
    assert not at.button


# ---- the same page on a real Prometheus ----------------------------------------------------------
def test_triage_on_prometheus(app_config, prometheus_factory, tmp_path) -> None:
    from datetime import UTC, datetime

    from core.config import load_config
    from tests.conftest import write_config
    from tests.connectors.promdata import openmetrics

    regions = list(load_config(app_config.path).region_codes)
    end = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=1)
    prom = prometheus_factory(openmetrics(regions, end - timedelta(hours=8), end, interval_s=60))
    write_config(
        tmp_path,
        {
            "demo": {"refresh_after": "3650d"},
            "sources": {"metrics": "prometheus"},
            "prometheus": {"url": prom.url},
        },
    )
    at = open_triage()
    assert not at.error, [e.value for e in at.error]
    burning = at.dataframe[0].value
    # the exporter's p95 (~430 ms) misses the 300 ms threshold every minute: a burn of exactly 1 / 1%
    latency = burning[burning["SLO"] == "api-latency-p95"]
    assert set(latency["Region"]) == {*regions, "global"}
    assert latency["Burn 1h"].to_numpy() == pytest.approx(100.0)
    assert (latency["Alert"].str.contains("page")).all()
    # its 503s (0.02-0.12% of requests) burn the 99.9% availability budget slower than the page rules
    availability = burning[burning["SLO"] == "api-availability"]
    assert not availability["Alert"].str.contains("page").any()
    assert len(at.get("plotly_chart")) == 4


def test_config_deploys_show_as_changes(app_config, tmp_path) -> None:
    from tests.conftest import write_config

    when = (DEMO_END - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    write_config(
        tmp_path,
        {
            "demo": {"refresh_after": "3650d"},
            "deploy": [
                {"at": when, "description": "deploy payments v9", "region": "ap-southeast-1"},
                {"at": when, "description": "deploy elsewhere", "region": "us-east-1"},
            ],
        },
    )
    at = open_triage()
    changes = at.dataframe[1].value
    assert "deploy payments v9" in set(changes["title"])
    assert "deploy elsewhere" not in set(changes["title"])  # another region's change is not this one's


def test_region_loss_table_on_triage(app_config) -> None:
    """Issue 6: the N+1 check is on Triage too, one row per region that could fail."""
    at = open_triage()
    assert not at.exception
    table = next(df.value for df in at.dataframe if "failed_region" in df.value.columns)
    assert sorted(table["failed_region"]) == sorted(
        ["us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-northeast-1", "ap-southeast-1"]
    )
    assert all(any(c in s for c in ("green", "amber", "red")) for s in table["status"])


def test_budget_overrun_guardrail_on_triage(app_config) -> None:
    """Issue 7: budgets projected to overrun this month are shown to on-call too (the demo's CDN budget)."""
    at = open_triage()
    banners = " ".join(w.value for w in at.warning)
    assert "projected to overrun" in banners and "CDN (CloudFront)" in banners


def test_a_range_past_the_data_keeps_the_last_known_state(app_config) -> None:
    """A custom range ending two hours after the newest data point used to turn the page into a ticket
    with "None" burns: missing data read as a recovery. Now the state is the last known, and says so."""
    at = AppTest.from_file(str(REPO_ROOT / "dashboard.py"), default_timeout=120)
    at.query_params["range"] = "custom"
    at.query_params["start"] = (DEMO_END - timedelta(hours=22)).strftime("%Y-%m-%dT%H:%MZ")
    at.query_params["end"] = (DEMO_END + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%MZ")
    at.run()
    at.switch_page("pages/triage.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    warnings = " ".join(w.value for w in at.warning)
    assert f"No data after {DEMO_END:%Y-%m-%d %H:%M} UTC" in warnings
    burning = at.dataframe[0].value
    paging = burning[burning["Alert"].str.contains("page")]
    assert set(paging["Region"]) == {"ap-southeast-1"}
    assert paging["Burn 1h"].notna().all() and (paging["Burn 1h"] > 1).all()


def test_an_executed_failover_is_part_of_the_picture(app_config) -> None:
    """After the failover away from the paging region ran (sandbox, now: after the demo's newest data
    point), Triage still offered it and no page showed it (issue 15, #2)."""
    from connectors.sandbox_executor import SandboxExecutor
    from connectors.store import open_db
    from core.actions import ActionService
    from core.auth import Identity
    from core.config import load_config
    from core.ports import Change

    cfg = load_config(app_config.path)
    db = open_db(app_config.store)
    service = ActionService(app_config.store, cfg, SandboxExecutor(db, cfg))
    carol, bob = Identity("carol@example.com", "Carol", "demo"), Identity("bob@example.com", "Bob", "demo")
    weights = dict.fromkeys(cfg.region_codes, 1.0) | {"ap-southeast-1": 0.0}
    proposal = service.propose(carol, "api-dns-weights", Change(weights=weights), "page in ap-southeast-1")
    service.approve(bob, proposal.id)
    assert service.execute(carol, proposal.id).action.state == "succeeded"

    at = open_triage()
    assert not at.exception, [e.value for e in at.exception]
    assert not [b for b in at.button if b.key == "triage_failover"], "offers a failover that already ran"
    assert any(f"Failover #{proposal.id}" in c.value and "has run" in c.value for c in at.caption)
    table = next(d.value for d in at.dataframe if "Action" in d.value.columns and "State" in d.value.columns)
    assert f"#{proposal.id}" in set(table["Action"]) and "succeeded" in set(table["State"])
    changes = next(d.value for d in at.dataframe if "kind" in d.value.columns)
    ran = changes[changes["kind"] == "action"]
    assert len(ran) == 1 and "after the newest data point" in ran["detail"].iloc[0]
    assert any("ap-southeast-1 drained" in i.value for i in at.info)
    # the region's charts carry it as a marker (the page's 🛠️ annotation)
    charts = [c.proto.spec for c in at.get("plotly_chart")]
    assert sum("🛠️" in spec or "\\ud83d\\udee0" in spec for spec in charts) >= 4

    at.switch_page("pages/overview.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("ap-southeast-1 drained" in i.value for i in at.info)
    at.switch_page("pages/capacity.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("ap-southeast-1 drained" in i.value for i in at.info)


def test_scale_out_proposes_a_real_step(app_config) -> None:
    """The quick action pre-filled 7 -> 7 while its own dry run predicted 100% utilisation (issue 15,
    #7): the form now holds more instances than the target has, and says how it got there."""
    at = open_triage()
    at.button(key="triage_scale").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "Actions"
    target = at.session_state["act_target"]
    assert target == "api-ap-southeast-1"
    notes = " ".join(i.value for i in at.info)
    current = int(re.search(r"needs ceil\((\d+) x", notes).group(1))
    assert at.session_state[f"act_desired_{target}"] > current
    assert f"Suggested {at.session_state[f'act_desired_{target}']} instances" in notes


def test_failover_dry_run_says_whether_the_others_can_absorb_it(app_config) -> None:
    at = open_triage()
    at.button(key="triage_failover").click().run()
    assert not at.exception, [e.value for e in at.exception]
    said = " ".join(m.value for m in [*at.success, *at.warning, *at.error])
    assert "Can the other regions absorb ap-southeast-1's traffic?" in said


def test_burning_now_counts_what_alerts_and_lists_no_ok_rows(app_config) -> None:
    """'Burning now (4)' listed two rows marked ok (issue 15, #9)."""
    at = open_triage()
    burning = at.dataframe[0].value
    alerting = burning["Alert"].str.contains("page|ticket").sum()
    heading = next(s.value for s in at.subheader if "Burning now" in s.value)
    assert heading.endswith(f"({alerting})")
    assert not burning["Alert"].str.contains("ok").any()


# ---- recording incidents and changes (issue 18) ------------------------------------------------------
def _fill_record(at: AppTest, user: str | None, title: str, kind: str = "change") -> AppTest:
    at.toggle(key="rec_open").set_value(True).run()
    if user:
        at.selectbox(key="triage_rec_user").select(user).run()
    when = DEMO_END - timedelta(hours=1)
    at.radio(key="rec_kind").set_value(kind)
    at.date_input(key="rec_day").set_value(when.date())
    at.time_input(key="rec_time").set_value(when.time())
    at.text_input(key="rec_title").input(title)
    return at


def test_an_operator_records_a_change_and_it_shows_in_recent_changes(app_config) -> None:
    from core import audit
    from core.incidents import list_recorded_events

    at = _fill_record(open_triage(), "carol@example.com", "feature flag checkout-v2 on")
    at.button[[b.label for b in at.button].index("Record")].click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("Recorded change" in s.value for s in at.success)
    (event,) = list_recorded_events(app_config.store, DEMO_END - timedelta(days=1), DEMO_END)
    assert (event.kind, event.recorded_by, event.region) == ("change", "carol@example.com", "")
    assert audit.entries(app_config.store)[-1].event == "record_change"
    at.run()  # the next run reads it through ui.events(), like every page
    titles = {t for df in at.dataframe if "title" in df.value for t in df.value["title"]}
    assert "feature flag checkout-v2 on" in titles


def test_a_viewer_cannot_record_and_bad_input_names_the_field(app_config) -> None:
    from core.incidents import list_recorded_events

    viewer = _fill_record(open_triage(), None, "anything")
    record = viewer.button[[b.label for b in viewer.button].index("Record")]
    assert record.disabled
    at = _fill_record(open_triage(), "carol@example.com", "", kind="incident")
    at.button[[b.label for b in at.button].index("Record")].click().run()
    assert any("title: say what happened" in e.value for e in at.error)
    assert list_recorded_events(app_config.store, DEMO_END - timedelta(days=30), DEMO_END) == []


def test_memory_and_queue_depth_of_the_focus_region(app_config) -> None:
    at = open_triage()
    tiles = {m.label: m.value for m in at.metric}
    assert tiles["Memory (now)"].endswith("%") and tiles["Queue depth (now)"].endswith("msgs")
