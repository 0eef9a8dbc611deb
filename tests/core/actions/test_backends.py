"""The guarded path on both backends (issue 14): the same behaviours run on a SQLite file and on a real
PostgreSQL started by tests/conftest.py (`store_locator`). The sandbox executor here keeps its state in
a SQLite file beside, the same for both backends (its own tests run it on PostgreSQL too:
tests/connectors/test_sandbox_executor.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from connectors.sandbox_executor import SandboxExecutor, sandbox_changes
from connectors.store import open_db
from core import audit, db
from core.actions import ActionRefused, ActionService
from core.actions import execution as execution_module
from core.config import HeadroomConfig
from core.ports import Change
from tests.conftest import REPO_ROOT
from tests.core.actions.support import (
    ALICE,
    BOB,
    CAROL,
    ECS,
    ERIN,
    T0,
    Clock,
    CountingSandbox,
    make_config,
    shipped_dict,
)


@dataclass
class Replica:
    service: ActionService
    clock: Clock
    store: str  # the guarded path's store: a file path or a postgresql:// URL
    sandbox_path: Path

    def events(self, action_id: int | None = None) -> list[str]:
        return [e.event for e in audit.entries(self.store, action_id=action_id)]

    def changes(self, target: str | None = None) -> int:
        return len(sandbox_changes(self.sandbox_path, target))


def replica(tmp_path: Path, store: str, cfg: HeadroomConfig | None = None, executor: Any = None) -> Replica:
    sandbox_path = tmp_path / "sandbox.db"
    if not sandbox_path.exists():
        open_db(sandbox_path).conn.close()
    cfg = cfg or make_config()
    clock = Clock(T0)
    service = ActionService(store, cfg, executor or SandboxExecutor(sandbox_path, cfg), clock=clock)
    return Replica(service, clock, store, sandbox_path)


def approved(r: Replica, desired: int = 12) -> int:
    action = r.service.propose(CAROL, ECS, Change(desired=desired), "peak traffic expected")
    r.service.approve(BOB, action.id, "ok")
    return action.id


def test_propose_approve_execute_is_audited_in_one_unbroken_chain(tmp_path: Path, store_locator: str) -> None:
    r = replica(tmp_path, store_locator)
    action_id = approved(r)
    first = r.service.execute(CAROL, action_id)
    again = r.service.execute(BOB, action_id)
    assert first.ran and not again.ran and "never run twice" in again.message
    assert r.service.get(action_id).state == "succeeded" and r.service.get(action_id).after.desired == 12
    assert r.changes(ECS) == 1
    assert r.events(action_id) == ["propose", "approve", "execute", "succeeded"]
    assert audit.verify_chain(store_locator).ok


def test_self_approval_is_refused_and_the_refusal_audited(tmp_path: Path, store_locator: str) -> None:
    r = replica(tmp_path, store_locator)
    action = r.service.propose(ALICE, ECS, Change(desired=12), "peak")
    with pytest.raises(ActionRefused) as refused:
        r.service.approve(ALICE, action.id)
    assert refused.value.code == "self_approval"
    assert r.events()[-1] == "denied"
    assert audit.verify_chain(store_locator).ok


def test_a_repeated_request_id_returns_the_same_action(tmp_path: Path, store_locator: str) -> None:
    r = replica(tmp_path, store_locator)
    a = r.service.propose(CAROL, ECS, Change(desired=12), "peak", request_id="form-1")
    b = r.service.propose(CAROL, ECS, Change(desired=12), "peak", request_id="form-1")
    assert a.id == b.id and len(r.service.list_actions()) == 1


def test_concurrent_proposals_for_one_target_make_one_action(tmp_path: Path, store_locator: str) -> None:
    r = replica(tmp_path, store_locator)
    barrier = threading.Barrier(6)
    codes: list[str] = []

    def submit(i: int) -> None:
        barrier.wait()
        try:
            r.service.propose(CAROL, ECS, Change(desired=12), f"tab {i}", request_id=f"tab-{i}")
        except ActionRefused as exc:
            codes.append(exc.code)

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(r.service.list_actions()) == 1
    assert codes == ["open_action"] * 5
    assert audit.verify_chain(store_locator).ok


def test_sixteen_threads_execute_one_action_once(tmp_path: Path, store_locator: str) -> None:
    cfg = make_config()
    sandbox_path = tmp_path / "sandbox.db"
    open_db(sandbox_path).conn.close()
    counting = CountingSandbox(sandbox_path, cfg)
    r = replica(tmp_path, store_locator, cfg, executor=counting)
    action_id = approved(r)
    barrier = threading.Barrier(16)
    results: list[Any] = []
    errors: list[BaseException] = []

    def click(who) -> None:
        barrier.wait()
        try:
            results.append(r.service.execute(who, action_id))
        except BaseException as exc:  # noqa: BLE001 - asserted below
            errors.append(exc)

    threads = [threading.Thread(target=click, args=((CAROL, BOB, ALICE, ERIN)[i % 4],)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert counting.applies == 1 and sum(x.ran for x in results) == 1
    events = r.events(action_id)
    assert events.count("execute") == 1 and events.count("succeeded") == 1
    assert audit.verify_chain(store_locator).ok


def test_expired_approval_cannot_execute(tmp_path: Path, store_locator: str) -> None:
    r = replica(tmp_path, store_locator)
    action_id = approved(r)
    r.clock.advance(hours=2)
    outcome = None
    with pytest.raises(ActionRefused):
        outcome = r.service.execute(CAROL, action_id)
    assert outcome is None and r.service.get(action_id).state == "expired"
    assert r.changes() == 0 and audit.verify_chain(store_locator).ok


# ---- PostgreSQL specifics: the database enforces append-only; bad URLs; the database going away --------
def _pg(url: str) -> psycopg.Connection:
    return psycopg.connect(url, autocommit=True)


def test_postgres_refuses_update_delete_and_truncate_of_the_audit_log(
    tmp_path: Path, postgres_url: str
) -> None:
    r = replica(tmp_path, postgres_url)
    approved(r)
    with _pg(postgres_url) as conn:
        for statement in ("UPDATE audit SET reason = 'x'", "DELETE FROM audit", "TRUNCATE audit"):
            with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
                conn.execute(statement)
    assert audit.verify_chain(postgres_url).ok


PG_TAMPERS = {
    "drop_triggers": ["DROP TRIGGER audit_no_update ON audit", "DROP TRIGGER audit_no_delete ON audit"],
    "delete_newest": [
        "ALTER TABLE audit DISABLE TRIGGER USER",
        "DELETE FROM audit WHERE seq = (SELECT MAX(seq) FROM audit)",
        "ALTER TABLE audit ENABLE TRIGGER USER",
    ],
    "delete_newest_and_move_head_back": [
        "ALTER TABLE audit DISABLE TRIGGER USER",
        "DELETE FROM audit WHERE seq = (SELECT MAX(seq) FROM audit)",
        "UPDATE audit_head SET seq = (SELECT MAX(seq) FROM audit), "
        "hash = (SELECT hash FROM audit ORDER BY seq DESC LIMIT 1)",
        "ALTER TABLE audit ENABLE TRIGGER USER",
    ],
    "rewrite_an_old_row": [
        "ALTER TABLE audit DISABLE TRIGGER USER",
        "UPDATE audit SET actor = 'mallory@example.com' WHERE seq = 1",
        "ALTER TABLE audit ENABLE TRIGGER USER",
    ],
    "empty_the_log_and_reset_the_head": [
        "ALTER TABLE audit DISABLE TRIGGER USER",
        "DELETE FROM audit",
        f"UPDATE audit_head SET seq = 0, hash = '{audit.GENESIS_HASH}'",
        "ALTER TABLE audit ENABLE TRIGGER USER",
    ],
}


@pytest.mark.parametrize("tamper", sorted(PG_TAMPERS))
def test_tampering_with_the_postgres_log_is_detected(tmp_path: Path, postgres_url: str, tamper: str) -> None:
    audit.configure(postgres_url, key=b"k" * 32, anchor_path=tmp_path / "anchor.json")
    r = replica(tmp_path, postgres_url)
    approved(r)
    assert audit.verify_chain(postgres_url).ok
    assert json.loads((tmp_path / "anchor.json").read_text())["seq"] == 2
    with _pg(postgres_url) as conn:
        for statement in PG_TAMPERS[tamper]:
            conn.execute(statement)
    assert not audit.verify_chain(postgres_url).ok


def test_a_wrong_password_or_host_is_a_clear_message_with_the_password_masked(
    tmp_path: Path, postgres_server
) -> None:
    bad_host = f"postgresql://headroom:s3cret@127.0.0.1:{postgres_server.port + 1}/nowhere"
    with pytest.raises(
        db.StoreUnavailable, match=r"cannot connect to the store at postgresql://headroom:\*\*\*@"
    ) as e:
        ActionService(bad_host, make_config(), SandboxExecutor(tmp_path / "s.db", make_config()))
    assert "s3cret" not in str(e.value)
    no_db = postgres_server.url("no_such_database")
    with pytest.raises(db.StoreUnavailable, match="no_such_database"):
        audit.verify_chain(no_db)


@dataclass
class LostMidExecution:
    replica: Replica
    action_id: int
    executor: CountingSandbox
    cfg: HeadroomConfig


def _lose_the_store_after_the_outside_call(
    tmp_path: Path, postgres_url: str, postgres_server
) -> LostMidExecution:
    """An approved action whose execution reaches the sandbox, after which the database refuses every
    connection (so the result cannot be recorded); the database is still away on return."""
    cfg = make_config()
    sandbox_path = tmp_path / "sandbox.db"
    open_db(sandbox_path).conn.close()
    name = postgres_url.rsplit("/", 1)[1]

    class StoreGoesAway(CountingSandbox):
        def apply(self, target, change):
            state = super().apply(target, change)
            with _pg(postgres_server.url()) as admin:  # the database goes away after the outside call
                admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
                admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [name]
                )
            return state

    going = StoreGoesAway(sandbox_path, cfg)
    r = replica(tmp_path, postgres_url, cfg, executor=going)
    action_id = approved(r)
    with pytest.raises(db.StoreUnavailable):
        r.service.execute(CAROL, action_id)
    assert going.applies == 1
    return LostMidExecution(r, action_id, going, cfg)


def _database_comes_back(postgres_url: str, postgres_server) -> None:
    name = postgres_url.rsplit("/", 1)[1]
    with _pg(postgres_server.url()) as admin:
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')


def test_a_database_that_goes_away_mid_execution_is_reconciled_never_reapplied(
    tmp_path: Path, postgres_url: str, postgres_server, monkeypatch: pytest.MonkeyPatch
) -> None:
    lost = _lose_the_store_after_the_outside_call(tmp_path, postgres_url, postgres_server)
    r, action_id, cfg = lost.replica, lost.action_id, lost.cfg
    sandbox_path = r.sandbox_path
    _database_comes_back(postgres_url, postgres_server)
    assert r.service.get(action_id).state == "executing"  # the intent survived; the result did not land
    # the next start of this replica (a new process token) reconciles by reading the target
    monkeypatch.setattr(execution_module, "PROCESS_TOKEN", "restarted:" + execution_module.PROCESS_TOKEN)
    counting = CountingSandbox(sandbox_path, cfg)
    restarted = ActionService(postgres_url, cfg, counting, clock=r.clock)
    assert [x.outcome for x in restarted.reconcile()] == ["succeeded"]
    assert counting.applies == 0 and not restarted.execute(CAROL, action_id).ran
    assert len(sandbox_changes(sandbox_path, ECS)) == 1
    assert audit.verify_chain(postgres_url).ok


def test_the_same_replica_settles_the_unrecorded_execution_on_its_next_call_once_the_database_is_back(
    tmp_path: Path, postgres_url: str, postgres_server
) -> None:
    lost = _lose_the_store_after_the_outside_call(tmp_path, postgres_url, postgres_server)
    r, action_id = lost.replica, lost.action_id
    assert execution_module.unrecorded_actions(postgres_url) == [action_id]
    # still away: the next click fails with the store's sentence, and the execution stays pending
    with pytest.raises(db.StoreUnavailable, match="cannot connect to the store"):
        r.service.execute(BOB, action_id)
    assert execution_module.unrecorded_actions(postgres_url) == [action_id]
    _database_comes_back(postgres_url, postgres_server)
    # no restart: the next call on this very service settles it by reading the target, then sees it ran
    again = r.service.execute(BOB, action_id)
    assert not again.ran and again.action.state == "succeeded", again.message
    assert again.action.after is not None and again.action.after.desired == 12
    assert lost.executor.applies == 1 and r.changes(ECS) == 1  # never re-applied
    assert execution_module.unrecorded_actions(postgres_url) == []
    entries = audit.entries(postgres_url, action_id=action_id)
    assert [e.event for e in entries] == ["propose", "approve", "execute", "reconcile"]
    assert "store went away" in entries[-1].reason and "not re-applied" in entries[-1].reason
    assert r.service.reconcile() == []  # nothing left for the page's housekeeping
    assert audit.verify_chain(postgres_url).ok


def test_reconcile_on_page_load_reports_what_the_store_could_not_record(
    tmp_path: Path, postgres_url: str, postgres_server
) -> None:
    lost = _lose_the_store_after_the_outside_call(tmp_path, postgres_url, postgres_server)
    with pytest.raises(db.StoreUnavailable):
        lost.replica.service.reconcile()  # the page load while the database is still away
    _database_comes_back(postgres_url, postgres_server)
    settled = lost.replica.service.reconcile()
    assert [(x.action.id, x.outcome) for x in settled] == [(lost.action_id, "succeeded")]
    assert lost.replica.service.get(lost.action_id).state == "succeeded"
    assert lost.executor.applies == 1 and lost.replica.changes(ECS) == 1
    assert audit.verify_chain(postgres_url).ok


# ---- two replicas: two processes racing on one PostgreSQL ---------------------------------------------------
RACER = """
import json, sys, threading
from datetime import datetime
from connectors.sandbox_executor import SandboxExecutor
from core.actions import ActionService
from core.auth import Identity
from core.config import config_from_dict

