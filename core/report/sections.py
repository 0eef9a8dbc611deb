"""The weekly review's sections, each built from `ReportInputs` by one function, in meeting order, and
the ZIP export of their tables. Pure: the wiring reads the store and the sources (headroom/wiring.py),
the HTML export and the page draw the charts (headroom/render.py, pages/review.py)."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from core import export
from core.report.types import (
    MIN_WEEK_COVERAGE,
    ChartSpec,
    ChartTrace,
    ReportInputs,
    Section,
    Week,
    WeeklyReport,
)


# ---- sections ---------------------------------------------------------------------------------------
def _metric_in(frame: pd.DataFrame, metric: str, start: datetime, end: datetime) -> pd.DataFrame:
    m = frame[(frame["metric"] == metric) & (frame["ts"] >= start) & (frame["ts"] < end)]
    return m.pivot_table(index="ts", columns="region", values="value", aggfunc="mean")


def _traffic_stats(frame: pd.DataFrame, week: Week) -> pd.DataFrame:
    rps = _metric_in(frame, "requests_per_second", week.start, week.end)
    step_s = _step_seconds(rps.index) if not rps.empty else 0.0
    # a partly covered week (data starting mid-week) would compare totals unfairly: leave it out
    if rps.empty or len(rps) * step_s < MIN_WEEK_COVERAGE * (week.end - week.start).total_seconds():
        return pd.DataFrame(columns=["region", "requests_million", "peak_rps", "peak_at"])
    requests = rps.sum() * step_s / 1e6
    out = pd.DataFrame(
        {"requests_million": requests, "peak_rps": rps.max(), "peak_at": rps.idxmax()}
    ).rename_axis("region")
    total = pd.DataFrame(
        {
            "requests_million": [requests.sum()],
            "peak_rps": [rps.sum(axis=1).max()],
            "peak_at": [rps.sum(axis=1).idxmax()],
        },
        index=pd.Index(["all regions"], name="region"),
    )
    return pd.concat([out, total]).reset_index()


def _step_seconds(index: pd.DatetimeIndex) -> float:
    if len(index) < 2:
        return 60.0
    return float(pd.Series(index).diff().dropna().median().total_seconds())


def traffic_section(inputs: ReportInputs, week: Week) -> Section:
    section = Section("traffic", "Traffic and peaks")
    this = _traffic_stats(inputs.metrics, week)
    if this.empty:
        section.missing = "No request-rate data for this week."
        return section
    prev = _traffic_stats(inputs.metrics, week.shifted(-1)).set_index("region")
    month = _traffic_stats(inputs.metrics, week.shifted(-4)).set_index("region")
    table = this.set_index("region")
    for label, other in (("prev_week", prev), ("4_weeks_ago", month)):
        for col in ("requests_million", "peak_rps"):
            base = (
                other[col].reindex(table.index) if not other.empty else pd.Series(np.nan, index=table.index)
            )
            table[f"{col}_vs_{label}_pct"] = (table[col] / base - 1.0) * 100
    table = table.reset_index()
    section.tables["traffic"] = table
    total = table[table["region"] == "all regions"].iloc[0]
    comparisons = [
        f"{total[f'peak_rps_vs_{key}_pct']:+.1f}% vs {label}"
        for key, label in (("prev_week", "the previous week"), ("4_weeks_ago", "four weeks earlier"))
        if np.isfinite(total[f"peak_rps_vs_{key}_pct"])
    ]
    missing = [
        label
        for key, label in (("prev_week", "the previous week"), ("4_weeks_ago", "four weeks earlier"))
        if not np.isfinite(total[f"peak_rps_vs_{key}_pct"])
    ]
    section.summary.append(
        f"{total['requests_million']:,.0f} M requests; global peak {total['peak_rps']:,.0f} req/s at "
        f"{pd.Timestamp(total['peak_at']):%a %H:%M} UTC"
        + (f" ({', '.join(comparisons)})." if comparisons else ".")
    )
    if missing:
        section.summary.append(f"Not enough data to compare with {' or '.join(missing)}.")
    traces = []
    for offset, name, dash in (
        (0, week.label, "solid"),
        (-1, "previous week", "dot"),
        (-4, "4 weeks earlier", "dash"),
    ):
        w = week.shifted(offset)
        rps = _metric_in(inputs.metrics, "requests_per_second", w.start, w.end).sum(axis=1)
        if rps.empty:
            continue
        hours = (rps.index - w.start).total_seconds() / 3600
        traces.append(
            ChartTrace(name, tuple(hours.to_numpy().tolist()), tuple(rps.to_numpy().tolist()), dash)
        )
    section.figures.append(
        ChartSpec(
            title="Global request rate, this week vs earlier weeks",
            x_title="hours since Monday 00:00 UTC",
            y_title="req/s",
            traces=tuple(traces),
        )
    )
    return section


def headroom_section(inputs: ReportInputs, week: Week) -> Section:
    """Capacity headroom per region at this week's peak: peak demand against the fleet's maximum
    capacity at its target utilisation (what autoscaling can reach without breaching the target)."""
    section = Section("headroom", "Capacity headroom at this week's peak")
    stats = _traffic_stats(inputs.metrics, week)
    rows = []
    for region in inputs.config.region:
        fleet = inputs.config.fleet_for(region.code)
        peak = stats.loc[stats["region"] == region.code, "peak_rps"]
        if fleet is None or peak.empty:
            continue
        usable = fleet.max_instances * fleet.capacity_per_instance * fleet.target_utilization
        rows.append(
            {
                "region": region.code,
                "peak_rps": float(peak.iloc[0]),
                "usable_capacity_rps": usable,
                "headroom_pct": (1 - float(peak.iloc[0]) / usable) * 100,
                "instances_needed_at_peak": int(
                    np.ceil(float(peak.iloc[0]) / (fleet.capacity_per_instance * fleet.target_utilization))
                ),
                "max_instances": fleet.max_instances,
            }
        )
    utilisation = utilisation_table(inputs, week)
    if not utilisation.empty:
        section.tables["utilisation"] = utilisation
        _waste_summary(section, utilisation)
    if not rows:
        section.missing = "No fleets configured or no traffic this week."
        return section
    table = pd.DataFrame(rows)
    table["state"] = np.select(
        [table["headroom_pct"] < 10, table["headroom_pct"] < 30], ["red", "amber"], "green"
    )
    section.tables["headroom"] = table
    worst = table.sort_values("headroom_pct").iloc[0]
    section.summary.append(
        f"Least headroom: {worst['region']} at {worst['headroom_pct']:.0f}% "
        f"({worst['peak_rps']:,.0f} of {worst['usable_capacity_rps']:,.0f} req/s usable at target utilisation)."
    )
    return section


def utilisation_table(inputs: ReportInputs, week: Week) -> pd.DataFrame:
    """Per fleet (service in region) this week: mean and p95 CPU and memory against the fleet's
    `cpu_target` / `memory_target`, the share of hours over either, and the waste: the share of the
    instance-hours that could have gone with both p95s still under their targets
    (1 - max(p95 CPU / cpu_target, p95 memory / memory_target)), in instance-hours and dollars."""
    rows = []
    for fleet in inputs.config.fleet:
        main = inputs.config.fleet_for(fleet.region)
        if main is None or main.name != fleet.name:  # the metrics are per region: the region's api fleet
            continue
        cpu = _metric_in(inputs.metrics, "cpu_utilization", week.start, week.end).get(fleet.region)
        mem = _metric_in(inputs.metrics, "memory_utilization", week.start, week.end).get(fleet.region)
        inst = _metric_in(inputs.metrics, "instances", week.start, week.end).get(fleet.region)
        if cpu is None or cpu.dropna().empty:
            continue
        cpu = cpu.dropna()
        mem = mem.dropna() if mem is not None else pd.Series(dtype=float)
        step_h = _step_seconds(cpu.index) / 3600
        instance_hours = float(inst.dropna().sum() * step_h) if inst is not None else float("nan")
        ratios = [float(cpu.quantile(0.95)) / fleet.cpu_target]
        if not mem.empty:
            ratios.append(float(mem.quantile(0.95)) / fleet.memory_target)
        removable = max(0.0, 1.0 - max(ratios))
        over = (cpu >= fleet.cpu_target).reindex(cpu.index, fill_value=False)
        if not mem.empty:
            over = over | (mem.reindex(cpu.index) >= fleet.memory_target).fillna(False)
        rows.append(
            {
                "fleet": fleet.name,
                "region": fleet.region,
                "cpu_mean_pct": float(cpu.mean()) * 100,
                "cpu_p95_pct": float(cpu.quantile(0.95)) * 100,
                "cpu_target_pct": fleet.cpu_target * 100,
                "memory_mean_pct": float(mem.mean()) * 100 if not mem.empty else float("nan"),
                "memory_p95_pct": float(mem.quantile(0.95)) * 100 if not mem.empty else float("nan"),
                "memory_target_pct": fleet.memory_target * 100,
                "hours_over_target_pct": float(over.mean()) * 100,
                "instance_hours": instance_hours,
                "waste_pct": removable * 100,
                "waste_instance_hours": instance_hours * removable,
                "waste_usd": instance_hours * removable * fleet.price_per_hour,
            }
        )
    return pd.DataFrame(rows)


def _waste_summary(section: Section, table: pd.DataFrame) -> None:
    hot = table[table["hours_over_target_pct"] > 0].sort_values("hours_over_target_pct", ascending=False)
    if not hot.empty:
        worst = hot.iloc[0]
        section.summary.append(
            f"Over its utilisation target: {', '.join(hot['fleet'])} "
            f"(worst {worst['fleet']}, {worst['hours_over_target_pct']:.0f}% of the hours)."
        )
    waste = table["waste_usd"].sum()
    if waste > 0:
        top = table.sort_values("waste_usd", ascending=False).iloc[0]
        section.summary.append(
            f"Waste against the utilisation targets: ${waste:,.0f} this week "
            f"(most: {top['fleet']}, {top['waste_pct']:.0f}% of its instance-hours)."
        )


def incidents_table(events: pd.DataFrame | None, week: Week) -> pd.DataFrame:
    if events is None or events.empty:
        return pd.DataFrame(columns=["start_ts", "end_ts", "region", "kind", "title"])
    e = events[
        (events["end_ts"] >= week.start)
        & (events["start_ts"] < week.end)
        & ~events["kind"].isin(["deploy", "change", "action"])
    ]
    return e[["start_ts", "end_ts", "region", "kind", "title"]].reset_index(drop=True)


def slo_section(inputs: ReportInputs, week: Week) -> Section:
    """Budget remaining at the start and end of the week per SLO x region (and globally), and the
    incidents that overlapped the week."""
    from core.slo import GLOBAL, SLO, error_budget, metric_grid, slo_counts

    section = Section("slo", "SLOs and error budgets")
    frame = inputs.slo_metrics if inputs.slo_metrics is not None else inputs.metrics
    if not inputs.config.slo or frame is None or frame.empty:
        section.missing = "No SLOs configured or no SLO data."
        return section
    rows = []
    # the frame is put on its grid once and each SLO's cumulative counts built once: every budget below
    # is then two lookups (passing the frame rebuilt the grid for each of the ~30 calls: seconds)
    grid = metric_grid(frame)
    for cfg_slo in inputs.config.slo:
        slo = SLO.from_config(cfg_slo)
        counts = slo_counts(grid, slo)
        regions = list(cfg_slo.regions) or list(inputs.config.region_codes)
        for region in [None, *regions]:
            start = error_budget(counts, slo, week.start, region=region)
            end = error_budget(counts, slo, week.end, region=region)
            rows.append(
                {
                    "slo": slo.name,
                    "service": cfg_slo.service,
                    "region": region or GLOBAL,
                    "objective_pct": slo.objective * 100,
                    "budget_start_pct": None
                    if start.remaining_fraction is None
                    else start.remaining_fraction * 100,
                    "budget_end_pct": None
                    if end.remaining_fraction is None
                    else end.remaining_fraction * 100,
                    "sli_end_pct": None if end.sli is None else end.sli * 100,
                    "minutes_left_end": end.minutes_remaining,
                    "partial_window": bool(end.partial),
                }
            )
    table = pd.DataFrame(rows)
    table["budget_change_pts"] = table["budget_end_pct"] - table["budget_start_pct"]
    section.tables["budgets"] = table
    incidents = incidents_table(inputs.events, week)
    section.tables["incidents"] = incidents
    burned = table[table["budget_change_pts"] < -0.05].sort_values("budget_change_pts")
    if burned.empty:
        section.summary.append(
            "No SLO lost budget this week (old errors leaving the window can even return some)."
        )
    else:
        worst = burned.iloc[0]
        section.summary.append(
            f"Largest burn this week: {worst['slo']} in {worst['region']}, budget "
            f"{worst['budget_start_pct']:.1f}% → {worst['budget_end_pct']:.1f}% "
            f"({worst['budget_change_pts']:+.1f} points)."
        )
    exhausted = table[table["budget_end_pct"] <= 0]
    section.summary.append(
        f"{len(exhausted)} SLO x region budget(s) exhausted at the end of the week; "
        f"{len(incidents)} incident(s) overlapped the week."
    )
    if table["partial_window"].any():
        section.summary.append(
            "Some SLO windows reach back before the data starts: figures cover the data only."
        )
    return section


def forecast_section(inputs: ReportInputs, week: Week) -> Section:
    """Forecast snapshots saved before the week, scored against what happened in it."""
    from core.forecast import score_against_actual

    section = Section("forecast", "Forecast vs actual")
    if inputs.snapshots is None:
        section.missing = "No store: forecast snapshots are kept there."
        return section
    rows = []
    for snap in inputs.snapshots:
        in_week = snap.frame[(snap.frame["ts"] >= week.start) & (snap.frame["ts"] < week.end)]
        if in_week.empty:
            continue
        actual = _metric_in(inputs.metrics, snap.metric, week.start, week.end)
        if snap.region not in actual.columns:
            continue
        actual_series = actual[snap.region].resample(snap.step).mean() if snap.step else actual[snap.region]
        score = score_against_actual(in_week, actual_series)
        if not score.get("points"):
            continue
        rows.append(
            {
                "snapshot": int(snap.id),
                "metric": snap.metric,
                "region": snap.region,
                "model": snap.model_key,
                "made_at": snap.created_at,
                "points": int(score["points"]),
                "smape_pct": score.get("smape"),
                "coverage_95_pct": score.get("coverage_95", float("nan")) * 100,
            }
        )
    if not rows:
        section.missing = (
            "No forecast snapshot saved before this week covers it: save one from the Forecast "
            "page to hold next week's forecast to account."
        )
        return section
    table = pd.DataFrame(rows)
    section.tables["forecast_vs_actual"] = table
    section.summary.append(
        f"{len(table)} snapshot(s) scored: median sMAPE {table['smape_pct'].median():.1f}%, "
        f"95% band coverage {table['coverage_95_pct'].median():.0f}% (median)."
    )
    return section


def region_loss_section(inputs: ReportInputs, week: Week) -> Section:
    """The N+1 check on this week's demand: if a region fails, can the others absorb it?"""
    from core.capacity import region_loss_check, region_loss_summary

    section = Section("region_loss", "Region-loss (N+1) check on this week's demand")
    frame = inputs.slo_metrics if inputs.slo_metrics is not None else inputs.metrics
    demand = _metric_in(frame, "requests_per_second", week.start, week.end)
    if demand.empty:
        section.missing = "No request-rate data for this week."
        return section
    check = region_loss_check(inputs.config, demand)
    summary = region_loss_summary(check)
    section.tables["region_loss"] = summary
    counts = summary["status"].value_counts()
    section.summary.append(
        ", ".join(f"{counts.get(s, 0)} {s}" for s in ("red", "amber", "green")) + " across failed regions."
    )
    for row in summary[summary["status"].isin(["red", "amber"])].itertuples():
        section.summary.append(f"{row.failed_region}: {row.worst_case}")
    return section


