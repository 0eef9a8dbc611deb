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
        # room for the tick labels and axis titles: a 10 px margin clipped them in the exported file
        margin={"l": 70, "r": 20, "t": 50, "b": 60},
    )
    fig.update_xaxes(automargin=True)
    fig.update_yaxes(automargin=True)
    return fig


MISSING = "—"  # an empty cell, never "None" or "nan"
# words of the report's field names as people write them (issue 15, #8: raw field names in tables)
_WORDS = {"pct": "%", "usd": "(USD)", "ms": "(ms)", "sli": "SLI", "slo": "SLO", "rps": "req/s", "id": "ID"}


def column_label(name: str) -> str:
    """`sli_end_pct` -> "SLI end %", `cost_usd` -> "Cost (USD)": a table header for people."""
    words = [_WORDS.get(w, w) for w in str(name).split("_") if w]
    text = " ".join(words)
    return text[:1].upper() + text[1:] if text else str(name)


def format_number(value: float) -> str:
    """Enough digits to tell figures apart where it matters: an SLI of 99.967 % shown as "100.0" beside
    a third of its budget spent was the review's headline contradiction."""
    if pd.isna(value):
        return MISSING
    if 99.0 <= abs(value) < 100.0 or 0.0 < abs(value) < 0.1:
        return f"{value:,.3f}"
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:,.2f}"


def readable_table(frame: pd.DataFrame) -> pd.DataFrame:
    """A report table as people read it, the same on the page and in the exported HTML: labelled
    columns, numbers with enough precision, times in UTC to the minute, "—" for a missing value."""
    shown = pd.DataFrame(index=frame.index)
    for col in frame.columns:
        values = frame[col]
        if pd.api.types.is_bool_dtype(values):
            text = values.map({True: "yes", False: "no"})
        elif pd.api.types.is_numeric_dtype(values):
            text = values.map(format_number)
        elif pd.api.types.is_datetime64_any_dtype(values):
            text = values.dt.strftime("%Y-%m-%d %H:%M UTC").fillna(MISSING)
        else:
            text = values.map(
                lambda v: (
                    MISSING
                    if v is None or (isinstance(v, float) and pd.isna(v))
                    else format_number(v)
                    if isinstance(v, float)
                    else str(v)
                )
            )
        shown[column_label(col)] = text
    return shown.reset_index(drop=True)


def _table_html(frame: pd.DataFrame) -> str:
    # wrapped so a wide table scrolls inside the page instead of overflowing it
    table = readable_table(frame).to_html(index=False, border=0, classes="tbl", escape=True)
    return f"<div class='tbl-wrap'>{table}</div>"


def render_html(report: WeeklyReport, notes: Mapping[str, str] | None = None) -> str:
    """One self-contained HTML file: plotly.js inlined once, deterministic element ids (so the page's
    download and the CLI's file are byte-identical for the same data and notes)."""
    import plotly.io as pio
    from plotly.offline import get_plotlyjs

    notes = notes or {}
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>Headroom weekly capacity review {report.week.label}</title>",
        "<style>body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:1100px;color:#222;"
        "padding:0 1rem}.js-plotly-plot,.plotly-graph-div{max-width:100%}"
        "h1{margin-bottom:0}.range{color:#666}section{margin:2rem 0;border-top:1px solid #ddd}"
        ".tbl-wrap{max-width:100%;overflow-x:auto}.tbl{border-collapse:collapse;font-size:0.9rem}.tbl td,.tbl th{padding:4px 8px;border-bottom:1px solid #eee;"
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
