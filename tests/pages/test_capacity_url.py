"""Capacity's inputs live in the URL, so a copied link reproduces the plan, and an input value outside
what a control allows is named with the value used instead (issue 15, #4 and #6): Streamlit silently
showed a number input's minimum for it, and a slider raised."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from tests.conftest import REPO_ROOT


def open_capacity(params: dict[str, str] | None = None) -> AppTest:
    at = AppTest.from_file(str(REPO_ROOT / "dashboard.py"), default_timeout=180)
    for key, value in (params or {}).items():
        at.query_params[key] = value
    at.run()
    at.switch_page("pages/capacity.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def warnings(at: AppTest) -> str:
    return " ".join(w.value for w in at.warning)


def test_the_plan_is_written_to_the_url_and_a_copied_link_reproduces_it(app_config) -> None:
    first = open_capacity()
    first.slider(key="cap_growth").set_value(40).run()
    first.selectbox(key="cap_failed").set_value("eu-west-1").run()
    first.number_input(key="cap_warmup").set_value(120).run()
    first.multiselect(key="cap_policies").set_value(["StepScaling", "KubernetesHPA"]).run()
    assert not first.exception
    link = {k: first.query_params[k] for k in first.query_params}
    assert link["growth"] == ["40"] or link["growth"] == "40", link

    copied = open_capacity({k: v[0] if isinstance(v, list) else v for k, v in link.items()})
    assert copied.slider(key="cap_growth").value == 40
    assert copied.selectbox(key="cap_failed").value == "eu-west-1"
    assert copied.number_input(key="cap_warmup").value == 120
    assert copied.multiselect(key="cap_policies").value == ["StepScaling", "KubernetesHPA"]
    assert "🔗" not in warnings(copied) and "🔢" not in warnings(copied)


def test_out_of_range_values_from_the_link_are_named_with_the_value_used(app_config) -> None:
    at = open_capacity({"growth": "500", "warmup": "99999", "instances": "0-9999", "spike": "abc"})
    text = warnings(at)
    assert "Traffic growth (%)" in text and "500 (from the link)" in text and "using 200 instead" in text
    assert "Warm-up (s)" in text and "99999" in text and "using 3600 instead" in text
    assert at.slider(key="cap_growth").value == 200
    assert at.number_input(key="cap_warmup").value == 3600
    top = at.slider(key="cap_minmax").value[1]
    assert "Min / max instances" in text and f"using 0 – {top} instead" in text and top < 9999
    assert "`spike=abc` is not valid" in text and "expected a number" in text


def test_an_out_of_range_value_in_session_state_is_named_not_dropped(app_config) -> None:
    at = open_capacity()
    at.switch_page("pages/overview.py")
    at.run()
    # the value kept for the return visit (ui.keep_widget_values) is beyond the control's bound
    at.session_state["_cap_kept"] = {**at.session_state["_cap_kept"], "cap_pred_lead": 7200}
    at.switch_page("pages/capacity.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert "Lead time (s)" in warnings(at) and "7200" in warnings(at) and "using 3600" in warnings(at)
    assert at.number_input(key="cap_pred_lead").value == 3600
