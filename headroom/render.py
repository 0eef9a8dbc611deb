"""The weekly review as one self-contained HTML file, and chart specs drawn as plotly figures (shared by
the Weekly review page and `python -m headroom review`, so both give byte-identical files)."""

from __future__ import annotations

import html
from collections.abc import Mapping

import pandas as pd
import plotly.graph_objects as go

from core.report import ChartSpec, WeeklyReport


def figure_for(spec: ChartSpec) -> go.Figure:
    """A plotly figure for a core chart spec."""
    fig = go.Figure()
    for trace in spec.traces:
        fig.add_trace(
            go.Scatter(x=list(trace.x), y=list(trace.y), name=trace.name, line={"dash": trace.dash})
        )
    fig.update_layout(
        title=spec.title,
        xaxis_title=spec.x_title,
        yaxis_title=spec.y_title,
        height=spec.height,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
    )
    return fig


def _table_html(frame: pd.DataFrame) -> str:
    shown = frame.copy()
    for col in shown.columns:
        if pd.api.types.is_float_dtype(shown[col]):
            shown[col] = shown[col].map(lambda v: "" if pd.isna(v) else f"{v:,.2f}")
        elif pd.api.types.is_datetime64_any_dtype(shown[col]):
            shown[col] = shown[col].dt.strftime("%Y-%m-%d %H:%M UTC")
    return shown.to_html(index=False, border=0, classes="tbl", escape=True)


def render_html(report: WeeklyReport, notes: Mapping[str, str] | None = None) -> str:
    """One self-contained HTML file: plotly.js inlined once, deterministic element ids (so the page's
    download and the CLI's file are byte-identical for the same data and notes)."""
    import plotly.io as pio
    from plotly.offline import get_plotlyjs

    notes = notes or {}
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>Headroom weekly capacity review {report.week.label}</title>",
        "<style>body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:1100px;color:#222}"
        "h1{margin-bottom:0}.range{color:#666}section{margin:2rem 0;border-top:1px solid #ddd}"
        ".tbl{border-collapse:collapse;font-size:0.9rem}.tbl td,.tbl th{padding:4px 8px;border-bottom:1px solid #eee;"
        "text-align:right}.missing{color:#a15c00}.note{background:#f6f8fa;padding:0.6rem;white-space:pre-wrap}</style>",
        f"<script type='text/javascript'>{get_plotlyjs()}</script></head><body>",
        f"<h1>Weekly capacity review {report.week.label}</h1>",
        f"<p class='range'>{report.week.start:%Y-%m-%d %H:%M} to {report.week.end:%Y-%m-%d %H:%M} UTC</p>",
    ]
    for section in report.sections:
        parts.append(f"<section id='{section.key}'><h2>{html.escape(section.title)}</h2>")
        if section.missing:
            parts.append(f"<p class='missing'>{html.escape(section.missing)}</p>")
        parts.extend(f"<p>{html.escape(line)}</p>" for line in section.summary)
        for k, spec in enumerate(section.figures):
            parts.append(
                pio.to_html(
                    figure_for(spec),
                    include_plotlyjs=False,
                    full_html=False,
                    div_id=f"{section.key}-chart-{k}",
                    config={"displaylogo": False},
                )
            )
        for name, table in section.tables.items():
            parts.append(f"<h3>{html.escape(name.replace('_', ' '))}</h3>{_table_html(table)}")
        if notes.get(section.key):
            parts.append(f"<h3>Notes</h3><div class='note'>{html.escape(notes[section.key])}</div>")
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts)
