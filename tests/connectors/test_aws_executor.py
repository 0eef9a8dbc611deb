"""AWS executor against a real moto_server over HTTP: every action kind really changes the target, and the
whole guarded path (propose -> approve -> execute, exactly once) works against it."""

from __future__ import annotations

import threading
import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError

from connectors.aws_executor import AwsExecutor
from connectors.store import open_db
from core import audit
from core.actions import ActionRefused, ActionService, drain_region, executor_target, promote_region
from core.auth import Identity
from core.config import HeadroomConfig, config_from_dict
from core.ports import ActionExecutor, AppliedUnverified, Change, SourceError, Target, TargetState
from headroom.wiring import build_executor
from tests.connectors.moto_world import ROUTE53_WEIGHTS, client, seed

SHIPPED = Path(__file__).resolve().parents[2] / ".streamlit" / "headroom.toml"
T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
CAROL, BOB = Identity("carol@example.com", "Carol", "demo"), Identity("bob@example.com", "Bob", "demo")
SERVICES = ("ecs", "autoscaling", "application-autoscaling", "route53")


@dataclass
class Aws:
    url: str
    cfg: HeadroomConfig
    executor: AwsExecutor
    zone_id: str

    def target(self, name: str) -> Target:
        return executor_target(next(t for t in self.cfg.target if t.name == name))

    def ecs_desired(self) -> int:
        out = client(self.url, "ecs").describe_services(cluster="headroom-us-east-1", services=["api"])
        return out["services"][0]["desiredCount"]

    def asg(self) -> dict[str, Any]:
        return client(self.url, "autoscaling", "ap-southeast-1").describe_auto_scaling_groups(
            AutoScalingGroupNames=["api-ap-southeast-1"]
        )["AutoScalingGroups"][0]

    def scalable_target(self) -> dict[str, Any]:
        return client(self.url, "application-autoscaling", "us-west-2").describe_scalable_targets(
            ServiceNamespace="ecs",
            ResourceIds=["service/headroom-us-west-2/api"],
            ScalableDimension="ecs:service:DesiredCount",
        )["ScalableTargets"][0]

    def records(self, name: str) -> list[dict[str, Any]]:
        out = client(self.url, "route53").list_resource_record_sets(
            HostedZoneId=self.zone_id, StartRecordName=name
        )
        return [r for r in out["ResourceRecordSets"] if r["Name"] == name]


@pytest.fixture
def aws(aws_env: str) -> Aws:
    data = tomllib.loads(SHIPPED.read_text())
    data["sources"]["executor"] = "aws"
    data["aws"] = {"region_name": "us-east-1", "endpoint_urls": dict.fromkeys(SERVICES, aws_env)}
    cfg = config_from_dict(data)
    zone = seed(aws_env)
    return Aws(aws_env, cfg, AwsExecutor(cfg.aws), zone)


def test_is_an_action_executor_built_from_config(aws: Aws, tmp_path: Path):
    assert isinstance(aws.executor, ActionExecutor)
    built = build_executor(
        aws.cfg,
        tmp_path / "s.db",
        {"connections": {"aws": {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}}},
    )
    assert isinstance(built, AwsExecutor) and built.current(aws.target("api-us-east-1")).desired == 6


def test_ecs_desired_count(aws: Aws):
    target = aws.target("api-us-east-1")
    assert aws.executor.current(target).desired == 6
    after = aws.executor.apply(target, Change(desired=11))
    assert after.desired == 11 and aws.ecs_desired() == 11


def test_autoscaling_group_desired_and_bounds(aws: Aws):
    target = aws.target("api-ap-southeast-1")
    now = aws.executor.current(target)
    assert (now.desired, now.min_instances, now.max_instances) == (3, 2, 20)
    assert aws.executor.apply(target, Change(desired=5)).desired == 5
    assert aws.asg()["DesiredCapacity"] == 5
    after = aws.executor.apply(target, Change(desired=7, min_instances=4, max_instances=24))
    assert (after.desired, after.min_instances, after.max_instances) == (7, 4, 24)
    group = aws.asg()
    assert (group["DesiredCapacity"], group["MinSize"], group["MaxSize"]) == (7, 4, 24)


def test_application_autoscaling_bounds(aws: Aws):
    target = aws.target("api-us-west-2")
    now = aws.executor.current(target)
    assert (now.min_instances, now.max_instances, now.desired) == (4, 60, None)
    after = aws.executor.apply(target, Change(min_instances=9))
    assert (after.min_instances, after.max_instances) == (9, 60)
    assert (aws.scalable_target()["MinCapacity"], aws.scalable_target()["MaxCapacity"]) == (9, 60)


