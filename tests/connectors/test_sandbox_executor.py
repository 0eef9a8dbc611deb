"""Sandbox executor: a simulated fleet and routing table in the store, initialised from config; the same
tests on the embedded SQLite store and on a shared PostgreSQL (issue 14), where the demo world's
instance counts still come from the replica's SQLite file."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from connectors.sandbox_executor import SandboxExecutor, sandbox_changes, sandbox_targets
from connectors.store import open_db
from core.config import HeadroomConfig, config_from_dict
from core.ports import ActionExecutor, Change, SourceError, Target
from headroom.wiring import build_executor

SHIPPED = Path(__file__).resolve().parents[2] / ".streamlit" / "headroom.toml"
ECS = Target("api-us-east-1", "ecs_service", "us-east-1", {"cluster": "headroom-us-east-1", "service": "api"})
ASG = Target("api-ap-southeast-1", "autoscaling_group", "ap-southeast-1", {"asg_name": "api-ap-southeast-1"})
AAS = Target("api-us-west-2", "app_autoscaling", "us-west-2", {})
WEIGHTS = Target("api-dns-weights", "route53_weighted", "us-east-1", {})
FAILOVER = Target(
    "api-dns-failover-eu",
    "route53_failover",
    "eu-west-1",
    {"primary": "eu-west-1", "secondary": "eu-central-1"},
)


@pytest.fixture
def cfg() -> HeadroomConfig:
    return config_from_dict(tomllib.loads(SHIPPED.read_text()))


@pytest.fixture(params=["sqlite", "postgresql"])
def sandbox(request: pytest.FixtureRequest, tmp_path: Path, cfg: HeadroomConfig) -> SandboxExecutor:
    db = open_db(tmp_path / "store.db")
    # the newest demo minute says 11 instances in us-east-1: the sandbox starts there
    ts = int(datetime(2026, 11, 23, tzinfo=UTC).timestamp())
    db["metrics"].insert_all(
        [
            {"ts": ts - 60, "region": "us-east-1", "instances": 40.0},
            {"ts": ts, "region": "us-east-1", "instances": 11.0},
        ]
    )
    if request.param == "postgresql":
        return SandboxExecutor(request.getfixturevalue("postgres_url"), cfg, metrics=db)
    return SandboxExecutor(db, cfg)


def test_is_an_action_executor_and_is_built_by_default(
    sandbox: SandboxExecutor, cfg: HeadroomConfig, tmp_path: Path
):
    assert isinstance(sandbox, ActionExecutor)
    assert isinstance(build_executor(cfg, tmp_path / "other.db"), SandboxExecutor)


def test_initial_state_comes_from_config_and_the_demo_world(sandbox: SandboxExecutor, cfg: HeadroomConfig):
    assert sandbox.current(ECS).desired == 11  # newest instances figure, not the older 40
    asg = sandbox.current(ASG)
    assert (asg.desired, asg.min_instances, asg.max_instances) == (2, 2, 20)  # no metrics: fleet minimum
    weights = sandbox.current(WEIGHTS).weights
    assert weights == {r.code: r.routing_weight for r in cfg.region}
    assert sandbox.current(FAILOVER).weights == {"eu-west-1": 1.0, "eu-central-1": 0.0}


def test_scaling_changes_the_store_and_is_logged(sandbox: SandboxExecutor):
    after = sandbox.apply(ECS, Change(desired=15))
    assert after.desired == 15 and sandbox.current(ECS).desired == 15
    rows = {r["target"]: r for r in sandbox_targets(sandbox.path)}
    assert rows["api-us-east-1"]["desired"] == 15 and rows["api-us-east-1"]["fleet"] == "api-us-east-1"
    log = sandbox_changes(sandbox.path)
    assert [(c.target, c.change, c.before["desired"], c.after["desired"]) for c in log] == [
        ("api-us-east-1", {"desired": 15}, 11, 15)
    ]


def test_asg_refuses_desired_outside_bounds_like_aws(sandbox: SandboxExecutor):
    with pytest.raises(SourceError, match="between min 2 and max 20"):
        sandbox.apply(ASG, Change(desired=25))
    assert sandbox_changes(sandbox.path) == []
    after = sandbox.apply(ASG, Change(min_instances=5, max_instances=30))
    assert (after.desired, after.min_instances, after.max_instances) == (5, 5, 30)  # desired pulled up to min


def test_bounds_and_kinds_are_checked(sandbox: SandboxExecutor):
    with pytest.raises(SourceError, match="no min/max"):
        sandbox.apply(ECS, Change(min_instances=3))
    with pytest.raises(SourceError, match="min/max, not a desired"):
        sandbox.apply(AAS, Change(desired=3))
    with pytest.raises(SourceError, match="larger than max"):
        sandbox.apply(AAS, Change(min_instances=9, max_instances=8))
    with pytest.raises(SourceError, match="only weights"):
        sandbox.apply(WEIGHTS, Change(desired=3))
    with pytest.raises(SourceError, match="no record for mars-1"):
        sandbox.apply(WEIGHTS, Change(weights={"mars-1": 1.0}))


def test_routing_changes(sandbox: SandboxExecutor):
    assert sandbox.apply(WEIGHTS, Change(weights={"eu-west-1": 0.0})).weights["eu-west-1"] == 0.0
    assert sandbox.current(WEIGHTS).weights["us-east-1"] == 0.32
    assert sandbox.apply(FAILOVER, Change(weights={"eu-west-1": 0.0, "eu-central-1": 1.0})).weights == {
        "eu-west-1": 0.0,
        "eu-central-1": 1.0,
    }
    assert len(sandbox_changes(sandbox.path, "api-dns-failover-eu")) == 1


def test_postgres_tables_come_from_a_recorded_migration(postgres_url: str, cfg: HeadroomConfig) -> None:
    from connectors.sandbox_executor import SANDBOX_COMPONENT
    from core.migrations import schema_version

    assert sandbox_targets(postgres_url) == [] and sandbox_changes(postgres_url) == []  # nothing yet
    SandboxExecutor(postgres_url, cfg).apply(ECS, Change(desired=8))  # no demo world: fleet minimum
    assert schema_version(postgres_url, SANDBOX_COMPONENT) == 1
    assert [(c.before["desired"], c.after["desired"]) for c in sandbox_changes(postgres_url)] == [(6, 8)]


def test_two_replicas_changing_one_shared_target_at_once_both_land(
    postgres_url: str, cfg: HeadroomConfig, tmp_path: Path
) -> None:
    """Each replica starts the sandbox from its own demo world; the first to touch a target creates its
    row, and concurrent changes queue on the row lock instead of overwriting each other."""
    import threading

    replicas = [SandboxExecutor(postgres_url, cfg, metrics=open_db(tmp_path / f"r{i}.db")) for i in range(2)]
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def shift(i: int) -> None:
        barrier.wait()
        try:
            replicas[i % 2].apply(WEIGHTS, Change(weights={"eu-west-1": float(i)}))
        except BaseException as exc:  # noqa: BLE001 - asserted below
            errors.append(exc)

    threads = [threading.Thread(target=shift, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    log = sandbox_changes(postgres_url, "api-dns-weights")
    assert len(log) == 8 and len(sandbox_targets(postgres_url)) == 1
    # serialised: each change starts from the state the previous one left
    assert all(a.after == b.before for a, b in zip(log, log[1:], strict=False))
    assert replicas[0].current(WEIGHTS).weights == replicas[1].current(WEIGHTS).weights
