"""`/api/v1/announcements` (R4, R17; DESIGN §3).

- `POST /announcements` (admin) `{groups: [id], msgtype: "text"|"markdown", content,
  send_at?: ISO-8601 with a time zone, urgent?: bool}` → `201` with the announcement
  at the top level: its `id`, one delivery per group (`queued`, or `unreachable` with
  the reason) and `unreachable`, the groups that cannot be posted into.
- `GET /announcements` (admin, readonly): newest first, paginated, with each one's
  delivery counts.
- `GET /announcements/{id}`: every group's delivery: queued (with the next attempt
  and WeCom's last answer while retrying), sent (sent_at), failed (errcode, reason)
  or unreachable (reason).

A rejected request leaves nothing behind: the announcement, its deliveries, their
outbox rows and the audit entry share the request's one transaction.
"""

from __future__ import annotations

from flask import url_for
from sqlalchemy import select

from wecom_app import announcements
from wecom_app.api.auth import caller, require, runtime
from wecom_app.api.blueprint import bp, json_body, paginate
from wecom_app.api.errors import ApiError
from wecom_app.api.validate import (
    Boolean,
    DateTime,
    Integer,
    Invalid,
    ListOf,
    Object,
    OneOf,
    String,
    optional,
    validate,
)
from wecom_app.models import Announcement

READERS = ("admin", "readonly")
MAX_GROUPS = 500

CREATE = Object(
    groups=ListOf(Integer(minimum=1), min_items=1, max_items=MAX_GROUPS),
    msgtype=OneOf(*announcements.MSGTYPES),
    # WeCom counts bytes: the largest any channel takes here; the domain then judges the
    # smallest among the chosen groups' channels (appchat/send 2048, a robot's markdown 4096)
    content=String(announcements.CONTENT_LIMIT, multiline=True, max_bytes=announcements.CONTENT_LIMIT),
    send_at=optional(DateTime()),
    urgent=optional(Boolean(), default=False),
)


@bp.post("/announcements")
@require("admin")
def create_announcement():
    data = validate(CREATE, json_body())
    rt = runtime()
    try:
        with rt.sessions.begin() as session:
            announcement = announcements.create(session, rt.settings, **data, actor=caller().actor, now=rt.clock())
            session.flush()
            body = announcements.view(session, rt.settings, announcement, now=rt.clock())
    except announcements.AnnouncementError as exc:
        raise Invalid.at(exc.field, exc.message) from None
    return body, 201, {"Location": url_for("api.get_announcement", announcement_id=body["id"])}


@bp.get("/announcements")
@require(*READERS)
def list_announcements():
    rt = runtime()
    with rt.sessions() as session:
        page = paginate(session, select(Announcement).order_by(Announcement.id.desc()), "api.list_announcements",
                        lambda a: a)
        found = announcements.statuses(session, [a.id for a in page["items"]])
        page["items"] = [announcements.summary(a, found[a.id]) for a in page["items"]]
        return page


@bp.get("/announcements/<int:announcement_id>")
@require(*READERS)
def get_announcement(announcement_id: int):
    rt = runtime()
    with rt.sessions() as session:
        announcement = session.get(Announcement, announcement_id)
        if announcement is None:
            raise ApiError(404, f"no announcement {announcement_id}")
        return announcements.view(session, rt.settings, announcement, now=rt.clock())
