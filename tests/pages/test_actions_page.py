"""AppTest of the Actions page as each role, refusals shown as messages, and two sessions executing the
same approved action at once (exactly one change)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from connectors.sandbox_executor import SandboxExecutor, sandbox_changes
from core import audit
from core.actions import ActionService
from core.auth import Identity
from core.config import load_config
from core.ports import Change
from tests.conftest import REPO_ROOT, write_config
from tests.core.actions.support import declare_sev1

PAGE = str(REPO_ROOT / "pages" / "actions.py")
ECS = "api-us-east-1"
CAROL, BOB = Identity("carol@example.com", "Carol", "demo"), Identity("bob@example.com", "Bob", "demo")


@dataclass
class PageWorld:
    config_path: Path
    store: Path

    def service(self, clock=None) -> ActionService:
        cfg = load_config(self.config_path)
        return ActionService(self.store, cfg, SandboxExecutor(self.store, cfg), clock=clock)

    def page(self, user: str | None) -> AppTest:
        at = AppTest.from_file(PAGE, default_timeout=60)
        if user:
            at.session_state["demo_user"] = user
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        return at


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> PageWorld:
    """An isolated config whose store starts empty (the sandbox starts every fleet at its minimum)."""
    path = write_config(tmp_path, {"demo": {"refresh_after": "3650d"}})
    monkeypatch.setenv("HEADROOM_CONFIG", str(path))
    return PageWorld(path, tmp_path / "headroom.db")


def messages(at: AppTest) -> str:
    return " ".join(
        [e.value for e in at.error]
        + [s.value for s in at.success]
        + [i.value for i in at.info]
        + [w.value for w in at.warning]
    )


def captions(at: AppTest) -> str:
    return " ".join(c.value for c in at.caption)


def fill(at: AppTest, desired: int, reason: str, target: str = ECS) -> AppTest:
    at.selectbox(key="act_target").set_value(target).run()
    at.number_input(key=f"act_desired_{target}").set_value(desired)
    at.text_area(key="act_reason").input(reason)
    return at.run()


def test_viewer_sees_plans_but_cannot_propose_approve_or_execute(world: PageWorld):
    world.service().propose(CAROL, ECS, Change(desired=12), "launch")
    small = world.service().propose(CAROL, "api-eu-west-1", Change(desired=6), "small")
    at = world.page(None)
    assert "role **viewer**" in " ".join(m.value for m in at.caption)
    fill(at, 8, "I would like more")
    assert at.button(key="act_submit").disabled
    assert "can see plans but not propose" in captions(at)
    assert "cannot approve" in captions(at) and "cannot execute" in captions(at)
    keys = {b.key for b in at.button}
    assert f"approve_{small.id - 1}" not in keys and f"execute_{small.id}" not in keys
    assert "Audit chain intact" in messages(at)


def test_operator_small_change_runs_straight_away(world: PageWorld):
    at = world.page("carol@example.com")
    fill(at, 9, "a little more headroom for the evening peak")
    submit = at.button(key="act_submit")
    assert submit.label == "Propose and run now" and not submit.disabled
    submit.click().run()
    assert not at.exception
    assert "succeeded" in messages(at)
    assert [c.after["desired"] for c in sandbox_changes(world.store)] == [9]
    assert [e.event for e in audit.entries(world.store)] == ["propose", "execute", "succeeded"]
    assert "Audit chain intact: 3 entries" in messages(at)


def test_big_change_goes_operator_to_approver_to_execution(world: PageWorld):
    carol = world.page("carol@example.com")
    fill(carol, 12, "Black Friday starts in two hours")
    assert carol.button(key="act_submit").label == "Propose for approval"
    carol.button(key="act_submit").click().run()
    assert "needs an approver" in messages(carol)
    action = world.service().list_actions()[0]
    assert action.state == "proposed" and sandbox_changes(world.store) == []
    # the proposer, even as an approver, could not approve it: carol is an operator and sees no button
    assert f"approve_{action.id}" not in {b.key for b in carol.button}

    bob = world.page("bob@example.com")
    assert not bob.button(key=f"approve_{action.id}").disabled
    bob.text_input(key=f"approve_note_{action.id}").input("checked the forecast")
    bob.button(key=f"approve_{action.id}").click().run()
    assert "approved" in messages(bob)

    carol.run()
    carol.button(key=f"execute_{action.id}").click().run()
    assert "succeeded" in messages(carol)
    assert [c.after["desired"] for c in sandbox_changes(world.store)] == [12]
    events = [e.event for e in audit.entries(world.store, action_id=action.id)]
    assert events == ["propose", "approve", "execute", "succeeded"]


def test_approver_cannot_approve_their_own_proposal(world: PageWorld):
    own = world.service().propose(BOB, ECS, Change(desired=12), "launch")
    bob = world.page("bob@example.com")
    assert bob.button(key=f"approve_{own.id}").disabled
    assert "two-person rule" in captions(bob)


def test_approver_rejects_with_a_reason_and_empty_reason_is_refused(world: PageWorld):
    action = world.service().propose(CAROL, ECS, Change(desired=12), "launch")
    erin = world.page("erin@example.com")
    erin.button(key=f"reject_{action.id}").click().run()
    assert "Rejection refused" in messages(erin) and "reason is required" in messages(erin)
    erin.text_input(key=f"approve_note_{action.id}").input("the forecast does not show this peak")
    erin.button(key=f"reject_{action.id}").click().run()
    assert world.service().get(action.id).state == "rejected"


def test_guardrail_failures_are_shown_and_block_the_proposal(world: PageWorld):
    at = world.page("alice@example.com")
    fill(at, 95, "way more")
    table = at.dataframe[0].value
    failing = table[table["result"] == "❌ fail"]
    assert list(failing["guardrail"]) == ["within target bounds 6..90", "largest step 20", "step factor x2"]
    assert at.button(key="act_submit").disabled
    assert "Fix the failing guardrails" in captions(at)


def test_freeze_window_is_shown_as_a_failing_guardrail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    now = datetime.now(UTC)
    freeze = {
        "start": (now - timedelta(hours=1)).isoformat(),
        "end": (now + timedelta(hours=1)).isoformat(),
        "reason": "release freeze",
    }
    import tomllib

    from tests.conftest import SHIPPED_CONFIG

    targets = tomllib.loads(SHIPPED_CONFIG.read_text())["target"]
    for t in targets:
        if t["name"] == ECS:
            t["freeze"] = [freeze]
    path = write_config(tmp_path, {"target": targets})
    monkeypatch.setenv("HEADROOM_CONFIG", str(path))
    at = PageWorld(path, tmp_path / "headroom.db").page("carol@example.com")
    fill(at, 8, "need capacity")
    table = at.dataframe[0].value
    freeze_row = table[table["guardrail"] == "freeze windows"].iloc[0]
    assert freeze_row["result"] == "❌ fail" and "release freeze" in freeze_row["detail"]
    assert at.button(key="act_submit").disabled


def test_refusal_from_core_is_a_clear_message_not_a_traceback(world: PageWorld):
    carol = world.page("carol@example.com")
    fill(carol, 12, "launch")
    # meanwhile another tab proposes a change to the same target
    world.service().propose(
        Identity("alice@example.com", "Alice", "demo"), ECS, Change(desired=10), "other tab"
    )
    carol.button(key="act_submit").click().run()
    assert not carol.exception
    assert "Proposal refused" in messages(carol) and "still open" in messages(carol)


def test_expired_approval_is_expired_on_load_and_cannot_run(world: PageWorld):
    past = datetime.now(UTC) - timedelta(minutes=45)
    old = world.service(clock=lambda: past)
    action = old.propose(CAROL, ECS, Change(desired=12), "launch")
    old.approve(BOB, action.id)
    carol = world.page("carol@example.com")
    assert f"execute_{action.id}" not in {b.key for b in carol.button}
    assert world.service().get(action.id).state == "expired"
    assert "expire" in [e.event for e in audit.entries(world.store, action_id=action.id)]


def test_prefill_from_capacity_fills_the_form(world: PageWorld):
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["demo_user"] = "carol@example.com"
    at.session_state["actions_prefill"] = {"target": ECS, "desired": 12, "reason": "capacity plan: p95 peak"}
    at.run()
    assert at.selectbox(key="act_target").value == ECS
    assert at.number_input(key=f"act_desired_{ECS}").value == 12
    assert at.text_area(key="act_reason").value == "capacity plan: p95 peak"
    assert "Pre-filled" in messages(at)
    assert at.button(key="act_submit").label == "Propose for approval"  # 6 -> 12 is more than 5


def test_a_prefilled_count_outside_the_control_is_clamped_with_a_message(world: PageWorld):
    """A suggestion beyond what the number input allows is shown clamped and named, not silently replaced
    by the input's minimum (Streamlit's own behaviour) or a page error."""
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["demo_user"] = "carol@example.com"
    at.session_state["actions_prefill"] = {"target": ECS, "desired": 250_000, "reason": "load test"}
    at.run()
    assert not at.exception
    assert at.number_input(key=f"act_desired_{ECS}").value == 100_000
    warned = " ".join(w.value for w in at.warning)
    assert "Desired instances" in warned and "250000 is outside" in warned and "using 100000" in warned


def test_prefill_failover_from_triage_selects_the_secondary(world: PageWorld):
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["demo_user"] = "carol@example.com"
    at.session_state["actions_prefill"] = {
        "kind": "failover",
        "region": "eu-west-1",
        "reason": "eu-west-1 burning",
    }
    at.run()
    assert at.selectbox(key="act_target").value == "api-dns-failover-eu"
    assert at.radio(key="act_primary_api-dns-failover-eu").value == "eu-central-1"
    at.button(key="act_submit").click().run()
    action = world.service().list_actions()[0]
    assert action.kind == "failover" and action.state == "proposed"
    assert action.change.weights == {"eu-west-1": 0.0, "eu-central-1": 1.0}


@pytest.fixture
def serialised_script_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Python 3.11's ast.parse is not thread-safe ("AST constructor recursion depth mismatch" when two
    threads parse at once), and each AppTest run compiles the page again. Compiling is one-at-a-time;
    the page runs, and its Execute callbacks race, fully concurrently."""
    from streamlit.runtime.scriptrunner.script_cache import ScriptCache

    lock = threading.Lock()
    original = ScriptCache.get_bytecode

    def get_bytecode_locked(self, script_path: str):
        with lock:
            return original(self, script_path)

    monkeypatch.setattr(ScriptCache, "get_bytecode", get_bytecode_locked)


