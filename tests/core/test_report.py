"""Weekly report: ISO weeks, section figures against hand computation, notes; HTML/ZIP export."""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from connectors.store import StoreBillingSource, StoreMetricsSource, open_db
from connectors.store_notes import load_notes, save_note
from core.config import load_config
from core.report import ReportInputs, Week, build_report, export_zip, last_complete_week
from headroom.render import render_html
from headroom.wiring import gather_review_inputs
from tests.conftest import DEMO_END, SHIPPED_CONFIG
from tests.core.actions.support import declare_sev1

CFG = load_config(SHIPPED_CONFIG)


def test_iso_weeks() -> None:
    w = Week.parse("2026-W47")
    assert w.start == datetime(2026, 11, 16, tzinfo=UTC) and w.end == datetime(2026, 11, 23, tzinfo=UTC)
    assert w.shifted(-1).label == "2026-W46" and w.shifted(-4).label == "2026-W43"
    assert Week.parse("2021-W01").start == datetime(2021, 1, 4, tzinfo=UTC)  # ISO year differs from calendar
    assert Week.containing(datetime(2026, 11, 22, 23, 59, tzinfo=UTC)).label == "2026-W47"
    assert last_complete_week(datetime(2026, 11, 23, 0, 0, tzinfo=UTC)).label == "2026-W47"
    assert last_complete_week(datetime(2026, 11, 22, 23, 0, tzinfo=UTC)).label == "2026-W46"
    with pytest.raises(ValueError, match="2026-W47"):
        Week.parse("2026-47")


def _hourly(
    weeks: list[Week], per_region: dict[str, float], peak: dict[str, tuple[int, float]]
) -> pd.DataFrame:
    parts = []
    for w in weeks:
        ts = pd.date_range(w.start, w.end, freq="1h", inclusive="left")
        for region, rate in per_region.items():
            values = np.full(len(ts), rate)
            if w.label in peak:
                hour, value = peak[w.label]
                values[hour] = value if region == "us-east-1" else rate
            parts.append(
                pd.DataFrame({"ts": ts, "region": region, "metric": "requests_per_second", "value": values})
            )
    return pd.concat(parts, ignore_index=True)


def test_traffic_section_matches_hand_computation() -> None:
    week = Week.parse("2026-W47")
    weeks = [week.shifted(k) for k in (-4, -1, 0)]
    frame = _hourly(
        weeks,
        {"us-east-1": 100.0, "eu-west-1": 50.0},
        {"2026-W47": (30, 400.0), "2026-W46": (10, 200.0), "2026-W43": (5, 100.0)},
    )
    report = build_report(ReportInputs(CFG, frame), week)
    table = report.section("traffic").tables["traffic"].set_index("region")
    # 167 hours at 100 req/s + one hour at 400 req/s, in millions of requests
    assert table.loc["us-east-1", "requests_million"] == pytest.approx((167 * 100 + 400) * 3600 / 1e6)
    assert table.loc["us-east-1", "peak_rps"] == 400.0
    assert table.loc["us-east-1", "peak_at"] == week.start + timedelta(hours=30)
    assert table.loc["us-east-1", "peak_rps_vs_prev_week_pct"] == pytest.approx(100.0)  # 400 vs 200
    assert table.loc["us-east-1", "peak_rps_vs_4_weeks_ago_pct"] == pytest.approx(300.0)  # 400 vs 100
    assert table.loc["all regions", "peak_rps"] == 450.0
    # the summary speaks of the global peak: 450 vs 250 the week before, vs 150 four weeks earlier
    assert (
        "+80.0% vs the previous week, +200.0% vs four weeks earlier" in report.section("traffic").summary[0]
    )


def test_partial_earlier_week_is_not_compared() -> None:
    week = Week.parse("2026-W47")
    frame = _hourly([week, week.shifted(-1)], {"us-east-1": 100.0}, {})
    frame = frame[frame["ts"] >= week.shifted(-1).start + timedelta(days=3)]  # previous week 4/7 covered
    report = build_report(ReportInputs(CFG, frame), week)
    table = report.section("traffic").tables["traffic"].set_index("region")
    assert np.isnan(table.loc["us-east-1", "peak_rps_vs_prev_week_pct"])
    assert any("Not enough data" in line for line in report.section("traffic").summary)