url, sandbox, action_id, now, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
cfg = config_from_dict(json.loads(sys.argv[6]))
service = ActionService(url, cfg, SandboxExecutor(sandbox, cfg), clock=lambda: datetime.fromisoformat(now))
print("ready", flush=True)
sys.stdin.readline()  # the parent releases both replicas at once
ran = []
barrier = threading.Barrier(8)
def click(who):
    barrier.wait()
    ran.append(service.execute(Identity(who, who, "demo"), action_id).ran)
threads = [threading.Thread(target=click, args=(("carol@example.com", "bob@example.com")[i % 2],)) for i in range(8)]
for t in threads: t.start()
for t in threads: t.join()
print(json.dumps(sum(ran)), flush=True)
"""


def test_two_replicas_executing_the_same_action_apply_it_once(tmp_path: Path, postgres_url: str) -> None:
    r = replica(tmp_path, postgres_url)
    action_id = approved(r)
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                RACER,
                postgres_url,
                str(r.sandbox_path),
                str(action_id),
                r.clock.t.isoformat(),
                "go",
                json.dumps(shipped_dict()),
            ],
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for p in procs:
        assert p.stdout.readline().strip() == "ready"
    for p in procs:
        p.stdin.write("go\n")
        p.stdin.flush()
    ran = [json.loads(p.communicate(timeout=120)[0].strip().splitlines()[-1]) for p in procs]
    assert sum(ran) == 1  # one of 16 clicks over two processes ran it
    assert r.changes(ECS) == 1
    events = r.events(action_id)
    assert events.count("execute") == 1 and events.count("succeeded") == 1
    status = audit.verify_chain(postgres_url)
    assert status.ok and status.entries == len(r.events())


def test_a_replica_that_lost_the_database_refuses_to_build_its_service(
    tmp_path: Path, postgres_url: str, postgres_server
) -> None:
    r = replica(tmp_path, postgres_url)  # migrated and working
    action_id = approved(r)
    name = postgres_url.rsplit("/", 1)[1]
    with _pg(postgres_server.url()) as admin:
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [name])
    try:
        with pytest.raises(db.StoreUnavailable, match="cannot connect to the store"):
            replica(tmp_path, postgres_url)  # the next page load on this replica: a banner, no service
    finally:
        with _pg(postgres_server.url()) as admin:
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
    assert r.service.get(action_id).state == "approved"  # nothing happened meanwhile


def test_the_weekly_review_reads_the_actions_of_the_week_on_each_backend(
    tmp_path: Path, store_locator: str
) -> None:
    from datetime import timedelta

    from core.actions import actions_proposed_between

    r = replica(tmp_path, store_locator)
    action_id = approved(r)
    r.service.execute(CAROL, action_id)
    frame = actions_proposed_between(store_locator, T0 - timedelta(days=1), T0 + timedelta(days=1))
    assert list(frame["id"]) == [action_id] and list(frame["state"]) == ["succeeded"]
    assert str(frame["proposed_at"].dt.tz) == "UTC" and frame["proposed_at"].iloc[0] == T0
    assert actions_proposed_between(store_locator, T0 + timedelta(days=1), T0 + timedelta(days=2)).empty
