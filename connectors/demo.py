"""Deterministic demo world for the embedded default: six regions, 1-minute metrics, incidents, billing.

Everything is vectorised with numpy per region (no per-minute Python loop), so 35 days x 6 regions
generate in a few seconds. The same (seed, end, days, config) always yields the same data.

What it models, so the dashboards look like production:
- traffic: diurnal cycle peaking mid-afternoon in each region's own time zone (DST-aware), quieter
  weekends, a growth trend, smooth AR(1) noise plus white noise;
- instances: a target-tracking autoscaler (scale out on a lagged 5-minute mean, slow scale-in), so CPU
  hovers near the fleet's target utilisation;
- latency from utilisation (queueing knee above ~75% CPU), errors as a small noisy ratio, queue bursts,
  memory with a daily leak-and-restart sawtooth, CDN hit ratio and edge/origin bytes;
- incidents (also written to the events table): an error spike, a latency regression after a deploy,
  a regional outage whose traffic shifts to the neighbours, a CDN purge, and an ongoing latency and
  error regression in ap-southeast-1 at the end of the data so something is burning "now";
- daily billing rows per service and region derived from instance-hours, bytes and requests.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import sqlite_utils

from connectors.store import get_meta, replace_world, set_meta
from core.config import HeadroomConfig

Progress = Callable[[float, str], None]

GLOBAL_MEAN_RPS = 4000.0  # the world's mean request rate; each region takes its routing_weight of it
CDN_REQUESTS_PER_API_REQUEST = 1.5
CDN_BYTES_PER_REQUEST = 8_000.0
GROWTH_PER_90_DAYS = 0.12

# USD list prices used for the demo bill
CLOUDFRONT_USD_PER_GB = 0.085
CLOUDFRONT_USD_PER_10K_REQUESTS = 0.0075
DATA_TRANSFER_USD_PER_GB = 0.02
ELB_USD_PER_HOUR = 0.0225 * 2
ELB_USD_PER_MILLION_REQUESTS = 0.25
SQS_USD_PER_MILLION_MESSAGES = 0.40
CLOUDWATCH_USD_PER_DAY = 5.0
RDS_USD_PER_DAY = {"us-east-1": 90.0, "eu-west-1": 60.0}
RDS_USD_PER_DAY_DEFAULT = 35.0


@dataclass(frozen=True)
class Incident:
    region: str
    kind: str  # error_spike | latency_regression | outage | cdn_purge
    start: datetime
    end: datetime
    title: str
    detail: str


def demo_incidents(end: datetime, region_codes: tuple[str, ...]) -> list[Incident]:
    """The incidents of the demo world, placed relative to its end so they are always in view."""

    def at(days_before: float, hour: int, minute: int = 0) -> datetime:
        day = (end - timedelta(days=days_before)).replace(hour=hour, minute=minute, second=0, microsecond=0)
        return day

    wanted = [
        Incident(
            "us-east-1",
            "error_spike",
            at(9, 15, 20),
            at(9, 15, 20) + timedelta(minutes=40),
            "5xx spike in us-east-1",
            "A bad config push made 6% of API requests fail for 40 minutes; rolled back.",
        ),
        Incident(
            "eu-west-1",
            "latency_regression",
            at(12, 10, 5),
            at(12, 10, 5) + timedelta(hours=3),
            "Latency regression after deploy api v2.14",
            "p95 latency rose 1.9x after deploy api v2.14 (N+1 query); fixed by v2.14.1.",
        ),
        Incident(
            "eu-central-1",
            "outage",
            at(17, 13, 0),
            at(17, 13, 0) + timedelta(hours=2),
            "Regional outage: eu-central-1",
            "Load balancer failure; 95% of traffic failed over to eu-west-1 (60%) and us-east-1 (40%).",
        ),
        Incident(
            "us-west-2",
            "cdn_purge",
            at(5, 18, 0),
            at(5, 18, 0) + timedelta(hours=3),
            "CDN cache purge in us-west-2",
            "A full cache invalidation dropped the hit ratio to ~35%; it recovered over three hours.",
        ),
        Incident(
            "ap-southeast-1",
            "latency_regression",
            end - timedelta(minutes=90),
            end,
            "Ongoing latency and error regression in ap-southeast-1",
            "A dependency in ap-southeast-1 is degraded: p95 latency ~3x and 2.5% of requests fail.",
        ),
    ]
    return [i for i in wanted if i.region in region_codes]


def demo_deploys(end: datetime, region_codes: tuple[str, ...]) -> list[Incident]:
    """Deploy annotations (drawn as change markers)."""
    out = []
    for k, days in enumerate((26, 19, 12, 6, 2)):
        when = (end - timedelta(days=days)).replace(hour=10, minute=0, second=0, microsecond=0)
        version = f"v2.{10 + k}"
        out.append(
            Incident(
                "", "deploy", when, when + timedelta(minutes=20), f"deploy api {version}", "rolling deploy"
            )
        )
    if "eu-west-1" in region_codes:
        when = (end - timedelta(days=12)).replace(hour=13, minute=10, second=0, microsecond=0)
        out.append(Incident("eu-west-1", "deploy", when, when, "deploy api v2.14.1", "fix for N+1 query"))
    return [d for d in out if d.start <= end]


def _smooth_noise(rng: np.random.Generator, n: int, phi: float, sigma: float) -> np.ndarray:
    """AR(1) noise via an IIR filter (scipy-free): x[t] = phi * x[t-1] + e[t]."""
    e = rng.normal(0.0, sigma, n)
    # closed form through cumulative products is unstable for long n; chunked filter is fast enough
    out = np.empty(n)
    acc = 0.0
    block = 4096
    powers = phi ** np.arange(block)
    for s in range(0, n, block):
        seg = e[s : s + block]
        m = len(seg)
        # y[k] = phi^(k+1) * acc + sum_{j<=k} phi^(k-j) e[j]
        conv = np.convolve(seg, powers[:m])[:m]
        out[s : s + m] = conv + acc * powers[:m] * phi
        acc = out[s + m - 1]
    return out


def _window_mask(ts: np.ndarray, start: datetime, end: datetime) -> np.ndarray:
    return (ts >= int(start.timestamp())) & (ts < int(end.timestamp()))


def generate_world(
    config: HeadroomConfig,
    end: datetime,
    days: int | None = None,
    seed: int | None = None,
    progress: Progress | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, list[Incident]]:
    """Generate (wide metrics frame, billing frame, events). Metrics: one row per minute x region."""
    days = config.demo.days if days is None else days
    seed = config.demo.seed if seed is None else seed
    end = end.astimezone(UTC).replace(second=0, microsecond=0)
    n = days * 1440
    ts = int(end.timestamp()) - 60 * np.arange(n - 1, -1, -1, dtype=np.int64)
    index = pd.DatetimeIndex(pd.to_datetime(ts, unit="s", utc=True))
    codes = config.region_codes
    incidents = demo_incidents(end, codes)
    total_weight = sum(r.routing_weight for r in config.region) or 1.0
    t_days = (ts - ts[0]) / 86400.0
    growth = (1.0 + GROWTH_PER_90_DAYS) ** (t_days / 90.0)

    # 1) request rate per region, before outages move traffic around
    rps: dict[str, np.ndarray] = {}
    rngs = {code: np.random.default_rng([seed, i]) for i, code in enumerate(codes)}
    for region in config.region:
        rng = rngs[region.code]
        local = index.tz_convert(region.timezone)
        hour = local.hour.to_numpy() + local.minute.to_numpy() / 60.0
        diurnal = (
            1.0
            + 0.42 * np.cos(2 * np.pi * (hour - 15.0) / 24.0)
            + 0.08 * np.cos(4 * np.pi * (hour - 11.0) / 24.0)
        )
        weekly = np.where(local.day_of_week.to_numpy() >= 5, 0.78, 1.0)
        shape = diurnal * weekly
        base = GLOBAL_MEAN_RPS * region.routing_weight / total_weight / shape.mean()
        noise = np.exp(_smooth_noise(rng, n, 0.995, 0.004) + rng.normal(0, 0.02, n))
        rps[region.code] = base * shape * growth * noise
    if progress:
        progress(0.15, "traffic generated")

    outage_mask = {c: np.zeros(n, dtype=bool) for c in codes}
    for inc in incidents:
        if inc.kind != "outage":
            continue
        mask = _window_mask(ts, inc.start, inc.end)
        outage_mask[inc.region] |= mask
        moved = rps[inc.region][mask] * 0.95
        rps[inc.region][mask] *= 0.05
        receivers = [c for c in ("eu-west-1", "us-east-1") if c in codes and c != inc.region]
        for c, share in zip(receivers, (0.6, 0.4), strict=False):
            rps[c][mask] += moved * share / (1.0 if len(receivers) > 1 else 0.6)

    frames = []
    billing_rows = []
    for k, region in enumerate(config.region):
        code = region.code
        rng = rngs[code]
        r = rps[code]
        fleet = config.fleet_for(code)
        cap = fleet.capacity_per_instance if fleet else 50.0
        target = fleet.target_utilization if fleet else 0.6
        lo, hi = (fleet.min_instances, fleet.max_instances) if fleet else (2, 200)
        price = fleet.price_per_hour if fleet else 0.09

        # 2) target-tracking autoscaler: scale out on a 5-minute mean seen 3 minutes late (alarm +
        # warm-up), scale in slowly (the highest need of the last 15 minutes)
        smoothed = pd.Series(r).rolling(5, min_periods=1).mean().shift(3).bfill().to_numpy()
        desired = np.ceil(smoothed / (cap * target))
        instances = pd.Series(desired).rolling(15, min_periods=1).max().to_numpy()
        instances = np.clip(instances, lo, hi)
        cpu = np.clip(r / (instances * cap) + rng.normal(0, 0.012, n), 0.02, 1.0)

        # 3) latency: a queueing knee above ~75% CPU
        base_p50 = 32.0 + 4.0 * k
        knee = 1.0 + 6.0 * np.maximum(0.0, cpu - 0.75) ** 2 / 0.0625
        p50 = base_p50 * knee * np.exp(rng.normal(0, 0.04, n))
        p95 = p50 * 2.7 * np.exp(rng.normal(0, 0.05, n))
        p99 = p95 * 1.9 * np.exp(rng.normal(0, 0.06, n))
        # p90 between p50 and p95 on a log scale (a log-normal-like tail); no extra random draw, so the
        # rest of the world (and the tests' known figures) stays exactly as before
        p90 = p50 * (p95 / p50) ** 0.8
        err_ratio = 0.00025 * rng.gamma(4.0, 0.25, n)

        # 4) CDN
        hit = np.clip(0.925 + 0.02 * np.sin(2 * np.pi * t_days) + rng.normal(0, 0.006, n), 0.5, 0.995)

        for inc in incidents:
            if inc.region != code:
                continue
            mask = _window_mask(ts, inc.start, inc.end)
            if inc.kind == "error_spike":
                err_ratio[mask] = 0.06 * np.exp(rng.normal(0, 0.1, mask.sum()))
            elif inc.kind == "latency_regression":
                factor = 3.0 if inc.end >= end else 1.9
                p50[mask] *= factor * 0.8
                p95[mask] *= factor
                p90[mask] *= factor
                p99[mask] *= factor * 1.2
                if inc.end >= end:
                    err_ratio[mask] = 0.025 * np.exp(rng.normal(0, 0.15, mask.sum()))
            elif inc.kind == "outage":
                err_ratio[mask] = 0.6
            elif inc.kind == "cdn_purge":
                minutes = (ts[mask] - int(inc.start.timestamp())) / 60.0
                hit[mask] = 0.925 - (0.925 - 0.35) * np.exp(-minutes / 55.0)
        errors = r * np.clip(err_ratio, 0, 1)

        mem_saw = ((ts - ts[0]) % 86400) / 86400.0
        memory = np.clip(0.48 + 0.12 * mem_saw + 0.05 * cpu + rng.normal(0, 0.01, n), 0, 1)

        # 5) queue depth: background plus a few bursts a day that drain over tens of minutes
        queue = rng.poisson(np.maximum(r, 1) / 400.0).astype(float)
        burst_count = rng.poisson(2.2 * days)
        starts = rng.integers(0, n, burst_count)
        heights = rng.lognormal(np.log(250), 0.9, burst_count)
        drains = rng.uniform(8, 35, burst_count)
        for s, h, d in zip(starts, heights, drains, strict=True):
            span = min(n - s, int(d * 6))
            queue[s : s + span] += h * np.exp(-np.arange(span) / d)

        cdn_rps = r * CDN_REQUESTS_PER_API_REQUEST
        edge = cdn_rps * CDN_BYTES_PER_REQUEST * np.exp(rng.normal(0, 0.03, n))
        origin = edge * (1.0 - hit)

        wide = pd.DataFrame(
            {
                "ts": ts,
                "region": code,
                "requests_per_second": r,
                "errors_per_second": errors,
                "latency_p50_ms": p50,
                "latency_p95_ms": p95,
                "latency_p99_ms": p99,
                "latency_p90_ms": p90,
                "cpu_utilization": cpu,
                "memory_utilization": memory,
                "queue_depth": np.round(queue),
                "instances": instances,
                "cdn_requests_per_second": cdn_rps,
                "cdn_hit_ratio": hit,
                "cdn_bytes_edge_per_second": edge,
                "cdn_bytes_origin_per_second": origin,
            }
        )
        frames.append(wide)
        billing_rows.append(_daily_bill(wide, code, price))
        if progress:
            progress(0.15 + 0.55 * (k + 1) / len(config.region), f"region {code} generated")

    metrics = pd.concat(frames, ignore_index=True).sort_values(["ts", "region"], kind="stable")
    billing = pd.concat(billing_rows, ignore_index=True)
    events = incidents + demo_deploys(end, codes)
    return metrics.reset_index(drop=True), billing, events


def _daily_bill(wide: pd.DataFrame, region: str, price_per_hour: float) -> pd.DataFrame:
    day = pd.to_datetime(wide["ts"], unit="s", utc=True).dt.strftime("%Y-%m-%d")
    per_minute = pd.DataFrame(
        {
            "day": day,
            "instance_hours": wide["instances"] / 60.0,
            "requests": wide["requests_per_second"] * 60.0,
            "cdn_requests": wide["cdn_requests_per_second"] * 60.0,
            "edge_gb": wide["cdn_bytes_edge_per_second"] * 60.0 / 1e9,
            "origin_gb": wide["cdn_bytes_origin_per_second"] * 60.0 / 1e9,
            "messages": wide["queue_depth"] * 2.0,
            "hours": 1.0 / 60.0,
        }
    )
    d = per_minute.groupby("day").sum()
    rds = RDS_USD_PER_DAY.get(region, RDS_USD_PER_DAY_DEFAULT)
    services = {
        "Amazon Elastic Compute Cloud - Compute": d["instance_hours"] * price_per_hour,
        "Amazon CloudFront": d["edge_gb"] * CLOUDFRONT_USD_PER_GB
        + d["cdn_requests"] / 1e4 * CLOUDFRONT_USD_PER_10K_REQUESTS,
        "AWS Data Transfer": d["origin_gb"] * DATA_TRANSFER_USD_PER_GB,
        "Elastic Load Balancing": d["hours"] * ELB_USD_PER_HOUR
        + d["requests"] / 1e6 * ELB_USD_PER_MILLION_REQUESTS,
        "Amazon Simple Queue Service": d["messages"] / 1e6 * SQS_USD_PER_MILLION_MESSAGES,
        "AmazonCloudWatch": d["hours"] / 24.0 * CLOUDWATCH_USD_PER_DAY,
        "Amazon Relational Database Service": d["hours"] / 24.0 * rds,
    }
    rows = [
        pd.DataFrame({"day": d.index, "service": svc, "region": region, "cost_usd": cost.to_numpy().round(4)})
        for svc, cost in services.items()
    ]
    return pd.concat(rows, ignore_index=True)


def write_world(
    db: sqlite_utils.Database,
    metrics: pd.DataFrame,
    billing: pd.DataFrame | None,
    events: list[Incident],
    progress: Progress | None = None,
) -> None:
    """Replace the demo world's metrics, costs and events in one transaction. With `billing=None` the
    costs table is left alone (it is then Cost Explorer's paid-for cache, not demo data)."""
    replace_world(
        db,
        metrics,
        billing,
        [
            (int(e.start.timestamp()), int(e.end.timestamp()), e.region, e.kind, e.title, e.detail)
            for e in events
        ],
        on_metrics_stored=(lambda: progress(0.95, "metrics stored")) if progress else None,
    )


def demo_world_end(db: sqlite_utils.Database) -> datetime | None:
    value = get_meta(db, "demo_end")
    return None if value is None else datetime.fromisoformat(value)


def _fingerprint(config: HeadroomConfig) -> str:
    return f"seed={config.demo.seed};days={config.demo.days};regions={','.join(config.region_codes)}"


def demo_world_is_current(
    db: sqlite_utils.Database, config: HeadroomConfig, now: datetime | None = None
) -> bool:
    """True when the store holds a demo world for this config that is fresher than demo.refresh_after."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    end = demo_world_end(db)
    return (
        end is not None
        and now - end < config.demo.refresh_after
        and get_meta(db, "demo_fingerprint") == _fingerprint(config)
    )


def ensure_demo_world(
    db: sqlite_utils.Database,
    config: HeadroomConfig,
    now: datetime | None = None,
    progress: Progress | None = None,
) -> bool:
    """Generate the demo world if the store has none, or if it is older than demo.refresh_after.

    Returns True when it generated. The world ends at `now` (floored to the minute), so the default
    time ranges ("last 24 h") show data.
    """
    now = (now or datetime.now(UTC)).astimezone(UTC)
    if demo_world_is_current(db, config, now):
        return False
    t0 = time.perf_counter()
    if progress:
        progress(0.0, "generating the demo world")
    metrics, billing, events = generate_world(config, now, progress=progress)
    demo_billing = billing if config.sources.billing == "demo" else None
    write_world(db, metrics, demo_billing, events, progress=progress)
    end = datetime.fromtimestamp(int(metrics["ts"].max()), UTC)
    set_meta(db, "demo_end", end.isoformat())
    set_meta(db, "demo_fingerprint", _fingerprint(config))
    set_meta(db, "demo_generation_seconds", f"{time.perf_counter() - t0:.2f}")
    if progress:
        progress(1.0, "demo world ready")
    return True
