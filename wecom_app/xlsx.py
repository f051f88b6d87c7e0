"""The one way the app writes a spreadsheet cell (issue 10 items 1–2).

Every workbook the app exports (the assessment month, `assessments.py`; the receipt
sheet, `directives/receipt_sheet.py`) writes its rows through `row` / `cell`, so that text from
members, custodians and the directory can neither break the export nor run in it:

- the characters openpyxl refuses (`ILLEGAL_CHARACTERS_RE`: C0 controls other than
  tab, LF and CR) are dropped — one `\\x01` in a report would otherwise make the
  whole month's export raise `IllegalCharacterError` for everyone;
- a text that a spreadsheet would read as a formula (leading `=`, `+`, `-`, `@`, or a
  tab or CR before one) gets a leading `'`. The quote is part of the stored value,
  not a cell type: openpyxl writes any str starting with `=` as a formula unless the
  caller remembers to set `data_type`, and a string-typed `=…` cell becomes a formula
  again when someone edits it or saves the sheet as CSV and opens that. A value that
  does not start with a formula character is text in every reader.
"""
from __future__ import annotations

from typing import Any, Iterable

from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # OWASP "CSV injection"


def cell(value: Any) -> Any:
    """`value` as it may go into a cell: text cleaned and never a formula; numbers,
    dates and None as they are."""
    if not isinstance(value, str):
        return value
    text = ILLEGAL_CHARACTERS_RE.sub("", value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def row(values: Iterable[Any]) -> list[Any]:
    """A row of cells, each through `cell`."""
    return [cell(value) for value in values]
