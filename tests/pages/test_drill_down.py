"""Drill-down and views kept in the URL (issue 15, #10): a region opens Triage on it, the budget banner
opens Costs on the budget, and the page-level choice is in the link."""

from __future__ import annotations

from urllib.parse import parse_qs

from streamlit.testing.v1 import AppTest

from tests.conftest import REPO_ROOT


def run(page: str, params: dict[str, str] | None = None) -> AppTest:
    at = AppTest.from_file(str(REPO_ROOT / "dashboard.py"), default_timeout=120)
    for key, value in (params or {}).items():
        at.query_params[key] = value
    at.run()
    if page != "overview":
        at.switch_page(f"pages/{page}.py")
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_triage_opens_on_the_region_in_its_link(app_config) -> None:
    codes = ["us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-northeast-1", "ap-southeast-1"]
    at = run("triage")
    burning = at.dataframe[0].value
    first = burning["Region"].iloc[0]
    others = [r for r in burning["Region"] if r in codes and r != first]
    calm = next(r for r in codes if r not in set(burning["Region"]))
    if others:
        at = run("triage", {"region": others[0]})
        assert any(f"📍 {others[0]}" in s.value for s in at.subheader), [s.value for s in at.subheader]
        assert at.query_params["region"] in (others[0], [others[0]])
    # a region with nothing burning says so, and shows the fastest burn
    at = run("triage", {"region": calm})
    assert any(f"Nothing is burning in {calm}" in i.value for i in at.info)
    assert any(f"📍 {first}" in s.value for s in at.subheader)


def test_budget_banner_opens_costs_on_the_budget(app_config) -> None:
    at = run("overview")
    links = [e for e in at.get("page_link") if "Open the Costs page on the budget" in e.proto.label]
    assert links, "the budget banner has no link to Costs"
    name = links[0].proto.label.split("'")[1]
    assert parse_qs(links[0].proto.query_string)["budget"] == [name]
    # the link's budget is the one shown, even when it is not the one Costs would pick by itself
    costs = run("costs", {"budget": "us-east-1 all services"})
    assert costs.selectbox(key="costs_budget").value == "us-east-1 all services"


def test_slo_card_is_kept_in_the_link(app_config) -> None:
    """An alert row on Triage opens its SLO card through ?slo= (the same link a copied URL holds)."""
    at = run("slo")
    names = at.selectbox(key="slo_pick").options
    other = next(n for n in names if n != at.selectbox(key="slo_pick").value)
    at = run("slo", {"slo": other})
    assert at.selectbox(key="slo_pick").value == other
    assert at.query_params["slo"] in (other, [other])