@pytest.mark.usefixtures("serialised_script_parsing")
def test_two_sessions_executing_at_once_change_the_target_once(world: PageWorld):
    action = world.service().propose(CAROL, ECS, Change(desired=12), "launch")
    world.service().approve(BOB, action.id)
    tabs = [world.page("carol@example.com"), world.page("alice@example.com")]
    for at in tabs:
        at.button(key=f"execute_{action.id}").click()
    barrier = threading.Barrier(len(tabs))
    errors: list[BaseException] = []

    def run(at: AppTest) -> None:
        barrier.wait()
        try:
            at.run()
        except BaseException as exc:  # asserted below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(at,)) for at in tabs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and not any(at.exception for at in tabs)
    assert len(sandbox_changes(world.store)) == 1
    events = [e.event for e in audit.entries(world.store, action_id=action.id)]
    assert events == ["propose", "approve", "execute", "succeeded"]
    shown = [messages(at) for at in tabs]
    assert sum("succeeded:" in m for m in shown) == 1
    assert sum("already" in m for m in shown) == 1


def test_history_filters_and_audit_export(world: PageWorld):
    svc = world.service()
    done = svc.propose(CAROL, "api-eu-west-1", Change(desired=6), "small")
    svc.execute(CAROL, done.id)
    svc.propose(CAROL, ECS, Change(desired=12), "launch")
    at = world.page("alice@example.com")
    history = next(d.value for d in at.dataframe if "proposed_by" in d.value.columns)
    assert set(history["state"]) == {"succeeded", "proposed"}
    at.multiselect(key="hist_states").set_value(["succeeded"]).run()
    history = next(d.value for d in at.dataframe if "proposed_by" in d.value.columns)
    assert list(history["id"]) == [done.id]
    audit_frame = next(d.value for d in at.dataframe if "hash" in d.value.columns)
    assert list(audit_frame["event"]) == ["propose", "succeeded", "execute", "propose"]  # newest first
    assert "Audit chain intact: 4 entries" in messages(at)