def test_route53_weighted_records(aws: Aws):
    target = aws.target("api-dns-weights")
    assert aws.executor.current(target).weights == {k: float(v) for k, v in ROUTE53_WEIGHTS.items()}
    after = aws.executor.apply(target, Change(weights={"eu-west-1": 0}))
    assert after.weights["eu-west-1"] == 0.0 and after.weights["us-east-1"] == 32.0
    live = {r["SetIdentifier"]: r["Weight"] for r in aws.records("api.example.internal.")}
    assert live == {**ROUTE53_WEIGHTS, "eu-west-1": 0}
    with pytest.raises(SourceError, match="whole numbers 0..255"):
        aws.executor.apply(target, Change(weights={"us-east-1": 0.5}))


def test_route53_failover_promotes_the_secondary_atomically(aws: Aws):
    target = aws.target("api-dns-failover-eu")
    assert aws.executor.current(target).weights == {"eu-west-1": 1.0, "eu-central-1": 0.0}
    after = aws.executor.apply(target, Change(weights={"eu-central-1": 1.0, "eu-west-1": 0.0}))
    assert after.weights == {"eu-west-1": 0.0, "eu-central-1": 1.0}
    live = {r["SetIdentifier"]: r for r in aws.records("eu.api.example.internal.")}
    assert live["eu-central-1"]["Failover"] == "PRIMARY" and live["eu-west-1"]["Failover"] == "SECONDARY"
    assert "HealthCheckId" in live["eu-west-1"]  # the record kept its health check and value
    assert live["eu-west-1"]["ResourceRecords"] == [{"Value": "api.eu-west-1.example.com"}]


def test_missing_resources_give_a_clear_error(aws: Aws):
    missing = Target("x", "ecs_service", "us-east-1", {"cluster": "headroom-us-east-1", "service": "nope"})
    with pytest.raises(SourceError, match="service nope in cluster headroom-us-east-1.*MISSING"):
        aws.executor.current(missing)
    with pytest.raises(SourceError, match="Auto Scaling group ghost not found"):
        aws.executor.current(Target("g", "autoscaling_group", "ap-southeast-1", {"asg_name": "ghost"}))
    with pytest.raises(SourceError, match="needs params.cluster"):
        aws.executor.current(Target("x", "ecs_service", "us-east-1", {}))
    with pytest.raises(SourceError, match="hosted zone nowhere.internal. not found"):
        aws.executor.current(
            Target(
                "d",
                "route53_weighted",
                "us-east-1",
                {"hosted_zone_name": "nowhere.internal", "record_name": "a.nowhere.internal"},
            )
        )


# ---- the guarded path against moto ------------------------------------------------------------------
@pytest.fixture
def service(aws: Aws, tmp_path: Path) -> ActionService:
    path = tmp_path / "store.db"
    open_db(path).conn.close()
    return ActionService(path, aws.cfg, aws.executor, clock=lambda: T0)


def run(service: ActionService, target: str, change: Change, approve: bool) -> None:
    action = service.propose(CAROL, target, change, f"test {target}")
    assert action.state == ("proposed" if approve else "approved")
    if approve:
        service.approve(BOB, action.id, "ok")
    outcome = service.execute(CAROL, action.id)
    assert outcome.ran and outcome.action.state == "succeeded", outcome.message
    assert [e.event for e in audit.entries(service.path, action_id=action.id)] == (
        ["propose", "approve", "execute", "succeeded"] if approve else ["propose", "execute", "succeeded"]
    )


def test_every_action_kind_through_the_guarded_path(aws: Aws, service: ActionService):
    run(service, "api-us-east-1", Change(desired=12), approve=True)
    assert aws.ecs_desired() == 12
    run(service, "api-ap-southeast-1", Change(desired=6), approve=False)
    assert aws.asg()["DesiredCapacity"] == 6
    run(service, "api-us-west-2", Change(min_instances=8, max_instances=60), approve=False)
    assert aws.scalable_target()["MinCapacity"] == 8
    weights = service.plan("api-dns-weights", Change(weights={})).current.weights
    run(service, "api-dns-weights", Change(weights=drain_region(weights, "ap-northeast-1")), approve=True)
    assert {r["SetIdentifier"]: r["Weight"] for r in aws.records("api.example.internal.")}[
        "ap-northeast-1"
    ] == 0
    pair = service.plan("api-dns-failover-eu", Change(weights={})).current.weights
    run(service, "api-dns-failover-eu", Change(weights=promote_region(pair, "eu-central-1")), approve=True)
    live = {r["SetIdentifier"]: r["Failover"] for r in aws.records("eu.api.example.internal.")}
    assert live == {"eu-west-1": "SECONDARY", "eu-central-1": "PRIMARY"}
    assert audit.verify_chain(service.path).ok