def test_headroom_at_peak() -> None:
    week = Week.parse("2026-W47")
    frame = _hourly([week], {"us-east-1": 100.0}, {"2026-W47": (3, 2400.0)})
    table = (
        build_report(ReportInputs(CFG, frame), week)
        .section("headroom")
        .tables["headroom"]
        .set_index("region")
    )
    fleet = CFG.fleet_for("us-east-1")
    usable = fleet.max_instances * fleet.capacity_per_instance * fleet.target_utilization  # 90 x 50 x 0.6
    assert usable == 2700
    assert table.loc["us-east-1", "headroom_pct"] == pytest.approx((1 - 2400 / 2700) * 100)
    assert table.loc["us-east-1", "state"] == "amber"  # 11% is under 30% but not under 10%
    assert table.loc["us-east-1", "instances_needed_at_peak"] == 80


@pytest.fixture
def demo_inputs(demo_store: Path, tmp_path: Path):
    import shutil

    store = tmp_path / "h.db"
    shutil.copy(demo_store, store)
    db = open_db(store)
    week = last_complete_week(DEMO_END)
    return gather_review_inputs(CFG, StoreMetricsSource(db), StoreBillingSource(db), db, week), week, db


def _seed_review_material(db, week: Week) -> dict:
    """What a real week leaves behind: a forecast saved before it, a scenario marked for review, an
    action executed during it (through the guarded path and the sandbox executor)."""
    from connectors.store_forecasts import save_snapshot
    from connectors.store_scenarios import save_scenario
    from core.actions import ActionService
    from core.auth import Identity
    from core.capacity import Fleet, Scenario, TargetTracking
    from core.forecast import forecast
    from core.ports import Change
    from headroom.wiring import build_executor

    src = StoreMetricsSource(db)
    history = src.query_range(
        ["requests_per_second"],
        week.start - timedelta(days=14),
        week.start - timedelta(hours=1),
        timedelta(hours=1),
        ["us-east-1"],
    )
    series = history.set_index("ts")["value"].asfreq("1h")
    result = forecast(series, horizon=24 * 7, model="seasonal_naive")
    snap_id = save_snapshot(
        db,
        "requests_per_second",
        "us-east-1",
        result.frame,
        result.model,
        model_key="seasonal_naive",
        created_at=week.start - timedelta(hours=1),
    )
    fleet = Fleet.from_config(CFG.fleet_for("eu-west-1"))
    save_scenario(
        db,
        Scenario("eu-west-1 +30%", "eu-west-1", fleet, TargetTracking(target_utilization=0.6), growth_pct=30),
        marked_for_review=True,
    )
    during = week.start + timedelta(days=2)
    service = ActionService(db, CFG, build_executor(CFG, db), clock=lambda: during)
    carol = Identity("carol@example.com", source="demo")
    action = service.propose(carol, "api-eu-west-1", Change(desired=30), "review test: pre-scale for launch")
    if action.state != "approved":
        action = service.approve(Identity("bob@example.com", source="demo"), action.id)
    service.execute(carol, action.id)
    return {"snapshot": snap_id, "forecast": result, "action": action.id}


