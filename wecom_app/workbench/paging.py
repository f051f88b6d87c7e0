"""Pagination for long lists: `paginate(db, stmt)` reads `?page=` and returns a Page
the `pagination` macro in templates/workbench/_macros.html renders."""

from __future__ import annotations

import dataclasses
from typing import Any

from sqlalchemy import func, select

from wecom_app.inputs import int_arg

PER_PAGE = 20
MAX_PAGE = 1_000_000  # as the API's (api/__init__.py); the OFFSET stays far inside bigint


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
    page = int_arg("page", default=1, minimum=1, maximum=MAX_PAGE)  # else BadInput: the 400 page
    total = db.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    query = stmt.limit(per_page).offset((page - 1) * per_page)
    items = db.scalars(query).all() if scalars else db.execute(query).all()
    return Page(items=list(items), page=page, per_page=per_page, total=total or 0)
