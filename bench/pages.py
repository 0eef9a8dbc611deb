"""Page weight and speed at production size: Overview, Triage, SLOs (and more) against a real Prometheus
holding N regions x D days, and every page on the demo default.

Builds its own Prometheus (tests/connectors/promdata.py's synthetic exporter families, backfilled with
`promtool tsdb create-blocks-from openmetrics`, started on a free port in a temporary directory that is
removed afterwards). Samples are every 300 s (not 15 s: 20 regions x 30 days at 15 s is ~100 M samples,
far more than 2 cores backfill in minutes); the `[5m]` windows of the shipped templates become `[15m]`
so rate() sees several samples, and `scrape_interval = "300s"` tells the connector the resolution.

Per page it prints:
- prom: the Prometheus HTTP requests the page made (recorded in the same process), their bytes, and the
  time Prometheus itself needs for them: the same URLs replayed with plain HTTP, 8 at a time (the
  connector's concurrency), no parsing;
- cold: the page script (AppTest through dashboard.py) as the first visitor of a server process that is
  already up: its imports are done (a throwaway run of the pages first: every page on the demo default)
  and the world exists, but every result cache is empty (st.cache_data, st.cache_resource and
  core.forecast's fit cache cleared, its worker processes replaced by fresh, imported ones); wall and CPU
  seconds of this process and its children (the Forecast page fits in worker processes; Prometheus is
  not a child, so its CPU is not counted);
- warm: the same session rerun right after the cold load (what a widget click costs);
- ws: websocket bytes received by Chromium for one load of the page in a fresh tab (`framereceived`
  payloads), after its charts have drawn and the app is idle.

Usage: .venv/bin/python bench/pages.py [--regions 20] [--days 30] [--curve 6,20,50] [--curve-days 7]
       [--no-browser] [--no-demo] [--demo-only] [--pages overview,triage,slo]
       [--demo-pages review,costs] [--data-dir DIR] [--show-requests]
(--data-dir: keep the main Prometheus's backfill in DIR, outside the repo, and reuse it next time;
--show-requests: each page's requests grouped by query and range, cold and warm)
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.conftest import (  # noqa: E402
    CHROMIUM_ARGS,
    SHIPPED_CONFIG,
    free_port,
    start_streamlit,
    stop_streamlit,
    wait_http,
    write_config,
)
from tests.connectors.promdata import CDN_QUERIES, openmetrics  # noqa: E402

SAMPLE_INTERVAL_S = 300
# url path -> page file
PAGE_FILES: dict[str, str] = {
    "overview": "pages/overview.py",
    "triage": "pages/triage.py",
    "slo": "pages/slo.py",
    "cdn": "pages/cdn.py",
    "costs": "pages/costs.py",
    "forecast": "pages/forecast.py",
    "capacity": "pages/capacity.py",
    "actions": "pages/actions.py",
    "review": "pages/review.py",
}


SCRIPT_IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'


# ---- Prometheus HTTP recording (every request a page makes goes through the connector's GET) ---------
@dataclass
class Recorder:
    on: bool = False
    calls: list[tuple[str, int]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


RECORDER = Recorder()


def _install_recorder() -> None:
    """Record every Prometheus request (its URL and decoded body bytes). Streamed range queries are
    recorded at the connector's own GET: reading `response.content` in Session.send consumed the body
    the connector streams (resp.raw.read1 under a deadline watchdog), so every page saw an empty answer
    and showed a banner. The rest (instant queries) at Session.send."""
    from connectors.prometheus import PrometheusSource

    original_get = PrometheusSource._get_within_deadline
    original_send = requests.Session.send

    def recording_get(self, url, params):  # type: ignore[no-untyped-def]
        status, body = original_get(self, url, params)
        if RECORDER.on and "/api/v1/" in url:
            full = requests.Request("GET", url, params=params).prepare().url or url
            with RECORDER.lock:
                RECORDER.calls.append((full, len(body)))
        return status, body

    def recording_send(self, request, **kwargs):  # type: ignore[no-untyped-def]
        response = original_send(self, request, **kwargs)
        if RECORDER.on and not kwargs.get("stream") and "/api/v1/" in (request.url or ""):
            with RECORDER.lock:
                RECORDER.calls.append((request.url, len(response.content)))
        return response

    PrometheusSource._get_within_deadline = recording_get  # type: ignore[method-assign]
    requests.Session.send = recording_send  # type: ignore[method-assign]


_install_recorder()


def replay(urls: list[str]) -> tuple[float, int]:
    """Prometheus's own time for these requests: plain GETs, 8 in flight, no parsing; and their bytes."""
    if not urls:
        return 0.0, 0
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_maxsize=8)
    session.mount("http://", adapter)
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=8) as pool:
        sizes = list(
            pool.map(
                lambda u: len(
                    session.send(session.prepare_request(requests.Request("GET", u)), timeout=120).content
                ),
                urls,
            )
        )
    return time.perf_counter() - t0, sum(sizes)