def test_demo_week_has_every_section_with_content(demo_inputs) -> None:
    from core.forecast import score_against_actual
    from core.slo import SLO, error_budget

    inputs, week, db = demo_inputs
    seeded = _seed_review_material(db, week)
    # the wiring reads what the store holds when the inputs are gathered: gather again after seeding
    inputs = gather_review_inputs(CFG, StoreMetricsSource(db), StoreBillingSource(db), db, week)
    report = build_report(inputs, week)
    assert [s.key for s in report.sections] == [
        "slo",
        "traffic",
        "forecast",
        "headroom",
        "region_loss",
        "scenarios",
        "costs",
        "actions",
    ]
    for section in report.sections:
        assert not section.missing, (section.key, section.missing)
        assert section.summary and section.tables, section.key

    # SLO budgets are exactly what core.slo.error_budget says at the week's edges
    budgets = report.section("slo").tables["budgets"]
    slo = SLO.from_config(CFG.slo[0])
    row = budgets[(budgets["slo"] == slo.name) & (budgets["region"] == "ap-southeast-1")].iloc[0]
    at_end = error_budget(inputs.slo_metrics, slo, week.end, region="ap-southeast-1")
    at_start = error_budget(inputs.slo_metrics, slo, week.start, region="ap-southeast-1")
    assert row["budget_end_pct"] == pytest.approx(at_end.remaining_fraction * 100)
    assert row["budget_start_pct"] == pytest.approx(at_start.remaining_fraction * 100)

    # the saved forecast is scored against the week's actual traffic
    scored = report.section("forecast").tables["forecast_vs_actual"].iloc[0]
    assert scored["snapshot"] == seeded["snapshot"] and scored["region"] == "us-east-1"
    frame = seeded["forecast"].frame
    in_week = frame[(frame["ts"] >= week.start) & (frame["ts"] < week.end)]
    actual = inputs.metrics[
        (inputs.metrics["metric"] == "requests_per_second") & (inputs.metrics["region"] == "us-east-1")
    ]
    expected = score_against_actual(in_week, actual.set_index("ts")["value"])
    assert scored["smape_pct"] == pytest.approx(expected["smape"])

    assert list(report.section("scenarios").tables["scenarios"]["name"]) == ["eu-west-1 +30%"]
    actions = report.section("actions").tables["actions"]
    assert list(actions["id"]) == [seeded["action"]] and actions["state"].iloc[0] == "succeeded"
    assert set(report.section("region_loss").tables["region_loss"]["failed_region"]) == set(CFG.region_codes)

    # costs: the week's spend per service adds up to the billing rows of the week's seven days
    from core.costs import budget_statuses, normalise_billing

    spend = report.section("costs").tables["spend_by_service"]
    billing = normalise_billing(inputs.costs)
    first, last = week.start.date(), (week.end - timedelta(days=1)).date()
    in_week = billing[(billing["day"] >= first) & (billing["day"] <= last)]
    assert spend["week_usd"].sum() == pytest.approx(in_week["cost_usd"].sum())
    budgets = report.section("costs").tables["budgets"]
    expected = budget_statuses(billing[billing["day"] <= last], CFG.budget, last)
    assert list(budgets["state"]) == [s.state for s in expected]


def test_notes_roundtrip_and_html_and_zip(demo_inputs) -> None:
    inputs, week, db = demo_inputs
    save_note(
        db, week, "traffic", "Decision: raise us-east-1 max to 110 <b>now</b>", author="bob@example.com"
    )
    save_note(db, week, "traffic", "Decision: raise us-east-1 max to 110", author="bob@example.com")
    assert load_notes(db, week) == {"traffic": "Decision: raise us-east-1 max to 110"}
    assert load_notes(db, week.shifted(-1)) == {}
    report = build_report(inputs, week)
    # a second, independent build: its HTML and its ZIP must be byte-identical to the first's (one build
    # serves both comparisons; a build of the demo week is the slow part of this test)
    again = build_report(inputs, week)
    html_text = render_html(report, load_notes(db, week))
    assert html_text == render_html(again, load_notes(db, week))  # deterministic
    assert html_text.count("<section id=") == len(report.sections)
    assert "Decision: raise us-east-1 max to 110" in html_text
    assert "cdn.plot.ly" not in html_text.split("</script>", 1)[1]  # no CDN fetch: plotly.js is inline
    names = zipfile.ZipFile(io.BytesIO(export_zip(report))).namelist()
    assert f"{week.label}/traffic__traffic.csv" in names and f"{week.label}/headroom__headroom.csv" in names
    assert export_zip(report) == export_zip(again)
    # the notes travel with the tables (issue 15, #8): the CSV ZIP used to leave them out
    with_notes = zipfile.ZipFile(io.BytesIO(export_zip(report, load_notes(db, week))))
    notes_csv = with_notes.read(f"{week.label}/notes.csv").decode()
    assert "traffic" in notes_csv and "Decision: raise us-east-1 max to 110" in notes_csv


