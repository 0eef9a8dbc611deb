"""What other pages suggest, turned into a proposal draft (core/actions/prefill.py)."""

from __future__ import annotations

from core.actions import resolve_prefill
from tests.core.actions.support import AAS, ECS, FAILOVER, WEIGHTS, make_config


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
