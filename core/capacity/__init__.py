"""What-if capacity planning: simulate scaling policies against demand, compare scenarios, and check
whether the other regions survive the loss of one (N+1).

Time model (one step = the demand's sampling interval `dt`, 60 s for minute data):
- `desired[t]` is the desired count during step t. A policy decides at the end of step t, after seeing
  that step's metric datapoint, so a decision takes effect from step t+1.
- An instance launched at step s serves from step s + w, w = ceil(warmup_s / dt). A scale-in removes
  instances still warming up before serving ones. Both together give in_service[t] = min(desired[t-w..t]).
- Billing counts desired instances: warming instances cost money too.
- Request mode: served = min(demand, in_service x capacity); the rest is unserved (dropped or timed out).
  Queue mode (step scaling on queue depth): demand is the arrival rate, the backlog carries over (Lindley
  recursion), served is the processing rate and unserved the arrivals that had to wait in the queue.
- Utilisation = served / (in_service x capacity), capped at 1: a saturated fleet reports 100%, not its
  true overload, which is why reactive policies can only scale out by a bounded factor per decision.

Policies follow AWS's and Kubernetes's documented semantics; each class says where it simplifies. Speed:
a year of minutes takes 0.2-0.3 s per policy (bench/capacity_speed.py); see the engine section of
simulate.py for why the decision loop is plain Python and what is numpy.

Modules, by concern (each imports only the ones above it):
- cron: the cron parser behind scheduled actions.
- policies: the policy types, their validation, and their config / JSON mapping.
- fleet: the simulator's Fleet and the result types.
- demand: forecast demand, failover routes and shares, growth and spikes.
- bounds: the per-step min/max that scheduled actions and predictive forecasts impose.
- simulate: the engine, the per-policy controllers, simulate() and replay().
- scenarios: Scenario, running and comparing scenarios, helpers for the Capacity page.
- region_loss: the N+1 check (traffic follows the configured failover route; lost traffic is red) and
  its per-failed-region summary.
"""

from __future__ import annotations

from core.capacity.bounds import predictive_floor, schedule_bounds
from core.capacity.cron import cron_fire_times
from core.capacity.demand import (
    FailoverRoute,
    Spike,
    default_forecaster,
    default_forecaster_name,
    failover_route,
    failover_shares,
    forecast_demand,
    scenario_demand,
    seasonal_naive_forecast,
)
from core.capacity.fleet import Fleet, SimulationResult, SimulationSummary
from core.capacity.in_force import (
    RoutingInForce,
    RoutingRecords,
    config_with_routing,
    demand_in_force,
    region_loss_in_force,
    routing_in_force,
)
from core.capacity.policies import (
    DEFAULT_TARGET_UTILIZATION,
    POLICY_LABELS,
    POLICY_TYPES,
    AdjustmentType,
    BacklogTracking,
    Forecaster,
    HPAScalingPolicy,
    KubernetesHPA,
    Policy,
    Predictive,
    Scheduled,
    ScheduledAction,
    StepAdjustment,
    StepScaling,
    TargetTracking,
    hpa_desired,
    policy_for_fleet,
    policy_from_dict,
    policy_to_dict,
    reference_target,
    step_scaling_from_table,
    uses_queue,
)
from core.capacity.region_loss import NOWHERE, REGION_LOSS_STATES, region_loss_check, region_loss_summary
from core.capacity.scenarios import (
    Scenario,
    action_target_for,
    compare_scenarios,
    recommended_desired,
    run_scenarios,
    scheduled_actions_from_text,
)
from core.capacity.simulate import replay, simulate

__all__ = [
    "DEFAULT_TARGET_UTILIZATION",
    "NOWHERE",
    "FailoverRoute",
    "POLICY_LABELS",
    "POLICY_TYPES",
    "REGION_LOSS_STATES",
    "RoutingInForce",
    "RoutingRecords",
    "config_with_routing",
    "demand_in_force",
    "region_loss_in_force",
    "routing_in_force",
    "AdjustmentType",
    "BacklogTracking",
    "Fleet",
    "Forecaster",
    "HPAScalingPolicy",
    "KubernetesHPA",
    "Policy",
    "Predictive",
    "Scenario",
    "Scheduled",
    "ScheduledAction",
    "SimulationResult",
    "SimulationSummary",
    "Spike",
    "StepAdjustment",
    "StepScaling",
    "TargetTracking",
    "action_target_for",
    "compare_scenarios",
    "cron_fire_times",
    "default_forecaster",
    "default_forecaster_name",
    "failover_route",
    "failover_shares",
    "forecast_demand",
    "hpa_desired",
    "policy_for_fleet",
    "policy_from_dict",
    "policy_to_dict",
    "predictive_floor",
    "recommended_desired",
    "reference_target",
    "region_loss_check",
    "region_loss_summary",
    "replay",
    "run_scenarios",
    "scenario_demand",
    "schedule_bounds",
    "scheduled_actions_from_text",
    "seasonal_naive_forecast",
    "simulate",
    "step_scaling_from_table",
    "uses_queue",
]