def test_unsigned_break_glass_is_listed_in_the_actions_section_until_signed(tmp_path: Path) -> None:
    """Issue 18: a break-glass failover stays in the review, overdue ones called out, until countersigned."""
    from connectors.sandbox_executor import SandboxExecutor
    from core.actions import ActionService, unsigned_break_glass
    from core.auth import Identity
    from core.ports import Change
    from core.report import actions_section

    store = tmp_path / "store.db"
    open_db(store).conn.close()
    week = Week.parse("2026-W47")
    at = week.start + timedelta(days=2)
    service = ActionService(store, CFG, SandboxExecutor(store, CFG), clock=lambda: at)
    incident_id = declare_sev1(store, CFG.region_codes, at)
    bob = Identity("bob@example.com", "Bob", "demo")
    change = Change(weights={"eu-central-1": 1.0, "eu-west-1": 0.0})
    action_id = service.break_glass(bob, "api-dns-failover-eu", change, "down", incident_id).action.id
    inputs = ReportInputs(
        config=CFG,
        metrics=pd.DataFrame(),
        actions=pd.DataFrame(),
        break_glass_unsigned=unsigned_break_glass(store),
    )
    section = actions_section(inputs, week)
    table = section.tables["break_glass_unsigned"]
    assert list(table["action_id"]) == [action_id] and bool(
        table["overdue"].iloc[0]
    )  # 24 h passed by week end
    assert any("1 break-glass failover(s) not countersigned, 1 overdue" in s for s in section.summary)
    service.countersign(Identity("erin@example.com", "Erin", "demo"), action_id)
    signed = actions_section(
        ReportInputs(
            config=CFG,
            metrics=pd.DataFrame(),
            actions=pd.DataFrame(),
            break_glass_unsigned=unsigned_break_glass(store),
        ),
        week,
    )
    assert "break_glass_unsigned" not in signed.tables


def test_utilisation_and_waste_against_the_fleet_targets() -> None:
    """Hand computation: us-east-1's api fleet, 10 instances all week, CPU 40% (p95 40%) against its
    0.8 target and memory 30% against 0.6: p95/target = 0.5 for both, so half of the 1680
    instance-hours could go: 840 instance-hours x its price."""
    import tomllib

    from core.config import config_from_dict
    from core.report import utilisation_table

    data = tomllib.loads(SHIPPED_CONFIG.read_text())
    for fleet in data["fleet"]:
        if fleet["region"] == "us-east-1":
            fleet |= {"cpu_target": 0.8, "memory_target": 0.6}
    cfg = config_from_dict(data)
    week = Week.parse("2026-W47")
    ts = pd.date_range(week.start, week.end, freq="1h", inclusive="left")
    cpu = np.full(len(ts), 0.4)
    cpu[:5] = 0.9  # 5 hours over the CPU target: over 3% of the hours, but not the p95
    parts = [
        pd.DataFrame({"ts": ts, "region": "us-east-1", "metric": m, "value": v})
        for m, v in (("cpu_utilization", cpu), ("memory_utilization", 0.3), ("instances", 10.0))
    ]
    inputs = ReportInputs(config=cfg, metrics=pd.concat(parts, ignore_index=True))
    table = utilisation_table(inputs, week).set_index("region")
    assert list(table.index) == ["us-east-1"]  # regions without data are left out
    row = table.loc["us-east-1"]
    price = cfg.fleet_for("us-east-1").price_per_hour
    assert row["cpu_p95_pct"] == pytest.approx(40) and row["memory_p95_pct"] == pytest.approx(30)
    assert row["hours_over_target_pct"] == pytest.approx(5 / 168 * 100)
    assert row["instance_hours"] == pytest.approx(1680)
    assert row["waste_pct"] == pytest.approx(50) and row["waste_instance_hours"] == pytest.approx(840)
    assert row["waste_usd"] == pytest.approx(840 * price)


def test_the_review_cache_key_stops_moving_once_the_weeks_bill_has_settled() -> None:
    from core.report import review_data_version
    from core.report.types import BILL_SETTLES_AFTER

    week = Week.parse("2026-W47")
    just_after = week.end + timedelta(hours=5)
    assert review_data_version(week, just_after) == just_after  # the bill of its last days may change
    later = [week.end + BILL_SETTLES_AFTER + timedelta(minutes=m) for m in (0, 1, 60 * 24 * 5)]
    assert {review_data_version(week, t) for t in later} == {week.end + BILL_SETTLES_AFTER}