def scenarios_section(inputs: ReportInputs, week: Week) -> Section:
    section = Section("scenarios", "Scenarios marked for review")
    marked = inputs.scenarios if inputs.scenarios is not None else pd.DataFrame()
    if marked.empty:
        section.missing = "No saved scenario is marked for review (mark one on the Capacity page)."
        return section
    keep = [c for c in marked.columns if not c.endswith("_json") and c not in ("spec", "policy", "fleet")]
    section.tables["scenarios"] = marked[keep]
    section.summary.append(f"{len(marked)} scenario(s) to discuss: {', '.join(map(str, marked['name']))}.")
    return section


def costs_section(inputs: ReportInputs, week: Week) -> Section:
    """The week's spend vs the week before, budgets as they stood at the week's last day, unit cost."""
    from core.costs import budget_statuses, budget_table, normalise_billing, unit_costs

    section = Section("costs", "Cost vs budget and unit cost")
    if inputs.costs is None or inputs.costs.empty:
        section.missing = "No billing data."
        return section
    billing = normalise_billing(inputs.costs)
    first, last = week.start.date(), (week.end - timedelta(days=1)).date()
    prev_first, prev_last = first - timedelta(days=7), last - timedelta(days=7)
    this_week = billing[(billing["day"] >= first) & (billing["day"] <= last)]
    prev_week = billing[(billing["day"] >= prev_first) & (billing["day"] <= prev_last)]
    if this_week.empty:
        section.missing = "No billing rows for this week."
        return section
    spend = this_week.groupby("service")["cost_usd"].sum().rename("week_usd").to_frame()
    spend["prev_week_usd"] = prev_week.groupby("service")["cost_usd"].sum()
    spend["change_pct"] = (spend["week_usd"] / spend["prev_week_usd"] - 1) * 100
    spend = spend.sort_values("week_usd", ascending=False).reset_index()
    section.tables["spend_by_service"] = spend
    total, prev_total = this_week["cost_usd"].sum(), prev_week["cost_usd"].sum()
    section.summary.append(
        f"Spend ${total:,.0f} this week"
        + (f" ({(total / prev_total - 1) * 100:+.1f}% vs the week before)." if prev_total > 0 else ".")
    )
    statuses = budget_statuses(billing[billing["day"] <= last], inputs.config.budget, last)
    if statuses:
        table = budget_table(statuses)
        section.tables["budgets"] = table
        reds = table[table["state"] == "red"]
        section.summary.append(
            f"Budgets at {last:%Y-%m-%d}: {len(reds)} red, {int((table['state'] == 'amber').sum())} amber, "
            f"{int((table['state'] == 'green').sum())} green"
            + (f" (red: {', '.join(reds['budget'])})." if len(reds) else ".")
        )
    units = unit_costs(billing, inputs.metrics, first, last, step=timedelta(hours=1))
    if not units.by_region.empty:
        section.tables["unit_cost"] = units.by_region
        overall = units.by_region.iloc[-1]
        section.summary.append(
            f"Unit cost: ${overall['usd_per_million_requests']:,.2f} per million requests."
        )
    return section


