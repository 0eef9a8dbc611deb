"""CSV exports that are safe to open in a spreadsheet (issue 19 item 10; docs/ARCHITECTURE.md, "Threat
model"). A cell whose text starts with `=`, `+`, `-`, `@`, a tab or a carriage return is a formula to
Excel, LibreOffice and Google Sheets (`=HYPERLINK(...)`, `=cmd|...`): such cells get a leading `'`, which
spreadsheets show as text. Cells that already start with `'` get one too, so the rule is reversible:
remove one leading `'` from any cell that has one to get the stored text back (what a verifier of the
audit chain's hashes does). Numbers are left alone (-5 is a number, not a formula)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
ESCAPE = "'"


def csv_cell(value: Any) -> Any:
    """The value as it may go into a CSV cell: text that a spreadsheet would evaluate is prefixed."""
    if isinstance(value, str) and value and (value[0] in FORMULA_STARTS or value[0] == ESCAPE):
        return ESCAPE + value
    return value


def original_text(cell: str) -> str:
    """The stored text of an exported cell (the inverse of csv_cell for text)."""
    return cell[1:] if cell.startswith(ESCAPE) else cell


def rows_to_csv(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([csv_cell(c) for c in columns])
    for row in rows:
        writer.writerow(["" if v is None else csv_cell(v) for v in row])
    return buf.getvalue()


def frame_to_csv(frame: pd.DataFrame) -> str:
    """A table as CSV (no index), every text cell neutralised."""
    safe = frame.copy()
    for column in safe.columns:
        if safe[column].dtype == object or pd.api.types.is_string_dtype(safe[column]):
            safe[column] = safe[column].map(csv_cell)
    safe.columns = [csv_cell(str(c)) for c in safe.columns]
    return safe.to_csv(index=False)
