"""Group activity from the archive (issue 12 items 5 and 7; R4, R17, R6): messages per group
per week, work talk outside working hours per group and person, silent groups, and the weekly
summary to the office and each custodian.

- `tally` (a reader of archive/job.py READERS) counts each newly stored group message into
  `ArchiveTally` (room, the company-time week's Monday, sender). The counts outlive the
  retained content (retention.py).
- Work talk outside working hours (R4) is, here: a text (a message with text the content rules
  read: text, markdown, link) sent by an employee (not an external contact: customers write when
  they like) in a group, at a moment that is not working time by the company calendar
  (workcal.py: WORK_HOURS on working days, holidays and 调休 included). Nothing tells work talk
  from small talk in a text, so every such text counts; it is counted, never a violation per
  message: the weekly summary shows who and where, and the custodian talks to them.
- A silent group is a governed group with no archived message in 90 days (SILENT_AFTER), and
  only once the archive has been pulling for 90 days (else "no message" means "not watched
  yet"): proposed to its custodian and the office for clean-up (R6), never dismissed by the app.
- `weekly_summary` (job archive_weekly, hourly) sends, once per week, last week's figures: to
  the office every governed group, to each custodian their own groups. Non-urgent texts through
  the outbox, so they wait for working time (R4).
"""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, timedelta, timezone

from sqlalchemy import func, select

from wecom_app.governance import members
from wecom_app.models import ArchiveCursor, ArchivedMessage, ArchiveRoom, ArchiveTally, Group, OutboxAction, User
from wecom_app.models.groups import GOVERNED
from wecom_app.wecom import outbox
from wecom_app.wecom.textlimits import clip, fit
from wecom_app.workcal import load_calendar

SILENT_AFTER = timedelta(days=90)
WEEKS_SHOWN = 8
_CALENDAR = "archive.activity.calendar"  # session.info: the calendar, loaded once per page's transaction


def week_of(moment: datetime, tz) -> date:
    """The Monday (company time) of the week `moment` falls in."""
    local = _aware(moment).astimezone(tz).date()
    return local - timedelta(days=local.weekday())


def is_work_talk(message: ArchivedMessage) -> bool:
    return bool(message.state == "stored" and message.content and message.sender
                and not members.is_external(message.sender))


def tally(session, settings, message: ArchivedMessage, room, now: datetime) -> None:
    """A reader (archive/pull.py): count a newly stored group message."""
    if message.state != "stored" or not message.roomid:
        return
    when = message.msgtime or now
    calendar = session.info.get(_CALENDAR)
    if calendar is None:
        calendar = session.info[_CALENDAR] = load_calendar(session, settings)
    off = is_work_talk(message) and not calendar.is_working_time(when)
    sender = message.sender or ""
    sender = sender if members.is_external(sender) else sender.lower()
    week = week_of(when, settings.tz)
    row = session.scalar(select(ArchiveTally).where(ArchiveTally.roomid == message.roomid, ArchiveTally.week == week,
                                                    ArchiveTally.userid == sender))
    if row is None:  # one pull at a time (the cursor's lease): no race on the unique key
        row = ArchiveTally(roomid=message.roomid, week=week, userid=sender, messages=0, off_hours=0)
        session.add(row)
    row.messages += 1
    row.off_hours += int(off)
    session.flush()


# -- reading the figures --------------------------------------------------------------------------


@dataclasses.dataclass
class GroupActivity:
    group_id: int
    name: str
    custodian: str
    weeks: dict[date, int]  # messages per week (Monday), the weeks asked for
    off_hours: list[tuple[str, int]]  # (userid, texts outside working time), most first
    last_message_at: datetime | None
    silent: bool

    @property
    def off_hours_total(self) -> int:
        return sum(n for _u, n in self.off_hours)


def watched_since(session) -> datetime | None:
    """Since when the archive has been pulling (its cursor's creation), None if never."""
    created = session.scalar(select(func.min(ArchiveCursor.created_at)))
    return _aware(created) if created else None


