"""Shared fixtures. Real servers are started here by the tests themselves:
- `prometheus_factory`: Debian's prometheus, backfilled from OpenMetrics text with promtool;
- `moto_server`: moto's HTTP server on 127.0.0.1, which boto3 talks to over real HTTP;
- `app_config`: an isolated copy of the shipped config (temp store), selected through HEADROOM_CONFIG.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import tomli_w

REPO_ROOT = Path(__file__).resolve().parent.parent
SHIPPED_CONFIG = REPO_ROOT / ".streamlit" / "headroom.toml"
ARTIFACTS = REPO_ROOT / "tests" / "artifacts"
# a fixed end for the demo world in tests keeps generated data identical run to run
DEMO_END = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


# The longest test files, longest first, as measured in a full run of tests/run.sh on 2 workers
# (bench/README.md, "Test suite time"). A file is never split between workers, so a long file that starts
# late runs alone at the end while the other worker idles: these start first, in this order. The second
# reads no demo store: it keeps the second worker busy while the first builds the store (demo_store).
LONGEST_FILES = (
    "e2e/test_oncall_story.py",
    "core/test_forecast.py",
    "e2e/test_page_weight.py",
    "e2e/test_browser.py",
    "core/test_report.py",
    "e2e/test_alerts_refresh.py",
    "e2e/test_two_replicas.py",
    "e2e/test_browser_real_sources.py",
    "pages/test_triage_page.py",
    "core/alerting/test_agreement.py",
    "e2e/test_table_widths.py",
    "pages/test_loading_states.py",
    "headroom/test_cli.py",
    "pages/test_pages_apptest.py",
    "pages/test_capacity_page.py",
    "e2e/test_actions_oidc.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Longest files first: LONGEST_FILES in their order, then the other browser tests (tests/e2e), then
    files with a `slow` test (a real server), then the rest, each file's tests kept in their order.
    tests/run.sh hands whole files to pytest-xdist workers in this order (--dist loadfile
    --no-loadscope-reorder), so the short files fill the gaps at the end instead of a long browser file
    starting last and running alone."""
    tests_dir = REPO_ROOT / "tests"
    e2e = tests_dir / "e2e"
    longest = {tests_dir / name: i for i, name in enumerate(LONGEST_FILES)}
    rank: dict[Path, tuple[int, int]] = {}
    for item in items:
        path = Path(item.path)
        if path in longest:
            rank[path] = (0, longest[path])
            continue
        slow = item.get_closest_marker("slow") is not None
        current = rank.get(path, (3, 0))
        rank[path] = min(current, (1 if path.is_relative_to(e2e) else 2 if slow else 3, 0))
    items.sort(key=lambda item: rank[Path(item.path)])  # stable: order within a rank is kept


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 30.0, proc: subprocess.Popen | None = None) -> None:
    """Poll until `url` answers 2xx (or raise with the process's output if it died)."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            log = getattr(proc, "log_path", None)
            out = Path(log).read_text(errors="replace") if log else ""
            raise RuntimeError(
                f"process exited with {proc.returncode} before {url} was ready:\n{out[-3000:]}"
            )
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if 200 <= resp.status < 300:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
            last = exc
        time.sleep(0.1)
    raise TimeoutError(f"{url} not ready after {timeout}s: {last}")


def spawn(args: list[str], log_path: Path, **kwargs: Any) -> subprocess.Popen:
    """Start a server with its output in a log file: a pipe nobody reads fills up and blocks it."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, **kwargs)
    proc.log_path = log_path  # type: ignore[attr-defined]
    return proc


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


