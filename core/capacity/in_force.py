"""Routing in force: the region-loss (N+1) check as the executor has routing now, not as the config
says it normally is (issue 15: after an executed failover the N+1 table still used the config's weights,
so the drained region's traffic was counted where it no longer goes).

The metrics end before an action takes effect (docs/ARCHITECTURE.md, "What 'now' means"), so a drained
region's history still shows its traffic. In force, that traffic goes where routing sends it now: to the
survivors by the weights in force (a weighted record set) or to the standby (a failover record pair).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd

from core.capacity.demand import failover_shares
from core.capacity.region_loss import region_loss_check
from core.config import HeadroomConfig


@dataclass(frozen=True)
class RoutingRecords:
    """One routing target as the executor has it now: `kind` route53_weighted (weights per region) or
    route53_failover (1 for the record serving, 0 for the other)."""

    target: str
    kind: str
    weights: Mapping[str, float]


@dataclass(frozen=True)
class RoutingInForce:
    """`weights`: each region's routing weight in force; `drained`: region -> where its traffic goes now
    (survivor -> share); `drained_by`: region -> the target that drained it."""

    weights: Mapping[str, float]
    drained: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    drained_by: Mapping[str, str] = field(default_factory=dict)

    def differs_from(self, config: HeadroomConfig) -> bool:
        return bool(self.drained) or any(
            self.weights.get(r.code, r.routing_weight) != r.routing_weight for r in config.region
        )


def routing_in_force(config: HeadroomConfig, records: Sequence[RoutingRecords]) -> RoutingInForce:
    """The routing the executor has now, over the config's: a weighted target's weights replace the
    regions' routing weights; a failover pair whose primary has weight 0 has drained it to the record
    that serves. A region whose weight is 0 in force but not in the config is drained."""
    configured = {r.code: float(r.routing_weight) for r in config.region}
    weights = dict(configured)
    to_standby: dict[str, tuple[str, str]] = {}
    for record in records:
        known = {r: float(w) for r, w in record.weights.items() if r in weights}
        if record.kind == "route53_weighted":
            weights.update(known)
        elif record.kind == "route53_failover":
            serving = [r for r, w in known.items() if w > 0]
            for region, weight in known.items():
                if weight == 0 and configured[region] > 0 and serving:
                    weights[region] = 0.0
                    to_standby[region] = (serving[0], record.target)
    by_weight = next((r.target for r in records if r.kind == "route53_weighted"), "")
    drained: dict[str, dict[str, float]] = {}
    drained_by: dict[str, str] = {}
    for region, weight in weights.items():
        if weight > 0 or configured[region] <= 0:
            continue
        if region in to_standby:
            standby, target = to_standby[region]
            drained[region], drained_by[region] = {standby: 1.0}, target
        else:
            drained[region] = {r: s for r, s in failover_shares(weights, region).items() if s > 0}
            drained_by[region] = by_weight
    return RoutingInForce(weights, drained, drained_by)


def config_with_routing(config: HeadroomConfig, weights: Mapping[str, float]) -> HeadroomConfig:
    """The config with its regions' routing weights replaced (regions not named keep theirs)."""
    regions = tuple(
        replace(r, routing_weight=float(weights.get(r.code, r.routing_weight))) for r in config.region
    )
    return replace(config, region=regions)


def demand_in_force(demand_by_region: pd.DataFrame, routing: RoutingInForce) -> pd.DataFrame:
    """Each drained region's demand moved onto the regions that take it now (its own column 0): what
    the survivors carry once routing has moved it. Traffic with nowhere to go stays where it was."""
    wide = demand_by_region.astype("float64").copy()
    for region, shares in routing.drained.items():
        if region not in wide.columns or not shares:
            continue
        moved = wide[region].fillna(0.0)
        for survivor, share in shares.items():
            wide[survivor] = (wide[survivor].fillna(0.0) if survivor in wide else 0.0) + share * moved
        wide[region] = 0.0
    return wide


def region_loss_in_force(
    config: HeadroomConfig, demand_by_region: pd.DataFrame, routing: RoutingInForce, **options: Any
) -> pd.DataFrame:
    """core.capacity.region_loss_check with the routing in force: its weights decide who takes a failed
    region's traffic, and the drained regions' traffic is already on the regions that take it."""
    return region_loss_check(
        config_with_routing(config, routing.weights), demand_in_force(demand_by_region, routing), **options
    )
