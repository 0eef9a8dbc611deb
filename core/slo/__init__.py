"""Service level objectives: SLIs, error budgets, burn rates, multiwindow burn-rate alerts.

Conventions (every function here follows them):
- Input is the tidy metrics frame (ts, region, metric, value) of per-step rates (req/s) or percentile
  gauges (ms). A sample at `ts` describes the step that ENDS at `ts` (Prometheus' convention for rates
  and counters), so it holds value x step events and a window (a, b] holds the samples a < ts <= b.
  The step is inferred from the data (its most common spacing: 60 s for the demo world).
- Gaps are neither good nor bad: missing steps are not counted. `coverage` says how much of a window had
  data and `partial` is set when the data does not span the whole window (e.g. a 28-day SLO over 20
  days of data), so a page can say so instead of showing a confident number.
- No traffic in a window makes the SLI undefined: None, never 100% or 0%.
- Global (all regions) figures are traffic-weighted, never an average of regional ratios: ratio SLIs
  sum bad and total events over the regions before dividing; latency SLIs weight each region's share
  of bad minutes by the requests it served in the same window.
- Ratio SLIs: a missing `bad` sample where `total` exists counts as 0 bad events (Prometheus has no 5xx
  series until the first 5xx); a missing `good` sample leaves that step unknown (assuming 0 good would
  invent errors).

Burn rate 1 means spending the error budget exactly as fast as the objective allows over the window;
the alert rules are the Google SRE Workbook's multiwindow, multi-burn-rate rules (core.config).

Speed: `slo_counts()` turns a frame into cumulative sums per region once; every window (SLI, burn rate,
budget, burn-down) is then two array lookups. Pages that ask many questions of one SLO build the counts
once and pass them instead of the frame.

Modules, by concern: `types` (the SLO and the result types), `grid` (regular grid, cumulative sums,
window arithmetic), `budget` (SLIs, error budget, burn-down), `alerts` (burn rates, alert states,
burning now), `reports` (per SLO x scope reports, region states, formatting), `slots` (counts from per-slot sums a source computed), `markers` (deploy markers,
runbooks). The Overview's KPI tiles are core/kpi.py.
"""

from core.slo.alerts import (
    alert_from_burn_rates,
    alert_state,
    alert_state_from_windows,
    burn_rate,
    burn_rate_series,
    burn_rates,
    burning_now,
    window_events,
)
from core.slo.budget import burn_down, error_budget, sli, sli_detail, time_to_exhaustion
from core.slo.grid import MetricGrid, SLICounts, SLOData, infer_step, metric_grid, slo_counts
from core.slo.markers import deploy_markers, runbooks_for
from core.slo.reports import (
    fastest_burning,
    format_duration,
    format_window,
    region_slo_states,
    region_slo_states_from_aggregates,
    reports_table,
    rule_windows,
    slo_aggregates,
    slo_report,
    slo_reports,
    slo_window_aggregates,
)
from core.slo.slots import budget_slot, slot_aggregates, slot_counts, slots_fit
from core.slo.types import (
    ALERT_ORDER,
    CURRENT_BURN_WINDOW,
    DEFAULT_STEP_S,
    GLOBAL,
    SLO,
    TRAFFIC_METRIC,
    AlertLevel,
    AlertState,
    Budgeting,
    ErrorBudget,
    RuleEvaluation,
    SLOReport,
    WindowSLI,
    lookback,
    metrics_for,
    rules_lookback,
    slos_from_config,
)

__all__ = [
    "ALERT_ORDER",
    "CURRENT_BURN_WINDOW",
    "DEFAULT_STEP_S",
    "GLOBAL",
    "SLO",
    "TRAFFIC_METRIC",
    "AlertLevel",
    "AlertState",
    "Budgeting",
    "ErrorBudget",
    "MetricGrid",
    "RuleEvaluation",
    "SLICounts",
    "SLOData",
    "SLOReport",
    "WindowSLI",
    "alert_from_burn_rates",
    "alert_state",
    "alert_state_from_windows",
    "burn_down",
    "burn_rate",
    "burn_rate_series",
    "burn_rates",
    "budget_slot",
    "burning_now",
    "window_events",
    "deploy_markers",
    "error_budget",
    "fastest_burning",
    "format_duration",
    "format_window",
    "infer_step",
    "lookback",
    "metric_grid",
    "metrics_for",
    "region_slo_states",
    "region_slo_states_from_aggregates",
    "reports_table",
    "rules_lookback",
    "rule_windows",
    "runbooks_for",
    "sli",
    "slot_aggregates",
    "slot_counts",
    "slots_fit",
    "sli_detail",
    "slo_aggregates",
    "slo_counts",
    "slo_report",
    "slo_reports",
    "slo_window_aggregates",
    "slos_from_config",
    "time_to_exhaustion",
]
