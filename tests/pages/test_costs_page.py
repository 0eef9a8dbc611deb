"""The Costs page in AppTest: from the demo world (figures equal core/costs on the same store), with
the sidebar's region filter, from Cost Explorer served by moto_server (hand-computed figures), and with
an unreachable billing source (a banner, no traceback)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from connectors.demo import demo_world_end
from connectors.store import StoreBillingSource, open_db
from core import costs
from core.config import load_config
from core.units import DAYS_PER_MONTH
from tests.conftest import REPO_ROOT, write_config
from tests.connectors.awsdata import ce_group, ce_period, seed_cost_and_usage

PAGE = str(REPO_ROOT / "pages" / "costs.py")
TODAY = date(2026, 11, 23)  # the demo world's end in tests (tests/conftest.py DEMO_END)
EC2 = "Amazon Elastic Compute Cloud - Compute"
CDN = "Amazon CloudFront"


def run_page(regions: list[str] | None = None) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=120)
    if regions is not None:
        at.session_state["regions"] = regions
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def chart(at: AppTest, key: str) -> dict:
    for element in at.get("plotly_chart"):
        if element.proto.id.endswith(key):
            return json.loads(element.proto.spec)
    raise AssertionError(f"no chart {key}")


def table_with(at: AppTest, *columns: str):
    """The first table having these columns (st.dataframe elements carry no key in AppTest)."""
    for df in at.dataframe:
        if set(columns) <= set(df.value.columns):
            return df.value
    raise AssertionError(f"no table with columns {columns}")


def demo_truth(app_config) -> tuple[date, object]:
    """Today and the billing frame the page reads, straight from the store."""
    db = open_db(app_config.store)
    today = demo_world_end(db).date()
    billing = StoreBillingSource(db).daily_costs(costs.load_start(today, 30), today)
    return today, billing


def test_demo_world_figures_match_core(app_config) -> None:
    today, billing = demo_truth(app_config)
    cfg = load_config(app_config.path)
    at = run_page()
    assert at.title[0].value == "Costs"
    projection = costs.project_month(billing, today)
    shown = metrics(at)
    assert shown[f"Month to date ({today:%b %Y})"] == f"${projection.spent_usd:,.0f}"
    assert shown["Projected month end"] == f"${projection.projected_usd:,.0f}"
    assert shown["Today so far"] == f"${projection.today_so_far_usd:,.0f}"

    table = table_with(at, "projected_eom_usd")
    expected = costs.budget_statuses(billing, cfg.budget, today)
    assert list(table["budget"]) == [b.name for b in cfg.budget]
    assert [s.split()[-1] for s in table["state"]] == [s.state for s in expected]
    assert list(table["projected_eom_usd"]) == pytest.approx([s.projected_usd for s in expected])
    # the demo world is built so that at least one budget is projected to overrun
    assert any(s.state == "red" for s in expected)

    daily = chart(at, "costs_daily_chart")
    bars = [t["name"] for t in daily["data"] if t["type"] == "bar"]
    assert set(bars) == set(billing["service"])
    assert daily["layout"]["yaxis"]["title"]["text"] == "USD per day"
    budget = chart(at, "costs_budget_chart")
    assert budget["layout"]["yaxis"]["title"]["text"] == "cumulative USD"
    assert {t["name"] for t in budget["data"]} >= {"actual", "projection", "80% band", "95% band"}

    units = table_with(at, "usd_per_million_requests")
    assert list(units["region"]) == [*sorted(cfg.region_codes), costs.ALL_REGIONS]
    assert (units["usd_per_million_requests"] > 0).all()
    labels = {b.label for b in at.get("download_button")}
    assert {"⬇️ Budgets (CSV)", "⬇️ Daily spend by service (CSV)", "⬇️ Unit cost by region (CSV)"} <= labels


def test_break_down_by_region_and_region_filter(app_config) -> None:
    today, billing = demo_truth(app_config)
    at = run_page(["eu-west-1", "us-east-1"])
    at.segmented_control(key="costs_group_by").set_value("region").run()
    assert not at.exception
    bars = [t["name"] for t in chart(at, "costs_daily_chart")["data"] if t["type"] == "bar"]
    assert sorted(bars) == ["eu-west-1", "us-east-1"]
    view = billing[billing["region"].isin(["eu-west-1", "us-east-1"])]
    assert (
        metrics(at)[f"Month to date ({today:%b %Y})"] == f"${costs.project_month(view, today).spent_usd:,.0f}"
    )
    units = table_with(at, "usd_per_million_requests")
    assert list(units["region"]) == ["eu-west-1", "us-east-1", costs.ALL_REGIONS]
    # budgets keep their own scope whatever the sidebar shows
    cfg = load_config(app_config.path)
    table = table_with(at, "projected_eom_usd")
    assert list(table["spent_usd"]) == pytest.approx(
        [s.spent_usd for s in costs.budget_statuses(billing, cfg.budget, today)]
    )


def test_saved_capacity_scenario_against_the_run_rate(app_config) -> None:
    from connectors.store_scenarios import save_scenario
    from core.capacity import Fleet, Scenario, TargetTracking

    today, billing = demo_truth(app_config)
    db = open_db(app_config.store)
    plan = Scenario("plan A", "us-east-1", Fleet(50.0, 6, 90, 180, 0.0857), TargetTracking())
    # $700 of instances over a 7-day window: $100 a day
    window = (datetime(2026, 11, 16, tzinfo=UTC), datetime(2026, 11, 23, tzinfo=UTC))
    save_scenario(db, plan, summary={"cost_usd": 700.0}, window=window)
    save_scenario(db, Scenario("never run", "eu-west-1", Fleet(50.0, 4, 60), TargetTracking()))
    at = run_page()
    saved = table_with(at, "run_rate_usd_per_day").set_index("name")
    assert list(saved.index) == ["plan A"]  # one without a run has no cost to compare
    assert saved.loc["plan A", "usd_per_day"] == pytest.approx(100.0)
    rate = costs.run_rate(billing, today, EC2, "us-east-1")
    assert saved.loc["plan A", "run_rate_usd_per_day"] == pytest.approx(rate)
    assert saved.loc["plan A", "delta_usd_per_month"] == pytest.approx((100.0 - rate) * DAYS_PER_MONTH)


def test_unreachable_billing_source_is_a_banner_not_a_traceback(app_config, monkeypatch, tmp_path) -> None:
    path = write_config(
        tmp_path,
        {
            "sources": {"billing": "cost_explorer"},
            "demo": {"refresh_after": "3650d"},
            "store": {"path": str(app_config.store)},
            # nothing listens on port 9: connection refused, one attempt
            "cost_explorer": {"endpoint_url": "http://127.0.0.1:9", "max_attempts": 1, "timeout": "5s"},
        },
        name="unreachable.toml",
    )
    monkeypatch.setenv("HEADROOM_CONFIG", str(path))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    at = run_page()
    assert any("AWS Cost Explorer is unavailable" in e.value for e in at.error)
    assert any("No billing data" in i.value for i in at.info)


# ---- Cost Explorer (moto) through the same page --------------------------------------------------------------
# Nov 1-23 (Nov 23 is "today", the demo world's end): EC2 in us-east-1 100 a day, CloudFront (NoRegion ->
# 'global') 200 a day, and a support refund of -50 on Tue Nov 10 (NoRegion); Nov 23 so far: 40 + 80.
def ce_results() -> dict:
    periods = []
    day = date(2026, 11, 1)
    while day < date(2026, 11, 23):
        groups = [ce_group(EC2, "us-east-1", 100.0), ce_group(CDN, "NoRegion", 200.0)]
        if day == date(2026, 11, 10):
            groups.append(ce_group("AWS Support (Business)", "NoRegion", -50.0))
        periods.append(ce_period(day.isoformat(), groups))
        day += timedelta(days=1)
    periods.append(
        ce_period("2026-11-23", [ce_group(EC2, "us-east-1", 40.0), ce_group(CDN, "NoRegion", 80.0)], True)
    )
    return {"ResultsByTime": periods}


@pytest.mark.slow
def test_cost_explorer_from_moto_through_the_same_page(
    app_config, aws_env, monkeypatch, tmp_path: Path
) -> None:
    seed_cost_and_usage(aws_env, *[ce_results()] * 4)  # every distinct request takes one copy
    path = write_config(
        tmp_path,
        {
            "sources": {"billing": "cost_explorer"},
            "demo": {"refresh_after": "3650d"},
            "store": {"path": str(app_config.store)},
            "cost_explorer": {"endpoint_url": aws_env, "max_attempts": 1},
            "budget": [
                {"name": "CE total", "monthly_usd": 8000.0},
                {"name": "CE CloudFront", "monthly_usd": 6500.0, "service": CDN},
                {"name": "CE global", "monthly_usd": 7000.0, "region": "global"},
            ],
        },
        name="ce.toml",
    )
    monkeypatch.setenv("HEADROOM_CONFIG", str(path))
    at = run_page()
    assert not at.error, [e.value for e in at.error]
    shown = metrics(at)
    # closed days Nov 1-22: 22 x 300 - 50
    assert shown["Month to date (Nov 2026)"] == "$6,550"
    assert shown["Today so far"] == "$120"
    # the projections are core.costs' on the bill Cost Explorer returned (now in the store's cache)
    db = open_db(app_config.store)
    cached = StoreBillingSource(db).daily_costs(date(2026, 8, 1), TODAY)
    assert cached["cost_usd"].sum() == pytest.approx(22 * 300 - 50 + 120)  # exactly the seeded bill
    assert shown["Projected month end"] == f"${costs.project_month(cached, TODAY).projected_usd:,.0f}"
    budgets = load_config(path).budget
    expected = {s.name: s for s in costs.budget_statuses(cached, budgets, TODAY)}

    table = table_with(at, "projected_eom_usd").set_index("budget")
    for name, status in expected.items():
        assert table.loc[name, "projected_eom_usd"] == pytest.approx(status.projected_usd)
        assert table.loc[name, "overrun_date"] == status.overrun_date
    # total: 6550 by Nov 22 and about 300 a day after: over 8000 within the month
    assert table.loc["CE total", "state"].endswith("red")
    assert date(2026, 11, 23) <= table.loc["CE total", "overrun_date"] <= date(2026, 11, 30)
    # CloudFront: 22 x 200 = 4400 spent; a constant history is its own forecast: + 8 x 200 = 6000,
    # a zero-width band, 92% of 6500 -> amber
    assert table.loc["CE CloudFront", "spent_usd"] == pytest.approx(4400.0)
    assert table.loc["CE CloudFront", "projected_eom_usd"] == pytest.approx(6000.0)
    assert table.loc["CE CloudFront", "state"].endswith("amber")
    # 'global' holds CloudFront and the refund: 4350 spent
    assert table.loc["CE global", "spent_usd"] == pytest.approx(4350.0)

    movers = table_with(at, "service", "change_usd").set_index("service")
    # Nov 16-22 against Nov 9-15: only the refund moved (-50 the week before)
    assert movers.loc["AWS Support (Business)", "change_usd"] == pytest.approx(50.0)
    bars = [t["name"] for t in chart(at, "costs_daily_chart")["data"] if t["type"] == "bar"]
    assert bars[:2] == [CDN, EC2]  # biggest spender first
    # unit cost: the CE bill over the demo world's traffic; only us-east-1 has a regional bill (Nov 1-22)
    units = table_with(at, "usd_per_million_requests").set_index("region")
    assert list(units.index) == ["us-east-1", costs.ALL_REGIONS]
    assert units.loc["us-east-1", "cost_usd"] == pytest.approx(22 * 100.0)
    assert units.loc[costs.ALL_REGIONS, "cost_usd"] == pytest.approx(6550.0)  # 'global' rows included

    # a region with no regional bill: nothing to project from, said plainly
    at.session_state["regions"] = ["eu-west-1"]
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    shown = metrics(at)
    assert shown["Month to date (Nov 2026)"] == "$0"
    assert shown["Projected month end"] == "n/a" and shown["Run rate"] == "n/a/day"
    # budgets keep their own scope
    assert table_with(at, "projected_eom_usd")["spent_usd"].tolist() == pytest.approx(
        [6550.0, 4400.0, 4350.0]
    )


def test_overview_banner_lists_the_budgets_projected_to_overrun(app_config) -> None:
    today, billing = demo_truth(app_config)
    cfg = load_config(app_config.path)
    at_risk = costs.budgets_projected_to_overrun(billing, cfg.budget, today)
    assert at_risk, "the demo world is built with a budget projected to overrun"
    at = AppTest.from_file(str(REPO_ROOT / "pages" / "overview.py"), default_timeout=120)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    banner = " ".join(w.value for w in at.warning)
    assert f"{len(at_risk)} budget(s) projected to overrun in {today:%B %Y}" in banner
    for status in at_risk:
        assert costs.budget_alert_text(status) in banner


def test_month_to_date_says_today_is_not_included(app_config) -> None:
    """'Month to date' silently left out today (issue 15, #9): the tile now says which days it holds."""
    at = run_page()
    tile = next(m for m in at.metric if m.label.startswith("Month to date"))
    assert tile.delta == "01 Nov – 22 Nov, closed days; today not included"


def test_a_run_rate_above_the_fleets_control_is_clamped_with_a_message(app_config) -> None:
    """Today's run rate paid for more instances than the scenario control allows (4 x the fleet's max):
    Streamlit raised on the default above max_value and the page died (issue 15, #6)."""
    import tomllib

    import tomli_w

    data = tomllib.loads(app_config.path.read_text())
    for fleet in data["fleet"]:
        fleet["min_instances"], fleet["max_instances"] = 1, 1
    app_config.path.write_text(tomli_w.dumps(data))
    at = run_page()
    warning = " ".join(w.value for w in at.warning)
    assert "Average instances" in warning and "run rate" in warning, warning
    box = next(n for n in at.number_input if n.label == "Average instances")
    assert box.value == 4.0
