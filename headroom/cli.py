"""`python -m headroom COMMAND ...`: the one command-line entry. Each command is a thin layer over library
functions (parse arguments, wire sources from config, call core, print or write), as sqlite-utils keeps its
CLI over its library. Exit codes: 0 done, 1 a data source failed, 2 bad arguments or config."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd

from core.config import ConfigError, HeadroomConfig, load_config
from core.ports import SourceError

Command = Callable[[argparse.Namespace, HeadroomConfig], int]


def _region_loss(args: argparse.Namespace, config: HeadroomConfig) -> int:
    from connectors.store import StoreMetricsSource, open_db
    from core.capacity import region_loss_check, region_loss_summary
    from core.timeseries import pivot_metric
    from headroom.wiring import build_metrics_source

    db = open_db(config.store_path())
    source = build_metrics_source(config, db, {})
    if args.end:
        end = pd.Timestamp(args.end)
        end = (end.tz_localize("UTC") if end.tz is None else end.tz_convert("UTC")).to_pydatetime()
    else:
        bounds = source.data_bounds() if isinstance(source, StoreMetricsSource) else None
        end = bounds[1] if bounds else datetime.now(UTC).replace(second=0, microsecond=0)
    start = end - timedelta(days=args.days)
    frame = source.query_range(["requests_per_second"], start, end, timedelta(minutes=1))
    check = region_loss_check(config, pivot_metric(frame, "requests_per_second"), growth_pct=args.growth)
    columns = [
        "failed_region",
        "region",
        "status",
        "share_pct",
        "route",
        "standby",
        "extra_rps",
        "peak_rps_after",
        "peak_at",
        "usable_at_target_rps",
        "capacity_at_max_rps",
        "instances_needed",
        "max_instances",
        "time_to_scale_s",
        "unserved_requests",
    ]
    table = check[[c for c in columns if c in check]].copy()
    numeric = table.select_dtypes("number").columns
    table[numeric] = table[numeric].round(1)
    with pd.option_context("display.width", 250, "display.max_columns", 40, "display.max_colwidth", 120):
        print(
            f"Region loss (N+1), demand {start:%Y-%m-%d %H:%M} -> {end:%Y-%m-%d %H:%M} UTC, "
            f"growth {args.growth:+.0f}%"
        )
        print(region_loss_summary(check).to_string(index=False))
        print()
        print(table.to_string(index=False))
    return 0


def _review(args: argparse.Namespace, config: HeadroomConfig) -> int:
    from connectors.store import open_db
    from connectors.store_notes import load_notes
    from core.db import is_url
    from core.report import Week, build_report, export_zip
    from headroom.render import render_html
    from headroom.wiring import (
        build_billing_source,
        build_metrics_source,
        gather_review_inputs,
        guarded_store,
    )

    try:
        week = Week.parse(args.week)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    db = open_db(config.store_path())
    # the replicas' shared tables (notes, snapshots, scenarios, actions) in PostgreSQL when configured
    # ([store] url, or HEADROOM_STORE_URL with its credentials), else the embedded store
    locator = guarded_store(config)
    shared = locator if is_url(locator) else db
    inputs = gather_review_inputs(
        config,
        build_metrics_source(config, db),
        build_billing_source(config, db, shared_store=locator if is_url(locator) else None),
        db,
        week,
        shared=shared,
    )
    report = build_report(inputs, week, progress=lambda f, msg: print(f"[{f:4.0%}] {msg}", file=sys.stderr))
    notes = load_notes(shared, week)
    args.out.write_text(render_html(report, notes), encoding="utf-8")
    if args.zip:
        args.zip.write_bytes(export_zip(report, notes))
    print(
        f"wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB), sections: "
        + ", ".join(s.key for s in report.sections),
        file=sys.stderr,
    )
    return 0


def _rules(args: argparse.Namespace, config: HeadroomConfig) -> int:
    from core.alerting.rules import RuleError, write_rules

    try:
        rules = write_rules(config, args.out)
    except RuleError as exc:
        print(f"error: {exc} (nothing written)", file=sys.stderr)
        return 2
    counts = rules.counts()
    print(
        f"wrote {args.out}: {counts['groups']} groups, {counts['recording']} recording rules, "
        f"{counts['burn_rate_alerts']} burn-rate alerts, {counts['threshold_alerts']} threshold alerts",
        file=sys.stderr,
    )
    return 0


def _notify(args: argparse.Namespace, config: HeadroomConfig) -> int:
    from connectors.store import StoreMetricsSource, open_db
    from headroom.notify import collect_signals, default_forecaster
    from headroom.wiring import build_alertmanager, build_billing_source, build_metrics_source

    alertmanager = build_alertmanager(config)
    if alertmanager is None and not args.dry_run:
        print("error: [alertmanager] url is empty: set it, or use --dry-run to only print", file=sys.stderr)
        return 2
    db = open_db(config.store_path())
    metrics = build_metrics_source(config, db, {})
    if args.end:
        now = _parse_end(args.end)
    else:
        bounds = metrics.data_bounds() if isinstance(metrics, StoreMetricsSource) else None
        now = bounds[1] if bounds else datetime.now(UTC).replace(second=0, microsecond=0)
    forecaster = None if args.no_forecast else default_forecaster
    signals = collect_signals(config, metrics, build_billing_source(config, db, {}), now, forecaster)
    for alert in signals:
        print(f"{alert.labels['signal']:20} {alert.labels['subject']:28} {alert.annotations['summary']}")
    if args.dry_run:
        print(
            f"{len(signals)} signal(s) at {now:%Y-%m-%d %H:%M} UTC (dry run: nothing pushed)", file=sys.stderr
        )
        return 0
    pushed = alertmanager.push(signals)
    print(f"pushed {pushed} signal(s) at {now:%Y-%m-%d %H:%M} UTC to {alertmanager.name}", file=sys.stderr)
    return 0


def _openslo(args: argparse.Namespace, config: HeadroomConfig) -> int:
    from core.alerting.openslo import (
        OpenSLOError,
        check_regions,
        export_openslo,
        import_openslo,
        slos_to_toml,
    )
    from core.alerting.rules import write_atomically

    if args.action == "export":
        write_atomically(args.file, export_openslo(config))
        print(
            f"wrote {args.file}: {len(config.slo)} SLO(s) as OpenSLO v1 (SLO + SLI documents)",
            file=sys.stderr,
        )
        return 0
    try:
        slos = import_openslo(args.file.read_text(encoding="utf-8"), config)
        check_regions(slos, config)
    except (OSError, OpenSLOError) as exc:
        print(f"error: {args.file}: {exc}", file=sys.stderr)
        return 2
    print(slos_to_toml(slos), end="")
    print(
        f"{len(slos)} SLO(s) read from {args.file}: paste the [[slo]] tables into the config", file=sys.stderr
    )
    return 0


def _parse_end(text: str) -> datetime:
    end = pd.Timestamp(text)
    return (end.tz_localize("UTC") if end.tz is None else end.tz_convert("UTC")).to_pydatetime()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m headroom", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, handler: Command, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument(
            "--config", type=Path, help="config file (default: HEADROOM_CONFIG or the shipped one)"
        )
        p.set_defaults(handler=handler)
        return p

    loss = command("region-loss", _region_loss, "the region-loss (N+1) check on the configured metrics")
    loss.add_argument("--days", type=float, default=7.0, help="demand window length in days (default 7)")
    loss.add_argument("--growth", type=float, default=0.0, help="traffic growth in percent (default 0)")
    loss.add_argument(
        "--end", help="window end, ISO 8601 UTC (default: the newest data in the store, or now)"
    )

    review = command("review", _review, "the weekly review as one offline HTML file (and a ZIP of CSVs)")
    review.add_argument("--week", required=True, help="ISO week, e.g. 2026-W47")
    review.add_argument("--out", required=True, type=Path, help="HTML file to write")
    review.add_argument("--zip", type=Path, help="also write the tables as a ZIP of CSVs")

    rules = command("rules", _rules, "the SLOs and [[alert_rule]] entries as a Prometheus rule file")
    rules.add_argument("--out", required=True, type=Path, help="rule file to write (atomically)")

    notify = command(
        "notify", _notify, "push Headroom-only signals (budget overrun, capacity, N+1) to Alertmanager (cron)"
    )
    notify.add_argument("--dry-run", action="store_true", help="print the signals, push nothing")
    notify.add_argument("--no-forecast", action="store_true", help="skip the capacity forecast (faster)")
    notify.add_argument("--end", help="evaluate at this time, ISO 8601 UTC (default: newest data, or now)")

    openslo = command(
        "openslo", _openslo, "export the SLOs as OpenSLO v1 YAML, or import them as [[slo]] TOML"
    )
    openslo.add_argument("action", choices=["export", "import"])
    openslo.add_argument("file", type=Path, help="OpenSLO YAML file to write (export) or read (import)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        return args.handler(args, config)
    except SourceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
