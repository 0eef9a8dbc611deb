"""The cron parser behind scheduled actions: five-field cron and AWS's cron(...), evaluated per minute in
a timezone."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

_MONTHS = {
    m: i
    for i, m in enumerate(
        ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"], 1
    )
}
_DAYS = {d: i for i, d in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"])}
_CRON_FIELDS = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, _MONTHS),
)


def _cron_field(text: str, name: str, lo: int, hi: int, names: Mapping[str, int]) -> frozenset[int]:
    values: set[int] = set()

    def number(token: str) -> int:
        if token in names:
            return names[token]
        if not token.isdigit():
            raise ValueError(f"cron {name}: cannot read {text!r}")
        return int(token)

    for part in text.upper().split(","):
        base, _, step_s = part.strip().partition("/")
        if step_s and (not step_s.isdigit() or int(step_s) < 1):
            raise ValueError(f"cron {name}: bad step in {text!r}")
        step = int(step_s) if step_s else 1
        if base in ("*", "?"):
            a, b = lo, hi
        elif "-" in base:
            first, _, last = base.partition("-")
            a, b = number(first), number(last)
        else:
            a = number(base)
            b = hi if step_s else a
        if not (lo <= a <= hi and lo <= b <= hi and a <= b):
            raise ValueError(f"cron {name}: {text!r} is outside {lo}-{hi}")
        values.update(range(a, b + 1, step))
    return frozenset(values)


def _parse_cron(expr: str) -> tuple[frozenset[int], ...]:
    """'0 9 * * MON-FRI' or AWS 'cron(0 0 ? * MON-FRI *)' -> (minutes, hours, days, months, weekdays
    with 0 = Sunday). Numeric weekdays are 0-7 (0 and 7 = Sunday) in the five-field form and 1-7
    (1 = Sunday) in AWS's cron(...) form."""
    text = expr.strip()
    aws = text.lower().startswith("cron(") and text.endswith(")")
    if aws:
        text = text[5:-1]
    parts = text.split()
    if len(parts) == 6:
        if parts[5] not in ("*", "?"):
            raise ValueError(f"cron {expr!r}: only '*' is supported for the year field")
        parts = parts[:5]
    if len(parts) != 5:
        raise ValueError(f"cron {expr!r}: expected 5 fields (minute hour day-of-month month day-of-week)")
    out = [
        _cron_field(p, n, lo, hi, names) for p, (n, lo, hi, names) in zip(parts, _CRON_FIELDS, strict=False)
    ]
    if aws:
        days = {k: v + 1 for k, v in _DAYS.items()}
        out.append(frozenset(d - 1 for d in _cron_field(parts[4], "day of week", 1, 7, days)))
    else:
        out.append(frozenset(d % 7 for d in _cron_field(parts[4], "day of week", 0, 7, _DAYS)))
    return tuple(out)


def cron_fire_times(
    expr: str, start: pd.Timestamp, end: pd.Timestamp, timezone: str = "UTC"
) -> pd.DatetimeIndex:
    """UTC minutes in [start, end] at which the cron expression (read in `timezone`) fires."""
    minutes, hours, days, months, dows = _parse_cron(expr)
    grid = pd.date_range(start.floor("min"), end, freq="min", tz="UTC")
    local = grid.tz_convert(timezone)
    mask = (
        np.isin(local.minute, list(minutes))
        & np.isin(local.hour, list(hours))
        & np.isin(local.month, list(months))
    )
    # cron: when both day-of-month and day-of-week are restricted, either may match
    dom = np.isin(local.day, list(days))
    dow = np.isin((local.day_of_week + 1) % 7, list(dows))
    dom_all, dow_all = len(days) == 31, len(dows) == 7
    mask &= (dom & dow) if (dom_all or dow_all) else (dom | dow)
    return grid[mask]
