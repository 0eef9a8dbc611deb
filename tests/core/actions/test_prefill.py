"""What other pages suggest, turned into a proposal draft (core/actions/prefill.py)."""

from __future__ import annotations

from core.actions import resolve_prefill
from tests.core.actions.support import AAS, ASG, ECS, FAILOVER, WEIGHTS, make_config


def test_prefill_from_capacity_and_triage():
    cfg = make_config()
    d = resolve_prefill(cfg, {"target": ECS, "desired": 14.2, "reason": "plan: p95 peak"})
    assert (d.target, d.desired, d.reason, d.notes) == (ECS, 15, "plan: p95 peak", ())
    d = resolve_prefill(cfg, {"region": "us-west-2", "desired": 10})
    assert (d.target, d.desired, d.min_instances) == (AAS, None, 10) and "minimum" in d.notes[0]
    d = resolve_prefill(cfg, {"kind": "failover", "region": "eu-west-1", "reason": "eu-west-1 burning"})
    assert (d.target, d.promote_region) == (FAILOVER, "eu-central-1")
    d = resolve_prefill(cfg, {"kind": "failover", "region": "ap-northeast-1"})
    assert (d.target, d.drain_region) == (WEIGHTS, "ap-northeast-1")
    d = resolve_prefill(cfg, {"target": "nope", "desired": "many"})
    assert d.target is None and len(d.notes) == 2
    d = resolve_prefill(cfg, {"target": ECS, "min_instances": 3, "max_instances": 9})
    assert d.min_instances is None and "ECS" in d.notes[0]
    assert resolve_prefill(cfg, None) == resolve_prefill(cfg, {})


def test_scale_out_step_follows_the_hpa_rule_within_the_guardrails() -> None:
    """Triage's "Scale out" used to pre-fill 7 -> 7 beside a predicted 100% utilisation."""
    from core.actions import scale_out_step

    asg = next(t for t in make_config().target if t.name == ASG)  # 2..20, max_step 8, factor 2
    # ceil(7 x 1.00 / 0.60) = 12: within the step of 8 and the factor 2 (14)
    assert scale_out_step(7, 1.0, 0.6, asg)[0] == 12
    # ceil(7 x 0.62 / 0.60) = 8 (HPA), and never fewer than one more
    assert scale_out_step(7, 0.62, 0.6, asg)[0] == 8
    assert scale_out_step(7, 0.30, 0.6, asg)[0] == 8
    # ceil(10 x 1.5 / 0.6) = 25: the largest step (8) and max (20) bound it: 18
    desired, note = scale_out_step(10, 1.5, 0.6, asg)
    assert desired == 18 and "limited to 18" in note
    assert scale_out_step(19, 1.5, 0.6, asg)[0] == 20
