"""Follow-up of directives (R16, R15; R4: nothing non-urgent outside working time):
reminders until the deadline (`send_reminders`, the reminders job) and what
happens at it (`escalate_due`, the escalation job).

The plan (`Directive.reminder_plan`, NULL: `DEFAULT_PLAN`):

- the first reminder `first_after_minutes` of working time after the card was
  delivered (2 working hours: delivered Tuesday 17:00 → Wednesday 10:00);
- then each working day at `daily_at` (10:00) plus 1–4 minutes (WeCom advises
  against :00 and :30; the jitter is the directive's, so that everyone due on a
  directive goes in one card batch);
- a last one `last_before_minutes` of working time before the deadline (2 working
  hours: a deadline on 国庆, 2026-10-01 10:00, gives 2026-09-30 16:00), none after it;
- at most `max_reminders` (NULL: no limit). Two reminders are never less than an
  hour apart (a daily one that close to the previous or the last one is skipped).

Weekends, holidays and 调休 working days come from the working calendar
(workcal.py). An urgent directive follows the same plan in calendar hours
(2 hours after delivery, every day at 10:00, 2 hours before the deadline) and its
reminders go at any hour, night or holiday: the issuer said it cannot wait. A
non-urgent reminder time always falls inside working time, and the outbox would
hold it until then anyway.

Only the people who have not done what the directive requires are reminded
(acknowledged for `ack`, completed for `completion`): acknowledging or
completing sets `next_reminder_at` to NULL (directives_acks.py), and the scan
checks again. Each reminder is a new card with a new task_id (directives_delivery
`send_cards(kind="reminder")`); its buttons count like the first card's.

`next_reminder_at` is the one column the scan reads (an index range scan). The
delivery settler sets it to the delivery time as a "plan my reminders" marker
(`reminders == 0` and `last_reminded_at` NULL): `send_reminders` then stores the
first reminder's time, or sends it at once if it is already due.

At the deadline (`escalate_due`, once per directive: `escalated_at`) the people
who got the card and had not done what it requires are overdue (`overdue_at`)
and each becomes an assessment record (R15, R16); those WeCom never reached
(undeliverable, or the card still queued) are not assessed but are listed. Each
overdue person's leader (`direct_leader`, else the leaders of their main
department, else of the departments above it) gets one text listing their own
people; the issuer and the custodians of the directive's groups (else the office
admins) get the full list. Texts wait for working time unless the directive is
urgent; outbox keys make a second run send nothing twice.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select, update

from . import assessments, ledger
from .directives_models import Directive, DirectiveReceipt
from .directory import Department, User, UserDepartment
from .groups import Group

if TYPE_CHECKING:  # workcal imports models, which import this module's neighbours
    from .workcal import WorkCalendar

DEFAULT_PLAN = {"first_after_minutes": 120, "daily_at": "10:00", "last_before_minutes": 120, "max_reminders": None}
MIN_GAP = timedelta(hours=1)  # never two reminders closer than this
MAX_MINUTES = 14 * 24 * 60
HHMM = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")
SCAN_LIMIT = 5000
MAX_SCANS = 40  # per run: 200,000 receipts; the rest next minute


@dataclasses.dataclass
class ReminderStats:
    planned: int = 0  # first reminder times stored
    reminded: int = 0  # people sent a reminder card
    directives: int = 0  # reminder batches (one per directive per run)
    cleared: int = 0  # nothing more due: acted, revoked, undeliverable or past the deadline


def check_plan(plan: dict) -> dict:
    """A custom plan, completed with the default's values; DirectiveError(field="reminder_plan")
    names what is wrong. `null` for a step leaves it out; `{"first_after_minutes": null,
    "daily_at": null, "last_before_minutes": null}` means no reminders at all."""
    from .directives import DirectiveError

    if not isinstance(plan, dict):
        raise DirectiveError("reminder_plan", "an object: first_after_minutes, daily_at, last_before_minutes, "
                                              "max_reminders")
    unknown = sorted(set(plan) - set(DEFAULT_PLAN))
    if unknown:
        raise DirectiveError("reminder_plan", f"unknown keys: {', '.join(unknown)}; known: {', '.join(DEFAULT_PLAN)}")
    checked = {**DEFAULT_PLAN, **plan}
    for key, low in (("first_after_minutes", 10), ("last_before_minutes", 10)):
        value = checked[key]
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or not low <= value <= MAX_MINUTES):
            raise DirectiveError("reminder_plan", f"{key}: whole minutes from {low} to {MAX_MINUTES}, or null")
    daily = checked["daily_at"]
    if daily is not None and not (isinstance(daily, str) and HHMM.fullmatch(daily)):
        raise DirectiveError("reminder_plan", "daily_at: a local time HH:MM (24 h), or null")
    most = checked["max_reminders"]
    if most is not None and (isinstance(most, bool) or not isinstance(most, int) or not 0 <= most <= 50):
        raise DirectiveError("reminder_plan", "max_reminders: 0 to 50, or null for no limit")
    return checked


# ---- the plan -----------------------------------------------------------------------------------------------------

class Planner:
    """One directive's reminder times on the working calendar (or in calendar hours when urgent)."""

    def __init__(self, directive: Directive, calendar: WorkCalendar):
        self.directive, self.calendar = directive, calendar
        self.plan = {**DEFAULT_PLAN, **(directive.reminder_plan or {})}
        self.urgent = bool(directive.urgent)
        # the directive's own 1-4 minutes past the hour (WeCom: not on :00 / :30)
        self.jitter = timedelta(seconds=60 + (directive.id * 7919) % 181)
        self.last = self._last()
        # a batch of 1,000 shares one delivery time, a run's reminders one send time
        self._firsts: dict[datetime, datetime | None] = {}
        self._following: dict[tuple[datetime, int], datetime | None] = {}

    def first(self, delivered_at: datetime) -> datetime | None:
        """The first reminder's time for a card delivered at `delivered_at`."""
        if delivered_at not in self._firsts:
            self._firsts[delivered_at] = self._first(delivered_at)
        return self._firsts[delivered_at]

    def _first(self, delivered_at: datetime) -> datetime | None:
        minutes = self.plan["first_after_minutes"]
        candidate = self._daily_after(delivered_at) if minutes is None else self._after(delivered_at, minutes)
        return self._choose(candidate, delivered_at, first=True)

    def following(self, reminded_at: datetime, reminders: int) -> datetime | None:
        """The reminder after one sent at `reminded_at` (the `reminders`-th); None after the last."""
        key = (reminded_at, reminders)
        if key not in self._following:
            self._following[key] = self._following_one(reminded_at, reminders)
        return self._following[key]

    def _following_one(self, reminded_at: datetime, reminders: int) -> datetime | None:
        most = self.plan["max_reminders"]
        if most is not None and reminders >= most:
            return None
        return self._choose(self._daily_after(reminded_at + MIN_GAP), reminded_at, first=False)

    def _choose(self, candidate: datetime | None, since: datetime, *, first: bool) -> datetime | None:
        if first and self.plan["max_reminders"] == 0:
            return None
        last, deadline = self.last, self.directive.deadline
        if candidate is not None and (candidate >= deadline or (last is not None and candidate > last - MIN_GAP)):
            candidate = None  # too close to the last one (or past it): the last one instead
        if candidate is not None:
            return candidate
        if last is not None and last - since >= MIN_GAP:
            return last
        return None

    def _after(self, moment: datetime, minutes: int) -> datetime:
        if self.urgent:
            return moment + timedelta(minutes=minutes)
        return self.calendar.next_working_time(self.calendar.add_working(moment, timedelta(minutes=minutes)))

    def _daily_after(self, moment: datetime) -> datetime | None:
        if self.plan["daily_at"] is None:
            return None
        at = time.fromisoformat(self.plan["daily_at"])
        if self.urgent:  # every day, holidays too
            tz = self.calendar.tz
            day = moment.astimezone(tz).date()
            candidate = datetime.combine(day, at, tz)
            if candidate <= moment:
                candidate = datetime.combine(day + timedelta(days=1), at, tz)
            return candidate + self.jitter
        return self.calendar.next_working_time(self.calendar.next_working_at(moment, at)) + self.jitter

    def _last(self) -> datetime | None:
        minutes = self.plan["last_before_minutes"]
        if minutes is None:
            return None
        deadline = self.directive.deadline
        if self.urgent:
            return deadline - timedelta(minutes=minutes) + self.jitter
        last = self.calendar.subtract_working(deadline, timedelta(minutes=minutes))
        jittered = last + self.jitter
        return jittered if self.calendar.is_working_time(jittered) and jittered < deadline else last


