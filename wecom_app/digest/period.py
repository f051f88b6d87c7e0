"""The periods of the summary to leadership (R6): an ISO week (Monday to Sunday) or a
calendar month, in the company's time zone, and when each is due: the weekly digest
on the Monday after its week, the monthly one on the 1st after its month, at the start
of the working day (`WORK_HOURS`' first window; the outbox holds it further to the next
working window when that day is a holiday, R4)."""

from __future__ import annotations

import dataclasses
import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

KINDS = ("weekly", "monthly")
KIND_WORDS = {"weekly": "周报", "monthly": "月报"}
# how long after its send time a digest is still sent (the app was down that morning); later
# than that, or on a fresh install mid-week, the period's news is stale and the next one is
# nearer: last week's digest on a Thursday, last month's on the 20th, would only confuse
LATE = {"weekly": timedelta(days=2), "monthly": timedelta(days=3)}
_WEEK = re.compile(r"(\d{4})-W(\d{2})")
_MONTH = re.compile(r"(\d{4})-(\d{2})")


@dataclasses.dataclass(frozen=True)
class Period:
    kind: str  # weekly | monthly
    start: date  # first day, company time
    end: date  # the day after the last

    @property
    def key(self) -> str:
        """`2026-W10` or `2026-03`: in URLs, outbox keys and task_ids."""
        if self.kind == "weekly":
            year, week, _ = self.start.isocalendar()
            return f"{year}-W{week:02d}"
        return f"{self.start.year}-{self.start.month:02d}"

    @property
    def label(self) -> str:
        last = self.end - timedelta(days=1)
        if self.kind == "weekly":
            year, week, _ = self.start.isocalendar()
            return f"{year}年第{week}周（{self.start.month}月{self.start.day}日—{last.month}月{last.day}日）"
        return f"{self.start.year}年{self.start.month}月"

    @property
    def title(self) -> str:
        return f"群管理{KIND_WORDS[self.kind]} {self.label}"

    def bounds(self, tz: ZoneInfo) -> tuple[datetime, datetime]:
        """[start, end) as aware datetimes: company midnight to company midnight."""
        return (datetime.combine(self.start, datetime.min.time(), tz),
                datetime.combine(self.end, datetime.min.time(), tz))

    def previous(self) -> Period:
        return containing(self.kind, self.start - timedelta(days=1))


def containing(kind: str, day: date) -> Period:
    if kind == "weekly":
        start = day - timedelta(days=day.weekday())
        return Period(kind, start, start + timedelta(days=7))
    if kind == "monthly":
        start = day.replace(day=1)
        return Period(kind, start, (start + timedelta(days=32)).replace(day=1))
    raise ValueError(f"unknown digest kind {kind!r}; one of {', '.join(KINDS)}")


def parse(kind: str, key: str) -> Period:
    """The period named `key` (`2026-W10`, `2026-03`); ValueError for anything else."""
    if kind == "weekly" and (m := _WEEK.fullmatch(key)):
        try:
            return containing(kind, date.fromisocalendar(int(m[1]), int(m[2]), 1))
        except ValueError:
            pass
    elif kind == "monthly" and (m := _MONTH.fullmatch(key)) and 1 <= int(m[2]) <= 12 and int(m[1]) >= 1:
        return containing(kind, date(int(m[1]), int(m[2]), 1))
    raise ValueError(f"{key!r} is not a {kind} period (2026-W10 or 2026-03)")


def last_complete(kind: str, now: datetime, tz: ZoneInfo) -> Period:
    """The latest period that has ended by `now`."""
    return containing(kind, now.astimezone(tz).date()).previous()


def due(kind: str, settings, now: datetime) -> Period | None:
    """The period whose digest should be out by `now`: the last complete one, from the
    start of working hours on its first day after (Monday, or the 1st) for LATE
    (two days, three for a month); None before or after that."""
    tz = settings.tz
    period = last_complete(kind, now, tz)
    send_from = datetime.combine(period.end, settings.work_hours[0][0], tz)
    return period if send_from <= now < send_from + LATE[kind] else None
