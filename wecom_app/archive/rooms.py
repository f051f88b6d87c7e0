"""Internal groups come into view (issue 12 item 4): every `roomid` the archive shows is
read with msgaudit/groupchat/get (roomname, creator, room_create_time, notice, members
[{memberid, jointime}]: developer.work.weixin.qq.com/document/path/92951) and becomes a
discovered internal group (Group kind `internal`, status `discovered`, chat_id = roomid),
queued for registration like discovered customer groups (`GET /api/v1/groups?status=pending`;
registered with `POST /api/v1/groups/register {kind: "internal", chat_id: roomid, ...}`).

- A roomid that is already a group we know (a customer group's chat_id, a managed group's
  chatid, an internal group registered by its roomid) is linked to it; only internal groups
  are read here (customer and managed groups have their own reads: reconcile.py).
- A room msgaudit/groupchat/get will not describe (301059: not an internal group, e.g. a
  group with customers — wecom-api-notes §6; the code is UNCONFIRMED, so any non-transient
  error counts) is kept with its error and read again after an hour and a day, then no more.
- A registered internal group's members are mirrored from each read — joins recorded with
  their join time, leavers marked removed — and judged by the same rules as other kinds
  (rules.judge: R1 not an active employee, R11 out of scope, R2 real name). What the app
  cannot do is said where it tells the custodian (rules._custodian_task): WeCom has no API
  to remove anyone from an internal group, so each finding is a custodian task and a
  violation, never a removal.
- A group is read again when someone who is not a member we know speaks in it, and on
  reconciliation (every RECONCILE_EVERY, like the reconcile job's 15 minutes).
- msgaudit/get_permit_user_list (91614) says whose chats are archived: the group page shows
  "messages of N of its M members are seen" (coverage.py).
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import datetime, timedelta, timezone

from sqlalchemy import delete, or_, select

from wecom_app.audit import audit
from wecom_app.governance import members, membership
from wecom_app.logs import kv
from wecom_app.models import ArchiveCursor, ArchivePermitUser, ArchiveRoom, Group, GroupMember
from wecom_app.wecom.errors import WeComAuthError, WeComError, WeComRateLimited

log = logging.getLogger("wecom.archive.rooms")

READS_PER_RUN = 50
RECONCILE_EVERY = timedelta(minutes=15)
READ_RETRIES = (timedelta(hours=1), timedelta(days=1))  # a room WeCom will not describe: read again twice, then no more
PERMIT_EVERY = timedelta(hours=1)


@dataclasses.dataclass
class RoomCounts:
    read: int = 0
    discovered: int = 0
    joined: int = 0
    left: int = 0
    not_readable: int = 0  # an error kept on the room
    given_up: int = 0
    stopped: str | None = None  # rate_limited, auth, unavailable

    @property
    def total(self) -> int:
        return self.read + self.not_readable


# -- while pulling: the room of each stored message -----------------------------------------------


def note_message(session, settings, message, now: datetime, counts, cache: dict | None = None) -> ArchiveRoom:
    """The room of a message just stored; a new room, or a new speaker in an internal group,
    makes a read due. `cache`: one dict per page, so a page of 1,000 messages in a few rooms
    asks the database about each room and each speaker once."""
    cache = {} if cache is None else cache
    room = cache.get(message.roomid)
    if room is None:
        room = session.scalar(select(ArchiveRoom).where(ArchiveRoom.roomid == message.roomid))
    if room is None:
        group = session.scalar(select(Group).where(Group.chat_id == message.roomid))
        room = ArchiveRoom(roomid=message.roomid, group_id=group.id if group else None, first_seen_at=now,
                           messages=0, read_attempts=0,
                           read_due_at=now if group is None or group.kind == "internal" else None)
        session.add(room)
        session.flush()
        counts.new_rooms += 1
    cache[message.roomid] = room
    room.messages = (room.messages or 0) + 1
    when = message.msgtime or now
    if room.last_message_at is None or when > _aware(room.last_message_at):
        room.last_message_at = when
    speaker = (message.roomid, message.sender)
    if speaker in cache:
        return room
    cache[speaker] = True
    if message.sender and room.group_id and room.read_due_at is None and room.read_errcode is None:
        group = session.get(Group, room.group_id)
        if group is not None and group.kind == "internal" and group.status not in ("dismissed", "archived"):
            sender = message.sender if members.is_external(message.sender) else message.sender.lower()
            member = members.member_row(session, group, sender)
            if member is None or member.state != "present":  # someone we have not seen in it: read its members
                room.read_due_at = now
    return room


# -- reading rooms: msgaudit/groupchat/get --------------------------------------------------------


def read_due(session_factory, client, settings, now: datetime, *, budget: int = READS_PER_RUN) -> RoomCounts:
    """Read the rooms due (new, a new speaker, a retry) and the internal groups due for
    reconciliation; one transaction per room."""
    counts = RoomCounts()
    with session_factory() as session:
        due = session.scalars(select(ArchiveRoom.id).outerjoin(Group, Group.id == ArchiveRoom.group_id).where(or_(
            ArchiveRoom.read_due_at <= now,
            (Group.kind == "internal") & Group.status.in_(("active", "discovered")) & ArchiveRoom.read_errcode.is_(None)
            & or_(Group.reconciled_at.is_(None), Group.reconciled_at <= now - RECONCILE_EVERY),
        )).order_by(ArchiveRoom.read_due_at.asc().nulls_last(), ArchiveRoom.id).limit(budget)).all()
    for room_id in due:
        with session_factory() as session:
            roomid = session.get(ArchiveRoom, room_id).roomid
        try:
            info = client.msgaudit_groupchat_get(roomid)
        except WeComRateLimited:
            counts.stopped = "rate_limited"
            break
        except WeComAuthError as exc:  # the archive's secret: the pull records and reports it
            counts.stopped = "auth"
            log.warning(kv("wecom.archive.room_read_refused", errcode=exc.errcode))
            break
        except WeComError as exc:
            if exc.errcode is None or exc.transient:
                counts.stopped = "unavailable"
                break
            _not_readable(session_factory, room_id, exc, now, counts)
            continue
        _apply(session_factory, settings, room_id, info, now, counts)
    if due:
        log.info(kv("wecom.archive.rooms", **dataclasses.asdict(counts)))
    return counts


def _not_readable(session_factory, room_id: int, exc: WeComError, now: datetime, counts: RoomCounts) -> None:
    with session_factory.begin() as session:
        room = session.get(ArchiveRoom, room_id)
        first = room.read_errcode != exc.errcode
        room.read_errcode, room.read_error = exc.errcode, str(exc)[:500]
        room.read_attempts = (room.read_attempts or 0) + 1
        if room.read_attempts <= len(READ_RETRIES):
            room.read_due_at = now + READ_RETRIES[room.read_attempts - 1]
        else:
            room.read_due_at = None  # kept with its error, not read again
            counts.given_up += 1
        counts.not_readable += 1
        if first:
            log.info(kv("wecom.archive.room_not_readable", roomid=room.roomid, errcode=exc.errcode))


def _apply(session_factory, settings, room_id: int, info: dict, now: datetime, counts: RoomCounts) -> None:
    with session_factory.begin() as session:
        room = session.get(ArchiveRoom, room_id)
        group = session.get(Group, room.group_id) if room.group_id else None
        if group is None:
            group = session.scalar(select(Group).where(Group.chat_id == room.roomid))
        if group is None:
            group = Group(kind="internal", chat_id=room.roomid, name=_text(info.get("roomname"), 128),
                          owner=_userid(info.get("creator")), status="discovered", created_by="system",
                          created_at=now)
            session.add(group)
            session.flush()
            audit(session, "system", "group.discovered", f"group:{group.id}", now=now, chat_id=room.roomid,
                  kind="internal", source="msgaudit")
            counts.discovered += 1
        room.group_id = group.id
        room.read_at, room.read_due_at, room.read_attempts, room.read_errcode, room.read_error = now, None, 0, None, None
        counts.read += 1
        if group.kind == "internal":
            apply_internal_group(session, settings, group, info, now, counts)


def apply_internal_group(session, settings, group: Group, info: dict, now: datetime, counts=None) -> None:
    """A msgaudit/groupchat/get answer (92951) applied to an internal group: joins recorded
    with their join time and judged (once the group is registered), leavers removed, every
    present member judged again (R1, R11, R2: the scope or the directory may have changed)."""
    counts = counts or RoomCounts()
    if group.status == "discovered":
        group.name = _text(info.get("roomname"), 128) or group.name
        group.owner = _userid(info.get("creator")) or group.owner
    listed: dict[str, int | None] = {}
    for member in info.get("members") or ():
        if isinstance(member, dict) and isinstance(member.get("memberid"), str) and member["memberid"]:
            jointime = member.get("jointime")
            listed[_userid(member["memberid"])] = jointime if isinstance(jointime, int) else None
    rows = {m.member_id: m for m in session.scalars(select(GroupMember).where(GroupMember.group_id == group.id))}
    for member_id, jointime in listed.items():
        row = rows.get(member_id)
        if row is None or row.state != "present":
            membership.member_joined(session, settings, group, member_id, now, join_time=jointime)  # judged if registered
            counts.joined += 1
        else:
            row.join_time = jointime or row.join_time
            if group.status == "active":
                membership.review_member(session, settings, group, row, now)
    for member_id, row in rows.items():
        if member_id not in listed and row.state == "present":
            membership.member_left(session, group, member_id, now, quit_scene="msgaudit")
            counts.left += 1
    group.reconciled_at = now


def _userid(value) -> str:
    if not isinstance(value, str):
        return ""
    value = value.strip()[:64]
    return value if members.is_external(value) else value.lower()


def _text(value, limit: int) -> str:
    return value.replace("\x00", "")[:limit] if isinstance(value, str) else ""


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


# -- who is archived: msgaudit/get_permit_user_list ----------------------------------------------


def read_permit_users(session_factory, client, settings, now: datetime, *, force: bool = False) -> int | None:
    """The members in the archive's scope (91614), read hourly; None when not read now."""
    with session_factory() as session:
        row = session.scalar(select(ArchiveCursor).where(ArchiveCursor.corp_id == settings.corp_id))
        last = row.permit_read_at if row else None
    if not force and last is not None and now - _aware(last) < PERMIT_EVERY:
        return None
    try:
        ids = client.msgaudit_permit_users().get("ids") or []
    except WeComError as exc:
        with session_factory.begin() as session:
            _cursor(session, settings, now).permit_error = str(exc)[:500]
        log.warning(kv("wecom.archive.permit_failed", errcode=exc.errcode))
        return None
    userids = sorted({_userid(u) for u in ids if isinstance(u, str) and u.strip()})
    with session_factory.begin() as session:
        session.execute(delete(ArchivePermitUser))
        session.add_all([ArchivePermitUser(userid=u, read_at=now) for u in userids])
        row = _cursor(session, settings, now)
        row.permit_read_at, row.permit_error = now, None
    return len(userids)


def _cursor(session, settings, now: datetime) -> ArchiveCursor:
    """The corp's cursor row (pull.cursor; not imported from there: pull imports this module)."""
    row = session.scalar(select(ArchiveCursor).where(ArchiveCursor.corp_id == settings.corp_id))
    if row is None:
        row = ArchiveCursor(corp_id=settings.corp_id, seq=0, error_count=0, created_at=now, updated_at=now)
        session.add(row)
    return row
