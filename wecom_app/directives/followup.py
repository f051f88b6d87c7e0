"""Follow-up of directives (R16, R15; R4: nothing non-urgent outside working time):
reminders until the deadline (`send_reminders`, the reminders job); what happens
at the deadline is directives/escalation.py (the escalation job).

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
completing sets `next_reminder_at` to NULL (directives/acks.py), and the scan
checks again. Each reminder is a new card with a new task_id (directives_delivery
`send_cards(kind="reminder")`); its buttons count like the first card's.

`next_reminder_at` is the one column the scan reads (an index range scan). The
delivery settler sets it to the delivery time as a "plan my reminders" marker
(`reminders == 0` and `last_reminded_at` NULL): `send_reminders` then stores the
first reminder's time, or sends it at once if it is already due.
The deadline itself is directives/escalation.py.

立即提醒 (`remind_now`, `remind_plan`): a reminder to the people not done who were
not reminded within a reminder's lifetime. A reminder lives until it went (a held
one: the next working window's start plus the directive's 1-4 minutes, the outbox's
own rule, `outbox.held_until`) and then `REMIND_AGAIN_AFTER` (one hour, the plan's
`MIN_GAP`): a second tap in that time reminds nobody twice and is refused with when
the last one went or goes. An urgent directive's reminder goes at once, night or
holiday.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import datetime, time, timedelta

from sqlalchemy import select

from wecom_app.counts import Counts
from wecom_app.directives import ledger
from wecom_app.directives.delivery import send_cards
from wecom_app.directives.errors import DirectiveError
from wecom_app.models import Directive, DirectiveReceipt
from wecom_app.models.directives import done_at, done_column
from wecom_app.wecom import outbox
from wecom_app.workcal import WorkCalendar, load_calendar

DEFAULT_PLAN = {"first_after_minutes": 120, "daily_at": "10:00", "last_before_minutes": 120, "max_reminders": None}
MIN_GAP = timedelta(hours=1)  # never two reminders closer than this
REMIND_AGAIN_AFTER = MIN_GAP  # 立即提醒: a person reminded is not reminded again until this long after it went
MAX_MINUTES = 14 * 24 * 60
HHMM = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")
SCAN_LIMIT = 5000
MAX_SCANS = 40  # per run: 200,000 receipts; the rest next minute


@dataclasses.dataclass
class ReminderStats(Counts):
    planned: int = 0  # first reminder times stored
    reminded: int = 0  # people sent a reminder card
    directives: int = 0  # reminder batches (one per directive per run)
    cleared: int = 0  # nothing more due: acted, revoked, undeliverable or past the deadline


def check_plan(plan: dict) -> dict:
    """A custom plan, completed with the default's values; DirectiveError(field="reminder_plan")
    names what is wrong. `null` for a step leaves it out; `{"first_after_minutes": null,
    "daily_at": null, "last_before_minutes": null}` means no reminders at all."""
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
    ledger.lock(session)  # first, as every change to receipts does
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
            now: datetime, *, actor: str = "system", manual: bool = False) -> None:
    receipts.sort(key=lambda r: r.userid)
    number = max(r.reminders for r in receipts) + 1
    userids = [r.userid for r in receipts]
    # a non-urgent card queued outside working time goes at the next working moment (R4), its
    # batches together: count the next reminder from then
    sent_at = reminder_goes_at(directive, planner.calendar, now)
    batches = send_cards(session, settings, directive, userids, now=now, kind="reminder", reminder=number,
                         urgent=directive.urgent, not_before=sent_at)
    for receipt in receipts:
        receipt.reminders += 1
        receipt.last_reminded_at = now
        receipt.next_reminder_at = planner.following(sent_at, receipt.reminders)
    extra = {"manual": True} if manual else {}
    for batch in batches:  # one entry per card batch (at most 1,000 people), as `delivered` has
        ledger.append(session, "reminded", at=now, directive_id=directive.id, actor=actor, version=directive.version,
                      userids=list(batch.userids), reminder=number, batch=batch.id, task_id=batch.task_id, **extra)


def not_done_query(directive: Directive):
    """The receipts a reminder can still reach: their card delivered for this version,
    not done what the directive requires."""
    r = DirectiveReceipt
    done = done_column(directive)
    return select(r).where(r.directive_id == directive.id, r.version == directive.version,
                           r.status.in_(("delivered", "acknowledged")), done.is_(None))


def not_done(session, directive: Directive) -> list[DirectiveReceipt]:
    return list(session.scalars(not_done_query(directive).order_by(DirectiveReceipt.userid)))


def reminder_goes_at(directive: Directive, calendar: WorkCalendar, queued_at: datetime) -> datetime:
    """When a reminder queued at `queued_at` goes: at once if urgent or in working time,
    else the outbox's hold (R4) with the directive's own jitter, so that its batches go together."""
    return outbox.held_until(calendar, queued_at, seed=directive.id, urgent=bool(directive.urgent))


@dataclasses.dataclass
class RemindPlan:
    """What 立即提醒 would do now."""
    people: list[DirectiveReceipt]  # whom a tap reminds
    goes_at: datetime  # when that reminder goes
    held: bool  # it waits for working time (R4)
    waiting: int  # not done, but reminded within the lifetime: not reminded again yet
    last_goes_at: datetime | None  # when the latest of those reminders went or goes
    again_at: datetime | None  # when a tap reminds them again


def remind_plan(session, directive: Directive, calendar: WorkCalendar, now: datetime) -> RemindPlan:
    people, waiting, last, again = [], 0, None, None
    for receipt in not_done(session, directive):
        went = reminder_goes_at(directive, calendar, receipt.last_reminded_at) if receipt.last_reminded_at else None
        if went is not None and now < went + REMIND_AGAIN_AFTER:
            waiting += 1
            last = went if last is None else max(last, went)
            again = went + REMIND_AGAIN_AFTER if again is None else max(again, went + REMIND_AGAIN_AFTER)
        else:
            people.append(receipt)
    goes = reminder_goes_at(directive, calendar, now)
    return RemindPlan(people=people, goes_at=goes, held=goes > now, waiting=waiting, last_goes_at=last,
                      again_at=again)


def remind_now(session, settings, directive: Directive, *, actor: str, now: datetime) -> RemindPlan:
    """立即提醒 (the workbench): a reminder card to everyone not done and not reminded within
    a reminder's lifetime (`remind_plan`), as the job sends one (reminders counted, the next
    planned reminder counted from this one, a `reminded` ledger entry per card batch with the
    actor and `manual`). A non-urgent directive's card waits for working time (R4). Nobody to
    remind because all were reminded just now: DirectiveError("reminded") saying when it went."""
    ledger.lock(session)  # two taps at once: the second sees the first's reminders
    session.refresh(directive)
    if directive.status != "active":
        raise DirectiveError("status", f"directive {directive.id} is {directive.status}")
    calendar = load_calendar(session, settings)
    plan = remind_plan(session, directive, calendar, now)
    if not plan.people and plan.waiting:
        verb = "goes" if plan.last_goes_at > now else "went"
        raise DirectiveError("reminded", f"reminded already: the last reminder {verb} at "
                                         f"{plan.last_goes_at.isoformat()}; again from {plan.again_at.isoformat()}")
    if plan.people:
        _remind(session, settings, directive, Planner(directive, calendar), plan.people, now, actor=actor,
                manual=True)
    return plan


def _directive(session, cache: dict[int, Directive | None], directive_id: int) -> Directive | None:
    if directive_id not in cache:
        cache[directive_id] = session.get(Directive, directive_id)
    return cache[directive_id]


def _still_due(directive: Directive, receipt: DirectiveReceipt, now: datetime) -> bool:
    """Worth a reminder: active, before the deadline, delivered, not done yet."""
    done = done_at(directive, receipt)
    return (directive.status == "active" and directive.escalated_at is None and directive.deadline > now
            and receipt.status in ("delivered", "acknowledged") and receipt.version == directive.version
            and done is None)