def test_guardrails_enforce_what_moto_does_not(aws: Aws, service: ActionService):
    # moto (like a misconfigured account) accepts an ASG desired above MaxSize: our bounds must refuse it
    with pytest.raises(ActionRefused) as exc:
        service.propose(CAROL, "api-ap-southeast-1", Change(desired=21, max_instances=21), "more")
    assert exc.value.code == "bounds"
    assert aws.asg()["DesiredCapacity"] == 3


class CountingAws(AwsExecutor):
    def __init__(self, *args: Any):
        super().__init__(*args)
        self.applies = 0
        self._lock = threading.Lock()

    def apply(self, target: Target, change: Change) -> TargetState:
        with self._lock:
            self.applies += 1
        return super().apply(target, change)


def test_concurrent_executes_change_moto_once(aws: Aws, tmp_path: Path):
    path = tmp_path / "store.db"
    open_db(path).conn.close()
    counting = CountingAws(aws.cfg.aws)
    service = ActionService(path, aws.cfg, counting, clock=lambda: T0)
    action = service.propose(CAROL, "api-us-east-1", Change(desired=12), "launch")
    service.approve(BOB, action.id)
    barrier = threading.Barrier(6)
    ran: list[bool] = []

    def click() -> None:
        barrier.wait()
        ran.append(service.execute(CAROL, action.id).ran)

    threads = [threading.Thread(target=click) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(ran) == [False] * 5 + [True]
    assert counting.applies == 1 and aws.ecs_desired() == 12
    events = [e.event for e in audit.entries(path, action_id=action.id)]
    assert events == ["propose", "approve", "execute", "succeeded"]


def test_unreachable_endpoint_is_a_refusal_not_a_crash(tmp_path: Path, aws_env: str):
    data = tomllib.loads(SHIPPED.read_text())
    data["aws"] = {"endpoint_urls": dict.fromkeys(SERVICES, "http://127.0.0.1:9")}  # nothing listens there
    cfg = config_from_dict(data)
    path = tmp_path / "store.db"
    open_db(path).conn.close()
    service = ActionService(path, cfg, AwsExecutor(cfg.aws), clock=lambda: T0)
    plan = service.plan("api-us-east-1", Change(desired=8), "x")
    assert (
        not plan.ok
        and "connect" in next(c for c in plan.checks if c.name == "current state read").detail.lower()
    )
    with pytest.raises(ActionRefused) as exc:
        service.propose(CAROL, "api-us-east-1", Change(desired=8), "more")
    assert exc.value.code == "target_unreadable"


# ---- a change that was applied but could not be read back ------------------------------------------------
def _fail_calls(executor: AwsExecutor, service: str, region: str, operation: str, armed: list[bool]) -> None:
    """Make `operation` on the executor's own client fail like a dropped network, while `armed[0]`."""

    def fail(**_: Any) -> None:
        if armed[0]:
            raise EndpointConnectionError(endpoint_url=f"https://{service}.{region}.amazonaws.com")

    executor._client(service, region).meta.events.register(f"before-call.{service}.{operation}", fail)


def _count_calls(executor: AwsExecutor, service: str, region: str, operation: str) -> list[int]:
    calls = [0]

    def count(**_: Any) -> None:
        calls[0] += 1

    executor._client(service, region).meta.events.register(f"before-call.{service}.{operation}", count)
    return calls


def test_an_applied_change_whose_read_back_fails_is_not_a_plain_failure(aws: Aws):
    target = aws.target("api-us-east-1")
    writes = _count_calls(aws.executor, "ecs", "us-east-1", "UpdateService")
    _fail_calls(aws.executor, "ecs", "us-east-1", "DescribeServices", [True])
    change = Change(desired=9)
    with pytest.raises(AppliedUnverified) as info:
        aws.executor.apply(target, change)
    err = info.value
    assert isinstance(err, SourceError)  # callers that only know SourceError still end the action
    assert err.requested == change and "describe_services" in err.read_back_error
    assert "applied" in err.message and "could not be read back" in err.message
    assert writes[0] == 1 and aws.ecs_desired() == 9  # it really ran, exactly once


def test_route53_read_back_failure_after_the_batch_is_applied_unverified(aws: Aws):
    target = aws.target("api-dns-weights")
    armed = [False]
    client = aws.executor._client("route53", "us-east-1")
    client.meta.events.register(
        "after-call.route53.ChangeResourceRecordSets", lambda **_: armed.__setitem__(0, True)
    )
    _fail_calls(aws.executor, "route53", "us-east-1", "ListResourceRecordSets", armed)
    with pytest.raises(AppliedUnverified):
        aws.executor.apply(target, Change(weights={"eu-west-1": 3}))
    weights = {r["SetIdentifier"]: r["Weight"] for r in aws.records("api.example.internal.")}
    assert weights["eu-west-1"] == 3


def test_a_failed_write_is_still_a_plain_source_error(aws: Aws):
    target = aws.target("api-us-east-1")
    _fail_calls(aws.executor, "ecs", "us-east-1", "UpdateService", [True])
    with pytest.raises(SourceError) as info:
        aws.executor.apply(target, Change(desired=9))
    assert not isinstance(info.value, AppliedUnverified)
    assert aws.ecs_desired() == 6


# ---- the same through ActionService: recorded as applied-but-unverified, never re-applied (issue 19 #18)
def _read_back_fails_after_the_write(aws: Aws) -> list[bool]:
    """DescribeServices fails like a dropped network from the moment UpdateService went through (the
    dry run and the claim read the target before that), until the returned switch is set to False."""
    armed = [False]
    aws.executor._client("ecs", "us-east-1").meta.events.register(
        "after-call.ecs.UpdateService", lambda **_: armed.__setitem__(0, True)
    )
    _fail_calls(aws.executor, "ecs", "us-east-1", "DescribeServices", armed)
    return armed


def test_an_applied_change_whose_read_back_fails_is_recorded_unverified_then_confirmed(
    aws: Aws, service: ActionService
):
    writes = _count_calls(aws.executor, "ecs", "us-east-1", "UpdateService")
    armed = _read_back_fails_after_the_write(aws)
    action = service.propose(CAROL, "api-us-east-1", Change(desired=9), "read-back fault")
    if action.state == "proposed":
        service.approve(BOB, action.id, "ok")
    outcome = service.execute(CAROL, action.id)
    assert outcome.ran and outcome.action.state == "unverified", outcome.message
    assert "applied once" in outcome.message and "never be re-applied" in outcome.message
    assert "describe_services" in outcome.action.error
    assert writes[0] == 1 and aws.ecs_desired() == 9  # it really ran, once
    events = [e.event for e in audit.entries(service.path, action_id=action.id)]
    assert events[-2:] == ["execute", "unverified"] and "failed" not in events
    detail = audit.entries(service.path, action_id=action.id)[-1].detail
    assert detail["applied"] is True and "describe_services" in detail["read_back_error"]

    # a repeat (rerun, another tab) never runs it again; the cooldown counts from the applied change
    again = service.execute(BOB, action.id)
    assert not again.ran and "never run twice" in again.message and writes[0] == 1
    armed[0] = False
    cooldown = [c for c in service.plan("api-us-east-1", Change(desired=10), "more").checks if not c.passed]
    assert any("cooldown" in c.name.lower() for c in cooldown), cooldown

    # the target still cannot be read: reconcile leaves it unverified and audits nothing
    armed[0] = True
    assert service.reconcile() == []
    assert service.get(action.id).state == "unverified"
    assert len(audit.entries(service.path, action_id=action.id)) == len(events)

    # readable again: reconcile confirms it from the target, without applying anything
    armed[0] = False
    settled = service.reconcile()
    assert [(s.action.id, s.outcome, s.settled_from) for s in settled] == [
        (action.id, "succeeded", "unverified")
    ]
    assert service.get(action.id).state == "succeeded" and service.get(action.id).after.desired == 9
    assert writes[0] == 1
    assert [e.event for e in audit.entries(service.path, action_id=action.id)][-1] == "reconcile"
    assert service.reconcile() == []  # settled once
    assert audit.verify_chain(service.path).ok


def test_an_unverified_change_the_target_no_longer_shows_is_failed_saying_it_ran(
    aws: Aws, service: ActionService
):
    writes = _count_calls(aws.executor, "ecs", "us-east-1", "UpdateService")
    armed = _read_back_fails_after_the_write(aws)
    action = service.propose(CAROL, "api-us-east-1", Change(desired=9), "read-back fault")
    if action.state == "proposed":
        service.approve(BOB, action.id, "ok")
    assert service.execute(CAROL, action.id).action.state == "unverified"
    armed[0] = False
    # something else (an autoscaler, a person in the console) moves the service meanwhile
    client(aws.url, "ecs").update_service(cluster="headroom-us-east-1", service="api", desiredCount=7)
    [settled] = service.reconcile()
    assert settled.outcome == "failed" and settled.action.state == "failed"
    assert "applied once" in settled.message and "NOT re-applied" in settled.message
    assert writes[0] == 1 and aws.ecs_desired() == 7  # Headroom did not write again