def test_tampered_log_turns_the_badge_red(world: PageWorld):
    import sqlite3

    svc = world.service()
    svc.propose(CAROL, ECS, Change(desired=12), "launch")
    conn = sqlite3.connect(world.store)
    conn.execute("DROP TRIGGER audit_no_update")
    conn.execute("UPDATE audit SET actor = 'someone-else@example.com' WHERE seq = 1")
    conn.commit()
    conn.close()
    at = world.page("dave@example.com")
    assert "Audit chain BROKEN at entry #1" in messages(at)


def test_a_value_changed_in_the_same_interaction_as_the_click_is_not_proposed_unseen(world: PageWorld):
    at = world.page("carol@example.com")
    fill(at, 8, "more headroom")  # the dry run shows 6 -> 8
    at.number_input(key=f"act_desired_{ECS}").set_value(12)
    at.button(key="act_submit").click().run()  # typed and clicked at once: the dry run never showed 12
    assert "review the dry run below and click again" in messages(at)
    assert world.service().list_actions() == []
    at.button(key="act_submit").click().run()  # now the dry run shows 6 -> 12
    assert [a.change.desired for a in world.service().list_actions()] == [12]


@pytest.mark.parametrize(
    ("user", "role", "can_propose", "can_approve", "can_execute", "can_cancel"),
    [
        (None, "viewer", False, False, False, False),
        ("dave@example.com", "viewer", False, False, False, False),
        ("carol@example.com", "operator", True, False, True, True),  # carol proposed both: she may cancel
        ("bob@example.com", "approver", True, True, True, False),
        ("alice@example.com", "admin", True, True, True, True),
    ],
)
def test_controls_for_each_role(
    world: PageWorld,
    user: str | None,
    role: str,
    can_propose: bool,
    can_approve: bool,
    can_execute: bool,
    can_cancel: bool,
):
    pending = world.service().propose(CAROL, ECS, Change(desired=12), "launch")
    ready = world.service().propose(CAROL, "api-eu-west-1", Change(desired=6), "small")
    at = world.page(user)
    assert f"role **{role}**" in " ".join(c.value for c in at.caption)
    fill(at, 6, "no-op check", target="api-ap-southeast-1")
    at.number_input(key="act_desired_api-ap-southeast-1").set_value(3)
    at.run()
    keys = {b.key: b for b in at.button}
    assert (not keys["act_submit"].disabled) == can_propose
    assert (f"approve_{pending.id}" in keys and not keys[f"approve_{pending.id}"].disabled) == can_approve
    assert (f"execute_{ready.id}" in keys) == can_execute
    assert (f"cancel_{pending.id}" in keys) == can_cancel
    assert not at.exception


