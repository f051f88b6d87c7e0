"""Announcements (R17 admin duty, R4 quiet hours): one text or markdown written once
and sent to many governed groups, with a delivery per group.

How each group is reached:

- a managed group (an appchat this app created, `active`): `appchat/send` (90248);
- a customer or internal group with a registered robot: the robot's `webhook/send`
  (99398; in groups with external members it is reportedly refused, and WeCom then
  answers with an errcode that the delivery shows);
- anything else is `unreachable`, with the reason, listed rather than skipped:
  WeCom has no API to post into customer or ordinary internal groups, and a group
  still being created or dismissed has no chat to post into.

Every post is an outbox row (key `announcement:<id>:group:<group_id>`, subject
`announcement_delivery:<delivery id>`) that waits for working time unless the
announcement is urgent (R4), and is retried by the outbox. A non-urgent announcement's
posts are stored due at one moment, `outbox.held_until` of its send time with the
announcement's own jitter, so they go together and the page shows one send time
(`goes_at`, computed by the outbox's `send_time` from the rows themselves). When a row is finished
the outbox job hands it back here (`settle_deliveries`): the delivery becomes
`sent` (sent_at) or `failed` (WeCom's errcode and errmsg). An operator's
`wecom-app outbox retry` re-queues a failed row; its delivery shows `queued` again
until that row is settled once more.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from wecom_app.audit import audit
from wecom_app.db import utcnow
from wecom_app.logs import kv
from wecom_app.models import Announcement, AnnouncementDelivery, Group, OutboxAction
from wecom_app.wecom import outbox, textlimits
from wecom_app.wecom.robot_keys import robot_key
from wecom_app.workcal import load_calendar

log = logging.getLogger("wecom.announcements")

MSGTYPES = ("text", "markdown")
# bytes in UTF-8 (textlimits.py): text 2048 everywhere; markdown 4096 by a group robot
# (99398) but 2048 by appchat/send (90248), so the limit is the smallest among the
# channels of the chosen groups
CONTENT_LIMIT = textlimits.LARGEST
CHANNEL_WORDS = {"appchat/send": "应用管理群（appchat/send）", "webhook/send": "群机器人"}
SUBJECT = "announcement_delivery"
DELIVERY_STATUSES = ("queued", "sent", "failed", "unreachable")


class AnnouncementError(ValueError):
    """An invalid field: the API answers 422 with `field` and `message`."""

    def __init__(self, field: str, message: str, *, limit: int | None = None, size: int | None = None,
                 channel: str | None = None):
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message
        self.limit, self.size, self.channel = limit, size, channel  # content over WeCom's limit


def limit_for(settings, groups: list[Group], msgtype: str) -> tuple[int, str | None]:
    """(bytes, the outbox kind that sets it): the smallest limit among the channels the
    reachable groups are posted through; unreachable groups send nothing."""
    kinds = {kind for kind, _key, _why in (route(settings, g) for g in groups) if kind}
    found = sorted((textlimits.limit(kind, msgtype), kind) for kind in kinds)
    return found[0] if found else (textlimits.TEXT_BYTES, None)


def create(session: Session, settings, *, groups: list[int], msgtype: str, content: str,
           send_at: datetime | None, urgent: bool, actor: str, now: datetime) -> Announcement:
    """Store the announcement and one delivery per group; queue a post for each
    reachable group. A send_at in the past means now."""
    if msgtype not in MSGTYPES:
        raise AnnouncementError("msgtype", "must be text or markdown")
    found = {g.id: g for g in session.scalars(select(Group).where(Group.id.in_(groups)))}
    unknown = [str(i) for i in groups if i not in found]
    if unknown:
        raise AnnouncementError("groups", f"no group {', '.join(unknown)}")
    most, kind = limit_for(settings, list(found.values()), msgtype)
    if problem := textlimits.problem(content, most, f"for {msgtype} through {kind}" if kind else ""):
        raise AnnouncementError("content", problem, limit=most, size=textlimits.size(content), channel=kind)
    send_at = max(send_at or now, now)
    announcement = Announcement(msgtype=msgtype, content=content, urgent=urgent, send_at=send_at,
                                created_by=actor, created_at=now)
    session.add(announcement)
    session.flush()
    unreachable = []
    goes = outbox.held_until(load_calendar(session, settings), send_at, seed=announcement.id, urgent=urgent)
    for group_id in groups:
        delivery = _deliver(session, settings, announcement, found[group_id], now, goes)
        if delivery.status == "unreachable":
            unreachable.append(group_id)
    audit(session, actor, "announcement.create", f"announcement:{announcement.id}", now=now, msgtype=msgtype,
          content=content, urgent=urgent, send_at=send_at.isoformat(), groups=groups, unreachable=unreachable)
    log.info(kv("wecom.announcement.created", id=announcement.id, groups=len(groups), unreachable=len(unreachable),
                urgent=urgent))
    return announcement


def route(settings, group: Group) -> tuple[str | None, str | None, str]:
    """(outbox kind, robot key, why not): how this group can be posted into now."""
    if group.status == "dismissed":
        return None, None, "the group was dismissed"
    if group.status == "archived":
        return None, None, "the group was archived: the app no longer governs it"
    if group.status == "creating":
        return None, None, "the group is still being created (its appchat/create has not gone out yet)"
    if group.status == "discovered":
        return None, None, "a discovered customer group that is not registered yet"
    if group.kind == "managed":
        return "appchat/send", None, ""
    if not group.robot_webhook:
        return None, None, f"{group.kind} group without a robot webhook: WeCom has no API to post into it"
    key = robot_key(settings, group)
    if key is None:
        return None, None, "its robot webhook cannot be decrypted (SECRET_KEY changed since): register it again"
    return "webhook/send", key, ""


def last_failures(session: Session, group_ids) -> dict[int, AnnouncementDelivery]:
    """The groups whose latest finished post WeCom refused for good (after the outbox's
    retries): e.g. 86003, the appchat is gone; 93000, the robot was removed. The delivery,
    by group; a later `sent` post clears it."""
    latest = (select(func.max(AnnouncementDelivery.id)).where(
        AnnouncementDelivery.group_id.in_(list(group_ids) or [-1]),
        AnnouncementDelivery.status.in_(("sent", "failed"))).group_by(AnnouncementDelivery.group_id))
    return {d.group_id: d for d in session.scalars(select(AnnouncementDelivery).where(
        AnnouncementDelivery.id.in_(latest), AnnouncementDelivery.status == "failed"))}


def _deliver(session, settings, announcement: Announcement, group: Group, now: datetime,
             goes: datetime) -> AnnouncementDelivery:
    kind, key, reason = route(settings, group)
    delivery = AnnouncementDelivery(announcement_id=announcement.id, group_id=group.id)
    session.add(delivery)
    if kind is None:
        delivery.status, delivery.reason = "unreachable", reason
        return delivery
    session.flush()
    message = {"msgtype": announcement.msgtype, announcement.msgtype: {"content": announcement.content}}
    if kind == "appchat/send":
        payload, delivery.channel = {"chatid": group.chat_id, **message}, "appchat"
    else:
        # the group, not its robot's key: the sender decrypts the key when it sends (issue 10)
        payload, delivery.channel = {"group_id": group.id, "body": message}, "webhook"
    row = outbox.enqueue(session, kind, payload, key=f"announcement:{announcement.id}:group:{group.id}",
                         urgent=announcement.urgent, not_before=goes, now=now,
                         subject=f"{SUBJECT}:{delivery.id}")
    delivery.status, delivery.outbox_id = "queued", row.id
    return delivery


def settle_deliveries(session: Session, rows: list[OutboxAction], now: datetime) -> None:
    """What WeCom answered for each finished post: sent, or failed with its errcode."""
    by_delivery = {int(row.subject.partition(":")[2]): row for row in rows}
    deliveries = session.scalars(select(AnnouncementDelivery).where(AnnouncementDelivery.id.in_(by_delivery)))
    for delivery in deliveries:
        row = by_delivery[delivery.id]
        if row.status == "sent":
            delivery.status, delivery.sent_at, delivery.errcode, delivery.reason = "sent", row.sent_at or now, None, ""
        else:
            delivery.status, delivery.errcode, delivery.reason = "failed", row.errcode, row.errmsg or ""


# -- what the API shows ----------------------------------------------------------------------


def view(session: Session, settings, announcement: Announcement, now: datetime | None = None) -> dict[str, Any]:
    """The announcement with every group's delivery; `unreachable` lists the groups
    that cannot be posted into, with why. `goes_at` is when its posts go (the earliest
    post not gone yet, by the outbox's own rule; else when they were due), `held` whether
    that waits for working time (R4); each queued post's `next_attempt_at` comes from the
    same rule."""
    rows = session.execute(
        select(AnnouncementDelivery, Group, OutboxAction)
        .join(Group, Group.id == AnnouncementDelivery.group_id)
        .outerjoin(OutboxAction, OutboxAction.id == AnnouncementDelivery.outbox_id)
        .where(AnnouncementDelivery.announcement_id == announcement.id).order_by(AnnouncementDelivery.id)
    ).all()
    calendar, now = load_calendar(session, settings), now or utcnow()
    deliveries = [_delivery_view(d, g, row, calendar, now) for d, g, row in rows]
    body = summary(announcement, [d["status"] for d in deliveries])
    waiting = [(d["_goes"], d["_held"]) for d in deliveries if "_goes" in d]
    goes, held = min(waiting) if waiting else (
        outbox.held_until(calendar, announcement.send_at, seed=announcement.id, urgent=announcement.urgent), False)
    for d in deliveries:
        d.pop("_goes", None), d.pop("_held", None)
    body["goes_at"], body["held"] = goes.isoformat(), held
    body["deliveries"] = deliveries
    body["unreachable"] = [{"group": d["group"], "name": d["name"], "reason": d["reason"]}
                           for d in deliveries if d["status"] == "unreachable"]
    return body


def summary(announcement: Announcement, statuses: list[str]) -> dict[str, Any]:
    return {
        "id": announcement.id, "msgtype": announcement.msgtype, "content": announcement.content,
        "urgent": announcement.urgent, "send_at": announcement.send_at.isoformat(),
        "created_by": announcement.created_by, "created_at": announcement.created_at.isoformat(),
        "counts": {status: statuses.count(status) for status in DELIVERY_STATUSES},
    }


def statuses(session: Session, announcement_ids: list[int]) -> dict[int, list[str]]:
    """Each announcement's delivery statuses as the API shows them (one query)."""
    d, row = AnnouncementDelivery, OutboxAction
    found: dict[int, list[str]] = {i: [] for i in announcement_ids}
    for announcement_id, status, row_status in session.execute(
            select(d.announcement_id, d.status, row.status).outerjoin(row, row.id == d.outbox_id)
            .where(d.announcement_id.in_(announcement_ids))):
        found[announcement_id].append(_status(status, row_status))
    return found


def held_times(session: Session, settings, announcement_ids: list[int], now: datetime) -> dict[int, datetime]:
    """The announcements among these whose earliest post not gone yet waits for working
    time (R4), with when it goes (the outbox's own rule, as `view` says it)."""
    d, row = AnnouncementDelivery, OutboxAction
    calendar, found = load_calendar(session, settings), {}
    for announcement_id, pending in session.execute(
            select(d.announcement_id, row).join(row, row.id == d.outbox_id)
            .where(d.announcement_id.in_(announcement_ids), row.status == "pending")):
        goes, held = outbox.send_time(pending, calendar, now)
        if held:
            found[announcement_id] = min(found.get(announcement_id, goes), goes)
    return found


def _status(status: str, row_status: str | None) -> str:
    # a failed post an operator re-queued (`outbox retry`) is queued again until settled
    return "queued" if status == "failed" and row_status in ("pending", "sending") else status


def _delivery_view(delivery: AnnouncementDelivery, group: Group, row: OutboxAction | None, calendar,
                   now: datetime) -> dict[str, Any]:
    status = _status(delivery.status, row.status if row else None)
    view = {
        "group": group.id, "name": group.name, "kind": group.kind, "chatid": group.chat_id,
        "channel": delivery.channel, "status": status, "reason": delivery.reason, "errcode": delivery.errcode,
        "sent_at": delivery.sent_at.isoformat() if delivery.sent_at else None,
        "attempts": int((row.result or {}).get("calls", row.attempts)) if row else 0,  # calls to WeCom
    }
    if status == "queued" and row is not None:
        # the outbox's own view while it is not finished: when it is due, and the last
        # answer if WeCom already refused it once (retried with back-off)
        goes, held = outbox.send_time(row, calendar, now) if row.status == "pending" else (row.not_before, False)
        view["next_attempt_at"] = goes.isoformat() if goes else None
        if goes:
            view["_goes"], view["_held"] = goes, held
        view["last_errcode"], view["last_errmsg"] = row.errcode, row.errmsg
    return view
