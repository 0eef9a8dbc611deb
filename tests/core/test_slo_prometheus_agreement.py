"""core/slo agrees with a real Prometheus evaluating the same SLIs and burn rates in PromQL.

The same per-minute data is written twice: as the tidy frame core/slo reads (rates in req/s) and
as OpenMetrics counters (cumulative request and error counts) plus a p95 gauge, backfilled into the
Debian prometheus by the `prometheus_factory` fixture. PromQL is then evaluated over HTTP at fixed times.

Why the numbers can agree exactly, and where they would not:
- A counter sample at t holds every event up to t, and the frame's rate sample at t describes the minute
  ending at t, so core/slo's window (T - w, T] and `increase(x[w])` at T cover the same minutes.
- Prometheus 2.x range selectors are closed ([T - w, T], left-open only since 3.0): at a T on the
  minute, the window holds the samples at T - w and at T, so `increase()` is exactly
  counter(T) - counter(T - w) and its extrapolation (stretching the first-to-last sample span out to
  the window boundaries) has nothing to add. At a T between samples, increase() would see 59 deltas
  spread over 59 minutes and scale them by 60/59; errors and requests are scaled alike so the ratio
  only differs by which minutes are in the window (and `rate()` is the same thing divided by w). So
  ratio queries are evaluated on the minute below.
- For the latency SLI the subquery `[1h:1m]` is also closed at both ends: at T on the minute it would
  see 61 points. Evaluating 30 s after the minute gives the 60 points core/slo uses for (T - 1h, T].
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from core.config import DEFAULT_BURN_RATE_RULES
from core.ports import tidy_metrics
from core.slo import SLO, alert_state, burn_rate, sli

pytestmark = pytest.mark.slow

START = datetime(2026, 6, 1, 0, 0, tzinfo=UTC)
DAYS = 3
MINUTES = DAYS * 1440 + 120
REGIONS = ("eu-west-1", "us-east-1")
SPIKE = (START + timedelta(days=3, minutes=20), START + timedelta(days=3, minutes=80))
TOLERANCE = 0.005  # the bar: agree within 0.5%

AVAILABILITY = SLO(
    "api-availability", 0.999, timedelta(days=28), "requests_per_second", bad="errors_per_second"
)
LATENCY = SLO(
    "api-latency-p95", 0.99, timedelta(days=28), "latency_p95_ms", budgeting="timeslices", threshold=300.0
)


def generate() -> pd.DataFrame:
    """Two regions of different size, diurnal traffic, background errors, a 1-hour error spike and slow
    minutes in eu-west-1 during it."""
    rng = np.random.default_rng(7)
    ts = pd.date_range(START, periods=MINUTES, freq="1min", tz="UTC")
    minutes = np.arange(MINUTES)
    spike = (ts > SPIKE[0]) & (ts <= SPIKE[1])
    parts = []
    for k, region in enumerate(REGIONS):
        base = (120.0, 400.0)[k]
        rps = base * (1 + 0.4 * np.sin(2 * np.pi * minutes / 1440 + k)) * rng.lognormal(0, 0.05, MINUTES)
        error_ratio = rng.gamma(2.0, 0.0002, MINUTES)
        p95 = rng.lognormal(np.log(150), 0.25, MINUTES)
        if region == "eu-west-1":
            error_ratio[spike] = 0.1
            p95[spike] = 450.0
        for metric, values in (
            ("requests_per_second", rps),
            ("errors_per_second", rps * error_ratio),
            ("latency_p95_ms", p95),
        ):
            parts.append(pd.DataFrame({"ts": ts, "region": region, "metric": metric, "value": values}))
    return tidy_metrics(pd.concat(parts))


def to_openmetrics(frame: pd.DataFrame) -> str:
    """Counters: cumulative events (rate x 60 s per minute); the p95 as a gauge. Families grouped, each
    series in ascending time, timestamps in seconds."""
    lines: list[str] = []
    families = (
        ("http_requests", "counter", "requests_per_second"),
        ("http_errors", "counter", "errors_per_second"),
        ("latency_p95_ms", "gauge", "latency_p95_ms"),
    )
    for family, kind, metric in families:
        lines.append(f"# TYPE {family} {kind}")
        sample = f"{family}_total" if kind == "counter" else family
        for region in REGIONS:
            series = frame[(frame["metric"] == metric) & (frame["region"] == region)].sort_values("ts")
            values = series["value"].to_numpy()
            if kind == "counter":
                values = np.cumsum(values * 60.0)
            epochs = series["ts"].astype("int64").to_numpy() // 10**9
            lines.extend(
                f'{sample}{{region="{region}"}} {v!r} {t}'
                for v, t in zip(values.tolist(), epochs.tolist(), strict=True)
            )
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


def promql(url: str, query: str, at: datetime) -> dict[str, float]:
    """Instant query -> {region or '': value}."""
    params = urllib.parse.urlencode({"query": query, "time": f"{at.timestamp():.3f}"})
    with urllib.request.urlopen(f"{url}/api/v1/query?{params}", timeout=30) as resp:
        body = json.load(resp)
    assert body["status"] == "success", body
    return {r["metric"].get("region", ""): float(r["value"][1]) for r in body["data"]["result"]}


@pytest.fixture(scope="module")
def world(prometheus_factory) -> tuple[pd.DataFrame, str]:
    frame = generate()
    server = prometheus_factory(to_openmetrics(frame))
    return frame, server.url


def error_ratio_query(window: str, by_region: bool = False) -> str:
    by = " by (region)" if by_region else ""
    return (
        f"sum{by}(increase(http_errors_total[{window}])) / sum{by}(increase(http_requests_total[{window}]))"
    )


# evaluation times on the minute: before, inside and after the error spike
EVAL_TIMES = [
    START + timedelta(days=3, minutes=0),
    START + timedelta(days=3, minutes=50),
    START + timedelta(days=3, minutes=80),
    START + timedelta(days=3, minutes=119),
]


@pytest.mark.parametrize("at", EVAL_TIMES, ids=lambda t: t.strftime("%dT%H%M"))
def test_availability_sli_and_burn_rates_agree_with_promql(world, at: datetime) -> None:
    frame, url = world
    windows = sorted({w for r in DEFAULT_BURN_RATE_RULES for w in (r.long_window, r.short_window)})
    for window in windows:
        name = f"{int(window.total_seconds() // 60)}m"
        prom_global = promql(url, error_ratio_query(name), at)[""]
        ours = 1.0 - sli(frame, AVAILABILITY, at - window, at)
        assert ours == pytest.approx(prom_global, rel=TOLERANCE), f"error ratio over {name} at {at}"
        prom_burn = promql(url, f"({error_ratio_query(name)}) / (1 - {AVAILABILITY.objective})", at)[""]
        assert burn_rate(frame, AVAILABILITY, window, at) == pytest.approx(prom_burn, rel=TOLERANCE)
        per_region = promql(url, error_ratio_query(name, by_region=True), at)
        assert set(per_region) == set(REGIONS)
        for region, prom_ratio in per_region.items():
            ours_region = 1.0 - sli(frame, AVAILABILITY, at - window, at, region=region)
            assert ours_region == pytest.approx(prom_ratio, rel=TOLERANCE), f"{region} over {name} at {at}"


def test_global_ratio_is_traffic_weighted_like_summed_promql(world) -> None:
    """The global SLI equals sum()/sum() in PromQL and differs from the mean of the regional ratios."""
    frame, url = world
    at = EVAL_TIMES[2]
    summed = promql(url, error_ratio_query("1h"), at)[""]
    mean_of_ratios = promql(url, f"avg({error_ratio_query('1h', by_region=True)})", at)[""]
    ours = 1.0 - sli(frame, AVAILABILITY, at - timedelta(hours=1), at)
    assert ours == pytest.approx(summed, rel=TOLERANCE)
    assert abs(ours - mean_of_ratios) > 0.1 * ours  # the spike is in the smaller region


def test_alert_state_matches_the_promql_rules(world) -> None:
    frame, url = world
    at = EVAL_TIMES[2]
    state = alert_state(frame, AVAILABILITY, at)
    for evaluation in state.rules:
        rule = evaluation.rule
        long_name = f"{int(rule.long_window.total_seconds() // 60)}m"
        short_name = f"{int(rule.short_window.total_seconds() // 60)}m"
        budget = 1 - AVAILABILITY.objective
        # the Workbook's alert expression: both windows' error ratios above burn_rate x (1 - objective)
        expr = (
            f"({error_ratio_query(long_name)}) > {rule.burn_rate} * {budget} "
            f"and ({error_ratio_query(short_name)}) > {rule.burn_rate} * {budget}"
        )
        firing_in_prometheus = bool(promql(url, expr, at))
        assert evaluation.firing == firing_in_prometheus, rule
    # 10% errors in a region with about a quarter of the traffic: a global burn of ~20 on 1h and 5m
    assert state.page and [e.firing for e in state.rules] == [True, False, False, False]


@pytest.mark.parametrize("at", EVAL_TIMES[1:], ids=lambda t: t.strftime("%dT%H%M"))
def test_latency_timeslice_sli_agrees_with_a_promql_subquery(world, at: datetime) -> None:
    frame, url = world
    when = at + timedelta(seconds=30)  # see the module docstring: 60 subquery points, as in (T - 1h, T]
    slow_share = promql(url, "avg_over_time((latency_p95_ms > bool 300)[1h:1m])", when)
    for region in REGIONS:
        ours = sli(frame, LATENCY, when - timedelta(hours=1), when, region=region)
        assert ours == pytest.approx(1.0 - slow_share[region], rel=TOLERANCE, abs=1e-12)
    # global: each region's share of slow minutes weighted by its requests in the same hour
    weighted = promql(
        url,
        "sum(avg_over_time((latency_p95_ms > bool 300)[1h:1m]) * on(region) "
        "sum by (region)(increase(http_requests_total[1h]))) / sum(increase(http_requests_total[1h]))",
        when,
    )[""]
    ours_global = sli(frame, LATENCY, when - timedelta(hours=1), when)
    assert 1.0 - ours_global == pytest.approx(weighted, rel=TOLERANCE)
