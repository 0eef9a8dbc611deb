"""core.capacity: the source document's figures, AWS / Kubernetes semantics with hand-computed
expectations, scenarios, the region-loss check, and invariants with hypothesis.

The "Miyabi" tests reproduce the Miyabi AWS Platform scalability deep dive (one of the project's source
documents): its queue-depth table, its step-scaling and target-tracking walk-throughs and its cost figures.
Where the document disagrees with AWS's documented semantics, the test follows AWS and says why.
"""

from __future__ import annotations

import math
import sys
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core import capacity as cap
from core.capacity import (
    Fleet,
    HPAScalingPolicy,
    KubernetesHPA,
    Predictive,
    Scenario,
    Scheduled,
    ScheduledAction,
    Spike,
    StepAdjustment,
    StepScaling,
    TargetTracking,
    compare_scenarios,
    cron_fire_times,
    failover_shares,
    hpa_desired,
    policy_from_dict,
    policy_to_dict,
    region_loss_check,
    region_loss_summary,
    replay,
    run_scenarios,
    scenario_demand,
    seasonal_naive_forecast,
    simulate,
)
from core.config import config_from_dict

MONDAY = pd.Timestamp("2026-01-05 00:00", tz="UTC")  # a Monday
FARGATE_HALF_VCPU_1GB_USD_PER_HOUR = 0.04048  # the document's us-east-1 price per task-hour


def minutes(values, start: pd.Timestamp = MONDAY, freq: str = "min") -> pd.Series:
    return pd.Series(
        np.asarray(values, dtype=float), index=pd.date_range(start, periods=len(values), freq=freq)
    )


# ---- Fleet --------------------------------------------------------------------------------------


def test_fleet_from_config_and_validation() -> None:
    cfg = config_from_dict(
        {
            "region": [{"code": "us-east-1", "name": "x", "lat": 0, "lon": 0, "timezone": "UTC"}],
            "fleet": [
                {
                    "name": "api",
                    "service": "api",
                    "region": "us-east-1",
                    "capacity_per_instance": 50,
                    "min_instances": 6,
                    "max_instances": 90,
                    "warmup_s": 180,
                    "price_per_hour": 0.0857,
                }
            ],
        }
    )
    fleet = Fleet.from_config(cfg.fleet[0])
    assert fleet == Fleet(50.0, 6, 90, 180.0, 0.0857)
    with pytest.raises(ValueError, match="max_instances"):
        Fleet(50, 10, 5)
    with pytest.raises(ValueError, match="capacity_per_instance"):
        Fleet(0, 1, 5)


# ---- Miyabi: queue-depth table (ExactCapacity step scaling) -------------------------------------


def miyabi_queue_table() -> StepScaling:
    """0-10 msgs -> 1 task, 11-50 -> 5, 51-100 -> 10, 101-500 -> 20, 501-1000 -> 50, 1000+ -> 100.

    As AWS step adjustments over an alarm at 0 messages: bounds above the threshold are lower-inclusive,
    upper-exclusive, so "11-50" is [11, 51). The table's "1000+" row is read as more than 1000, because
    its "501-1000" row already includes 1000."""
    steps = (
        StepAdjustment(0, 11, 1),
        StepAdjustment(11, 51, 5),
        StepAdjustment(51, 101, 10),
        StepAdjustment(101, 501, 20),
        StepAdjustment(501, 1001, 50),
        StepAdjustment(1001, None, 100),
    )
    return StepScaling(
        steps=steps, threshold=0, metric="queue_depth", adjustment_type="ExactCapacity", cooldown_s=0
    )


def test_miyabi_queue_depth_table() -> None:
    depths = [0, 10, 11, 50, 51, 100, 101, 500, 501, 1000, 1001, 5000, 7, 60]
    expected = [1, 1, 5, 5, 10, 10, 20, 20, 50, 50, 100, 100, 1, 10]
    policy = miyabi_queue_table()
    assert [policy.step_for(d).adjustment for d in depths] == expected
    # through the simulator: each minute's depth sets the next minute's desired count
    out = replay(policy, minutes(depths), Fleet(1 / 900, 1, 100), start_instances=1)
    assert out["desired"].tolist()[1:] == expected[:-1]


# ---- Miyabi: step-scaling walk-through ------------------------------------------------------------

# Time, queue depth and the document's desired / actual columns (3.2 "Step Scaling (Queue Depth)").
WALK_QUEUE = {0: 5, 1: 15, 2: 15, 3: 60, 4: 60, 5: 120, 6: 120, 7: 50, 10: 5, 15: 5, 20: 5}
DOC_DESIRED = {0: 1, 1: 1, 2: 6, 3: 6, 4: 16, 5: 16, 6: 36, 7: 36, 10: 36, 15: 1, 20: 1}
DOC_ACTUAL = {0: 1, 1: 1, 2: 1, 3: 6, 4: 6, 5: 16, 6: 16, 7: 36, 10: 36, 15: 36, 20: 1}
WALK_STEPS = (
    StepAdjustment(0, 10, -1),
    StepAdjustment(10, 50, 5),
    StepAdjustment(50, 100, 10),
    StepAdjustment(100, None, 20),
)


def walk_queue() -> pd.Series:
    # minutes the table does not show keep the last value shown
    return minutes(pd.Series(WALK_QUEUE).reindex(range(21)).ffill().to_numpy())


def test_miyabi_step_walkthrough_first_rows_match_with_a_120s_cooldown() -> None:
    # The document states no cooldown for this policy. With 120 s (a decision 120 s after the last one is
    # outside the cooldown) and the document's 60 s task start-up, rows 00:00-00:07 come out exactly,
    # desired and actual: +5 at 00:01, +10 at 00:03, +20 at 00:05, each in place a minute later.
    policy = StepScaling(steps=WALK_STEPS, threshold=0, metric="queue_depth", cooldown_s=120)
    out = replay(policy, walk_queue(), Fleet(1 / 900, 1, 100, warmup_s=60), start_instances=1)
    for minute in range(8):
        assert out["desired"][minute] == DOC_DESIRED[minute], minute
        assert out["in_service"][minute] == DOC_ACTUAL[minute], minute
    # From 00:07 on the document departs from AWS, and this follows AWS:
    # - 50 messages lie in the +10 step [50, 100) (AWS: lower bound inclusive above the threshold), so
    #   "00:07 50 (Draining)" scales out again, to 46 and then 56, instead of holding 36;
    assert out["desired"][8] == 46 and out["desired"][10] == 56
    # - ChangeInCapacity -1 removes one task per invocation outside the cooldown, so "00:15 -> 1" (which
    #   would need ExactCapacity) is 54 after three scale-ins, one every 120 s.
    assert out["desired"][15] == 54
    assert out["desired"][20] == 51


def test_miyabi_step_walkthrough_with_the_aws_default_cooldown() -> None:
    # AWS's default 300 s cooldown: "the previous increase is considered part of the current capacity",
    # so the +10 at 00:03 only adds 5 to the initiating +5 (1 + 10 = 11, not 16) and the +20 at 00:05
    # makes 1 + 20 = 21. At 00:06 the cooldown (00:01 + 300 s) is over: +20 on 21 = 41.
    policy = StepScaling(steps=WALK_STEPS, threshold=0, metric="queue_depth")
    assert policy.cooldown_s == 300
    out = replay(policy, walk_queue(), Fleet(1 / 900, 1, 100, warmup_s=60), start_instances=1)
    assert out["desired"].tolist()[:8] == [1, 1, 6, 6, 11, 11, 21, 41]
    # the 00:06 scale-out started a new cooldown with base 21: 50 msgs at 00:07 propose 21 + 10 = 31,
    # below 41, so nothing; scale-in (5 msgs from 00:10) waits until 00:06 + 300 s
    assert out["desired"][8] == 41
    assert out["desired"][11] == 41 and out["desired"][12] == 40


