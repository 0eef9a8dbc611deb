"""core/migrations.py on both backends: versions applied once, two replicas migrating at once, and a
schema newer than this code refused by name (issue 14, "Bad input")."""

from __future__ import annotations

import threading

import pytest

from core import db, migrations
from core.migrations import Migration


def test_a_new_store_is_migrated_to_the_current_version_once(store_locator: str) -> None:
    assert migrations.schema_version(store_locator) == 0
    assert migrations.migrate(store_locator) == [migrations.CURRENT_VERSION]
    assert migrations.migrate(store_locator) == []
    assert migrations.schema_version(store_locator) == migrations.CURRENT_VERSION
    with db.read_connection(store_locator) as conn:
        assert db.has_table(conn, "actions") and db.has_table(conn, "audit")


def test_two_replicas_migrating_at_once_apply_each_version_once(store_locator: str) -> None:
    applied: list[list[int]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def replica() -> None:
        start.wait()
        try:
            applied.append(migrations.migrate(store_locator))
        except BaseException as exc:  # noqa: BLE001 - any error is the failure under test
            errors.append(exc)

    threads = [threading.Thread(target=replica) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert sorted(applied, key=len) == [[], [], [], [migrations.CURRENT_VERSION]]
    with db.read_connection(store_locator) as conn:
        rows = conn.execute(
            "SELECT version FROM schema_version WHERE component = 'guarded_path' ORDER BY version"
        ).fetchall()
    assert [r[0] for r in rows] == [m.version for m in migrations.MIGRATIONS]


def test_a_schema_from_a_newer_version_is_refused_by_name(store_locator: str) -> None:
    newer = (*migrations.MIGRATIONS, Migration(99, "from the future", lambda conn: None))
    migrations.migrate(store_locator, newer)
    with pytest.raises(
        migrations.SchemaTooNew, match=r"guarded_path schema version 99 \('from the future'\).*newer"
    ):
        migrations.migrate(store_locator)


def test_a_failed_migration_leaves_the_previous_version(store_locator: str) -> None:
    def broken(conn) -> None:
        conn.execute("CREATE TABLE half_done (x INTEGER)")
        raise RuntimeError("migration 2 failed halfway")

    migrations.migrate(store_locator)
    with pytest.raises(RuntimeError, match="halfway"):
        migrations.migrate(store_locator, (*migrations.MIGRATIONS, Migration(2, "broken", broken)))
    assert migrations.schema_version(store_locator) == migrations.CURRENT_VERSION
    with db.read_connection(store_locator) as conn:
        assert not db.has_table(conn, "half_done")
