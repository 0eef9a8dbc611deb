"""Demand glue: forecast demand from history, move a failed region's traffic to the survivors, apply
growth and spikes."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import pandas as pd

from core.capacity._shared import _ns, _series_step
from core.capacity.policies import Forecaster
from core.config import HeadroomConfig


def seasonal_naive_forecast(
    history: pd.Series, horizon: int, season_lengths: Sequence[int] | None = None
) -> pd.Series:
    """Repeat the last full season (the longest one the history covers; a day or a week of hours by
    default), or the last value when the history is shorter than every season."""
    if len(history) == 0:
        raise ValueError("cannot forecast an empty history")
    step = _series_step(history.index)
    if season_lengths is None:
        per_day = max(1, int(round(86400 / step.total_seconds())))
        season_lengths = (per_day, 7 * per_day)
    fitting = [s for s in season_lengths if s >= 1 and len(history) >= s]
    season = max(fitting) if fitting else 1
    values = history.to_numpy(dtype="float64")[-season:]
    if not np.isfinite(values).all():
        fill = np.nanmean(values) if np.isfinite(values).any() else 0.0
        values = np.where(np.isfinite(values), values, fill)
    index = pd.date_range(history.index[-1] + step, periods=horizon, freq=step)
    return pd.Series(np.resize(values, horizon), index=index, name="mean")


def default_forecaster(
    history: pd.Series, horizon: int, season_lengths: Sequence[int] | None = None
) -> pd.Series:
    """core.forecast's automatic model when that module is importable, else a seasonal-naive forecast."""
    try:
        from core.forecast import forecast  # lazy: statsmodels is slow to import
    except ImportError:
        return seasonal_naive_forecast(history, horizon, season_lengths)
    result = forecast(history, horizon, season_lengths=season_lengths)
    frame = result.frame
    return pd.Series(
        frame["mean"].to_numpy(dtype="float64"), index=pd.DatetimeIndex(frame["ts"]), name="mean"
    )


def default_forecaster_name() -> str:
    """Which forecaster `default_forecaster` uses on this installation, for captions."""
    try:
        import core.forecast  # noqa: F401
    except ImportError:
        return "seasonal naive (core.forecast is not available)"
    return "core.forecast (automatic model choice)"


def forecast_demand(
    history: pd.Series,
    horizon: timedelta,
    step: timedelta = timedelta(minutes=5),
    forecaster: Forecaster | None = None,
) -> pd.Series:
    """Demand for the next `horizon` at `step`: the hourly mean forecast, interpolated in between."""
    hourly = _hourly(history)
    hours = max(1, math.ceil(horizon.total_seconds() / 3600))
    fc = (forecaster or default_forecaster)(hourly, hours + 1)
    fc = fc.clip(lower=0.0)
    # hourly means describe the middle of each hour: interpolate between half-hour points
    mid = pd.Series(fc.to_numpy(), index=fc.index + pd.Timedelta(minutes=30))
    start = hourly.index[-1] + pd.Timedelta(hours=1)
    grid = pd.date_range(start, start + horizon, freq=step, inclusive="left", tz="UTC")
    values = np.interp(_ns(grid), _ns(mid.index), mid.to_numpy())
    return pd.Series(values, index=grid, name="demand")


def _hourly(series: pd.Series) -> pd.Series:
    s = series.astype("float64")
    hourly = s.resample("1h").mean()
    return hourly.interpolate(limit_direction="both")


@dataclass(frozen=True)
class Spike:
    """Multiply demand by `multiplier` for `duration_s` from `start` (UTC)."""

    start: pd.Timestamp
    duration_s: float
    multiplier: float

    def __post_init__(self) -> None:
        ts = pd.Timestamp(self.start)
        object.__setattr__(self, "start", ts.tz_localize("UTC") if ts.tz is None else ts.tz_convert("UTC"))
        if self.duration_s <= 0 or self.multiplier < 0:
            raise ValueError("a spike needs duration_s > 0 and multiplier >= 0")