# ---- Miyabi: target-tracking walk-through -------------------------------------------------------


def test_miyabi_target_tracking_walkthrough_follows_aws() -> None:
    # Document: 10 tasks at 75% CPU, target 70% -> desired 15, and later 15 -> 10 at 50% CPU.
    # AWS scales proportionally: ceil(10 x 75 / 70) = 11, after its high alarm sees 3 one-minute
    # datapoints above target (00:05, 00:06, 00:07). 7.5 tasks of work on 11 tasks is 68% CPU: above the
    # low alarm's 63% (90% of target), so AWS never scales back in. The document's 15 -> 10 at 50% CPU
    # is the same load (75% of 10 tasks = 50% of 15) and would put CPU back at 75%: it would flap.
    capacity = 100.0  # req/s per task at 100% CPU
    load = np.where(np.arange(60) < 5, 5.0, 7.5) * capacity  # 50% of 10 tasks, then 75% from 00:05
    fleet = Fleet(capacity, 1, 100, warmup_s=60)
    res = simulate(minutes(load), fleet, TargetTracking(target_utilization=0.7), start_instances=10)
    f = res.frame
    assert hpa_desired(10, 0.75, 0.70, tolerance=0) == 11  # the proportional rule
    assert f["desired"].tolist()[:9] == [10] * 8 + [11]  # decided at the end of 00:07
    assert f["in_service"][8] == 10 and f["in_service"][9] == 11  # the new task serves a minute later
    assert (f["desired"][8:] == 11).all()
    assert f["utilization"].iloc[-1] == pytest.approx(7.5 / 11)
    assert res.summary.scale_events == 1


def test_target_tracking_scale_out_cooldown_prevents_double_counting() -> None:
    # With the document's 60 s scale-out cooldown the next datapoint (new task still starting, CPU still
    # 75%) is outside the cooldown and proposes ceil(11 x 75 / 70) = 12: one task too many. AWS's
    # default 300 s counts the first increase as capacity during the warm-up and stops at 11.
    load = minutes(np.where(np.arange(40) < 5, 5.0, 7.5) * 100)
    fleet = Fleet(100, 1, 100, warmup_s=60)
    short = simulate(load, fleet, TargetTracking(0.7, scale_out_cooldown_s=60), start_instances=10)
    default = simulate(load, fleet, TargetTracking(0.7), start_instances=10)
    assert short.frame["desired"].max() == 12
    assert default.frame["desired"].max() == 11


# ---- Miyabi: cost figures ---------------------------------------------------------------------------


def test_miyabi_cost_ten_tasks_all_month() -> None:
    # "10 Workers (24/7): $0.4048/hour x 24 x 30 = $291.46/month"
    demand = minutes(np.full(30 * 1440, 0.5), freq="min")
    fleet = Fleet(1.0, 10, 10, price_per_hour=FARGATE_HALF_VCPU_1GB_USD_PER_HOUR)
    res = simulate(demand, fleet, TargetTracking())
    assert res.summary.instance_hours == pytest.approx(10 * 24 * 30)
    assert round(res.summary.cost_usd, 2) == 291.46


def test_miyabi_cost_hundred_tasks_four_hours_a_day() -> None:
    # "100 Workers (peak only, 4 hours a day): $4.048/hour x 4 x 30 = $485.76/month"
    schedule = Scheduled(
        actions=(
            ScheduledAction("0 0 * * *", min_instances=100, max_instances=100),
            ScheduledAction("0 4 * * *", min_instances=0, max_instances=0),
        )
    )
    fleet = Fleet(1.0, 0, 100, price_per_hour=FARGATE_HALF_VCPU_1GB_USD_PER_HOUR)
    res = simulate(minutes(np.zeros(30 * 1440)), fleet, schedule)
    assert res.summary.instance_hours == pytest.approx(100 * 4 * 30)
    assert round(res.summary.cost_usd, 2) == 485.76


def test_miyabi_scheduled_scaling_costs_more_than_ten_tasks_and_more_than_queue_based() -> None:
    # "With Scheduled Scaling: (20 x 13 + 2 x 11) x 30 x $0.04048 = $342.45 ... (more expensive!)"
    # The product is $342.4608: the document truncated it to $342.45; rounded it is $342.46.
    # Its 09:00 JST ramp-up is 00:00 UTC and the 22:00 JST scale-down 13:00 UTC.
    schedule = Scheduled(
        actions=(
            ScheduledAction("0 9 * * *", min_instances=20, max_instances=20, name="MorningRampUp"),
            ScheduledAction("0 22 * * *", min_instances=2, max_instances=2, name="NightScaleDown"),
        ),
        timezone="Asia/Tokyo",
    )
    price = FARGATE_HALF_VCPU_1GB_USD_PER_HOUR
    worker = 1 / 900  # one issue per 15 minutes per task (4 issues/hour)
    month = pd.date_range(MONDAY, periods=30 * 1440, freq="min")
    scheduled = simulate(pd.Series(0.0, index=month), Fleet(worker, 1, 100, price_per_hour=price), schedule)
    assert scheduled.summary.instance_hours == pytest.approx((20 * 13 + 2 * 11) * 30)
    assert round(scheduled.summary.cost_usd, 2) == 342.46
    assert scheduled.summary.cost_usd > 291.46  # "逆に高い!" (more expensive than 10 tasks 24/7)

    # "Miyabi's case: queue-based is best": its own profile, issues arriving through JST business hours
    # (20 an hour, what 5 workers process) and few at night, on the queue-depth table.
    jst_hour = month.tz_convert("Asia/Tokyo").hour
    arrivals = np.where((jst_hour >= 9) & (jst_hour < 22), 20, 2) / 3600.0  # issues per second
    queue_based = simulate(
        pd.Series(arrivals, index=month),
        Fleet(worker, 1, 100, warmup_s=60, price_per_hour=price),
        miyabi_queue_table(),
    )
    assert queue_based.summary.cost_usd < 291.46 < scheduled.summary.cost_usd
    assert queue_based.frame["queue_depth"].max() < 60  # the backlog stays small
    # everything that arrived was processed, or is still queued at the end
    processed = queue_based.frame["served"].sum() * 60
    assert processed + queue_based.frame["queue_depth"].iloc[-1] == pytest.approx(arrivals.sum() * 60)


def test_miyabi_ten_workers_process_960_issues_a_day() -> None:
    # "10 Workers: 10 Issues/15min = 40 Issues/hour, 960 Issues/day"
    day = minutes(np.full(1440, 40 / 3600))
    res = simulate(day, Fleet(1 / 900, 10, 10), miyabi_queue_table())
    assert res.frame["served"].sum() * 60 == pytest.approx(960)


# ---- AWS step scaling details ---------------------------------------------------------------------