# ---- the job ------------------------------------------------------------------------------------------------------

def scan_due(session, now: datetime, limit: int = SCAN_LIMIT) -> list[DirectiveReceipt]:
    """The receipts whose next reminder (or first planning) is due: a range scan of
    ix_directive_receipt_reminder in its own order, NULLs never read."""
    return list(session.scalars(select(DirectiveReceipt).where(DirectiveReceipt.next_reminder_at <= now)
                                .order_by(DirectiveReceipt.next_reminder_at).limit(limit)))


def send_reminders(session, settings, calendar: WorkCalendar, now: datetime) -> ReminderStats:
    """Plan first reminders, send the due ones (one card batch per directive), clear
    what is no longer due. Works in the caller's transaction."""
    stats = ReminderStats()
    directives: dict[int, Directive | None] = {}
    planners: dict[int, Planner] = {}
    due: dict[int, list[DirectiveReceipt]] = {}
    for _ in range(MAX_SCANS):
        rows = scan_due(session, now)
        for receipt in rows:
            directive = _directive(session, directives, receipt.directive_id)
            if directive is None or not _still_due(directive, receipt, now):
                receipt.next_reminder_at = None
                stats.cleared += 1
                continue
            planner = planners.get(directive.id) or planners.setdefault(directive.id, Planner(directive, calendar))
            if receipt.reminders == 0 and receipt.last_reminded_at is None:  # "plan my reminders"
                first = planner.first(receipt.delivered_at or receipt.next_reminder_at)
                if first is None or first > now:
                    receipt.next_reminder_at = first
                    stats.planned += first is not None
                    stats.cleared += first is None
                    continue
            due.setdefault(directive.id, []).append(receipt)
            receipt.next_reminder_at = None  # out of the next scan; set below once sent
        session.flush()
        if len(rows) < SCAN_LIMIT:
            break
    for directive_id, receipts in due.items():
        _remind(session, settings, directives[directive_id], planners[directive_id], receipts, now)
        stats.directives += 1
        stats.reminded += len(receipts)
    return stats


