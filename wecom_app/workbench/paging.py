"""Pagination for long lists: `paginate(db, stmt)` reads `?page=` and returns a Page
the `pagination` macro in templates/workbench/_macros.html renders."""

from __future__ import annotations

import dataclasses
from typing import Any

from flask import request
from sqlalchemy import func, select

PER_PAGE = 20


@dataclasses.dataclass(frozen=True)
class Page:
    items: list[Any]
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages


def paginate(db, stmt, *, per_page: int = PER_PAGE, scalars: bool = True) -> Page:
    """One page of `stmt` (already ordered); `scalars=False` for multi-column rows."""
    try:
        page = max(1, int(request.args.get("page", "1")))
    except ValueError:
        page = 1
    total = db.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    query = stmt.limit(per_page).offset((page - 1) * per_page)
    items = db.scalars(query).all() if scalars else db.execute(query).all()
    return Page(items=list(items), page=page, per_page=per_page, total=total or 0)