def actions_section(inputs: ReportInputs, week: Week) -> Section:
    """Every action proposed during the week, with its outcome."""
    section = Section("actions", "Actions taken")
    if inputs.actions is None:
        section.missing = "No actions have been recorded yet."
        return section
    frame = inputs.actions
    section.tables["actions"] = frame
    if frame.empty:
        section.summary.append("No action was proposed this week.")
    else:
        counts = frame["state"].value_counts()
        section.summary.append(
            f"{len(frame)} action(s): " + ", ".join(f"{n} {state}" for state, n in counts.items()) + "."
        )
    _unsigned_break_glass(section, inputs.break_glass_unsigned, week)
    return section


def _unsigned_break_glass(section: Section, pending: list[Any] | None, week: Week) -> None:
    """Break-glass failovers still waiting for a second person's countersignature (whenever they ran):
    listed every week until signed, overdue ones called out."""
    if not pending:
        return
    table = pd.DataFrame(
        [
            {
                "action_id": b.action_id,
                "target": b.target,
                "executed_by": b.executed_by,
                "at": b.declared_at,
                "incident": b.incident,
                "countersign_due": b.countersign_due,
                "overdue": b.overdue(week.end),
            }
            for b in pending
        ]
    )
    section.tables["break_glass_unsigned"] = table
    overdue = int(table["overdue"].sum())
    section.summary.append(
        f"{len(table)} break-glass failover(s) not countersigned"
        + (f", {overdue} overdue" if overdue else "")
        + ": "
        + "; ".join(f"#{b.action_id} {b.target} by {b.executed_by}" for b in pending)
        + "."
    )


