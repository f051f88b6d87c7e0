"""`/api/v1/calendar/overrides`: an admin's word on single days (R4), beating
chinese-calendar — holidays and 调休 working days of a year the package does not
know yet (see workcal.py). Admin tokens only; every change is audited.

- `GET /calendar/overrides[?year=YYYY]` → `{"items": [...]}` ordered by day
- `GET /calendar/overrides/YYYY-MM-DD` → the override, or 404
- `PUT /calendar/overrides/YYYY-MM-DD` `{workday: bool, note?: str}` → 201 new, 200 replaced
- `DELETE /calendar/overrides/YYYY-MM-DD` → 204 (the day follows the calendar again), or 404
"""

from __future__ import annotations

from datetime import date

from flask import request, url_for
from sqlalchemy import select

from wecom_app.api.auth import caller, require, runtime
from wecom_app.api.blueprint import bp, json_body, query_int
from wecom_app.api.errors import ApiError
from wecom_app.api.validate import Boolean, Object, String, optional, validate
from wecom_app.models import CalendarOverride
from wecom_app.workcal import set_override, unset_override

OVERRIDE = Object(workday=Boolean(), note=optional(String(200, min_length=0), default=""))


def render(row: CalendarOverride) -> dict:
    return {
        "day": row.day.isoformat(),
        "workday": row.workday,
        "note": row.note,
        "set_by": row.set_by,
        "set_at": row.set_at.isoformat() if row.set_at else None,
    }


def _day(text: str) -> date:
    try:
        if len(text) == 10:
            return date.fromisoformat(text)
    except ValueError:
        pass
    raise ApiError(404, "no such day: the URL ends with a date as YYYY-MM-DD")


@bp.get("/calendar/overrides")
@require("admin")
def list_overrides():
    query = select(CalendarOverride).order_by(CalendarOverride.day)
    if request.args.get("year"):
        year = query_int("year", 0, minimum=1900, maximum=2200)
        query = query.where(CalendarOverride.day.between(date(year, 1, 1), date(year, 12, 31)))
    with runtime().sessions() as session:
        return {"items": [render(row) for row in session.scalars(query)]}


@bp.get("/calendar/overrides/<day>")
@require("admin")
def get_override(day: str):
    with runtime().sessions() as session:
        row = session.get(CalendarOverride, _day(day))
        if row is None:
            raise ApiError(404, f"no override for {day}")
        return render(row)


@bp.put("/calendar/overrides/<day>")
@require("admin")
def put_override(day: str):
    when = _day(day)
    data = validate(OVERRIDE, json_body())
    rt = runtime()
    now = rt.clock()
    with rt.sessions.begin() as session:
        row, before = set_override(session, when, workday=data["workday"], note=data["note"], actor=caller().actor,
                                   now=now)
        created = before is None
        body = render(row)
    if created:
        return body, 201, {"Location": url_for("api.get_override", day=when.isoformat())}
    return body


@bp.delete("/calendar/overrides/<day>")
@require("admin")
def delete_override(day: str):
    when = _day(day)
    rt = runtime()
    now = rt.clock()
    with rt.sessions.begin() as session:
        if not unset_override(session, when, actor=caller().actor, now=now):
            raise ApiError(404, f"no override for {when.isoformat()}")
    return "", 204