def test_percent_change_with_min_adjustment_magnitude() -> None:
    # AWS's example: +25% of 4 tasks is 1, MinAdjustmentMagnitude 2 -> +2 tasks
    policy = StepScaling(
        steps=(StepAdjustment(0, None, 25),),
        adjustment_type="PercentChangeInCapacity",
        min_adjustment_magnitude=2,
    )
    out = replay(policy, minutes([0.9, 0.5]), Fleet(1, 1, 100), start_instances=4)
    assert out["desired"].tolist() == [4, 6]


@pytest.mark.parametrize(
    ("current", "percent", "expected"),
    [
        (127, 10, 139),  # +12.7 rounds down to +12
        (10, 6.7, 11),  # +0.67 rounds to +1
        (10, -6.7, 9),  # -0.67 rounds to -1
        (100, -6.67, 94),  # -6.67 rounds up to -6
    ],
)
def test_percent_change_rounding(current: int, percent: float, expected: int) -> None:
    policy = StepScaling(
        steps=(StepAdjustment(None, None, percent),), adjustment_type="PercentChangeInCapacity"
    )
    out = replay(policy, minutes([0.9, 0.9]), Fleet(1, 1, 1000), start_instances=current)
    assert out["desired"][1] == expected


def test_step_bounds_are_inclusive_on_the_side_away_from_the_threshold() -> None:
    policy = StepScaling(
        steps=(StepAdjustment(None, -0.2, -1), StepAdjustment(0, 0.1, 1), StepAdjustment(0.1, None, 3)),
        threshold=0.6,
    )
    assert policy.step_for(0.6).adjustment == 1  # lower bound 0 included above the threshold
    assert policy.step_for(0.7).adjustment == 3  # 0.1 belongs to the next step up
    assert policy.step_for(0.41) is None  # above -0.2 and below 0: no breach (a gap)
    assert policy.step_for(0.4).adjustment == -1  # upper bound -0.2 included below the threshold


def test_step_scaling_scale_out_during_cooldown_adds_only_the_difference() -> None:
    # AWS's example: +2, then during the cooldown a breach of the +3 step adds only 1 more
    policy = StepScaling(steps=(StepAdjustment(0, 0.2, 2), StepAdjustment(0.2, None, 3)), threshold=0.7)
    out = replay(policy, minutes([0.75, 0.95, 0.95, 0.95]), Fleet(1, 1, 100), start_instances=10)
    assert out["desired"].tolist() == [10, 12, 13, 13]


def test_step_scaling_rejects_overlapping_steps() -> None:
    with pytest.raises(ValueError, match="overlap"):
        StepScaling(steps=(StepAdjustment(0, 0.2, 1), StepAdjustment(0.1, None, 2)))
    with pytest.raises(ValueError, match="one side"):
        StepScaling(steps=(StepAdjustment(-0.1, 0.1, 1),))


# ---- AWS target tracking cooldowns ----------------------------------------------------------------


def test_target_tracking_scale_in_waits_for_15_low_datapoints_and_its_cooldown() -> None:
    # 20 instances at 60% target; the load drops to 5 instances' worth at 00:10, then to 2.5 at 00:30
    load = np.concatenate([np.full(10, 12.0), np.full(20, 3.0), np.full(30, 1.5)]) * 100
    res = simulate(minutes(load), Fleet(100, 1, 100), TargetTracking(0.6), start_instances=20)
    d = res.frame["desired"]
    # low datapoints from 00:10; the 15th (00:24) scales in to ceil(20 x 0.15 / 0.6) = 5
    assert d[24] == 20 and d[25] == 5
    # at 5 instances the load is 60%: no more scale-in until it halves at 00:30; 15 datapoints later
    # (00:44) and outside the 300 s scale-in cooldown: ceil(5 x 0.3 / 0.6) = 3
    assert d[44] == 5 and d[45] == 3
    assert res.summary.scale_events == 2


def test_target_tracking_scale_in_cooldown_blocks_then_scale_out_cancels_it() -> None:
    # a 3-datapoint low alarm and a 600 s scale-in cooldown make the timing easy to follow
    policy = TargetTracking(0.6, scale_in_datapoints=3, scale_in_cooldown_s=600)
    load = np.concatenate([np.full(4, 3.0), np.full(9, 1.0), np.full(20, 9.0)]) * 100
    d = simulate(minutes(load), Fleet(100, 1, 100), policy, start_instances=10).frame["desired"].tolist()
    # 30% CPU: the third low datapoint (00:02) scales in to ceil(10 x 0.3 / 0.6) = 5
    assert d[2] == 10 and d[3] == 5
    # 20% from 00:04: the alarm is in ALARM from 00:06, but scale-in waits for the cooldown (00:02 + 600 s)
    assert d[4:13] == [5] * 9
    assert d[13] == 2  # decided at 00:12: ceil(5 x 0.2 / 0.6)
    # the load jumps at 00:13 (100% CPU): the third high datapoint (00:15) scales out at once, although the
    # scale-in cooldown started at 00:12 runs until 00:22
    assert d[15] == 2 and d[16] == math.ceil(2 * 1.0 / 0.6)


def test_target_tracking_disable_scale_in() -> None:
    load = minutes(np.concatenate([np.full(5, 9.0), np.full(60, 1.0)]) * 100)
    res = simulate(load, Fleet(100, 1, 100), TargetTracking(0.6, disable_scale_in=True), start_instances=15)
    assert (res.frame["desired"] == 15).all()


# ---- Kubernetes HPA -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("replicas", "metric", "target", "expected"),
    [
        (1, 200, 100, 2),  # the K8s docs: 200m used, 100m target -> double
        (4, 50, 100, 2),  # 50m -> halve
        (10, 0.75, 0.7, 10),  # ratio 1.071: within the 0.1 tolerance
        (10, 0.65, 0.6, 10),  # ratio 1.083: within
        (10, 0.67, 0.6, 12),  # ratio 1.117: ceil(11.17)
        (10, 0.5, 0.6, 9),  # ratio 0.833: ceil(8.33)
        (10, 0.3, 0.6, 5),
        (3, 0.61, 0.6, 3),
    ],
)
def test_hpa_desired(replicas: int, metric: float, target: float, expected: int) -> None:
    assert hpa_desired(replicas, metric, target) == expected
    assert KubernetesHPA.hpa_desired(replicas, metric, target) == expected


def test_hpa_scale_down_waits_for_the_stabilisation_window() -> None:
    # 10 pods at 80%, the load halves at 00:10: recommendation 5 from then on, but the highest
    # recommendation of the last 300 s stays 10 until the 00:10 one is the oldest in the window
    load = minutes(np.concatenate([np.full(10, 8.0), np.full(20, 4.0)]) * 100)
    res = simulate(load, Fleet(100, 1, 50), KubernetesHPA(target_utilization=0.8), start_instances=10)
    d = res.frame["desired"].tolist()
    assert d[14] == 10 and d[15] == 5


def test_hpa_scale_up_is_immediate_and_limited_by_behavior_policies() -> None:
    # target 5% CPU: a saturated pod (100%) asks for 20x, so the behavior policies are what limits
    load = minutes(np.concatenate([np.full(3, 0.5), np.full(10, 400.0)]) * 100)
    fleet = Fleet(100, 1, 200)
    default = simulate(load, fleet, KubernetesHPA(target_utilization=0.05), start_instances=10)
    # recommendation ceil(10 x 1.0 / 0.05) = 200; default behavior allows max(+4 pods, +100%) per
    # 15 s, and four syncs fall in a minute: 10 -> 20 -> 40 -> 80 -> 160, then 200
    assert default.frame["desired"].tolist()[2:6] == [10, 10, 160, 200]
    slow = KubernetesHPA(target_utilization=0.05, scale_up_policies=(HPAScalingPolicy("Pods", 4, 60),))
    res = simulate(load, fleet, slow, start_instances=10)
    assert res.frame["desired"].tolist()[3:7] == [10, 14, 18, 22]  # +4 pods per 60 s


