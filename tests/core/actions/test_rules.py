"""The pure guardrail and change helpers (core/actions/rules.py)."""

from __future__ import annotations

import pytest

from core.actions import drain_region, evaluate, matches, promote_region
from core.ports import Change, TargetState
from tests.core.actions.support import T0, make_config


def test_matches_compares_only_requested_fields():
    assert matches(Change(desired=5), TargetState(desired=5, min_instances=1))
    assert not matches(Change(desired=5), TargetState(desired=4))
    assert matches(Change(weights={"a": 0.0}), TargetState(weights={"a": 0.0, "b": 3.0}))
    assert not matches(Change(weights={"c": 0.0}), TargetState(weights={"a": 0.0}))
    assert not matches(Change(desired=1), None)


def test_asg_desired_is_clamped_into_new_bounds_for_the_step_check():
    target = make_config().target[2]  # api-ap-southeast-1, ASG, max_step 8
    checks, after, size = evaluate(
        target,
        TargetState(desired=3, min_instances=2, max_instances=20),
        Change(min_instances=12),
        "x",
        now=T0,
        last_change_at=None,
    )
    assert after.desired == 12 and size == 10
    assert not next(c for c in checks if c.name.startswith("largest step")).passed


def test_promote_and_drain_helpers():
    assert promote_region({"eu-west-1": 1.0, "eu-central-1": 0.0}, "eu-central-1") == {
        "eu-west-1": 0.0,
        "eu-central-1": 1.0,
    }
    assert drain_region({"a": 2.0, "b": 1.0}, "a") == {"a": 0.0}
    with pytest.raises(KeyError):
        drain_region({"a": 1.0}, "b")
