"""core.capacity.in_force: the N+1 check with the routing the executor has now (issue 15: after an
executed failover, the table still used the config's weights)."""

from __future__ import annotations

import pytest

from core.capacity import (
    RoutingRecords,
    demand_in_force,
    region_loss_check,
    region_loss_in_force,
    routing_in_force,
)
from tests.core.test_capacity import region_demand, three_region_config


def test_a_drained_region_sends_its_traffic_to_the_others_by_the_weights_in_force() -> None:
    cfg = three_region_config(max_b=40, max_c=30)
    drained = RoutingRecords(
        "dns", "route53_weighted", {"us-east-1": 0.0, "us-west-2": 0.3, "eu-west-1": 0.2}
    )
    routing = routing_in_force(cfg, [drained])
    assert routing.weights["us-east-1"] == 0.0 and routing.differs_from(cfg)
    assert routing.drained["us-east-1"] == pytest.approx({"us-west-2": 0.6, "eu-west-1": 0.4})
    assert routing.drained_by == {"us-east-1": "dns"}
    demand = region_demand()
    moved = demand_in_force(demand, routing)
    assert (moved["us-east-1"] == 0).all()
    assert moved["us-west-2"].iloc[0] == pytest.approx(1200 + 0.6 * 2000)
    assert moved.sum(axis=1).to_numpy() == pytest.approx(demand.sum(axis=1).to_numpy())  # nothing lost


def test_the_region_loss_table_in_force_differs_from_the_configs() -> None:
    cfg = three_region_config(max_b=40, max_c=30)
    routing = routing_in_force(cfg, [RoutingRecords("dns", "route53_weighted", {"us-east-1": 0.0})])
    configured = region_loss_check(cfg, region_demand()).set_index(["failed_region", "region"])
    in_force = region_loss_in_force(cfg, region_demand(), routing).set_index(["failed_region", "region"])
    # us-west-2 already carries 60% of us-east-1's traffic: losing eu-west-1 now moves all of eu-west-1's
    # traffic (and what it took from us-east-1) to us-west-2, the only survivor with weight
    assert in_force.loc[("eu-west-1", "us-west-2"), "share_pct"] == pytest.approx(100)
    assert configured.loc[("eu-west-1", "us-west-2"), "share_pct"] == pytest.approx(0.3 / 0.8 * 100)
    assert in_force.loc[("eu-west-1", "us-west-2"), "peak_rps_after"] == pytest.approx(
        1.3 * (1200 + 800 + 2000)
    )
    assert in_force.loc[("eu-west-1", "us-east-1"), "share_pct"] == 0  # drained: takes nothing


def test_a_failover_pair_drains_its_primary_to_the_record_that_serves() -> None:
    cfg = three_region_config(max_b=40, max_c=30)
    pair = RoutingRecords("eu-pair", "route53_failover", {"eu-west-1": 0.0, "us-west-2": 1.0})
    routing = routing_in_force(cfg, [pair])
    assert routing.drained == {"eu-west-1": {"us-west-2": 1.0}} and routing.drained_by == {
        "eu-west-1": "eu-pair"
    }
    moved = demand_in_force(region_demand(), routing)
    assert moved["us-west-2"].iloc[0] == pytest.approx(1200 + 800)


def test_the_configs_routing_is_not_a_change() -> None:
    cfg = three_region_config(max_b=40, max_c=30)
    same = RoutingRecords("dns", "route53_weighted", {"us-east-1": 0.5, "us-west-2": 0.3, "eu-west-1": 0.2})
    routing = routing_in_force(cfg, [same])
    assert not routing.differs_from(cfg) and not routing.drained
    assert demand_in_force(region_demand(), routing).equals(region_demand().astype("float64"))