def test_a_blank_form_shows_what_to_fill_in_not_failed_guardrails(world: PageWorld):
    """Before any input, the dry run listed failed guardrails (issue 15, #9)."""
    at = world.page("carol@example.com")
    table = at.dataframe[0].value
    assert not (table["result"] == "❌ fail").any(), table
    waiting = ["reason given", "change is valid for this target", "is a change"]
    assert set(table.loc[table["guardrail"].isin(waiting), "result"]) == {"✏️ to fill in"}
    assert at.button(key="act_submit").disabled
    assert "Enter the change and a reason above" in captions(at)


# ---- break-glass (issue 18) ------------------------------------------------------------------------
def _declare_sev1(world: PageWorld) -> int:
    cfg = load_config(world.config_path)
    return declare_sev1(
        world.store, cfg.region_codes, datetime.now(UTC), actor="carol@example.com", role="operator"
    )


def test_break_glass_from_the_page_then_a_second_approver_countersigns(world: PageWorld):
    _declare_sev1(world)
    bob = world.page("bob@example.com")
    bob.selectbox(key="bg_standby").select("eu-central-1")
    bob.text_input(key="bg_reason").input("eu-west-1 is down, promote Frankfurt")
    bob.button(key="bg_go").click().run()
    assert not bob.exception
    assert "Break-glass #1" in messages(bob) and "countersign" in messages(bob)
    assert [c.after["weights"] for c in sandbox_changes(world.store)] == [
        {"eu-west-1": 0.0, "eu-central-1": 1.0}
    ]
    assert [e.event for e in audit.entries(world.store, action_id=1)] == [
        "break_glass",
        "execute",
        "succeeded",
    ]
    # bob cannot countersign his own; erin can, and then the banner is gone
    bob.button(key="countersign_1").click().run()
    assert "Countersign refused" in messages(bob)
    erin = world.page("erin@example.com")
    erin.button(key="countersign_1").click().run()
    assert "countersigned" in messages(erin)
    erin.run()
    assert "countersign_1" not in {b.key for b in erin.button}


def test_an_operator_cannot_break_glass_from_the_page(world: PageWorld):
    _declare_sev1(world)
    carol = world.page("carol@example.com")
    assert carol.button(key="bg_go").disabled
    assert sandbox_changes(world.store) == []


def test_break_glass_needs_an_open_sev1(world: PageWorld):
    bob = world.page("bob@example.com")
    assert "bg_go" not in {b.key for b in bob.button}
    assert "open sev1 incident" in messages(bob)
