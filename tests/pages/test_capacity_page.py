"""AppTest of the Capacity page on the demo world: controls drive the simulation, scenarios are saved,
loaded, renamed and deleted, the region-loss table names the weak regions, and "propose this change"
hands the plan to the Actions page."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from connectors.store import open_db
from connectors.store_scenarios import list_scenarios, load_scenario
from tests.conftest import REPO_ROOT


@pytest.fixture
def page(app_config) -> AppTest:
    at = AppTest.from_file(str(REPO_ROOT / "dashboard.py"), default_timeout=180)
    at.run()
    at.switch_page("pages/capacity.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def summary(at: AppTest):
    return next(d.value for d in at.dataframe if "peak_instances" in d.value.columns)


def test_capacity_page_runs_the_configured_fleet_and_policies(page: AppTest) -> None:
    assert page.title[0].value == "Capacity"
    table = summary(page)
    assert table["scenario"].tolist() == [
        "Target tracking (AWS)",
        "Kubernetes HPA",
        "Predictive + target tracking",
    ]
    assert (table["cost_usd"] > 0).all()
    assert len(page.get("plotly_chart")) == 4


def test_growth_raises_the_peak_and_the_cost(page: AppTest) -> None:
    before = summary(page).set_index("scenario")
    page.slider(key="cap_growth").set_value(100).run()
    assert not page.exception
    after = summary(page).set_index("scenario")
    tt = "Target tracking (AWS)"
    assert after.loc[tt, "peak_instances"] > before.loc[tt, "peak_instances"]
    assert after.loc[tt, "cost_usd"] > before.loc[tt, "cost_usd"]


def test_save_rename_load_and_delete_a_scenario(page: AppTest, app_config) -> None:
    page.slider(key="cap_growth").set_value(30).run()
    page.selectbox(key="cap_save_pick").set_value("Kubernetes HPA")
    page.text_input(key="cap_save_name").set_value("hpa +30%")
    page.checkbox(key="cap_save_review").check()
    page.button(key="cap_save").click().run()
    assert not page.exception
    db = open_db(app_config.store)
    saved = list_scenarios(db)
    assert saved["name"].tolist() == ["hpa +30%"] and bool(saved["marked_for_review"].iloc[0])
    assert load_scenario(db, "hpa +30%").growth_pct == 30

    page.selectbox(key="cap_saved_pick").set_value("hpa +30%")
    page.text_input(key="cap_saved_new_name").set_value("hpa growth")
    page.button(key="cap_saved_rename").click().run()
    assert list_scenarios(db)["name"].tolist() == ["hpa growth"]

    # load it back after moving the controls away
    page.slider(key="cap_growth").set_value(0).run()
    page.selectbox(key="cap_saved_pick").set_value("hpa growth")
    page.button(key="cap_saved_load").click().run()
    assert not page.exception
    assert page.slider(key="cap_growth").value == 30
    assert page.multiselect(key="cap_policies").value == ["KubernetesHPA"]

    page.selectbox(key="cap_saved_pick").set_value("hpa growth")
    page.checkbox(key="cap_saved_confirm").check().run()
    page.button(key="cap_saved_delete").click().run()
    assert list_scenarios(db).empty


def test_region_loss_table_shows_every_region(page: AppTest) -> None:
    loss = next(
        d.value for d in page.dataframe if "failed_region" in d.value.columns and "breaks" in d.value.columns
    )
    assert sorted(loss["failed_region"]) == sorted(
        ["us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-northeast-1", "ap-southeast-1"]
    )
    assert set(loss["status"]) <= {"🟢 green", "🟡 amber", "🔴 red", "⚪ unknown"}


def test_propose_this_change_prefills_the_actions_page(page: AppTest) -> None:
    page.selectbox(key="cap_propose_pick").set_value("Target tracking (AWS)")
    page.button(key="cap_propose").click().run()
    assert not page.exception
    assert page.title[0].value == "Actions"
    if "actions_prefill" in page.session_state:  # not consumed (yet) by the Actions page
        prefill = page.session_state["actions_prefill"]
        assert prefill["target"] == "api-us-east-1" and prefill["region"] == "us-east-1"
        assert prefill["min_instances"] == 6 and prefill["max_instances"] == 90
        assert 6 <= prefill["desired"] <= 90 and "Capacity plan 'Target tracking (AWS)'" in prefill["reason"]
    else:  # the Actions page turned it into its proposal form
        assert any("Pre-filled" in m.value for m in [*page.info, *page.markdown, *page.caption])


def test_forecast_demand_source(page: AppTest) -> None:
    page.radio(key="cap_source").set_value("forecast").run()
    page.radio(key="cap_demand_model").set_value("Seasonal naive (fast)").run()
    assert not page.exception, [e.value for e in page.exception]
    caption = next(c.value for c in page.caption if c.value.startswith("Forecast demand"))
    assert "seasonal naive" in caption
    # the forecast starts after the history window ends (2026-11-23 12:00 UTC in the test world)
    assert "2026-11-23 13:00 →" in caption
    assert (summary(page)["cost_usd"] > 0).all()


def test_min_zero_warns_about_cpu_policies(page: AppTest) -> None:
    page.slider(key="cap_minmax").set_value((0, 90)).run()
    assert any("cannot scale out from zero" in w.value for w in page.warning)


def test_all_policies_side_by_side_and_a_bad_schedule(page: AppTest) -> None:
    page.multiselect(key="cap_policies").set_value(
        ["TargetTracking", "StepScaling", "KubernetesHPA", "Scheduled", "Predictive"]
    ).run()
    assert not page.exception
    assert len(summary(page)) == 5
    page.text_area(key="cap_sched_text").set_value("0 9 * * MON-FRI, 20, 90\n0 25 * * *, 6, 90").run()
    assert not page.exception
    assert any("line 2" in e.value and "outside" in e.value for e in page.error)
    assert "Scheduled" not in summary(page)["scenario"].tolist() and len(summary(page)) == 4


def test_a_saved_scenario_runs_exactly_as_saved_beside_the_controls(page: AppTest, app_config) -> None:
    from connectors.store_scenarios import save_scenario
    from core.capacity import Fleet, Scenario, StepAdjustment, StepScaling

    steps = (StepAdjustment(None, -0.4, -1), StepAdjustment(0.0, None, 10))  # not what the controls build
    saved = Scenario(
        "big steps", "us-east-1", Fleet(50, 6, 90, 180, 0.0857), StepScaling(steps=steps, threshold=0.5)
    )
    save_scenario(open_db(app_config.store), saved)
    page.run()
    page.multiselect(key="cap_compare_saved").set_value(["big steps"]).run()
    assert not page.exception
    table = summary(page).set_index("scenario")
    assert "saved: big steps" in table.index
    assert table.loc["saved: big steps", "policy"] == "Step scaling (AWS)"


def test_capacity_keeps_its_controls_after_visiting_another_page(page: AppTest) -> None:
    """Streamlit drops a widget's state when a run does not draw it; coming back from another page used
    to crash (`cannot unpack non-iterable int object` from the min/max slider) with the controls reset."""
    page.slider(key="cap_growth").set_value(40).run()
    page.slider(key="cap_minmax").set_value((2, 12)).run()
    assert not page.exception
    page.switch_page("pages/overview.py")
    page.run()
    assert not page.exception
    page.switch_page("pages/capacity.py")
    page.run()
    assert not page.exception, [e.value for e in page.exception]
    assert page.slider(key="cap_growth").value == 40
    assert page.slider(key="cap_minmax").value == (2, 12)


# ---- queue workers (issue 18) ----------------------------------------------------------------------
def test_queue_workers_reproduce_the_miyabi_table_and_simulate_the_backlog(page: AppTest) -> None:
    page.toggle(key="cap_q_on").set_value(True).run()
    assert not page.exception, [e.value for e in page.exception]
    lookup = next(
        d.value for d in page.dataframe if "queue_depth" in d.value.columns and "step" in d.value.columns
    )
    # tests/core/test_capacity.py::test_miyabi_queue_depth_table's figures, from the page's preset table
    assert lookup["step"].tolist() == [1, 1, 5, 5, 10, 10, 20, 20, 50, 50, 100, 100]
    # one job per 15 minutes: 4 per hour = 1/900 per second, shown without a 0.01 floor
    page.number_input(key="cap_q_rate").set_value(4.0)
    page.selectbox(key="cap_q_unit").set_value("jobs per hour").run()
    assert "= 0.00111111 jobs per second per worker" in " ".join(c.value for c in page.caption)
    assert len(page.get("plotly_chart")) == 5  # the backlog chart joins the four
    assert any("largest backlog" in c.value for c in page.caption)


def test_queue_workers_backlog_tracking_and_replay_on_measured_depth(page: AppTest) -> None:
    page.toggle(key="cap_q_on").set_value(True).run()
    page.radio(key="cap_q_policy").set_value("Backlog per instance (target tracking)").run()
    assert not page.exception, [e.value for e in page.exception]
    assert any("largest backlog" in c.value for c in page.caption)
    page.radio(key="cap_q_policy").set_value("Step scaling on queue depth")
    page.selectbox(key="cap_q_metric").set_value(
        "queue depth (replay the policy on the measured depth)"
    ).run()
    assert not page.exception, [e.value for e in page.exception]
    assert any("Replayed on the measured queue depth" in c.value for c in page.caption)
    page.number_input(key="cap_q_rate").set_value(0.0).run()
    assert any("must process more than 0 jobs" in e.value for e in page.error)


def test_a_rerun_without_new_plan_inputs_reuses_the_simulations(app_config, monkeypatch) -> None:
    """Issue 17: the scenarios' simulations are cached by their inputs; a click that changes no plan
    input (here: a plain rerun, and picking a scenario to save) does not simulate again."""
    import core.capacity

    simulated: list[list[str]] = []
    real = core.capacity.run_scenarios

    def counting(scenarios, *args, **kwargs):
        simulated.append([sc.name for sc in scenarios])
        return real(scenarios, *args, **kwargs)

    monkeypatch.setattr(core.capacity, "run_scenarios", counting)
    at = AppTest.from_file(str(REPO_ROOT / "dashboard.py"), default_timeout=180)
    at.run()
    at.switch_page("pages/capacity.py")
    at.run()
    before = len(simulated)
    at.slider(key="cap_growth").set_value(15).run()  # a plan no other test asked for: simulated here
    assert not at.exception, [e.value for e in at.exception]
    assert len(simulated) == before + 1 and len(simulated[-1]) == 3
    first = summary(at)
    at.run()
    at.selectbox(key="cap_save_pick").set_value("Kubernetes HPA").run()
    assert len(simulated) == before + 1
    assert summary(at).equals(first)
    at.slider(key="cap_spike").set_value(2.0).run()  # a new plan input: simulated again
    assert len(simulated) == before + 2