def test_hpa_select_policy_min_and_disabled() -> None:
    load = minutes(np.concatenate([np.full(3, 16.0), np.full(30, 1.0)]) * 100)
    fleet = Fleet(100, 1, 50)
    gentle = KubernetesHPA(
        target_utilization=0.8,
        scale_down_stabilization_s=0,
        scale_down_policies=(HPAScalingPolicy("Pods", 4, 60), HPAScalingPolicy("Percent", 10, 60)),
        scale_down_select="Min",  # the policy allowing the smaller change: 10% of 20 = 2 pods a minute
    )
    d = simulate(load, fleet, gentle, start_instances=20).frame["desired"].tolist()
    # Min picks the policy allowing the smaller change: 10% of 20 (2 pods, not 4) -> 18; then
    # int(18 x 0.9) = 16, int(16 x 0.9) = 14 (K8s truncates the percent limit)
    assert d[3:7] == [20, 18, 16, 14]
    frozen = KubernetesHPA(target_utilization=0.8, scale_down_select="Disabled")
    assert (simulate(load, fleet, frozen, start_instances=20).frame["desired"] == 20).all()


def test_hpa_min_max_clamps() -> None:
    load = minutes(np.concatenate([np.full(5, 0.1), np.full(20, 500.0)]) * 100)
    res = simulate(load, Fleet(100, 3, 12), KubernetesHPA(), start_instances=3)
    assert res.frame["desired"].min() == 3 and res.frame["desired"].max() == 12


def test_hpa_waits_for_starting_pods_before_scaling_up_again() -> None:
    # pods take 3 minutes to become ready; meanwhile they count as 0% CPU, which brings the usage ratio
    # back within the tolerance, so the HPA does not add more
    load = minutes(np.concatenate([np.full(2, 8.0), np.full(20, 12.0)]) * 100)
    res = simulate(
        load, Fleet(100, 1, 50, warmup_s=180), KubernetesHPA(target_utilization=0.8), start_instances=10
    )
    d = res.frame["desired"].tolist()
    # at 100% CPU (saturated, the 12 pods' worth of load is not visible): ceil(10 x 1.0 / 0.8) = 13
    assert d[2] == 10 and d[3] == 13
    # while the 3 new pods start they count as 0%: 10 x 100% / (13 x 80%) = 0.96, no more scale-up
    assert d[3:7] == [13] * 4
    # ready from 00:06: 12 / 13 = 92% CPU, ratio 1.15 -> ceil(13 x 1.15) = 15
    assert d[7] == 15 and set(d[7:]) == {15}


# ---- scheduled ------------------------------------------------------------------------------------


def test_cron_in_tokyo_and_aws_syntax() -> None:
    start, end = MONDAY, MONDAY + pd.Timedelta(days=7) - pd.Timedelta(minutes=1)
    jst = cron_fire_times("0 9 * * MON-FRI", start, end, "Asia/Tokyo")
    utc = cron_fire_times("cron(0 0 ? * MON-FRI *)", start, end, "UTC")
    assert list(jst) == list(utc)
    assert len(jst) == 5 and all(t.hour == 0 and t.day_of_week < 5 for t in jst)
    # AWS numbers weekdays 1-7 from Sunday; the five-field form 0-7 with 0 and 7 both Sunday
    assert list(cron_fire_times("cron(30 6 ? * 2 *)", start, end)) == list(
        cron_fire_times("30 6 * * 1", start, end)
    )
    assert list(cron_fire_times("0 12 * * 7", start, end)) == list(
        cron_fire_times("0 12 * * SUN", start, end)
    )
    assert len(cron_fire_times("*/15 * * * *", start, start + pd.Timedelta(hours=1))) == 5
    with pytest.raises(ValueError, match="expected 5 fields"):
        cron_fire_times("0 9 *", start, end)
    with pytest.raises(ValueError, match="outside"):
        ScheduledAction("0 25 * * *", min_instances=1)


def test_scheduled_ramp_up_and_night_scale_down() -> None:
    # the document's actions: weekdays 09:00 JST min 20 / max 100; daily 22:00 JST min 1 / max 10
    schedule = Scheduled(
        actions=(
            ScheduledAction("cron(0 0 ? * MON-FRI *)", min_instances=20, max_instances=100),
            ScheduledAction("cron(0 13 * * ? *)", min_instances=1, max_instances=10),
        )
    )
    two_days = minutes(np.full(2 * 1440, 1.0), start=MONDAY - pd.Timedelta(hours=12))
    res = simulate(two_days, Fleet(100, 1, 100), schedule, start_instances=4)
    f = res.frame.set_index("ts")
    assert f.loc[MONDAY - pd.Timedelta(minutes=1), "desired"] == 4  # Sunday night: kept (within 1..10)
    assert f.loc[MONDAY, "desired"] == 20  # Monday 09:00 JST: raised to the new min
    assert f.loc[MONDAY + pd.Timedelta(hours=13), "desired"] == 10  # 22:00 JST: cut to the new max
    assert f.loc[MONDAY + pd.Timedelta(hours=13), "upper_bound"] == 10


# ---- predictive -----------------------------------------------------------------------------------


def test_predictive_sets_a_floor_from_the_forecast_ahead_of_time() -> None:
    # three days of flat 1000 req/s with a forecaster that predicts 3000 req/s from 12:00 each day
    days = minutes(np.full(3 * 1440, 1000.0))

    def forecaster(history: pd.Series, horizon: int) -> pd.Series:
        index = pd.date_range(history.index[-1] + pd.Timedelta(hours=1), periods=horizon, freq="h")
        return pd.Series(np.where(index.hour >= 12, 3000.0, 1000.0), index=index)

    policy = Predictive(target_utilization=0.5, buffer=0.2, lead_time_s=300, forecaster=forecaster)
    res = simulate(days, Fleet(100, 2, 200), policy)
    f = res.frame.set_index("ts")
    # day 1: under 24 h of history, no forecast: target tracking alone keeps ceil(1000 / 50) = 20
    assert f.loc[MONDAY + pd.Timedelta(hours=13), "desired"] == 20
    # day 2: ceil(3000 x 1.2 / (100 x 0.5)) = 72 from 11:55 (lead time), back to 24 after 23:59
    noon = MONDAY + pd.Timedelta(days=1, hours=12)
    assert f.loc[noon - pd.Timedelta(minutes=6), "lower_bound"] == 24
    assert f.loc[noon - pd.Timedelta(minutes=5), "lower_bound"] == 72
    assert f.loc[noon - pd.Timedelta(minutes=5), "desired"] == 72
    # target tracking still scales in above the floor once the forecast hour is over
    assert f.loc[noon + pd.Timedelta(hours=13), "desired"] < 72


