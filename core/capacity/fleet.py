"""The simulator's fleet (what one instance serves, bounds, warm-up, price) and the simulation's result
types. Not to be confused with core.config.FleetConfig, the `[[fleet]]` entry of the config file that
`Fleet.from_config` reads."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import pandas as pd

from core.capacity.policies import Policy
from core.config import FleetConfig


@dataclass(frozen=True)
class Fleet:
    """One scalable fleet: what an instance serves, the bounds, warm-up and price."""

    capacity_per_instance: float  # req/s (or messages/s for queues) one instance serves at 100% CPU
    min_instances: int
    max_instances: int
    warmup_s: float = 0  # seconds from launch until a new instance serves traffic
    price_per_hour: float = 0.0  # USD per instance-hour

    def __post_init__(self) -> None:
        if not self.capacity_per_instance > 0:
            raise ValueError(f"capacity_per_instance must be > 0, got {self.capacity_per_instance}")
        if self.min_instances < 0:
            raise ValueError(f"min_instances must be >= 0, got {self.min_instances}")
        if self.max_instances < max(1, self.min_instances):
            raise ValueError(
                f"max_instances ({self.max_instances}) must be >= 1 and >= min_instances ({self.min_instances})"
            )
        if self.warmup_s < 0 or self.price_per_hour < 0:
            raise ValueError("warmup_s and price_per_hour must be >= 0")

    @classmethod
    def from_config(cls, fleet: FleetConfig) -> Fleet:
        """The simulator's view of a configured fleet ([[fleet]] in the config file)."""
        return cls(
            capacity_per_instance=float(fleet.capacity_per_instance),
            min_instances=int(fleet.min_instances),
            max_instances=int(fleet.max_instances),
            warmup_s=float(fleet.warmup_s),
            price_per_hour=float(fleet.price_per_hour),
        )


@dataclass(frozen=True)
class SimulationSummary:
    cost_usd: float
    instance_hours: float
    mean_utilization: float
    p95_utilization: float
    minutes_over_target: float
    minutes_unserved: float  # minutes with demand not served (SLO risk)
    scale_events: int
    overprovisioned_instance_hours: float  # instance-hours above what the demand needed at target
    unserved_requests: float  # total requests (or messages) not served in their step
    peak_instances: int
    target_utilization: float

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


@dataclass(frozen=True)
class SimulationResult:
    frame: pd.DataFrame  # ts, demand, desired, in_service, capacity, utilization, served, unserved,
    # lower_bound, upper_bound (+ queue_depth for queue policies)
    summary: SimulationSummary
    policy: Policy
    fleet: Fleet
    step_s: float
