"""PrometheusSource load time for 12 metrics x 6 regions x 30 days against a real, backfilled Prometheus.

Starts its own Debian Prometheus on a free port (temporary data dir, removed afterwards), backfilled
with synthetic exporter data sampled every 5 minutes (the templates' `[5m]` windows become `[15m]` so
rate() sees several samples). Prints, for the same 12 PromQL queries, start, end and step:
- raw: plain HTTP GET of /api/v1/query_range + json parsing, one query after the other (the baseline),
  and the same GETs without parsing (the server's share: the floor for any client);
- connector cold: PrometheusSource.query_range (concurrent fetch, numpy parsing, tidy UTC frame);
- connector warm: the same call again (TTL cache hit, no HTTP);
and the ratios connector / raw.
Usage: .venv/bin/python bench/prometheus_load.py [--repeat 5] [--days 30]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from _timing import median_time  # noqa: E402

from connectors.prometheus import PrometheusSource, aligned_range, prometheus_step_seconds, render_query  # noqa: E402
from core.config import load_config  # noqa: E402
from core.timeseries import choose_step as chart_step  # noqa: E402
from tests.conftest import free_port, wait_http  # noqa: E402
from tests.connectors.promdata import CDN_QUERIES, openmetrics  # noqa: E402

SAMPLE_INTERVAL_S = 300


def start_prometheus(root: Path, text: str) -> tuple[str, subprocess.Popen]:
    (root / "data.om").write_text(text)
    subprocess.run(
        ["promtool", "tsdb", "create-blocks-from", "openmetrics", "--max-block-duration=24h"]
        + [str(root / "data.om"), str(root / "data")],
        check=True,
        capture_output=True,
    )
    (root / "prometheus.yml").write_text(f"global:\n  scrape_interval: {SAMPLE_INTERVAL_S}s\n")
    port = free_port()
    proc = subprocess.Popen(
        [
            "prometheus",
            f"--config.file={root / 'prometheus.yml'}",
            f"--storage.tsdb.path={root / 'data'}",
            "--storage.tsdb.retention.time=100y",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/-/ready", timeout=120, proc=proc)
    return url, proc


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--days", type=int, default=30)
    args = parser.parse_args()

    cfg = load_config(REPO / ".streamlit" / "headroom.toml")
    regions = list(cfg.region_codes)
    queries = {m: q.replace("[5m]", "[15m]") for m, q in (dict(cfg.prometheus.queries) | CDN_QUERIES).items()}
    end = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=1)
    start = end - timedelta(days=args.days)

    root = Path(tempfile.mkdtemp(prefix="headroom-bench-prom-"))
    proc = None
    try:
        t0 = time.perf_counter()
        text = openmetrics(regions, start - timedelta(hours=1), end, interval_s=SAMPLE_INTERVAL_S, cdn=True)
        t_gen = time.perf_counter() - t0
        t0 = time.perf_counter()
        url, proc = start_prometheus(root, text)
        t_start = time.perf_counter() - t0
        samples = sum(1 for line in text.splitlines() if line and not line.startswith("#"))
        print(
            f"data: {len(regions)} regions, {args.days} days, {samples:,} samples every {SAMPLE_INTERVAL_S} s"
        )
        print(f"  generate {t_gen:.1f} s, backfill + start {t_start:.1f} s")

        prom_cfg = replace(
            cfg.prometheus, url=url, queries=queries, scrape_interval=timedelta(seconds=SAMPLE_INTERVAL_S)
        )
        source = PrometheusSource(prom_cfg, regions)
        requested = chart_step(start, end, 10_000)  # what pages/_ui.load_metrics asks for
        step = prometheus_step_seconds(start, end, requested, prom_cfg.scrape_interval)
        s, e = aligned_range(start, end, step)
        rendered = [render_query(q, regions) for q in queries.values()]
        session = requests.Session()

        def raw() -> int:
            points = 0
            for q in rendered:
                resp = session.get(
                    f"{url}/api/v1/query_range", params={"query": q, "start": s, "end": e, "step": step}
                )
                resp.raise_for_status()
                points += sum(len(series["values"]) for series in resp.json()["data"]["result"])
            return points

        def http_only() -> int:
            return sum(
                len(
                    session.get(
                        f"{url}/api/v1/query_range", params={"query": q, "start": s, "end": e, "step": step}
                    ).content
                )
                for q in rendered
            )

        def cold():
            source.clear_cache()
            return source.query_range(list(queries), start, end, requested)

        raw()  # warm Prometheus's page cache once so both sides see the same server state
        # interleave the three measurements so background load on a shared machine hits them alike
        times: dict[str, list[float]] = {"raw": [], "http": [], "cold": []}
        points, frame = 0, None
        for _ in range(args.repeat):
            for label, fn in (("raw", raw), ("http", http_only), ("cold", cold)):
                t0 = time.perf_counter()
                out = fn()
                times[label].append(time.perf_counter() - t0)
                if label == "raw":
                    points = out
                elif label == "cold":
                    frame = out
        t_raw, t_http, t_cold = (statistics.median(times[k]) for k in ("raw", "http", "cold"))
        t_warm, _ = median_time(lambda: source.query_range(list(queries), start, end, requested), args.repeat)
        print(f"query: {len(queries)} metrics x {len(regions)} regions, step {step} s, {points:,} points")
        print(f"  raw query_range (sequential HTTP + json) : {t_raw * 1000:8.0f} ms")
        print(f"  of which server + transfer (no parsing)  : {t_http * 1000:8.0f} ms")
        print(
            f"  connector, cold (concurrent, tidy frame) : {t_cold * 1000:8.0f} ms   ratio {t_cold / t_raw:.2f}"
        )
        print(
            f"  connector, warm (TTL cache)              : {t_warm * 1000:8.1f} ms   ratio {t_warm / t_raw:.4f}"
        )
        print(f"  frame rows {len(frame):,} (non-finite points dropped), median of {args.repeat}")
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
