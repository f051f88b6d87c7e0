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

A time is a real spreadsheet date in the company's time zone (issue 13 item 7): an aware
`datetime` is turned into that zone (Excel has no time zones, openpyxl refuses an aware
one) and written with the `yyyy-mm-dd hh:mm:ss` number format, so it sorts and filters as a
date; `append` is the way a row with times goes into a sheet.
"""
from __future__ import annotations

from datetime import date, datetime, tzinfo
from typing import Any, Iterable

from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # OWASP "CSV injection"
DATETIME_FORMAT = "yyyy-mm-dd hh:mm:ss"
DATE_FORMAT = "yyyy-mm-dd"


def cell(value: Any, tz: tzinfo | None = None) -> Any:
    """`value` as it may go into a cell: text cleaned and never a formula; an aware time in
    `tz` without its zone (a ValueError without `tz`: never a UTC time by mistake); numbers,
    dates and None as they are."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        if tz is None:
            raise ValueError("a time goes into a cell in the company's time zone: pass tz")
        return value.astimezone(tz).replace(tzinfo=None)
    if not isinstance(value, str):
        return value
    text = ILLEGAL_CHARACTERS_RE.sub("", value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def row(values: Iterable[Any], tz: tzinfo | None = None) -> list[Any]:
    """A row of cells, each through `cell`."""
    return [cell(value, tz) for value in values]


def append(sheet, values: Iterable[Any], tz: tzinfo | None = None) -> None:
    """Append a row to `sheet` (write-only or not), each value through `cell`, times and dates
    with a date number format."""
    cells = []
    for value in row(values, tz):
        one = WriteOnlyCell(sheet, value)
        if isinstance(value, datetime):
            one.number_format = DATETIME_FORMAT
        elif isinstance(value, date):
            one.number_format = DATE_FORMAT
        cells.append(one)
    sheet.append(cells)
