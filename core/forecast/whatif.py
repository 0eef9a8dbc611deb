"""What-if helpers on a forecast frame (the Forecast page and the capacity planner): growth, known events,
capacity exhaustion, the summary row, scoring a saved forecast against what happened."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd

from core.forecast.domain import ForecastError, ForecastResult, KnownEvent
from core.forecast.measures import coverage, mase, smape


# ---- what-if helpers on a forecast frame -------------------------------------------------------------
def _value_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c == "mean" or c.startswith(("lo_", "hi_"))]


def apply_growth(
    frame: pd.DataFrame, percent_per_month: float, start: datetime | None = None
) -> pd.DataFrame:
    """Compound an extra growth of `percent_per_month` (a month = 30.44 days) from `start` (default: the
    first forecast step) onto the mean and bands; -100 < percent."""
    if percent_per_month <= -100:
        raise ForecastError(f"growth must be above -100% per month, got {percent_per_month}")
    out = frame.copy()
    if percent_per_month == 0 or out.empty:
        return out
    t0 = pd.Timestamp(start) if start is not None else out["ts"].iloc[0]
    if t0.tzinfo is None:
        t0 = t0.tz_localize("UTC")
    months = ((out["ts"] - t0) / pd.Timedelta(days=365.25 / 12)).clip(lower=0).to_numpy(dtype=float)
    factor = (1 + percent_per_month / 100.0) ** months
    for col in _value_columns(out):
        out[col] = out[col].to_numpy(dtype=float) * factor
    return out


def apply_events(frame: pd.DataFrame, events: Sequence[KnownEvent]) -> pd.DataFrame:
    """Multiply mean and bands by each event's multiplier inside [start, end); overlapping events
    multiply together."""
    out = frame.copy()
    for ev in events:
        if ev.multiplier < 0:
            raise ForecastError(f"event {ev.name!r}: multiplier must be >= 0, got {ev.multiplier}")
        start, end = pd.Timestamp(ev.start), pd.Timestamp(ev.end)
        start = start.tz_localize("UTC") if start.tzinfo is None else start
        end = end.tz_localize("UTC") if end.tzinfo is None else end
        if end <= start:
            raise ForecastError(f"event {ev.name!r}: end must be after start")
        inside = ((out["ts"] >= start) & (out["ts"] < end)).to_numpy()
        for col in _value_columns(out):
            values = out[col].to_numpy(dtype=float).copy()
            values[inside] *= ev.multiplier
            out[col] = values
    return out


def capacity_exhaustion(frame: pd.DataFrame, capacity: float, column: str = "mean") -> pd.Timestamp | None:
    """First forecast timestamp where `column` (mean, or an upper band such as hi_95) reaches capacity;
    None when it stays below for the whole horizon."""
    if column not in frame.columns:
        raise ForecastError(f"forecast frame has no column {column!r}")
    hit = frame.loc[frame[column].to_numpy(dtype=float) >= capacity, "ts"]
    return None if hit.empty else pd.Timestamp(hit.iloc[0])


_EVENT_LINE = re.compile(
    r"^\s*(?P<start>\d{4}-\d{2}-\d{2}(?:[ T]\d{1,2}:\d{2})?)\s*(?:\.\.|to|→)\s*"
    r"(?P<end>\d{4}-\d{2}-\d{2}(?:[ T]\d{1,2}:\d{2})?)\s+[x×*]\s*(?P<mult>\d+(?:\.\d+)?)\s*(?P<name>.*)$"
)
EVENT_SYNTAX = "START .. END xMULTIPLIER name, e.g. 2026-11-27 .. 2026-11-30 x1.8 Black Friday (UTC)"


def parse_known_events(text: str) -> tuple[list[KnownEvent], list[str]]:
    """Known events, one per line: `START .. END xMULTIPLIER name` with dates `YYYY-MM-DD` or
    `YYYY-MM-DD HH:MM` (UTC). A date-only END includes that whole day. Returns the events and one sentence
    per line that could not be read (blank lines and lines starting with # are skipped)."""
    events: list[KnownEvent] = []
    problems: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _EVENT_LINE.match(line)
        if match is None:
            problems.append(f"line {number}: {line!r} is not `{EVENT_SYNTAX}`")
            continue
        try:
            start = pd.Timestamp(match["start"], tz="UTC")
            end = pd.Timestamp(match["end"], tz="UTC")
        except ValueError as exc:
            problems.append(f"line {number}: {exc}")
            continue
        if len(match["end"]) == 10:  # a whole day
            end += pd.Timedelta(days=1)
        if end <= start:
            problems.append(f"line {number}: the end ({match['end']}) is before the start ({match['start']})")
            continue
        name = match["name"].strip() or f"event {len(events) + 1}"
        events.append(KnownEvent(name, start.to_pydatetime(), end.to_pydatetime(), float(match["mult"])))
    return events, problems


@dataclass(frozen=True)
class ForecastSummary:
    """What the page's summary table and the planner need from one region's forecast."""

    model: str
    model_key: str
    backtest_mase: float  # nan without a backtest
    backtest_coverage_95: float  # the model's own band on the backtest, before widening
    peak: float  # highest mean over the horizon
    peak_at: pd.Timestamp
    capacity: float | None
    exhaustion_mean: pd.Timestamp | None  # first time the mean reaches capacity
    exhaustion_upper: pd.Timestamp | None  # first time the upper band (hi_<highest level>) reaches it
    headroom: float | None  # 1 - peak / capacity (negative: the mean exceeds capacity)


def summarize(
    result: ForecastResult, frame: pd.DataFrame | None = None, capacity: float | None = None
) -> ForecastSummary:
    """Summary of `frame` (default: result.frame; pass the frame after growth/events adjustments)."""
    frame = result.frame if frame is None else frame
    score = result.backtest.score(result.model_key) if result.backtest is not None else None
    peak_row = frame["mean"].idxmax()
    upper = f"hi_{max(result.levels)}"
    return ForecastSummary(
        model=result.model,
        model_key=result.model_key,
        backtest_mase=score.mase if score is not None and score.ok else float("nan"),
        backtest_coverage_95=score.coverage.get(95, float("nan"))
        if score is not None and score.ok
        else float("nan"),
        peak=float(frame.loc[peak_row, "mean"]),
        peak_at=pd.Timestamp(frame.loc[peak_row, "ts"]),
        capacity=capacity,
        exhaustion_mean=capacity_exhaustion(frame, capacity) if capacity is not None else None,
        exhaustion_upper=capacity_exhaustion(frame, capacity, upper) if capacity is not None else None,
        headroom=(1 - float(frame.loc[peak_row, "mean"]) / capacity) if capacity else None,
    )


def max_capacity(config: Any, region: str, metric: str, service: str = "api") -> float | None:
    """The ceiling a forecast of `metric` in `region` runs into: for requests_per_second, the fleet's
    max_instances x capacity_per_instance (req/s); None for metrics without a configured ceiling."""
    if metric != "requests_per_second":
        return None
    fleet = config.fleet_for(region, service)
    if fleet is None:
        return None
    return float(fleet.max_instances * fleet.capacity_per_instance)


def score_against_actual(
    frame: pd.DataFrame, actual: pd.Series, insample: pd.Series | None = None, season: int = 1
) -> dict[str, float]:
    """Compare a (saved) forecast with what happened: sMAPE, MASE (when the in-sample history is given),
    and coverage of each band, over the timestamps present in both."""
    a = actual.copy()
    a.index = (
        pd.DatetimeIndex(a.index).tz_convert("UTC")
        if a.index.tz
        else pd.DatetimeIndex(a.index).tz_localize("UTC")
    )
    joined = frame.set_index("ts").join(a.rename("actual"), how="inner").dropna(subset=["actual"])
    out: dict[str, float] = {"points": float(len(joined))}
    if joined.empty:
        return out
    out["smape"] = smape(joined["actual"], joined["mean"])
    if insample is not None:
        out["mase"] = mase(joined["actual"], joined["mean"], insample.dropna().to_numpy(), season)
    for col in joined.columns:
        if col.startswith("lo_"):
            lv = col[3:]
            out[f"coverage_{lv}"] = coverage(joined["actual"], joined[col], joined[f"hi_{lv}"])
    return out