def failover_shares(weights: Mapping[str, float], failed: str) -> dict[str, float]:
    """Share of the failed region's traffic each surviving region receives (by routing weight)."""
    others = {r: w for r, w in weights.items() if r != failed and w > 0}
    total = sum(others.values())
    if total <= 0:
        return {r: 0.0 for r in weights if r != failed}
    return {r: w / total for r, w in others.items()}


@dataclass(frozen=True)
class FailoverRoute:
    """Where a failed region's traffic goes, as the configured routing sends it.

    `shares`: survivor -> fraction of the failed region's traffic (sums to 1, or is empty when the
    traffic has nowhere to go). `via` says which configuration decided it; `standby` names the survivors
    that take traffic although their normal routing weight is 0."""

    failed: str
    shares: Mapping[str, float]
    via: str
    standby: frozenset[str] = frozenset()

    @property
    def nowhere(self) -> bool:
        """True when no survivor receives the failed region's traffic (it is lost)."""
        return not any(v > 0 for v in self.shares.values())


def failover_route(config: HeadroomConfig, failed: str) -> FailoverRoute:
    """The failover routing for one failed region (docs/ARCHITECTURE.md, "Reference semantics").

    A failover pair (the region's `failover_to`, else a `route53_failover` target whose primary it is)
    sends ALL of the traffic to its standby, like a Route 53 failover record. Otherwise the survivors
    share it by routing weight (weighted records drop the unhealthy one). A region with weight 0 that is
    no pair's standby takes nothing: when every survivor has weight 0 the traffic has nowhere to go."""
    weights = {r.code: r.routing_weight for r in config.region}
    if failed not in weights:
        raise ValueError(f"unknown failed region {failed!r} (known: {', '.join(weights)})")
    pair = config.failover_pair(failed)
    if pair is not None:
        standby, where = pair
        return FailoverRoute(
            failed, {standby: 1.0}, where, frozenset({standby}) if weights[standby] <= 0 else frozenset()
        )
    shares = {r: v for r, v in failover_shares(weights, failed).items() if v > 0}
    return FailoverRoute(failed, shares, "routing weights" if shares else "")


def scenario_demand(
    demand_by_region: pd.DataFrame,
    region: str,
    weights: Mapping[str, float],
    growth_pct: float = 0.0,
    spikes: Sequence[Spike] = (),
    failed_region: str | None = None,
    shares: Mapping[str, float] | None = None,
) -> pd.Series:
    """One region's demand under a scenario: its own traffic, plus its share of a failed region's
    traffic, grown by `growth_pct`, with spikes applied. `demand_by_region`: index ts, one column per
    region (req/s). `shares` (survivor -> fraction, e.g. `failover_route(...).shares`) overrides the
    routing-weight split, so a standby takes what its failover pair sends it."""
    if region not in demand_by_region.columns:
        raise ValueError(
            f"no demand for region {region!r} (have: {', '.join(map(str, demand_by_region.columns))})"
        )
    base = demand_by_region[region].astype("float64").copy()
    if failed_region:
        if failed_region == region:
            raise ValueError(f"{region} cannot absorb its own failure")
        if failed_region not in demand_by_region.columns:
            raise ValueError(f"no demand for the failed region {failed_region!r}")
        split = shares if shares is not None else failover_shares(weights, failed_region)
        share = split.get(region, 0.0)
        base = base + share * demand_by_region[failed_region].astype("float64").fillna(0.0)
    base = base * (1.0 + growth_pct / 100.0)
    if spikes:
        ns = _ns(base.index)
        factor = np.ones(len(base))
        for sp in spikes:
            a = sp.start.value
            factor[(ns >= a) & (ns < a + int(sp.duration_s * 1e9))] *= sp.multiplier
        base = base * factor
    base.name = "demand"
    return base
