"""The weekly capacity review: one report per ISO week, assembled from the other core modules. Sections
are pure functions of `ReportInputs`; the wiring gathers the inputs, headroom/render.py exports the HTML
(plotly.js inlined, works offline) and `export_zip` the tables as CSVs. `python -m headroom review --week
2026-W47 --out report.html` builds the same file the page offers for download."""

from core.report.sections import (
    SectionBuilder,
    actions_section,
    build_report,
    costs_section,
    export_zip,
    forecast_section,
    headroom_section,
    incidents_table,
    region_loss_section,
    scenarios_section,
    section_builders,
    slo_section,
    traffic_section,
    utilisation_table,
)
from core.report.types import (
    MIN_WEEK_COVERAGE,
    REPORT_METRICS,
    ChartSpec,
    ChartTrace,
    ReportInputs,
    Section,
    Week,
    WeeklyReport,
    last_complete_week,
    review_data_version,
)

__all__ = [
    "MIN_WEEK_COVERAGE",
    "REPORT_METRICS",
    "ChartSpec",
    "ChartTrace",
    "ReportInputs",
    "Section",
    "SectionBuilder",
    "Week",
    "WeeklyReport",
    "actions_section",
    "build_report",
    "costs_section",
    "export_zip",
    "forecast_section",
    "headroom_section",
    "incidents_table",
    "utilisation_table",
    "last_complete_week",
    "region_loss_section",
    "review_data_version",
    "scenarios_section",
    "section_builders",
    "slo_section",
    "traffic_section",
]