def test_predictive_default_forecaster_falls_back_to_seasonal_naive(monkeypatch: pytest.MonkeyPatch) -> None:
    # with core.forecast absent the default is a seasonal-naive forecast computed in core.capacity
    monkeypatch.setitem(sys.modules, "core.forecast", None)
    hist = pd.Series(
        np.tile(np.arange(24.0), 8), index=pd.date_range(MONDAY, periods=8 * 24, freq="h", tz="UTC")
    )
    fc = cap.default_forecaster(hist, 30)
    assert fc.tolist() == np.resize(np.tile(np.arange(24.0), 7)[-168:], 30).tolist()
    assert fc.index[0] == hist.index[-1] + pd.Timedelta(hours=1)
    # 30 hours: the last full day repeats; under a day no season fits and the last value holds
    assert seasonal_naive_forecast(hist.iloc[:30], 5).tolist() == [6.0, 7.0, 8.0, 9.0, 10.0]
    assert seasonal_naive_forecast(hist.iloc[:20], 3).tolist() == [19.0] * 3


def test_forecast_demand_interpolates_the_hourly_forecast() -> None:
    hist = minutes(np.repeat(np.tile([100.0, 300.0], 48), 60))  # alternating hours, 4 days
    out = cap.forecast_demand(
        hist, timedelta(hours=4), timedelta(minutes=30), forecaster=seasonal_naive_forecast
    )
    assert out.index[0] == hist.index[-1].floor("h") + pd.Timedelta(hours=1)
    assert len(out) == 8 and out.between(100, 300).all()


# ---- scenarios --------------------------------------------------------------------------------------


def wide_demand() -> pd.DataFrame:
    idx = pd.date_range(MONDAY, periods=120, freq="min")
    return pd.DataFrame({"a": 100.0, "b": 200.0, "c": 300.0}, index=idx)


def test_scenario_demand_growth_spike_and_failover() -> None:
    weights = {"a": 0.5, "b": 0.3, "c": 0.2}
    assert failover_shares(weights, "a") == pytest.approx({"b": 0.6, "c": 0.4})
    spike = Spike(MONDAY + pd.Timedelta(minutes=30), 600, 2.0)
    s = scenario_demand(wide_demand(), "b", weights, growth_pct=10, spikes=(spike,), failed_region="a")
    # (200 + 0.6 x 100) x 1.1 = 286, doubled for 10 minutes from 00:30
    assert s.iloc[0] == pytest.approx(286.0)
    assert s.iloc[30:40].tolist() == pytest.approx([572.0] * 10)
    assert s.iloc[40] == pytest.approx(286.0)
    with pytest.raises(ValueError, match="own failure"):
        scenario_demand(wide_demand(), "a", weights, failed_region="a")
    with pytest.raises(ValueError, match="no demand for region"):
        scenario_demand(wide_demand(), "zz", weights)


def test_run_and_compare_scenarios_side_by_side() -> None:
    fleet = Fleet(50, 1, 20, warmup_s=60, price_per_hour=0.1)
    scenarios = [
        Scenario("tt", "b", fleet, TargetTracking(0.6)),
        Scenario("tt +50%", "b", fleet, TargetTracking(0.6), growth_pct=50),
        Scenario("hpa, a down", "b", fleet, KubernetesHPA(target_utilization=0.6), failed_region="a"),
    ]
    results = run_scenarios(scenarios, {"history": wide_demand()}, {"a": 0.5, "b": 0.3, "c": 0.2})
    table = compare_scenarios(results)
    assert table["scenario"].tolist() == ["tt", "tt +50%", "hpa, a down"]
    by = table.set_index("scenario")
    assert by.loc["tt", "peak_instances"] == math.ceil(200 / 30)
    assert by.loc["tt +50%", "peak_instances"] == math.ceil(300 / 30)
    assert by.loc["hpa, a down", "cost_usd"] > by.loc["tt", "cost_usd"]
    with pytest.raises(ValueError, match="no forecast demand"):
        run_scenarios(
            [Scenario("f", "b", fleet, TargetTracking(), source="forecast")], {"history": wide_demand()}, {}
        )


@pytest.mark.parametrize(
    "policy",
    [
        TargetTracking(0.55, disable_scale_in=True),
        StepScaling(
            steps=(StepAdjustment(0, None, 50),),
            adjustment_type="PercentChangeInCapacity",
            min_adjustment_magnitude=2,
        ),
        KubernetesHPA(scale_up_policies=(HPAScalingPolicy("Pods", 2, 30),), scale_down_select="Min"),
        Scheduled(
            actions=(ScheduledAction("0 9 * * MON-FRI", min_instances=5),),
            timezone="Asia/Tokyo",
            policy=TargetTracking(),
        ),
        Predictive(buffer=0.2, season_lengths=(24,)),
    ],
)
def test_policies_and_scenarios_round_trip_through_json(policy) -> None:
    assert policy_from_dict(policy_to_dict(policy)) == policy
    sc = Scenario(
        "x",
        "b",
        Fleet(50, 1, 9, 30, 0.2),
        policy,
        growth_pct=5,
        failed_region="a",
        spikes=(Spike(MONDAY, 60, 1.5),),
    )
    assert Scenario.from_dict(__import__("json").loads(sc.to_json())) == sc


def test_policy_from_dict_names_the_problem() -> None:
    with pytest.raises(ValueError, match="unknown policy type"):
        policy_from_dict({"type": "Magic"})
    with pytest.raises(ValueError, match="unknown parameter"):
        policy_from_dict({"type": "TargetTracking", "targte": 0.5})


# ---- region loss (N+1) ----------------------------------------------------------------------------


def three_region_config(max_b: int, max_c: int):
    def fleet(code: str, max_instances: int) -> dict:
        return {
            "name": f"api-{code}",
            "service": "api",
            "region": code,
            "capacity_per_instance": 100,
            "min_instances": 1,
            "max_instances": max_instances,
            "warmup_s": 180,
            "target_utilization": 0.6,
        }

    return config_from_dict(
        {
            "region": [
                {
                    "code": "us-east-1",
                    "name": "A",
                    "lat": 0,
                    "lon": 0,
                    "timezone": "UTC",
                    "routing_weight": 0.5,
                },
                {
                    "code": "us-west-2",
                    "name": "B",
                    "lat": 0,
                    "lon": 0,
                    "timezone": "UTC",
                    "routing_weight": 0.3,
                },
                {
                    "code": "eu-west-1",
                    "name": "C",
                    "lat": 0,
                    "lon": 0,
                    "timezone": "UTC",
                    "routing_weight": 0.2,
                },
            ],
            "fleet": [fleet("us-east-1", 100), fleet("us-west-2", max_b), fleet("eu-west-1", max_c)],
        }
    )


def region_demand() -> pd.DataFrame:
    idx = pd.date_range(MONDAY, periods=12 * 60, freq="min")
    shape = 1 + 0.3 * np.sin(np.arange(len(idx)) / len(idx) * np.pi)  # one hump
    return pd.DataFrame(
        {"us-east-1": 2000 * shape, "us-west-2": 1200 * shape, "eu-west-1": 800 * shape}, index=idx
    )


