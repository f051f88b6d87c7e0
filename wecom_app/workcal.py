"""The company's working calendar: which days are working days and which moments
are working time (rule R4: nothing non-urgent outside working hours).

A day is decided by, in order:

1. an admin's override (the `calendar_override` table);
2. the `chinese_calendar` package: statutory holidays and 调休 working days
   (a Sunday that is worked to make up for a long holiday);
3. for a year the package does not cover yet (it raises NotImplementedError),
   Monday to Friday minus the statutory holidays that sit on fixed Gregorian
   dates: 元旦 (Jan 1), 劳动节 (May 1) and 国庆 (Oct 1-3). The holidays that
   follow the lunar calendar (春节, 清明, 端午, 中秋) and every 调休 arrangement
   are announced by the State Council each winter; until the package knows the
   year, admins add them as overrides.

Working time is any moment, in `settings.tz`, inside one of `settings.work_hours`
on a working day. Every datetime in and out is timezone-aware.

Working-time arithmetic (the directive reminder plan, directives/followup.py):
`add_working` and `subtract_working` move through working windows only (the
lunch break, evenings, weekends and holidays do not count), and
`next_working_at` is the next working day's given local time.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import date, datetime, time, timedelta, timezone

import chinese_calendar
from sqlalchemy import select
from sqlalchemy.orm import Session

from wecom_app.audit import audit
from wecom_app.config import Settings
from wecom_app.models import CalendarOverride

# Statutory holidays on fixed Gregorian dates (国务院《全国年节及纪念日放假办法》).
FIXED_HOLIDAYS = frozenset({(1, 1), (5, 1), (10, 1), (10, 2), (10, 3)})
# How far ahead next_working_time looks before deciding the calendar is broken.
_MAX_DAYS_AHEAD = 400


class WorkCalendar:
    def __init__(self, settings: Settings, overrides: Mapping[date, bool] | None = None):
        self.settings = settings
        self.tz = settings.tz
        self.overrides = dict(overrides or {})

    def is_workday(self, day: date) -> bool:
        if day in self.overrides:
            return self.overrides[day]
        try:
            return chinese_calendar.is_workday(day)
        except NotImplementedError:
            return day.weekday() < 5 and (day.month, day.day) not in FIXED_HOLIDAYS

    def is_working_time(self, moment: datetime) -> bool:
        local = _aware(moment).astimezone(self.tz)
        if not self.is_workday(local.date()):
            return False
        now = local.time().replace(tzinfo=None)
        return any(start <= now < end for start, end in self.settings.work_hours)

    def next_working_time(self, moment: datetime) -> datetime:
        """`moment` itself (in UTC) if it is working time, else the start of the next window."""
        local = _aware(moment).astimezone(self.tz)
        day = local.date()
        for _ in range(_MAX_DAYS_AHEAD):
            if self.is_workday(day):
                for start, end in self.settings.work_hours:
                    window_start = datetime.combine(day, start, self.tz)
                    window_end = datetime.combine(day, end, self.tz)
                    candidate = max(local, window_start)
                    if candidate < window_end:
                        return candidate.astimezone(timezone.utc)
            day += timedelta(days=1)
        raise ValueError(f"no working time within {_MAX_DAYS_AHEAD} days of {moment.isoformat()}: check the overrides")

    def windows(self, day: date) -> list[tuple[datetime, datetime]]:
        """The working windows of `day` as (start, end) in UTC (absolute arithmetic, DST
        or not); none on a day off."""
        if not self.is_workday(day):
            return []
        return [(datetime.combine(day, start, self.tz).astimezone(timezone.utc),
                 datetime.combine(day, end, self.tz).astimezone(timezone.utc))
                for start, end in self.settings.work_hours]

    def add_working(self, moment: datetime, delta: timedelta) -> datetime:
        """The first moment (UTC) by which `delta` of working time has passed since
        `moment`. Ending exactly on a window's end gives that end (12:00, 18:00),
        which is not itself working time: `next_working_time` of it is."""
        remaining = delta
        if remaining < timedelta(0):
            raise ValueError("add_working: negative delta, use subtract_working")
        moment = _aware(moment).astimezone(timezone.utc)
        for start, end in self._windows_from(moment):
            start = max(start, moment)
            if remaining <= end - start:
                return start + remaining
            remaining -= end - start
        raise ValueError(f"no working time within {_MAX_DAYS_AHEAD} days of {moment.isoformat()}: check the overrides")

    def subtract_working(self, moment: datetime, delta: timedelta) -> datetime:
        """The latest moment (UTC) from which `delta` of working time remains until
        `moment`: 2 working hours before Thursday 10:00 is Wednesday 17:00."""
        remaining = delta
        if remaining < timedelta(0):
            raise ValueError("subtract_working: negative delta, use add_working")
        moment = _aware(moment).astimezone(timezone.utc)
        for start, end in self._windows_back_from(moment):
            end = min(end, moment)
            if remaining <= end - start:
                return end - remaining
            remaining -= end - start
        raise ValueError(f"no working time within {_MAX_DAYS_AHEAD} days before {moment.isoformat()}")

    def next_working_at(self, moment: datetime, at: time) -> datetime:
        """The first moment (UTC) after `moment` whose local time is `at` on a working day."""
        day = _aware(moment).astimezone(self.tz).date()
        for _ in range(_MAX_DAYS_AHEAD):
            candidate = datetime.combine(day, at, self.tz)
            if candidate > moment and self.is_workday(day):
                return candidate.astimezone(timezone.utc)
            day += timedelta(days=1)
        raise ValueError(f"no working day within {_MAX_DAYS_AHEAD} days of {moment.isoformat()}: check the overrides")

    def _windows_from(self, moment: datetime) -> Iterator[tuple[datetime, datetime]]:
        day = moment.astimezone(self.tz).date()
        for _ in range(_MAX_DAYS_AHEAD):
            yield from ((s, e) for s, e in self.windows(day) if e > moment)
            day += timedelta(days=1)

    def _windows_back_from(self, moment: datetime) -> Iterator[tuple[datetime, datetime]]:
        day = moment.astimezone(self.tz).date()
        for _ in range(_MAX_DAYS_AHEAD):
            yield from ((s, e) for s, e in reversed(self.windows(day)) if s < moment)
            day -= timedelta(days=1)


def load_calendar(session: Session, settings: Settings) -> WorkCalendar:
    """The calendar with every admin override from the database."""
    rows = session.execute(select(CalendarOverride.day, CalendarOverride.workday)).all()
    return WorkCalendar(settings, {day: workday for day, workday in rows})


def set_override(session: Session, day: date, *, workday: bool, note: str, actor: str, now: datetime,
                 **details) -> tuple[CalendarOverride, dict | None]:
    """An admin's decision that `day` is a working day or not (a 调休 or holiday
    chinese-calendar does not know yet), audited; (the row, what it was before or None)."""
    row = session.get(CalendarOverride, day)
    before = None if row is None else {"workday": row.workday, "note": row.note, "set_by": row.set_by}
    row = row or CalendarOverride(day=day)
    row.workday, row.note, row.set_by, row.set_at = workday, note, actor, now
    session.add(row)
    audit(session, actor, "calendar.override.set", f"day:{day.isoformat()}", now=now, workday=workday, note=note,
          before=before, **details)
    return row, before


def unset_override(session: Session, day: date, *, actor: str, now: datetime, **details) -> bool:
    """`day` follows the calendar again (audited); False when it had no override."""
    row = session.get(CalendarOverride, day)
    if row is None:
        return False
    audit(session, actor, "calendar.override.delete", f"day:{day.isoformat()}", now=now,
          before={"workday": row.workday, "note": row.note, "set_by": row.set_by}, **details)
    session.delete(row)
    return True


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("naive datetime given to the working calendar")
    return moment
