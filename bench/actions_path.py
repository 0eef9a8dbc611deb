"""The guarded path's costs on each backend (SQLite file, PostgreSQL): propose -> execute through the
sandbox, 20 races of 16 threads on one approved action, and verify_chain over 100,000 audit entries
(HMAC-keyed, anchored). Prints figures; asserts nothing about time.

    .venv/bin/python bench/actions_path.py                 # both; starts a throwaway PostgreSQL
    .venv/bin/python bench/actions_path.py --sqlite-only
    HEADROOM_BENCH_PG_URL=postgresql://... .venv/bin/python bench/actions_path.py   # an existing server
"""

from __future__ import annotations

import os
import signal
import statistics
import sys
import tempfile
import threading
import time
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._postgres import temporary_postgres  # noqa: E402
from connectors.sandbox_executor import SandboxExecutor, sandbox_changes  # noqa: E402
from connectors.store import open_db  # noqa: E402
from core import audit  # noqa: E402
from core.actions import ActionService  # noqa: E402
from core.auth import Identity  # noqa: E402
from core.config import config_from_dict  # noqa: E402
from core.ports import Change  # noqa: E402

SHIPPED = Path(__file__).resolve().parent.parent / ".streamlit" / "headroom.toml"
CAROL, BOB = Identity("carol@example.com", source="demo"), Identity("bob@example.com", source="demo")


VERIFY_ENTRIES = 100_000


def main() -> None:
    # a timeout's SIGTERM still runs the cleanup (the throwaway PostgreSQL is stopped and removed)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    run("SQLite", None)
    if "--sqlite-only" in sys.argv:
        return
    url = os.environ.get("HEADROOM_BENCH_PG_URL")
    if url:
        run("PostgreSQL", url)
        return
    with temporary_postgres() as url:
        run("PostgreSQL", url)


def run(backend: str, url: str | None) -> None:
    print(f"== {backend}")
    data = tomllib.loads(SHIPPED.read_text())
    for t in data["target"]:
        t["cooldown"] = "0s"  # back-to-back changes for the measurement
    cfg = config_from_dict(data)
    with tempfile.TemporaryDirectory() as tmp:
        sandbox = Path(tmp) / "sandbox.db"  # the sandbox's fleet stays in SQLite (per replica)
        open_db(sandbox).conn.close()
        path = url or str(sandbox)
        audit.configure(path, key=b"bench-key-" * 4, anchor_path=Path(tmp) / "anchor.json")
        clock = [datetime(2026, 11, 23, tzinfo=UTC)]
        service = ActionService(path, cfg, SandboxExecutor(sandbox, cfg), clock=lambda: clock[0])

        # 1) small changes, each proposed and executed (two write transactions + one sandbox change)
        rounds, times = 200, []
        for i in range(rounds):
            desired = 7 if i % 2 == 0 else 6
            t0 = time.perf_counter()
            action = service.propose(CAROL, "api-us-east-1", Change(desired=desired), f"bench {i}")
            service.execute(CAROL, action.id)
            times.append(time.perf_counter() - t0)
            clock[0] += timedelta(seconds=1)
        print(
            f"propose+execute (sandbox, {rounds} rounds): median {statistics.median(times) * 1000:.1f} ms, "
            f"p95 {sorted(times)[int(rounds * 0.95)] * 1000:.1f} ms"
        )

        # 2) 16 threads clicking Execute on one approved action at once, 20 times
        applied_before = len(sandbox_changes(sandbox))
        ran_total, races = 0, 20
        for i in range(races):
            action = service.propose(CAROL, "api-us-east-1", Change(desired=12 if i % 2 == 0 else 6), "race")
            service.approve(BOB, action.id)
            barrier, ran = threading.Barrier(16), []

            def click(
                action_id: int = action.id, barrier: threading.Barrier = barrier, ran: list = ran
            ) -> None:
                barrier.wait()
                ran.append(service.execute(CAROL, action_id).ran)

            threads = [threading.Thread(target=click) for _ in range(16)]
            t0 = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            ran_total += sum(ran)
            clock[0] += timedelta(seconds=1)
        print(
            f"{races} races of 16 threads: {ran_total} executions, "
            f"{len(sandbox_changes(sandbox)) - applied_before} sandbox changes (exactly one per race expected)"
        )

        # 3) verify_chain over the log written above plus filler entries, to VERIFY_ENTRIES in all
        have = len(audit.entries(path))
        t0 = time.perf_counter()
        filler = [
            {
                "at": clock[0],
                "actor": "bench",
                "role": "system",
                "event": "bench",
                "reason": str(i),
                "detail": {"i": i},
            }
            for i in range(VERIFY_ENTRIES - have)
        ]
        for start in range(0, len(filler), 10_000):  # audit.append_many: the same chain, batched inserts
            with audit.write_transaction(path) as conn:
                audit.append_many(conn, filler[start : start + 10_000])
        print(f"appended {VERIFY_ENTRIES - have} filler entries in {time.perf_counter() - t0:.1f} s")
        n = len(audit.entries(path))
        t0 = time.perf_counter()
        status = audit.verify_chain(path)
        elapsed = time.perf_counter() - t0
        print(
            f"verify_chain over {n} entries: {elapsed * 1000:.0f} ms ({n / elapsed:,.0f} entries/s), ok={status.ok}, keyed={status.keyed}, anchor=#{status.anchor_seq}"
        )


if __name__ == "__main__":
    main()
