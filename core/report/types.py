"""The weekly review's value types: the ISO week, a section (summary lines, tables, chart specs), the
report and its inputs. Charts are plain data (`ChartSpec`) so core stays free of plotly; the page and the
HTML export draw them (docs/ARCHITECTURE.md, "Layers")."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pandas as pd

from core.config import HeadroomConfig

REPORT_METRICS: tuple[str, ...] = (
    "requests_per_second",
    "errors_per_second",
    "latency_p95_ms",
    "instances",
    "cpu_utilization",
    "memory_utilization",
)
MIN_WEEK_COVERAGE = 0.9  # share of a week that must have data for week-over-week comparisons


@dataclass(frozen=True)
class Week:
    """An ISO week, Monday 00:00 UTC to the next Monday 00:00 UTC."""

    label: str  # e.g. "2026-W47"
    start: datetime
    end: datetime

    @classmethod
    def parse(cls, label: str) -> Week:
        try:
            year_s, week_s = label.strip().upper().split("-W")
            monday = date.fromisocalendar(int(year_s), int(week_s), 1)
        except ValueError:
            raise ValueError(f"week must look like 2026-W47, got {label!r}") from None
        start = datetime(monday.year, monday.month, monday.day, tzinfo=UTC)
        return cls(f"{int(year_s)}-W{int(week_s):02d}", start, start + timedelta(days=7))

    @classmethod
    def containing(cls, when: datetime) -> Week:
        iso = when.astimezone(UTC).isocalendar()
        return cls.parse(f"{iso.year}-W{iso.week:02d}")

    def shifted(self, weeks: int) -> Week:
        return Week.containing(self.start + timedelta(weeks=weeks))


def last_complete_week(data_end: datetime) -> Week:
    """The newest ISO week that ends at or before `data_end`."""
    week = Week.containing(data_end)
    return week if week.end <= data_end else week.shifted(-1)


# Cost Explorer may still flag a day "Estimated" for a few days after it ends (connectors/cost_explorer.py
# fetches such days again): until then a week's bill may change; after it, newer data changes nothing here
BILL_SETTLES_AFTER = timedelta(days=3)


def review_data_version(week: Week, data_end: datetime) -> datetime:
    """What stands for "the data changed" in the review's cache key: the newest data point while the week's
    bill may still be revised, then a fixed moment. A live source's newest point moves every minute, and
    keying the build on it rebuilt the whole review every minute for every visitor."""
    return min(data_end, week.end + BILL_SETTLES_AFTER)


@dataclass(frozen=True)
class ChartTrace:
    name: str
    x: tuple[float, ...]
    y: tuple[float, ...]
    dash: str = "solid"


@dataclass(frozen=True)
class ChartSpec:
    """A line chart as data: what to draw, with its axis titles (units) and trace names."""

    title: str
    x_title: str
    y_title: str
    traces: tuple[ChartTrace, ...]
    height: int = 340


@dataclass
class Section:
    key: str
    title: str
    summary: list[str] = field(default_factory=list)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    figures: list[ChartSpec] = field(default_factory=list)
    missing: str = ""  # why a section has no content (a source down, nothing saved yet...)


@dataclass
class WeeklyReport:
    week: Week
    sections: list[Section]

    def section(self, key: str) -> Section:
        return next(s for s in self.sections if s.key == key)


@dataclass
class ReportInputs:
    """What the report reads. `metrics` is a tidy frame covering at least the week, the week before
    and the same week four weeks earlier (hourly step is plenty); the rest are optional."""

    config: HeadroomConfig
    metrics: pd.DataFrame
    costs: pd.DataFrame | None = None
    events: pd.DataFrame | None = None
    # what the store holds, read by the wiring (headroom/wiring.py): forecast snapshots saved before the
    # week, scenarios marked for review, actions proposed in the week
    snapshots: list[Any] | None = None
    scenarios: pd.DataFrame | None = None
    actions: pd.DataFrame | None = None
    # break-glass executions nobody has countersigned yet, whenever they ran (core.actions.BreakGlass):
    # the review lists them every week until they are signed
    break_glass_unsigned: list[Any] | None = None
    # 1-minute SLO metrics from (week start - longest SLO window) to week end; also the region-loss demand
    slo_metrics: pd.DataFrame | None = None