SectionBuilder = Callable[[ReportInputs, Week], Section]


def section_builders() -> list[SectionBuilder]:
    """The report's sections in meeting order."""
    return [
        slo_section,
        traffic_section,
        forecast_section,
        headroom_section,
        region_loss_section,
        scenarios_section,
        costs_section,
        actions_section,
    ]


def build_report(
    inputs: ReportInputs, week: Week, progress: Callable[[float, str], None] | None = None
) -> WeeklyReport:
    builders = section_builders()
    sections = []
    for i, build in enumerate(builders):
        if progress:
            progress(i / len(builders), f"building {build.__name__.removesuffix('_section')}")
        try:
            sections.append(build(inputs, week))
        except Exception as exc:  # one broken section must not take the meeting's report down
            name = build.__name__.removesuffix("_section")
            sections.append(
                Section(name, name.replace("_", " ").title(), missing=f"could not be built: {exc}")
            )
    if progress:
        progress(1.0, "report ready")
    return WeeklyReport(week, sections)


def export_zip(report: WeeklyReport, notes: Mapping[str, str] | None = None) -> bytes:
    """Every table of the report as CSV, one file per table, in a ZIP (deterministic timestamps), and the
    meeting's notes (notes.csv: section, title, note) when there are any: the decisions belong with the
    figures they were made on."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for section in report.sections:
            for name, table in section.tables.items():
                info = zipfile.ZipInfo(
                    f"{report.week.label}/{section.key}__{name}.csv", date_time=(1980, 1, 1, 0, 0, 0)
                )
                # action reasons and notes are typed by people: formula cells neutralised (core/export.py)
                zf.writestr(info, export.frame_to_csv(table))
        written = [(s.key, s.title, (notes or {}).get(s.key, "")) for s in report.sections]
        written = [row for row in written if row[2].strip()]
        if written:
            info = zipfile.ZipInfo(f"{report.week.label}/notes.csv", date_time=(1980, 1, 1, 0, 0, 0))
            zf.writestr(
                info, export.frame_to_csv(pd.DataFrame(written, columns=["section", "title", "note"]))
            )
    return buf.getvalue()