def _remind(session, settings, directive: Directive, planner: Planner, receipts: list[DirectiveReceipt],
            now: datetime) -> None:
    from .directives_delivery import send_cards

    receipts.sort(key=lambda r: r.userid)
    number = max(r.reminders for r in receipts) + 1
    userids = [r.userid for r in receipts]
    batches = send_cards(session, settings, directive, userids, now=now, kind="reminder", reminder=number,
                         urgent=directive.urgent)
    # a non-urgent card queued outside working time goes at the next working moment: count from then
    sent_at = now if directive.urgent else planner.calendar.next_working_time(now)
    for receipt in receipts:
        receipt.reminders += 1
        receipt.last_reminded_at = now
        receipt.next_reminder_at = planner.following(sent_at, receipt.reminders)
    for batch in batches:  # one entry per card batch (at most 1,000 people), as `delivered` has
        ledger.append(session, "reminded", at=now, directive_id=directive.id, version=directive.version,
                      userids=list(batch.userids), reminder=number, batch=batch.id, task_id=batch.task_id)


def _directive(session, cache: dict[int, Directive | None], directive_id: int) -> Directive | None:
    if directive_id not in cache:
        cache[directive_id] = session.get(Directive, directive_id)
    return cache[directive_id]


def _still_due(directive: Directive, receipt: DirectiveReceipt, now: datetime) -> bool:
    """Worth a reminder: active, before the deadline, delivered, not done yet."""
    done = receipt.completed_at if directive.require == "completion" else receipt.acknowledged_at
    return (directive.status == "active" and directive.escalated_at is None and directive.deadline > now
            and receipt.status in ("delivered", "acknowledged") and receipt.version == directive.version
            and done is None)


# ---- the deadline -------------------------------------------------------------------------------------------------

ESCALATE_LIMIT = 20  # directives per run; the next run takes the rest
TEXT_MAX_BYTES = 2000  # a text message holds at most 2048 bytes (90236)
STATUS_ACTIVE = 1
UNDONE_WORDS = {"ack": "未确认", "completion": "未办结"}


@dataclasses.dataclass
class EscalationStats:
    directives: int = 0
    overdue: int = 0  # assessed
    undelivered: int = 0  # listed, not assessed
    leaders: int = 0  # summaries queued


