"""The API's blueprint `bp` (under `/api/v1`, with its JSON error handling) and the
helpers its views share: `json_body()` (400 for anything but a JSON object),
`query_int()` and `paginate()` (`?page=&per_page=` with `total` and a `next` link).
Each resource module adds its routes to `bp`; wecom_app/api/__init__.py imports them.
"""

from __future__ import annotations

import json
import math
from typing import Any

from flask import Blueprint, request, url_for
from sqlalchemy import Select, func, select

from wecom_app.api.errors import ApiError, install_handlers
from wecom_app.api.validate import Integer, Invalid

bp = Blueprint("api", __name__, url_prefix="/api/v1")
MAX_PER_PAGE = 100
install_handlers(bp)


def _reject_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def json_body() -> dict[str, Any]:
    """The request body as a JSON object; 400 for malformed JSON or any other JSON value."""
    raw = request.get_data(cache=True)  # 413 here if the body is over MAX_CONTENT_LENGTH
    try:
        body = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError):
        raise ApiError(400, "the body must be well-formed JSON (UTF-8)", code="malformed_json") from None
    except RecursionError:  # json's scanner recurses per nesting level: [[[[... 100,000 deep
        raise ApiError(400, "the body is nested too deeply", code="malformed_json") from None
    if not isinstance(body, dict):
        raise ApiError(400, "the body must be a JSON object", code="malformed_json")
    return body


def query_int(name: str, default: int, *, minimum: int, maximum: int) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    digits = raw[1:] if raw[:1] == "-" else raw
    # ASCII digits, bounded: int() alone takes "١٢", " 12", "1_0" and quadratic time on 10,000 digits
    if not (0 < len(digits) <= 10 and digits.isascii() and digits.isdigit()):
        raise Invalid.at(name, "must be an integer")
    return Integer(minimum=minimum, maximum=maximum).clean(int(raw), name)


def paginate(session, query: Select, endpoint: str, render, **params) -> dict[str, Any]:
    """One page of `query` (already ordered) as {items, page, per_page, total, next}."""
    page = query_int("page", 1, minimum=1, maximum=1_000_000)
    per_page = query_int("per_page", 20, minimum=1, maximum=MAX_PER_PAGE)
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    rows = session.scalars(query.limit(per_page).offset((page - 1) * per_page)).all()
    filters = {k: v for k, v in params.items() if v is not None}
    more = page < math.ceil(total / per_page)
    return {
        "items": [render(row) for row in rows],
        "page": page,
        "per_page": per_page,
        "total": total,
        "next": url_for(endpoint, page=page + 1, per_page=per_page, **filters) if more else None,
    }
