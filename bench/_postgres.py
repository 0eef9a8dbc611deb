"""A throwaway PostgreSQL for the benches: Debian's server binaries, initdb into a temp folder, pg_ctl on
a free port (as `nobody` when run as root, which initdb refuses), removed afterwards. The same steps as the
`postgres_server` test fixture (tests/conftest.py)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _bin_dir() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name))
    if not found:
        raise SystemExit("PostgreSQL is not installed: `apt-get install postgresql` (tests/run.sh does)")
    return found[-1].parent


def _as_server_user(args: list[str]) -> list[str]:
    return ["runuser", "-u", "nobody", "--", *args] if os.geteuid() == 0 else args


@contextmanager
def temporary_postgres() -> Iterator[str]:
    """Yields the URL of an empty database `bench` on a fresh local server."""
    import psycopg

    bin_dir = _bin_dir()
    root = Path(tempfile.mkdtemp(prefix="headroom-bench-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, user="nobody")
    data = root / "data"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    subprocess.run(
        _as_server_user(
            [str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "headroom", "--no-sync"]
        ),
        check=True,
        **quiet,
    )
    # durability as a production server would have it (fsync on), so the figures are honest
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c max_connections=100"
    subprocess.run(
        _as_server_user(
            [str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-o", options, "-w", "start"]
        ),
        check=True,
        **quiet,
    )
    try:
        base = f"postgresql://headroom@127.0.0.1:{port}"
        with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
            conn.execute("CREATE DATABASE bench")
        yield f"{base}/bench"
    finally:
        from core import db

        db.dispose_engines()
        subprocess.run(
            _as_server_user([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"]), **quiet
        )
        shutil.rmtree(root, ignore_errors=True)