def escalate_due(session, settings, now: datetime) -> EscalationStats:
    """Process the deadlines that have passed (ix_directive_due); each directive once."""
    stats = EscalationStats()
    d = Directive
    query = (select(d).where(d.status == "active", d.escalated_at.is_(None), d.deadline <= now)
             .order_by(d.deadline, d.id).limit(ESCALATE_LIMIT).with_for_update(skip_locked=True))
    for directive in session.scalars(query).all():
        _escalate(session, settings, directive, now, stats)
        stats.directives += 1
    return stats


def _escalate(session, settings, directive: Directive, now: datetime, stats: EscalationStats) -> None:
    from .directives_delivery import tell

    r = DirectiveReceipt
    done = r.completed_at if directive.require == "completion" else r.acknowledged_at
    rows = session.execute(select(r.id, r.userid, r.status).where(r.directive_id == directive.id, done.is_(None))
                           .order_by(r.userid)).all()
    overdue = [(row.id, row.userid) for row in rows if row.status in ("delivered", "acknowledged")]
    missed = [row.userid for row in rows if row.status not in ("delivered", "acknowledged")]
    ids = [i for i, _ in overdue]
    for start in range(0, len(ids), 500):
        session.execute(update(r).where(r.id.in_(ids[start:start + 500])).values(overdue_at=now))
    session.execute(update(r).where(r.directive_id == directive.id, r.next_reminder_at.is_not(None))
                    .values(next_reminder_at=None))
    people = _people(session, [u for _, u in overdue] + missed)  # also puts the users in the identity map
    word = UNDONE_WORDS[directive.require]
    with session.no_autoflush:  # not one INSERT per record: they are new rows with distinct sources
        for receipt_id, userid in overdue:
            assessments.record(session, settings, userid, source="directive", source_id=receipt_id, rule="R16",
                               at=now, note=f"指令《{directive.title}》逾期{word}")
    session.flush()
    leaders = _leaders(session, people, [u for _, u in overdue])
    for leader, theirs in sorted(leaders.items()):
        tell(session, directive, [leader], _leader_text(settings, directive, people, theirs),
             key=f"directive:{directive.id}:overdue:leader:{leader}", now=now, urgent=directive.urgent)
    full_to = _full_list_to(session, settings, directive) if overdue or missed else []
    if full_to:
        tell(session, directive, full_to, _full_text(settings, directive, people, [u for _, u in overdue], missed),
             key=f"directive:{directive.id}:overdue:full", now=now, urgent=directive.urgent)
    if overdue or missed:
        ledger.append(session, "overdue", at=now, directive_id=directive.id, version=directive.version,
                      userids=[u for _, u in overdue], undelivered=missed, require=directive.require)
    ledger.append(session, "escalated", at=now, directive_id=directive.id, version=directive.version,
                  leaders=sorted(leaders), full_list=full_to, overdue=len(overdue), undelivered=len(missed))
    directive.escalated_at = now
    stats.overdue += len(overdue)
    stats.undelivered += len(missed)
    stats.leaders += len(leaders)


def _people(session, userids: list[str]) -> dict[str, tuple[User | None, str]]:
    """userid → (the mirror's user, their main department's name)."""
    users: dict[str, User] = {}
    for start in range(0, len(userids), 500):
        users.update((u.userid, u) for u in session.scalars(select(User).where(
            User.userid.in_(userids[start:start + 500]))))
    names = dict(session.execute(select(Department.id, Department.name).where(
        Department.id.in_({u.main_department for u in users.values() if u.main_department is not None}))).all())
    return {u: (users.get(u), names.get(users[u].main_department, "") if u in users else "") for u in userids}


def _leaders(session, people: dict[str, tuple[User | None, str]], userids: list[str]) -> dict[str, list[str]]:
    """leader → the overdue people they answer for: the person's active direct leaders,
    else the active leaders of their main department, else of the departments above."""
    wanted = {leader for u in userids if people[u][0] for leader in people[u][0].direct_leader or []}
    active = _active(session, wanted)
    departments: dict[int, tuple[list[str], int]] = {}
    result: dict[str, list[str]] = {}
    for userid in userids:
        user = people[userid][0]
        direct = (user.direct_leader or []) if user else []
        mine = [leader for leader in direct if leader != userid and leader in active]
        department_id, hops = (user.main_department if user else None), 0
        while not mine and department_id and hops < 20:
            if department_id not in departments:
                departments[department_id] = _department_leaders(session, department_id)
            leaders, parent = departments[department_id]
            mine = [leader for leader in leaders if leader != userid]
            department_id, hops = parent, hops + 1
        for leader in dict.fromkeys(mine):
            result.setdefault(leader, []).append(userid)
    return result


