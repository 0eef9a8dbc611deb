"""Exporter series for the alerting agreement tests, written two ways from the same numbers: as
`promtool test rules` input series (values every minute from time 0) and as OpenMetrics text for
backfilling a real Prometheus at a base time (the same values every minute from `base`).

The families are what the shipped [prometheus.queries] read: http_requests_total (code 200 / 503) and
http_request_duration_seconds (a histogram whose buckets reach 5 s, so a p95 above 2 s is visible).
Each minute of a region is (requests per second, error share, latency profile).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime

BUCKETS: tuple[str, ...] = ("0.1", "0.25", "0.5", "1", "2.5", "5", "+Inf")
# share of requests at or under each bucket bound
PROFILES: dict[str, tuple[float, ...]] = {
    "fast": (0.90, 0.97, 0.99, 0.995, 0.999, 1.0, 1.0),  # p95 ~ 207 ms
    "slow": (0.50, 0.80, 0.93, 0.98, 0.995, 1.0, 1.0),  # p95 ~ 700 ms: a bad minute for a 300 ms SLO
    "very_slow": (0.10, 0.20, 0.40, 0.60, 0.80, 1.0, 1.0),  # p95 ~ 4.4 s: above a 2 s threshold
}

# (requests per second, error share, latency profile) of one region in one minute
Minute = tuple[float, float, str]


@dataclass(frozen=True)
class Scenario:
    name: str
    minutes: int
    regions: tuple[str, ...]
    shape: Callable[[str, int], Minute]  # (region, minute) -> the minute's traffic
    eval_every: int = 1  # compare the firing sets every this many minutes

    def series(self) -> dict[str, list[str]]:
        """Series selector -> cumulative counter values, one per minute (formatted once, so promtool and
        the backfilled Prometheus parse the same decimal strings)."""
        out: dict[str, list[str]] = {}
        for region in self.regions:
            totals: dict[str, float] = {}
            columns: dict[str, list[str]] = {}
            for minute in range(self.minutes + 1):
                rps, error_share, profile = self.shape(region, minute) if minute else (0.0, 0.0, "fast")
                count = rps * 60.0
                increments = {
                    f'http_requests_total{{code="200",job="api",region="{region}"}}': count
                    * (1 - error_share),
                    f'http_requests_total{{code="503",job="api",region="{region}"}}': count * error_share,
                }
                for le, share in zip(BUCKETS, PROFILES[profile], strict=True):
                    increments[f'http_request_duration_seconds_bucket{{le="{le}",region="{region}"}}'] = (
                        count * share
                    )
                increments[f'http_request_duration_seconds_count{{region="{region}"}}'] = count
                increments[f'http_request_duration_seconds_sum{{region="{region}"}}'] = count * 0.2
                for name, inc in increments.items():
                    totals[name] = totals.get(name, 0.0) + inc
                    columns.setdefault(name, []).append(f"{totals[name]:.4f}")
            out.update(columns)
        return out

    def promtool_input(self) -> list[dict[str, str]]:
        return [{"series": name, "values": " ".join(values)} for name, values in self.series().items()]

    def openmetrics_lines(self, base: datetime) -> Iterator[tuple[str, str]]:
        """(family, sample line) pairs, a series' samples in ascending time."""
        t0 = int(base.timestamp())
        for name, values in self.series().items():
            family = (
                "http_requests" if name.startswith("http_requests_total") else "http_request_duration_seconds"
            )
            for i, value in enumerate(values):
                yield family, f"{name} {value} {t0 + 60 * i}"


def openmetrics(scenarios: list[tuple[Scenario, datetime]]) -> str:
    """One OpenMetrics text holding every scenario at its base time, families grouped."""
    families: dict[str, list[str]] = {"http_requests": [], "http_request_duration_seconds": []}
    # a series' samples must be contiguous and ascending: collect per series across scenarios
    per_series: dict[str, list[str]] = {}
    order: list[tuple[str, str]] = []
    for scenario, base in sorted(scenarios, key=lambda sb: sb[1]):
        for family, line in scenario.openmetrics_lines(base):
            name = line.rsplit(" ", 2)[0]
            if name not in per_series:
                per_series[name] = []
                order.append((family, name))
            per_series[name].append(line)
    for family, name in order:
        families[family].extend(per_series[name])
    kinds = {"http_requests": "counter", "http_request_duration_seconds": "histogram"}
    lines: list[str] = []
    for family, samples in families.items():
        lines.append(f"# TYPE {family} {kinds[family]}")
        lines.extend(samples)
    return "\n".join(lines) + "\n# EOF\n"


# ---- the four scenarios of the issue -----------------------------------------------------------------
BIG, SMALL = "us-east-1", "eu-west-1"
NORMAL_ERRORS = 0.0001  # burn 0.1 of a 99.9% SLO


def _burst(region: str, minute: int) -> Minute:
    """A 25-minute burst in the big region: 8% errors and p95 above 2 s."""
    if region == BIG and 60 < minute <= 85:
        return 100.0, 0.08, "very_slow"
    return (100.0 if region == BIG else 40.0), NORMAL_ERRORS, "fast"


def _slow_burn(region: str, minute: int) -> Minute:
    """After an hour, 0.5% errors in the big region (burn 5) and one slow minute in 15 in the small one."""
    if region == BIG:
        return 100.0, (0.005 if minute > 60 else NORMAL_ERRORS), "fast"
    return 40.0, NORMAL_ERRORS, ("slow" if minute > 60 and minute % 15 == 0 else "fast")


def _low_traffic(region: str, minute: int) -> Minute:
    """A region with 0.2 req/s (12 requests a minute) has 30% errors for 10 minutes: without a guard
    both page rules would fire on a few dozen failed requests."""
    if region == SMALL:
        return 0.2, (0.3 if 100 < minute <= 110 else 0.0), "fast"
    return 100.0, NORMAL_ERRORS, "fast"


def _quiet(region: str, minute: int) -> Minute:
    """Traffic stops after 30 minutes in the big region; the small one has none at all (rates 0, latency
    NaN): nothing may fire."""
    if region == BIG and minute <= 30:
        return 100.0, NORMAL_ERRORS, "fast"
    return 0.0, 0.0, "fast"


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("burst", 150, (BIG, SMALL), _burst),
    Scenario("slow_burn", 360, (BIG, SMALL), _slow_burn, eval_every=3),
    Scenario("low_traffic", 180, (BIG, SMALL), _low_traffic),
    Scenario("quiet", 120, (BIG, SMALL), _quiet),
)