def test_region_loss_check_states() -> None:
    # peak after us-east-1 fails: B 1.3 x (1200 + 0.6 x 2000) = 3120 req/s, C 1.3 x (800 + 0.4 x 2000) = 2080
    cfg = three_region_config(max_b=40, max_c=30)
    check = region_loss_check(cfg, region_demand())
    row = check.set_index(["failed_region", "region"])
    b = row.loc[("us-east-1", "us-west-2")]
    assert b["peak_rps_after"] == pytest.approx(3120, rel=1e-3)
    assert b["share_pct"] == pytest.approx(60)
    # fits the 4000 req/s of 40 instances at max, but not within the 60% target (2400 req/s)
    assert b["status"] == "amber" and b["utilization_at_max_pct"] == pytest.approx(78, rel=1e-3)
    c = row.loc[("us-east-1", "eu-west-1")]
    assert c["instances_needed"] == math.ceil(2080 / 60)


@pytest.mark.parametrize("unit", ["s", "ms", "us"])
def test_region_loss_check_reads_time_the_same_in_every_index_unit(unit: str) -> None:
    """The check finds each survivor's window (6 h before the failure to 1 h after) by time, whatever
    the unit of the demand's index (pandas 3 makes microseconds by default; sources give nanoseconds):
    the same rows as with nanoseconds, on a day of noisy demand with gaps and the shipped routing."""
    from core.config import load_config
    from tests.conftest import SHIPPED_CONFIG

    cfg = load_config(SHIPPED_CONFIG)
    codes = list(cfg.region_codes)
    rng = np.random.default_rng(7)
    idx = pd.date_range("2026-12-01", periods=1441, freq="min", tz="UTC").as_unit("ns")
    minutes = np.arange(len(idx))
    demand = pd.DataFrame(
        {c: 400 + 300 * np.sin(minutes / 200 + i) + rng.normal(0, 30, len(idx)) for i, c in enumerate(codes)},
        index=idx,
    )
    demand.iloc[100:130, 0] = np.nan
    demand.iloc[:50, 1] = np.nan
    demand.iloc[-20:, 2] = np.nan
    reference = region_loss_check(cfg, demand)
    assert set(reference["status"]) >= {"green", "amber"}  # the windows decide some verdicts
    other = region_loss_check(cfg, demand.set_axis(idx.as_unit(unit)))
    other["peak_at"] = other["peak_at"].dt.as_unit("ns")
    pd.testing.assert_frame_equal(other, reference)


def test_region_loss_red_amber_green() -> None:
    cfg = three_region_config(max_b=30, max_c=60)
    check = region_loss_check(cfg, region_demand()).set_index(["failed_region", "region"])
    # B after A fails: 3120 req/s > 30 x 100 = 3000 at max -> red (lost even fully scaled)
    assert check.loc[("us-east-1", "us-west-2"), "status"] == "red"
    # C after A fails: 2080 req/s fits 60 x 100 x 0.6 = 3600 at target, but the jump at the peak goes
    # unserved for a few minutes (3 high datapoints + 180 s warm-up): amber
    c = check.loc[("us-east-1", "eu-west-1")]
    assert c["status"] == "amber" and c["unserved_requests"] > 0 and 0 < c["time_to_scale_s"] <= 15 * 60
    # A after C fails: +0.625 x 800 x 1.3 = 650 req/s onto 2600 at 60%: headroom covers it -> green
    a = check.loc[("eu-west-1", "us-east-1")]
    # back within target once the alarm has seen 3 datapoints and the new instances warmed up (180 s)
    assert a["status"] == "green" and a["unserved_requests"] == 0 and a["time_to_scale_s"] == 360
    summary = region_loss_summary(check.reset_index())
    assert summary.iloc[0]["failed_region"] == "us-east-1" and summary.iloc[0]["status"] == "red"
    assert "us-west-2 (red)" in summary.iloc[0]["breaks"]


def test_region_loss_without_data_or_fleet_is_unknown() -> None:
    cfg = three_region_config(40, 30)
    check = region_loss_check(cfg, region_demand()[["us-east-1", "us-west-2"]])
    unknown = check[check["region"].eq("eu-west-1") | check["failed_region"].eq("eu-west-1")]
    assert set(unknown["status"]) == {"unknown"}


# ---- invariants -------------------------------------------------------------------------------------

policies = st.one_of(
    st.builds(
        TargetTracking,
        target_utilization=st.floats(0.3, 0.95),
        scale_out_cooldown_s=st.sampled_from([0.0, 60.0, 300.0]),
        scale_in_cooldown_s=st.sampled_from([0.0, 120.0, 300.0]),
        scale_in_datapoints=st.integers(1, 15),
        disable_scale_in=st.booleans(),
    ),
    st.builds(
        StepScaling,
        threshold=st.floats(0.4, 0.8),
        adjustment_type=st.sampled_from(["ChangeInCapacity", "PercentChangeInCapacity"]),
        cooldown_s=st.sampled_from([0.0, 60.0, 300.0]),
        evaluation_periods=st.integers(1, 3),
    ),
    st.just(
        StepScaling(
            steps=(StepAdjustment(0, 10, -1), StepAdjustment(10, None, 2)), threshold=0, metric="queue_depth"
        )
    ),
    st.builds(
        KubernetesHPA,
        target_utilization=st.floats(0.3, 0.95),
        scale_down_stabilization_s=st.sampled_from([0.0, 120.0, 300.0]),
        scale_up_select=st.sampled_from(["Max", "Min"]),
    ),
    st.just(
        Scheduled(
            actions=(
                ScheduledAction("*/20 * * * *", min_instances=6),
                ScheduledAction("10-59/20 * * * *", max_instances=3),
            ),
            policy=TargetTracking(),
        )
    ),
)
demands = st.lists(st.floats(0, 2000, allow_nan=False), min_size=2, max_size=240)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    values=demands,
    policy=policies,
    capacity=st.floats(5, 200),
    bounds=st.tuples(st.integers(0, 5), st.integers(1, 40)),
    warmup=st.sampled_from([0.0, 60.0, 180.0, 330.0]),
    price=st.floats(0, 5),
    start=st.one_of(st.none(), st.integers(0, 60)),
)
def test_invariants(values, policy, capacity, bounds, warmup, price, start) -> None:
    lo, hi = min(bounds), max(max(bounds), 1)
    fleet = Fleet(capacity, lo, hi, warmup, price)
    res = simulate(minutes(values), fleet, policy, start_instances=start)
    f = res.frame
    eps = 1e-9
    assert (f["lower_bound"] <= f["desired"]).all() and (f["desired"] <= f["upper_bound"]).all()
    assert (fleet.min_instances <= f["desired"]).all() and (f["desired"] <= fleet.max_instances).all()
    assert (f["in_service"] <= f["desired"]).all()
    assert (f["served"] <= f["in_service"] * capacity + eps).all()
    assert (f["utilization"].between(0, 1)).all()
    if "queue_depth" in f:
        # conservation: what arrived was processed or is still queued
        assert f["served"].sum() * 60 + f["queue_depth"].iloc[-1] == pytest.approx(
            f["demand"].sum() * 60, rel=1e-6, abs=1e-6
        )
    else:
        assert (f["served"] <= f["demand"] + eps).all()
        assert np.allclose(f["served"] + f["unserved"], f["demand"])
    s = res.summary
    assert s.cost_usd == pytest.approx(s.instance_hours * price)
    assert s.instance_hours == pytest.approx(f["desired"].sum() / 60)