def activity(session, settings, groups: list[Group], now: datetime, *, weeks: int = WEEKS_SHOWN,
             off_hours_weeks: int | None = None) -> list[GroupActivity]:
    """Each group's messages per week for the last `weeks` weeks (this one included), its
    off-hours texts per person over the last `off_hours_weeks` (default: the same weeks),
    and whether it is silent."""
    this_week = week_of(now, settings.tz)
    first = this_week - timedelta(weeks=weeks - 1)
    first_off = this_week - timedelta(weeks=(off_hours_weeks or weeks) - 1)
    by_room = {g.chat_id: g for g in groups if g.chat_id}
    found = {g.id: GroupActivity(g.id, g.name, g.custodian, {first + timedelta(weeks=i): 0 for i in range(weeks)},
                                 [], None, False) for g in groups}
    if by_room:
        rooms = list(by_room)
        for roomid, week, count in session.execute(
                select(ArchiveTally.roomid, ArchiveTally.week, func.sum(ArchiveTally.messages))
                .where(ArchiveTally.roomid.in_(rooms), ArchiveTally.week >= first, ArchiveTally.week <= this_week)
                .group_by(ArchiveTally.roomid, ArchiveTally.week)):
            found[by_room[roomid].id].weeks[week] = int(count or 0)
        off = session.execute(
            select(ArchiveTally.roomid, ArchiveTally.userid, func.sum(ArchiveTally.off_hours).label("n"))
            .where(ArchiveTally.roomid.in_(rooms), ArchiveTally.week >= first_off, ArchiveTally.week <= this_week,
                   ArchiveTally.off_hours > 0)
            .group_by(ArchiveTally.roomid, ArchiveTally.userid))
        for roomid, userid, n in off:
            found[by_room[roomid].id].off_hours.append((userid, int(n)))
        for roomid, last in session.execute(select(ArchiveRoom.roomid, ArchiveRoom.last_message_at)
                                            .where(ArchiveRoom.roomid.in_(rooms))):
            found[by_room[roomid].id].last_message_at = _aware(last) if last else None
    since = watched_since(session)
    watched_long = since is not None and since <= now - SILENT_AFTER
    for group in groups:
        entry = found[group.id]
        entry.off_hours.sort(key=lambda item: (-item[1], item[0]))
        last = entry.last_message_at
        entry.silent = bool(group.status in GOVERNED and watched_long and (last is None or last <= now - SILENT_AFTER)
                            and _aware(group.registered_at or group.created_at) <= now - SILENT_AFTER)
    return [found[g.id] for g in groups]


def governed_groups(session, custodian: str | None = None) -> list[Group]:
    query = select(Group).where(Group.status.in_(GOVERNED))
    if custodian is not None:
        query = query.where(Group.custodian == custodian)
    return list(session.scalars(query.order_by(Group.id)))


# -- the weekly summary ---------------------------------------------------------------------------


def weekly_summary(session, settings, now: datetime) -> int:
    """Last week's summary to the office and to each custodian (their own groups), once a week
    (the outbox key); the number of texts queued."""
    if not settings.archive_enabled:
        return 0
    week = week_of(now, settings.tz) - timedelta(weeks=1)
    office_key = f"archive.weekly:{week.isoformat()}:office"
    if session.scalar(select(OutboxAction.id).where(OutboxAction.idempotency_key == office_key)) is not None:
        return 0  # sent already this week
    groups = governed_groups(session)
    figures = activity(session, settings, groups, now, weeks=2, off_hours_weeks=1)
    names = dict(session.execute(select(User.userid, User.name)).all())
    queued = 0
    admins = [a for a in dict.fromkeys(settings.admins) if a]
    if admins and figures:
        text = summary_text(figures, week, names, settings, for_office=True)
        outbox.enqueue(session, "message/send", {"touser": "|".join(admins), "msgtype": "text",
                                                 "text": {"content": text}}, key=office_key, now=now)
        queued += 1
    by_custodian: dict[str, list[GroupActivity]] = {}
    for entry in figures:
        if entry.custodian:
            by_custodian.setdefault(entry.custodian, []).append(entry)
    for custodian, own in sorted(by_custodian.items()):
        text = summary_text(own, week, names, settings, for_office=False)
        outbox.enqueue(session, "message/send", {"touser": custodian, "msgtype": "text", "text": {"content": text}},
                       key=f"archive.weekly:{week.isoformat()}:{custodian}", now=now)
        queued += 1
    return queued


def summary_text(figures: list[GroupActivity], week: date, names: dict, settings, *, for_office: bool) -> str:
    """One text within WeCom's 2048 bytes (textlimits.fit): per group last week's messages,
    texts outside working time (R4) by person, and the silent groups proposed for clean-up."""
    end = week + timedelta(days=6)
    head = [f"【群活跃度周报】{week:%m-%d} 至 {end:%m-%d}（{'全部已备案群' if for_office else '您负责的群'}）"]
    lines, off, silent = [], [], []
    for entry in sorted(figures, key=lambda e: -e.weeks.get(week, 0)):
        name = clip(entry.name or "", 20)
        lines.append(f"· {name}：{entry.weeks.get(week, 0)} 条消息")
        if entry.off_hours:
            people = "、".join(f"{clip(names.get(u) or u, 8)} {n}" for u, n in entry.off_hours[:5])
            off.append(f"· {name}：{entry.off_hours_total} 条（{people}）")
        if entry.silent:
            silent.append(f"· {name}")
    sections = [("各群消息数（R17）：", lines),
                ("非工作时间在群里谈工作（R4，按人计数，不逐条记违规）：", off),
                ("90 天无人发言，建议清理（R6）：", silent)]
    tail = [f"详情：{settings.public_url.rstrip('/')}/groups"]
    return fit(head, sections, tail)


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)