# ---- configuration -------------------------------------------------------------------------------
def deep_merge(base: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def write_config(
    directory: Path, overrides: Mapping[str, Any] | None = None, name: str = "headroom.toml"
) -> Path:
    """A copy of the shipped config with `overrides` merged in and the store inside `directory`."""
    data = tomllib.loads(SHIPPED_CONFIG.read_text())
    data = deep_merge(data, {"store": {"path": str(directory / "headroom.db")}})
    data = deep_merge(data, overrides or {})
    path = directory / name
    path.write_text(tomli_w.dumps(data))
    return path


@dataclass
class AppConfig:
    path: Path
    store: Path


def run_shared_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A temp folder every pytest-xdist worker of this run shares (the run's own temp folder without xdist).

    Workers are separate processes with their own base temp under one parent per run (`pytest-N/popen-gwK`).
    """
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on `path` across processes (flock; released when the file is closed)."""
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


@pytest.fixture(scope="session")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store holding the full demo world ending at DEMO_END, generated once per test run: the first
    xdist worker that asks builds it under a lock, the others wait and reuse it (tests only read it or
    copy it). The file is renamed into place only when complete, so nobody sees a half-written store."""
    from connectors.demo import ensure_demo_world
    from connectors.store import open_db
    from core.config import load_config

    shared = run_shared_dir(tmp_path_factory)
    store = shared / "demo-store" / "headroom.db"
    with exclusive_lock(shared / "demo-store.lock"):
        if not store.exists():
            building = Path(tempfile.mkdtemp(prefix="demo-store-", dir=shared))
            cfg = load_config(write_config(building))
            db = open_db(cfg.store_path())
            ensure_demo_world(db, cfg, now=DEMO_END)
            db.conn.close()  # the last connection checkpoints the WAL into the file
            (shared / "demo-store").mkdir(exist_ok=True)
            os.replace(cfg.store_path(), store)
    return store


@pytest.fixture
def app_config(tmp_path: Path, demo_store: Path, monkeypatch: pytest.MonkeyPatch) -> AppConfig:
    """HEADROOM_CONFIG -> a temp copy of the shipped config whose store is a copy of the demo store.

    The demo world is not refreshed during tests (refresh_after is long), so its end stays DEMO_END.
    """
    store = tmp_path / "headroom.db"
    shutil.copy(demo_store, store)
    path = write_config(tmp_path, {"demo": {"refresh_after": "3650d"}})
    monkeypatch.setenv("HEADROOM_CONFIG", str(path))
    return AppConfig(path=path, store=store)


# ---- Prometheus ----------------------------------------------------------------------------------
@dataclass
class PrometheusServer:
    url: str
    data_dir: Path
    process: subprocess.Popen

    def stop(self) -> None:
        _stop(self.process)


@pytest.fixture(scope="session")
def prometheus_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., PrometheusServer]]:
    """Callable(openmetrics_text) -> a running Prometheus on a free port with that data backfilled.

    The text needs `# TYPE` lines, timestamps in seconds, counters sampled as `*_total`, samples of a
    series in ascending time, and a final `# EOF` (what `promtool tsdb create-blocks-from openmetrics`
    accepts; docs/ARCHITECTURE.md, "Real components in tests"). Servers stop at the end of the session.
    """
    if not shutil.which("prometheus") or not shutil.which("promtool"):
        pytest.fail("Debian's prometheus is not installed: run the README's test command (tests/run.sh)")
    started: list[PrometheusServer] = []

    def start(
        openmetrics: str,
        scrape_interval: str = "15s",
        extra_args: Sequence[str] = (),
        rule_files: Sequence[Path] = (),
        evaluation_interval: str = "1m",
    ) -> PrometheusServer:
        root = tmp_path_factory.mktemp("prometheus")
        data_dir = root / "data"
        source = root / "data.om"
        source.write_text(openmetrics if openmetrics.rstrip().endswith("# EOF") else openmetrics + "# EOF\n")
        backfill = subprocess.run(
            [
                "promtool",
                "tsdb",
                "create-blocks-from",
                "openmetrics",
                "--max-block-duration=24h",
                str(source),
                str(data_dir),
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        if backfill.returncode != 0:
            raise RuntimeError(f"promtool backfill failed: {backfill.stderr[-2000:]}")
        config = root / "prometheus.yml"
        text = (
            f"global:\n  scrape_interval: {scrape_interval}\n  evaluation_interval: {evaluation_interval}\n"
        )
        if rule_files:  # e.g. the rules `python -m headroom rules` generates (tests/core/alerting)
            text += "rule_files:\n" + "".join(f"  - {f}\n" for f in rule_files)
        config.write_text(text)
        port = free_port()
        proc = spawn(
            [
                "prometheus",
                f"--config.file={config}",
                f"--storage.tsdb.path={data_dir}",
                "--storage.tsdb.retention.time=100y",
                f"--web.listen-address=127.0.0.1:{port}",
                *extra_args,  # e.g. --web.config.file=... (tests/connectors/test_prometheus.py: basic auth)
            ],
            root / "prometheus.log",
        )
        server = PrometheusServer(f"http://127.0.0.1:{port}", data_dir, proc)
        started.append(server)
        wait_http(f"{server.url}/-/ready", timeout=60, proc=proc)
        return server

    yield start
    for server in started:  # all asked to stop first, then waited for: their shutdowns overlap
        if server.process.poll() is None:
            server.process.terminate()
    for server in started:
        server.stop()


# ---- Alertmanager --------------------------------------------------------------------------------
ALERTMANAGER_BIN = "prometheus-alertmanager"  # Debian's name for the alertmanager binary


@dataclass
class AlertmanagerServer:
    url: str
    process: subprocess.Popen

    def stop(self) -> None:
        _stop(self.process)


@pytest.fixture
def alertmanager_factory(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[[str], AlertmanagerServer]]:
    """Callable(config_yaml) -> Debian's Alertmanager on a free port with that config and a temp storage
    path, ready (/-/ready). Clustering is off (no gossip port). Stopped at the end of the test."""
    if not shutil.which(ALERTMANAGER_BIN):
        pytest.fail(
            "Debian's prometheus-alertmanager is not installed: run the README's test command (tests/run.sh)"
        )
    started: list[AlertmanagerServer] = []

    def start(config_yaml: str) -> AlertmanagerServer:
        root = tmp_path_factory.mktemp("alertmanager")
        config = root / "alertmanager.yml"
        config.write_text(config_yaml)
        port = free_port()
        proc = spawn(
            [
                ALERTMANAGER_BIN,
                f"--config.file={config}",
                f"--storage.path={root / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--cluster.listen-address=",
            ],
            root / "alertmanager.log",
        )
        server = AlertmanagerServer(f"http://127.0.0.1:{port}", proc)
        started.append(server)
        wait_http(f"{server.url}/-/ready", timeout=60, proc=proc)
        return server

    yield start
    for server in started:
        server.stop()


# ---- moto ----------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a moto_server on 127.0.0.1 (real HTTP; boto3 clients get endpoint_url=this)."""
    port = free_port()
    proc = spawn(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        tmp_path_factory.mktemp("moto") / "moto.log",
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/moto-api/", timeout=60, proc=proc)
        yield url
    finally:
        _stop(proc)


@pytest.fixture
def aws_env(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Dummy credentials for boto3 and a clean moto state; returns moto's base URL."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    req = urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST")
    urllib.request.urlopen(req, timeout=10).close()
    return moto_server


# ---- Streamlit server (for browser tests) --------------------------------------------------------
@dataclass
class StreamlitServer:
    url: str
    process: subprocess.Popen


# No file watcher in test servers: Streamlit watches the folder of dashboard.py recursively, which in a
# fresh clone holds .venv (thousands of folders). Every .pyc written there on a first import, and every
# screenshot under tests/artifacts, is an event; the inotify queue overflowed hundreds of times per
# server in a clean-clone CI run, and each overflow rescans the whole tree in every server. Test servers
# never reload on a file change (runOnSave is off in .streamlit/config.toml anyway).
STREAMLIT_TEST_ARGS = ("--server.fileWatcherType", "none")


def start_streamlit(config_path: Path, env_extra: Mapping[str, str] | None = None) -> StreamlitServer:
    port = free_port()
    env = dict(os.environ, HEADROOM_CONFIG=str(config_path), **(env_extra or {}))
    proc = spawn(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(REPO_ROOT / "dashboard.py"),
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--server.headless",
            "true",
            "--browser.gatherUsageStats",
            "false",
            *STREAMLIT_TEST_ARGS,
        ],
        Path(config_path).parent / f"streamlit-{port}.log",
        cwd=REPO_ROOT,
        env=env,
    )
    server = StreamlitServer(f"http://127.0.0.1:{port}", proc)
    wait_http(f"{server.url}/_stcore/health", timeout=90, proc=proc)
    return server


def stop_streamlit(server: StreamlitServer) -> None:
    """Kill a test's Streamlit server: its store and sessions are thrown away with it. After SIGTERM a
    server that had served pages took 3-10 s to exit under load (the on-call story's teardown reached
    _stop's 10 s bound), time each browser test spent waiting in its teardown."""
    if server.process.poll() is None:
        server.process.kill()
    server.process.wait(timeout=10)


@pytest.fixture(scope="session")
def demo_app(tmp_path_factory: pytest.TempPathFactory, demo_store: Path) -> Iterator[StreamlitServer]:
    """One warm `streamlit run dashboard.py` per pytest-xdist worker on a copy of the demo store, shared by
    the browser tests that only read pages (page weight, table widths, the refreshing fragments): each
    test gets its own browser context, hence its own Streamlit session, so they see nothing of each other
    but the server's caches. A server start and its cold first pages cost 10-30 s on 2 cores, once per
    worker instead of once per file. Tests that change the store (propose, approve, execute) or need a
    cold server start their own (tests/e2e/test_oncall_story.py, test_browser.py)."""
    directory = tmp_path_factory.mktemp("demo-app")
    shutil.copy(demo_store, directory / "headroom.db")
    server = start_streamlit(write_config(directory, {"demo": {"refresh_after": "3650d"}}))
    yield server
    stop_streamlit(server)


CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """Debian's Chromium driven by Playwright (never `playwright install`)."""
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(executable).exists():
        pytest.fail("Debian's chromium is not installed: run the README's test command (tests/run.sh)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


# ---- PostgreSQL (issue 14): Debian's postgresql, initdb into a temp folder, pg_ctl on a free port ----------
@dataclass
class PostgresServer:
    host: str
    port: int
    user: str
    bin_dir: Path
    data_dir: Path

    def url(self, database: str = "postgres", password: str | None = None) -> str:
        auth = self.user if password is None else f"{self.user}:{password}"
        return f"postgresql://{auth}@{self.host}:{self.port}/{database}"


def _postgres_bin_dir() -> Path:
    """The newest /usr/lib/postgresql/<version>/bin (Debian keeps the server binaries off PATH)."""
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name)
    )
    if not candidates:
        raise RuntimeError("PostgreSQL is not installed: `apt-get install postgresql` (tests/run.sh does)")
    return candidates[-1].parent


def _as_server_user(args: list[str]) -> list[str]:
    """initdb and postgres refuse to run as root: run them as `nobody` then (runuser, util-linux)."""
    return ["runuser", "-u", "nobody", "--", *args] if os.geteuid() == 0 else args


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    bin_dir = _postgres_bin_dir()
    # directly in the system temp folder: pytest's own temp folders are 0700 root, which `nobody` cannot enter
    root = Path(tempfile.mkdtemp(prefix="headroom-pg-"))
    data = root / "data"
    if os.geteuid() == 0:
        shutil.chown(root, user="nobody")
    subprocess.run(
        _as_server_user(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(data),
                "-A",
                "trust",
                "-U",
                "headroom",
                "-E",
                "UTF8",
                "--no-sync",
            ]
        ),
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    port = free_port()
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
    subprocess.run(
        _as_server_user(
            [
                str(bin_dir / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(root / "server.log"),
                "-o",
                options,
                "-w",
                "-t",
                "60",
                "start",
            ]
        ),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    server = PostgresServer("127.0.0.1", port, "headroom", bin_dir, data)
    try:
        yield server
    finally:
        from core import db as store_db

        store_db.dispose_engines()
        subprocess.run(
            _as_server_user([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        shutil.rmtree(root, ignore_errors=True)


_PG_DATABASES = iter(range(1, 1_000_000))


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """A fresh, empty database on the session's server, for one test."""
    import psycopg

    name = f"t{os.getpid()}_{next(_PG_DATABASES)}"
    with psycopg.connect(postgres_server.url(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return postgres_server.url(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_locator(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The guarded path's store on each backend: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "store.db")
    return request.getfixturevalue("postgres_url")