def test_demand_with_gaps_is_put_on_a_regular_grid() -> None:
    s = minutes(np.full(10, 100.0)).drop(index=[MONDAY + pd.Timedelta(minutes=m) for m in (3, 4)])
    res = simulate(s, Fleet(50, 1, 10), TargetTracking())
    assert len(res.frame) == 10 and res.step_s == 60
    with pytest.raises(ValueError, match="empty"):
        simulate(
            pd.Series([], dtype=float, index=pd.DatetimeIndex([], tz="UTC")),
            Fleet(50, 1, 10),
            TargetTracking(),
        )


# ---- region loss follows the configured failover routing (issue 18) --------------------------------


def routed_config(
    weights: dict[str, float],
    *,
    failover_to: dict[str, str] | None = None,
    targets: list[dict] | None = None,
    max_instances: int = 60,
):
    """Three regions (A us-east-1, B us-west-2, C eu-west-1) with the given routing weights, 100 req/s
    per instance, min 1, 180 s warm-up, each fleet's max `max_instances`."""
    regions = [
        {"code": code, "name": code, "lat": 0, "lon": 0, "timezone": "UTC", "routing_weight": w}
        | ({"failover_to": (failover_to or {})[code]} if code in (failover_to or {}) else {})
        for code, w in weights.items()
    ]
    fleets = [
        {
            "name": f"api-{code}",
            "service": "api",
            "region": code,
            "capacity_per_instance": 100,
            "min_instances": 1,
            "max_instances": max_instances,
            "warmup_s": 180,
            "target_utilization": 0.6,
        }
        for code in weights
    ]
    return config_from_dict({"region": regions, "fleet": fleets, "target": targets or []})


def weighted_demand(weights: dict[str, float], total: float = 2000.0) -> pd.DataFrame:
    """Each region's traffic is its routing weight's share of `total` (one hump, peak 1.3 x total)."""
    frame = region_demand()
    shape = frame["us-east-1"] / 2000
    return pd.DataFrame({code: total * w * shape for code, w in weights.items()}, index=frame.index)


ACTIVE_PASSIVE = {"us-east-1": 1.0, "us-west-2": 0.0}
FAILOVER_TARGET = {
    "name": "api-dns-failover",
    "kind": "route53_failover",
    "region": "us-east-1",
    "params": {"record_name": "api.example.internal.", "primary": "us-east-1", "secondary": "us-west-2"},
}


def test_active_passive_without_a_pair_loses_the_primary_traffic_red() -> None:
    # the bug: losing the primary was green with 0 extra req/s on the survivor (the traffic vanished)
    demand = weighted_demand(ACTIVE_PASSIVE)
    check = region_loss_check(routed_config(ACTIVE_PASSIVE), demand)
    lost = check[(check["failed_region"] == "us-east-1") & (check["region"] == cap.NOWHERE)].iloc[0]
    assert lost["status"] == "red" and lost["extra_rps"] == pytest.approx(2600)
    a = demand["us-east-1"]
    peak_at = a.idxmax()
    expected_lost = float(a[(a.index >= peak_at) & (a.index < peak_at + timedelta(hours=1))].sum() * 60)
    assert lost["unserved_requests"] == pytest.approx(expected_lost)
    assert "nowhere to go" in lost["reason"] and "failover_to" in lost["reason"]
    summary = region_loss_summary(check).set_index("failed_region")
    assert summary.loc["us-east-1", "status"] == "red"
    assert summary.loc["us-east-1", "taken_by"] == "nowhere (lost)"
    assert summary.loc["us-east-1", "unserved_requests"] == pytest.approx(expected_lost)
    # losing the idle standby moves nothing
    assert summary.loc["us-west-2", "status"] == "green"


@pytest.mark.parametrize(
    ("failover_to", "targets", "route"),
    [
        (None, [FAILOVER_TARGET], "route53_failover target api-dns-failover"),
        ({"us-east-1": "us-west-2"}, [], "failover_to of region us-east-1"),
    ],
)
def test_active_passive_standby_takes_all_the_traffic_and_warms_up(failover_to, targets, route) -> None:
    cfg = routed_config(ACTIVE_PASSIVE, failover_to=failover_to, targets=targets)
    check = region_loss_check(cfg, weighted_demand(ACTIVE_PASSIVE))
    standby = check.set_index(["failed_region", "region"]).loc[("us-east-1", "us-west-2")]
    assert standby["share_pct"] == 100 and bool(standby["standby"]) and standby["route"] == route
    assert standby["extra_rps"] == pytest.approx(2600) and standby["peak_rps_after"] == pytest.approx(2600)
    assert standby["instances_needed"] == math.ceil(2600 / 60)
    # it idles at 1 instance: the jump is unserved while it scales out and warms up -> amber, not green
    assert standby["status"] == "amber" and standby["unserved_requests"] > 0
    assert standby["time_to_scale_s"] > 180 and standby["reason"].startswith("standby from 1 instance")
    assert cap.NOWHERE not in set(check["region"])
    summary = region_loss_summary(check).set_index("failed_region")
    assert summary.loc["us-east-1", "taken_by"] == "us-west-2 (standby) 100%"


def test_active_passive_standby_too_small_is_red() -> None:
    cfg = routed_config(ACTIVE_PASSIVE, targets=[FAILOVER_TARGET], max_instances=20)
    check = region_loss_check(cfg, weighted_demand(ACTIVE_PASSIVE)).set_index(["failed_region", "region"])
    row = check.loc[("us-east-1", "us-west-2")]
    # 2600 req/s > 20 x 100 at max
    assert row["status"] == "red" and "raise max to 26+" in row["reason"]


def test_seventy_thirty_zero_disaster_recovery_region_takes_the_primary() -> None:
    weights = {"us-east-1": 0.7, "us-west-2": 0.3, "eu-west-1": 0.0}
    demand = weighted_demand(weights)
    cfg = routed_config(weights, failover_to={"us-east-1": "eu-west-1"})
    check = region_loss_check(cfg, demand).set_index(["failed_region", "region"])
    dr = check.loc[("us-east-1", "eu-west-1")]
    assert dr["share_pct"] == 100 and bool(dr["standby"]) and dr["extra_rps"] == pytest.approx(0.7 * 2600)
    b = check.loc[("us-east-1", "us-west-2")]
    assert b["share_pct"] == 0 and b["extra_rps"] == 0 and not bool(b["standby"])
    # B has no pair: its traffic goes by weight, all of it to A (the DR region's weight is 0)
    a = check.loc[("us-west-2", "us-east-1")]
    assert a["share_pct"] == 100 and a["route"] == "routing weights"
    assert a["extra_rps"] == pytest.approx(0.3 * 2600)
    assert check.loc[("us-west-2", "eu-west-1"), "share_pct"] == 0
    summary = region_loss_summary(check.reset_index()).set_index("failed_region")
    assert summary.loc["us-east-1", "taken_by"] == "eu-west-1 (standby) 100%"
    assert summary.loc["us-west-2", "taken_by"] == "us-east-1 100%"


def test_seventy_thirty_zero_without_a_pair_the_dr_region_never_takes_load() -> None:
    weights = {"us-east-1": 0.7, "us-west-2": 0.3, "eu-west-1": 0.0}
    check = region_loss_check(routed_config(weights), weighted_demand(weights)).set_index(
        ["failed_region", "region"]
    )
    assert check.loc[("us-east-1", "us-west-2"), "share_pct"] == 100
    assert check.loc[("us-east-1", "eu-west-1"), "extra_rps"] == 0