def _department_leaders(session, department_id: int) -> tuple[list[str], int]:
    """(the department's active leaders, its parent id)."""
    department = session.get(Department, department_id)
    if department is None:
        return [], 0
    flagged = session.scalars(select(UserDepartment.userid).where(UserDepartment.department_id == department_id,
                                                                  UserDepartment.is_leader.is_(True))).all()
    leaders = list(dict.fromkeys([*(department.department_leader or []), *flagged]))
    active = _active(session, leaders)
    return [u for u in leaders if u in active], department.parentid


def _active(session, userids) -> set[str]:
    userids, found = list(userids), set()
    for start in range(0, len(userids), 500):
        found.update(session.scalars(select(User.userid).where(User.userid.in_(userids[start:start + 500]),
                                                               User.status == STATUS_ACTIVE)))
    return found


def _full_list_to(session, settings, directive: Directive) -> list[str]:
    """The issuer (a person, not an API token) and the custodians of the directive's
    groups, else the office admins."""
    groups = [int(g) for g in (directive.assignees or {}).get("groups") or []]
    custodians = [c for c in session.scalars(select(Group.custodian).where(Group.id.in_(groups))) if c]
    custodians = sorted(_active(session, custodians)) or list(settings.admins)
    issuer = [] if directive.issuer.startswith("api:") else [directive.issuer]
    return list(dict.fromkeys(issuer + custodians))


def _who(people, userid: str, *, with_id: bool = True) -> str:
    user, department = people.get(userid, (None, ""))
    name = (user.name if user else "") or userid
    inside = "，".join(x for x in (userid if with_id else "", department) if x)
    return f"{name}（{inside}）" if inside else name


def _leader_text(settings, directive: Directive, people, theirs: list[str]) -> str:
    from .directives_delivery import REQUIRE_WORDS, directive_url, local

    deadline, required = local(settings, directive.deadline), REQUIRE_WORDS[directive.require]
    head = [f"【指令逾期】《{directive.title}》已于 {deadline} 截止（要求{required}）。",
            f"您负责的人员中 {len(theirs)} 人逾期{UNDONE_WORDS[directive.require]}，已记入考核："]
    return _fit(head, [("", [_who(people, u) for u in theirs])], [f"详情：{directive_url(settings, directive)}"])


def _full_text(settings, directive: Directive, people, overdue: list[str], missed: list[str]) -> str:
    from .directives_delivery import REQUIRE_WORDS, directive_url, local

    word = UNDONE_WORDS[directive.require]
    deadline, required = local(settings, directive.deadline), REQUIRE_WORDS[directive.require]
    head = [f"【指令逾期名单】《{directive.title}》已于 {deadline} 截止（要求{required}）。"]
    sections = [(f"已送达、逾期{word} {len(overdue)} 人（已记入考核）：", [_who(people, u) for u in overdue]),
                (f"未送达 {len(missed)} 人（未收到指令，不记入考核）：", [_who(people, u) for u in missed])]
    return _fit(head, sections, [f"完整名单：{directive_url(settings, directive)}"])


def _fit(head: list[str], sections: list[tuple[str, list[str]]], tail: list[str]) -> str:
    """The lines within WeCom's 2,048 bytes: each list gets an equal share of the room
    (what one leaves over goes to the next), and one that does not fit says how many more."""
    sections = [(heading, names) for heading, names in sections if names]
    lines = list(head)
    budget = TEXT_MAX_BYTES - _size(head + tail) - 30 * len(sections)
    for left, (heading, names) in zip(range(len(sections), 0, -1), sections):
        if heading:
            lines.append(heading)
            budget -= _size([heading]) + 1
        share, used = budget // left, 0
        for i, name in enumerate(names):
            if used + _size([name]) + 1 > share:
                lines.append(f"……另有 {len(names) - i} 人")
                break
            lines.append(name)
            used += _size([name]) + 1
        budget -= used
    return "\n".join(lines + tail)


def _size(lines: list[str]) -> int:
    return len("\n".join(lines).encode())
