"""Search and sort for the workbench's long lists (issue 13 item 9): 指令, a directive's
receipts, a group's members, 违规与举报.

`?q=` is what the person typed (a name, its pinyin or initials, a userid, a title: each
page decides what it matches) and `?sort=key` / `?sort=-key` the column and direction; both
stay in the URL beside the filters and `?page=` (paging.py), so a sorted, searched page
can be bookmarked, shared and paged through. A page declares its columns as `SortOption`s
and gets the ORDER BY from `sorting(...)`; the `sort_select` and `sort_th` macros in
templates/workbench/_macros.html draw the choice (a select, which phones' stacked cards
need since their headers are hidden, and clickable headers on a desktop table).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from flask import request

SEARCH_MAX = 64  # characters of `?q=` used: a search box, not a document


@dataclasses.dataclass(frozen=True)
class SortOption:
    key: str
    label: str
    column: Any  # the SQL expression ordered by
    desc_first: bool = False  # times and counts: newest / most first when first picked


@dataclasses.dataclass(frozen=True)
class Sorting:
    options: tuple[SortOption, ...]
    key: str
    desc: bool

    @property
    def arg(self) -> str:
        return f"-{self.key}" if self.desc else self.key

    def order_by(self, *tiebreak) -> list:
        """The ORDER BY: the chosen column (empty values last either way), then `tiebreak` for a stable page."""
        column = next(o.column for o in self.options if o.key == self.key)
        first = column.desc() if self.desc else column.asc()
        return [column.is_(None), first, *tiebreak]

    def link(self, key: str) -> str:
        """The `?sort=` a column header links to: the other direction when it is the current column."""
        if key == self.key:
            return key if self.desc else f"-{key}"
        option = next(o for o in self.options if o.key == key)
        return f"-{key}" if option.desc_first else key

    def choices(self) -> list[tuple[str, str]]:
        """(value, label) for the sort select, each column both ways."""
        out = []
        for o in self.options:
            both = [(f"-{o.key}", f"{o.label}（降序）"), (o.key, f"{o.label}（升序）")]
            out.extend(both if o.desc_first else both[::-1])
        return out


def sorting(options: tuple[SortOption, ...], default: str) -> Sorting:
    """The request's `?sort=`, or `default` (same form) when it is absent or names no column."""
    keys = {o.key for o in options}
    raw = (request.args.get("sort") or "").strip()
    key, desc = raw.lstrip("-"), raw.startswith("-")
    if key not in keys:
        key, desc = default.lstrip("-"), default.startswith("-")
    return Sorting(options, key, desc)


def search_arg() -> str:
    """`?q=`, trimmed and bounded."""
    return " ".join((request.args.get("q") or "").split())[:SEARCH_MAX]