def test_all_active_splits_by_weight_with_no_standby() -> None:
    check = region_loss_check(three_region_config(max_b=40, max_c=30), region_demand())
    assert not check["standby"].any()
    assert set(check.loc[check["share_pct"] > 0, "route"]) == {"routing weights"}
    summary = region_loss_summary(check).set_index("failed_region")
    assert summary.loc["us-east-1", "taken_by"] == "us-west-2 60%, eu-west-1 40%"


def test_failover_route_and_the_what_if_follow_the_pair() -> None:
    weights = {"us-east-1": 0.7, "us-west-2": 0.3, "eu-west-1": 0.0}
    cfg = routed_config(weights, failover_to={"us-east-1": "eu-west-1"})
    route = cap.failover_route(cfg, "us-east-1")
    assert dict(route.shares) == {"eu-west-1": 1.0} and route.standby == {"eu-west-1"}
    assert cap.failover_route(cfg, "us-west-2").shares == {"us-east-1": 1.0}
    demand = weighted_demand(weights)
    fleet = Fleet(capacity_per_instance=100, min_instances=1, max_instances=60, warmup_s=180)
    sc = Scenario("dr", "eu-west-1", fleet, TargetTracking(0.6), failed_region="us-east-1")
    routed = run_scenarios([sc], {"history": demand}, weights, config=cfg)["dr"]
    assert routed.frame["demand"].max() == pytest.approx(0.7 * 2600)
    by_weight = run_scenarios([sc], {"history": demand}, weights)["dr"]  # no config: weights only
    assert by_weight.frame["demand"].max() == 0


@pytest.mark.parametrize(
    ("regions", "targets", "message"),
    [
        ({"failover_to": "xx-nowhere-1"}, [], "region[0].failover_to: unknown region 'xx-nowhere-1'"),
        ({"failover_to": "us-east-1"}, [], "region[0].failover_to: us-east-1 cannot fail over to itself"),
        (
            {},
            [FAILOVER_TARGET | {"params": {"primary": "us-east-1", "secondary": "eu-nowhere-9"}}],
            "target[0].params.secondary: unknown region 'eu-nowhere-9'",
        ),
        (
            {"failover_to": "us-west-2"},
            [FAILOVER_TARGET | {"params": {"primary": "us-east-1", "secondary": "eu-west-1"}}],
            "target[0].params.secondary: 'eu-west-1' disagrees with region[0].failover_to = 'us-west-2'",
        ),
    ],
)
def test_bad_failover_pair_is_a_config_error_naming_the_entry(regions, targets, message) -> None:
    from core.config import ConfigError

    cfg = routed_config({"us-east-1": 1.0, "us-west-2": 0.0, "eu-west-1": 0.0})
    data = {
        "region": [
            {"code": r.code, "name": r.name, "lat": 0, "lon": 0, "timezone": "UTC", "routing_weight": 1.0}
            for r in cfg.region
        ],
        "target": targets,
    }
    data["region"][0] |= regions
    with pytest.raises(ConfigError) as info:
        config_from_dict(data)
    assert message in str(info.value)


# ---- queue workers (issue 18): backlog-per-instance tracking and the step table from the page --------


def test_backlog_tracking_walkthrough_by_hand() -> None:
    """30 jobs a minute arrive; one worker clears 1 job a minute; target backlog 10 jobs per worker,
    every datapoint acts (1 datapoint, no cooldown), no warm-up. The simulator starts at the count the
    first minute needs (30); that minute clears its 30 jobs, so the backlog is 0 and it scales in to 0.
    Then each minute: backlog = previous + 30 - workers, desired = ceil(backlog / 10):
    30 -> 3; 30 + 30 - 3 = 57 -> 6; 57 + 30 - 6 = 81 -> 9; 81 + 30 - 9 = 102 -> 11; 121 -> 13; 138 -> 14.
    It scales out from zero workers, which CPU-based policies cannot."""
    arrivals = minutes([0.5] * 8)
    policy = cap.BacklogTracking(
        10, scale_out_cooldown_s=0, scale_in_cooldown_s=0, scale_out_datapoints=1, scale_in_datapoints=1
    )
    out = simulate(arrivals, Fleet(1 / 60, 0, 100), policy).frame
    assert out["queue_depth"].tolist() == [0, 30, 57, 81, 102, 121, 138, 154]
    assert out["desired"].tolist()[1:] == [0, 3, 6, 9, 11, 13, 14]
    assert cap.uses_queue(policy)


def test_backlog_tracking_waits_for_three_datapoints_and_its_cooldown() -> None:
    # AWS defaults: 3 high datapoints before the first scale-out; then within the 300 s cooldown only a
    # larger scale-out acts. Backlog grows by 30 - workers each minute from 1 worker.
    arrivals = minutes([0.5] * 10)
    out = simulate(arrivals, Fleet(1 / 60, 1, 100), cap.BacklogTracking(10), start_instances=1).frame
    # backlog after minutes 0, 1, 2: 29, 58, 87 -> the third high datapoint asks ceil(8.7) = 9
    assert out["queue_depth"].tolist()[:3] == [29, 58, 87]
    assert out["desired"].tolist()[:4] == [1, 1, 1, 9]
    with pytest.raises(ValueError, match="backlog_per_instance must be > 0"):
        cap.BacklogTracking(0)


MIYABI_ROWS = [
    {"lower": 0, "upper": 11, "adjustment": 1},
    {"lower": 11, "upper": 51, "adjustment": 5},
    {"lower": 51, "upper": 101, "adjustment": 10},
    {"lower": 101, "upper": 501, "adjustment": 20},
    {"lower": 501, "upper": 1001, "adjustment": 50},
    {"lower": 1001, "upper": None, "adjustment": 100},
]


def test_step_table_from_the_page_is_the_miyabi_table() -> None:
    policy = cap.step_scaling_from_table(
        MIYABI_ROWS, threshold=0, metric="queue_depth", adjustment_type="ExactCapacity", cooldown_s=0
    )
    assert policy == miyabi_queue_table()


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (MIYABI_ROWS[:2] + MIYABI_ROWS[3:], "gap between rows 2 and 3: nothing covers [51, 101)"),
        (
            [*MIYABI_ROWS[:2], {"lower": 40, "upper": 101, "adjustment": 10}, *MIYABI_ROWS[3:]],
            "rows 2 and 3 overlap: [11, 51) and [40, 101)",
        ),
        ([{"lower": 5, "upper": None, "adjustment": 1}], "scale-out steps must start at 0"),
        (MIYABI_ROWS[:-1], "row 5: the last scale-out step needs an empty upper bound"),
        ([{"lower": 0, "upper": None, "adjustment": None}], "row 1: the adjustment is missing"),
        (
            [{"lower": 10, "upper": 5, "adjustment": 1}],
            "row 1: lower bound 10 must be below the upper bound 5",
        ),
        (
            [{"lower": 0, "upper": None, "adjustment": -2}],
            "row 1: ExactCapacity needs a capacity >= 0, got -2",
        ),
        ([{"lower": -5, "upper": 5, "adjustment": 1}], "row 1: [-5, 5) spans the threshold"),
    ],
)
def test_step_table_errors_name_the_rows(rows, message) -> None:
    with pytest.raises(ValueError) as exc:
        cap.step_scaling_from_table(rows, threshold=0, metric="queue_depth", adjustment_type="ExactCapacity")
    assert message in str(exc.value)