# ---- the Prometheus under test -------------------------------------------------------------------
def region_table(n: int) -> list[dict]:
    """The shipped regions first, then synthetic ones (valid codes, spread over the map)."""
    shipped = _shipped()["region"]
    extra = [
        {
            "code": f"zz-bench-{i}",
            "name": f"Bench region {i}",
            "lat": -60 + (i * 37) % 120,
            "lon": -170 + (i * 71) % 340,
            "timezone": "UTC",
            "routing_weight": 0.05,
        }
        for i in range(len(shipped), n)
    ]
    return (shipped + extra)[:n]


def _shipped() -> dict:
    import tomllib

    return tomllib.loads(SHIPPED_CONFIG.read_text())


def start_prometheus(
    root: Path, regions: list[str], days: int, ahead: timedelta = timedelta(hours=1)
) -> tuple[str, subprocess.Popen, float]:
    """Backfill `days` of data for `regions` ending `ahead` of now (so 'now' always has samples).
    A `root` that already holds a backfill of the same regions and days whose end is still ahead of
    now is reused as it is (--data-dir: the backfill takes minutes, a bench iteration should not)."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    t0 = time.perf_counter()
    stamp = root / "backfill.txt"
    wanted = f"{','.join(regions)} {days}"
    if stamp.exists() and (root / "data").is_dir():
        kept, _, kept_end = stamp.read_text().strip().rpartition(" ")
        if kept == wanted and datetime.fromisoformat(kept_end) > now + timedelta(minutes=10):
            return _serve_prometheus(root, t0)
        shutil.rmtree(root / "data", ignore_errors=True)
    end = now + ahead
    text = openmetrics(
        regions, end - timedelta(days=days, hours=2), end, SAMPLE_INTERVAL_S, cdn=True, max_instances=3
    )
    (root / "data.om").write_text(text)
    del text
    subprocess.run(
        [
            "promtool",
            "tsdb",
            "create-blocks-from",
            "openmetrics",
            "--max-block-duration=24h",
            str(root / "data.om"),
            str(root / "data"),
        ],
        check=True,
        capture_output=True,
    )
    (root / "data.om").unlink()
    stamp.write_text(f"{wanted} {end.isoformat()}\n")
    return _serve_prometheus(root, t0)


def _serve_prometheus(root: Path, t0: float) -> tuple[str, subprocess.Popen, float]:
    build_s = time.perf_counter() - t0
    (root / "prometheus.yml").write_text(f"global:\n  scrape_interval: {SAMPLE_INTERVAL_S}s\n")
    port = free_port()
    with open(root / "prometheus.log", "wb") as log:
        proc = subprocess.Popen(
            [
                "prometheus",
                f"--config.file={root / 'prometheus.yml'}",
                f"--storage.tsdb.path={root / 'data'}",
                "--storage.tsdb.retention.time=100y",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/-/ready", timeout=300, proc=proc)
    return url, proc, build_s


def _write_with_regions(directory: Path, url: str, n_regions: int, queries: dict) -> Path:
    import tomli_w

    data = _shipped()
    data["region"] = region_table(n_regions)
    data["store"] = {"path": str(directory / "headroom.db")}
    data["sources"] = dict(data["sources"], metrics="prometheus", cdn="prometheus")
    data["demo"] = dict(data["demo"], days=2, refresh_after="3650d")
    data["prometheus"] = dict(
        data["prometheus"], url=url, scrape_interval=f"{SAMPLE_INTERVAL_S}s", queries=queries
    )
    path = directory / "headroom.toml"
    path.write_text(tomli_w.dumps(data))
    return path


def prepare_store(config: Path) -> None:
    from connectors.demo import ensure_demo_world
    from connectors.store import open_db
    from core.config import load_config

    cfg = load_config(config)
    db = open_db(cfg.store_path())
    ensure_demo_world(db, cfg)
    db.conn.close()


# ---- one page through AppTest -------------------------------------------------------------------
@dataclass
class PageRun:
    page: str
    requests: int = 0
    prom_bytes: int = 0
    prom_s: float = 0.0
    cold_s: float = 0.0
    cold_cpu: float = 0.0
    warm_s: float = 0.0
    warm_cpu: float = 0.0
    ws_bytes: int | None = None
    browser_s: float | None = None
    error: str = ""
    calls: list[tuple[str, int]] = field(default_factory=list)
    warm_calls: list[tuple[str, int]] = field(default_factory=list)


# child processes the bench starts that are not Headroom (their CPU is Prometheus's time, measured apart)
NOT_HEADROOM = frozenset({"prometheus", "promtool"})


def _children_cpu() -> float:
    """CPU seconds of this process's children: the live ones (core.forecast's worker pool, which the
    Forecast page fits in: process_time alone missed it) from /proc, plus the ones that have exited."""
    import resource

    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
            command, rest = text.split("(", 1)[1].rsplit(")", 1)
            fields = rest.split()
        except (OSError, IndexError, ValueError):
            continue
        if command in NOT_HEADROOM:  # the bench's own Prometheus is our child but not the app's CPU
            continue
        if int(fields[1]) == os.getpid():  # ppid; utime and stime follow at 11 and 12
            total += (int(fields[11]) + int(fields[12])) / tick
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return total + usage.ru_utime + usage.ru_stime


def _cpu() -> float:
    return time.process_time() + _children_cpu()


def _fresh_forecast_workers() -> None:
    """New core.forecast pool workers, started and imported but holding no fit: each worker keeps its own
    fit cache, so workers kept from an earlier page would make a cold Forecast page a warm one."""
    import pandas as pd

    from core.forecast import forecast_many
    from core.forecast.pool import shutdown_pool

    shutdown_pool()
    index = pd.date_range("2026-01-01", periods=96, freq="h", tz="UTC")
    tiny = {
        str(k): pd.Series(range(96), index=index, dtype="float64") + k for k in range(os.cpu_count() or 1)
    }
    forecast_many(tiny, 24, model="seasonal_naive", cache=False)
    # a worker imports the fitters when it starts (core.forecast.pool): one that took no tiny series may
    # still be importing, and its CPU would count in the next page's figure. Wait until the children's
    # CPU stops growing.
    before = _children_cpu()
    while True:
        time.sleep(0.5)
        now = _children_cpu()
        if now - before < 0.02:
            break
        before = now


def _run(at) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    t0, c0 = time.perf_counter(), _cpu()
    at.run()
    return time.perf_counter() - t0, _cpu() - c0


_COMPONENTS: list = []


def _shared_components():  # type: ignore[no-untyped-def]
    """One registry of Streamlit's custom components for every AppTest of the process. AppTest scans every
    installed package's metadata for components on its first run (~1 s of CPU), where a server does it
    once at startup: without this every cold figure carried that second. (AppTest keeps the registry in a
    private attribute; if Streamlit renames it, each AppTest scans again and the figures say so.)"""
    if not _COMPONENTS:
        from streamlit.components.v2.component_manager import BidiComponentManager

        manager = BidiComponentManager()
        manager.discover_and_register_components(start_file_watching=False)
        _COMPONENTS.append(manager)
    return _COMPONENTS[0]


_SCRIPTS: list = []


def _share_compiled_scripts() -> None:
    """One compiled-script cache for every AppTest run of the process. A server compiles each page script
    once (Streamlit's ScriptCache lives as long as the server); AppTest made a new cache on every run, so
    each cold and warm figure carried the compile of dashboard.py and the page (with Streamlit's magic
    rewrite of its AST: ~0.06 s for Capacity's script, a fifth of its warm rerun)."""
    if _SCRIPTS:
        return
    from streamlit.runtime.scriptrunner.script_cache import ScriptCache
    from streamlit.testing.v1 import app_test, local_script_runner

    _SCRIPTS.append(ScriptCache())
    app_test.ScriptCache = local_script_runner.ScriptCache = lambda: _SCRIPTS[0]  # type: ignore[assignment]


def apptest_page(config: Path, path: str, range_preset: str) -> PageRun:
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from core.forecast import clear_forecast_cache

    os.environ["HEADROOM_CONFIG"] = str(config)
    _share_compiled_scripts()
    result = PageRun(path)
    at = AppTest.from_file(str(REPO / "dashboard.py"), default_timeout=600)
    at._bidi_component_manager = _shared_components()
    at.query_params["range"] = range_preset
    at.switch_page(PAGE_FILES[path])
    # cold = nothing computed yet: every result cache of the process is emptied (fits included, or a
    # page would reuse the fits of the page measured before it)
    st.cache_data.clear()
    st.cache_resource.clear()
    clear_forecast_cache()
    _fresh_forecast_workers()
    RECORDER.calls.clear()
    RECORDER.on = True
    result.cold_s, result.cold_cpu = _run(at)
    RECORDER.on = False
    if at.exception:
        result.error = str(at.exception[0].value)[:200]
    elif at.error:  # a source failure shows a banner (and the last good data, or none)
        result.error = "banner: " + str(at.error[0].value)[:1500]
    calls = list(RECORDER.calls)
    result.calls = calls
    result.requests = len(calls)
    # the click right after the load, before the replay: replaying a slow page's requests took minutes
    # on a loaded machine, long enough for a relative range's end to move a step and the "warm" rerun to
    # fetch the new step's pieces afresh
    RECORDER.calls.clear()
    RECORDER.on = True
    result.warm_s, result.warm_cpu = _run(at)
    RECORDER.on = False
    result.warm_calls = list(RECORDER.calls)
    result.prom_s, result.prom_bytes = replay([u for u, _ in calls])
    return result


def _short_query(query: str) -> str:
    """A query with its region alternation shortened, so queries on the same regions read apart."""
    import re

    return re.sub(r'region=~"[^"]*"', 'region=~"$R"', query)[:400]


def print_requests(run: PageRun) -> None:
    """A page's requests grouped by endpoint, query and range length/step: what multiplies them."""
    from urllib.parse import parse_qs, urlsplit

    def groups(calls: list[tuple[str, int]]) -> dict[tuple[str, str, str], list[int]]:
        out: dict[tuple[str, str, str], list[int]] = {}
        for url, size in calls:
            parts = urlsplit(url)
            q = {k: v[0] for k, v in parse_qs(parts.query).items()}
            shape = ""
            if "start" in q and "end" in q:
                shape = f"{(float(q['end']) - float(q['start'])) / 3600:.1f}h step {q.get('step', '')}"
            if "time" in q:
                shape = f"at {datetime.fromtimestamp(int(float(q['time'])), UTC):%m-%d %H:%M}"
            key = (parts.path.rsplit("/", 1)[-1], q.get("query", q.get("match[]", "")), shape)
            out.setdefault(key, []).append(size)
        return out

    for label, calls in (("cold", run.calls), ("warm", run.warm_calls)):
        print(f"\n{run.page} {label}: {len(calls)} requests, {sum(s for _, s in calls) / 1e6:.2f} MB")
        for (endpoint, query, shape), sizes in sorted(groups(calls).items(), key=lambda kv: -sum(kv[1])):
            print(
                f"  {len(sizes):4d} x {endpoint:11} {sum(sizes) / 1e3:9.1f} KB  {shape:18} {_short_query(query)}"
            )
    sys.stdout.flush()


# ---- websocket bytes in Chromium --------------------------------------------------------------------
def browser_pages(config: Path, paths: list[str], range_preset: str) -> dict[str, tuple[int, float]]:
    from playwright.sync_api import sync_playwright

    server = start_streamlit(config)
    out: dict[str, tuple[int, float]] = {}
    try:
        with sync_playwright() as pw:
            executable = shutil.which("chromium") or "/usr/bin/chromium"
            browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
            warm = browser.new_page()  # the server's first session pays the imports: not a page's cost
            warm.goto(f"{server.url}/actions", wait_until="domcontentloaded")
            warm.wait_for_selector("h1", timeout=300_000)
            warm.close()
            for path in paths:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                received = [0]

                def on_ws(ws, received=received):  # type: ignore[no-untyped-def]
                    ws.on(
                        "framereceived", lambda payload: received.__setitem__(0, received[0] + len(payload))
                    )

                page.on("websocket", on_ws)
                t0 = time.perf_counter()
                url_path = "" if path == "overview" else path  # the default page lives at /
                page.goto(f"{server.url}/{url_path}?range={range_preset}", wait_until="domcontentloaded")
                page.wait_for_selector("h1", timeout=300_000)
                # complete: the script has finished (stApp's script state), every chart it sent has
                # drawn (a page may send none: nothing burning), and no frame came for a second
                while True:
                    before = received[0]
                    page.wait_for_selector(SCRIPT_IDLE, timeout=600_000)
                    with contextlib.suppress(Exception):
                        page.wait_for_function(
                            "() => [...document.querySelectorAll('.js-plotly-plot')]"
                            ".every(e => e.querySelector('.main-svg'))",
                            timeout=120_000,
                        )
                    done = time.perf_counter()
                    page.wait_for_timeout(1000)
                    if received[0] == before and page.locator(SCRIPT_IDLE).count():
                        break
                out[path] = (received[0], done - t0)
                page.close()
            browser.close()
    finally:
        stop_streamlit(server)
    return out


# ---- printing ------------------------------------------------------------------------------------
def print_table(title: str, runs: list[PageRun]) -> None:
    print(f"\n{title}")
    print(
        f"{'page':10} {'req':>4} {'prom MB':>8} {'prom s':>7} {'cold s':>7} {'cold CPU':>8} {'cold/prom':>9} "
        f"{'warm s':>7} {'warm CPU':>8} {'ws KB':>8} {'browser s':>9}"
    )
    for r in runs:
        ratio = f"{r.cold_s / r.prom_s:9.2f}" if r.prom_s > 0 else f"{'-':>9}"
        ws = f"{r.ws_bytes / 1000:8.0f}" if r.ws_bytes is not None else f"{'-':>8}"
        bs = f"{r.browser_s:9.1f}" if r.browser_s is not None else f"{'-':>9}"
        print(
            f"{r.page:10} {r.requests:4d} {r.prom_bytes / 1e6:8.2f} {r.prom_s:7.2f} {r.cold_s:7.2f} "
            f"{r.cold_cpu:8.2f} {ratio} {r.warm_s:7.2f} {r.warm_cpu:8.2f} {ws} {bs}"
            + (f"  ERROR {r.error}" if r.error else "")
        )
    sys.stdout.flush()


def measure(
    config: Path,
    paths: list[str],
    range_preset: str,
    browser: bool,
    warm_up: tuple[str, ...] = ("actions",),
    show_requests: bool = False,
) -> list[PageRun]:
    # the first runs in a process pay the imports (statsmodels, scipy, plotly...): not a page's cost
    for path in warm_up:
        apptest_page(config, path, "24h")
    runs = [apptest_page(config, p, range_preset) for p in paths]
    if show_requests:
        for r in runs:
            print_requests(r)
    if browser:
        for r, (ws, secs) in zip(runs, browser_pages(config, paths, range_preset).values(), strict=True):
            r.ws_bytes, r.browser_s = ws, secs
    return runs


def main() -> None:
    logging.getLogger("streamlit").setLevel(logging.ERROR)  # AppTest's bare-mode warnings
    parser = argparse.ArgumentParser()
    parser.add_argument("--regions", type=int, default=20)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--range", default="30d", help="the sidebar preset the Prometheus pages open with")
    parser.add_argument("--pages", default="overview,triage,slo,cdn,capacity")
    parser.add_argument("--curve", default="6,20,50", help="region counts for the growth curve ('' skips)")
    parser.add_argument("--curve-days", type=int, default=7)
    parser.add_argument("--no-browser", action="store_true")
    parser.add_argument("--no-demo", action="store_true")
    parser.add_argument("--demo-pages", default=",".join(PAGE_FILES), help="pages timed on the demo default")
    parser.add_argument(
        "--demo-only", action="store_true", help="only the demo default (no Prometheus, no curve)"
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        help="keep the main Prometheus's backfill here and reuse it on the next run with the same "
        "--regions/--days (backfilled 12 h ahead, so a kept one serves for 12 h)",
    )
    parser.add_argument(
        "--show-requests", action="store_true", help="print each page's requests grouped by query and range"
    )
    args = parser.parse_args()
    paths = [p for p in args.pages.split(",") if p]
    browser = not args.no_browser

    with tempfile.TemporaryDirectory(prefix="headroom-bench-pages-") as tmp:
        root = Path(tmp)
        if not args.demo_only:
            _prometheus_pages(root, args, paths, browser)

        if not args.no_demo:
            demo_dir = root / "demo"
            demo_dir.mkdir()
            config = write_config(demo_dir, {"demo": {"refresh_after": "3650d"}})
            t0 = time.perf_counter()
            prepare_store(config)
            print(f"\nDemo world generated in {time.perf_counter() - t0:.0f} s (not counted below)")
            # warm-up: every page once (a server that has served pages has imported what they use)
            demo_paths = [p for p in args.demo_pages.split(",") if p]
            runs = measure(config, demo_paths, "24h", browser, warm_up=tuple(PAGE_FILES))
            print_table("Demo default (shipped config, 6 regions, range 24h)", runs)

        counts = [int(c) for c in args.curve.split(",") if c] if not args.demo_only else []
        if counts:
            print(f"\nGrowth curve: Prometheus with N regions x {args.curve_days} days, range 7d, no browser")
            for n in counts:
                d = root / f"curve{n}"
                d.mkdir()
                url, proc, build_s = start_prometheus(
                    d, [r["code"] for r in region_table(n)], args.curve_days
                )
                try:
                    config = _write_with_regions(d, url, n, _queries())
                    prepare_store(config)
                    runs = measure(config, ["overview", "triage", "slo"], "7d", False)
                    print_table(f"{n} regions (backfill {build_s:.0f} s)", runs)
                finally:
                    proc.terminate()
                    proc.wait(timeout=30)


def _prometheus_pages(root: Path, args: argparse.Namespace, paths: list[str], browser: bool) -> None:
    shipped_codes = [r["code"] for r in region_table(args.regions)]
    main_dir = root / "main"
    main_dir.mkdir()
    data_dir = args.data_dir.resolve() if args.data_dir else main_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    ahead = timedelta(hours=12) if args.data_dir else timedelta(hours=1)
    url, proc, build_s = start_prometheus(data_dir, shipped_codes, args.days, ahead)
    try:
        print(
            f"Prometheus: {args.regions} regions x {args.days} days, samples every {SAMPLE_INTERVAL_S} s, "
            f"generated + backfilled in {build_s:.0f} s; pages opened with range={args.range}"
        )
        config = _write_with_regions(main_dir, url, args.regions, _queries())
        prepare_store(config)
        runs = measure(config, paths, args.range, browser, show_requests=args.show_requests)
        print_table(f"Prometheus, {args.regions} regions x {args.days} days, range {args.range}", runs)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _queries() -> dict[str, str]:
    shipped = _shipped()
    return {
        m: q.replace("[5m]", "[15m]") for m, q in (shipped["prometheus"]["queries"] | CDN_QUERIES).items()
    }


if __name__ == "__main__":
    main()
