"""The figures of one digest (R6) and the dashboard's weekly trends, read from the
database: pure functions of a session, settings and a period (no Flask, no WeCom).

- groups by compliance: governed groups (creating, active) by kind, and how many have
  a present member who breaks a rule (governance/rules.py); as the registry stands at
  generation time (the registry keeps no history);
- violations opened in the period (by rule) and decided in it (confirmed / dismissed),
  and how many are open at generation time;
- directives issued in the period and not revoked, each with its acknowledgment and
  (where required) completion rate (directives/queries.py `counts`), and the rates over
  all their receipts;
- people who became overdue in the period (R16, `overdue_at`), by main department.
"""

from __future__ import annotations

import dataclasses
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta

from sqlalchemy import func, select

from wecom_app.digest.period import Period, containing
from wecom_app.directives.queries import counts
from wecom_app.models import Department, Directive, DirectiveReceipt, Group, GroupMember, User, Violation
from wecom_app.models.groups import GOVERNED, KINDS

NO_DEPARTMENT = "（无部门）"


@dataclasses.dataclass(frozen=True)
class GroupRow:
    kind: str
    total: int
    compliant: int

    @property
    def noncompliant(self) -> int:
        return self.total - self.compliant


@dataclasses.dataclass(frozen=True)
class DirectiveRow:
    id: int
    title: str
    require: str
    total: int
    acknowledged: int
    completed: int
    ack_rate: float | None  # 0..1
    completion_rate: float | None  # 0..1, completion-required directives only


@dataclasses.dataclass(frozen=True)
class DepartmentRow:
    department: str
    people: int  # distinct people who became overdue
    receipts: int  # overdue directive receipts


@dataclasses.dataclass(frozen=True)
class Digest:
    period: Period
    generated_at: datetime
    groups: list[GroupRow]
    violations_opened: list[tuple[str, int]]  # (rule, count), rule order
    violations_decided: dict[str, int]  # confirmed / dismissed
    violations_open_now: int
    directives: list[DirectiveRow]
    overdue: list[DepartmentRow]

    @property
    def groups_total(self) -> int:
        return sum(g.total for g in self.groups)

    @property
    def groups_compliant(self) -> int:
        return sum(g.compliant for g in self.groups)

    @property
    def opened(self) -> int:
        return sum(n for _, n in self.violations_opened)

    @property
    def decided(self) -> int:
        return sum(self.violations_decided.values())

    @property
    def ack_rate(self) -> float | None:
        total = sum(d.total for d in self.directives)
        return sum(d.acknowledged for d in self.directives) / total if total else None

    @property
    def completion_rate(self) -> float | None:
        needing = [d for d in self.directives if d.require == "completion"]
        total = sum(d.total for d in needing)
        return sum(d.completed for d in needing) / total if total else None

    @property
    def overdue_people(self) -> int:
        return sum(row.people for row in self.overdue)


def compute(session, settings, period: Period, now: datetime) -> Digest:
    start, end = period.bounds(settings.tz)
    return Digest(period=period, generated_at=now, groups=_groups(session),
                  violations_opened=_opened(session, start, end), violations_decided=_decided(session, start, end),
                  violations_open_now=session.scalar(select(func.count()).where(Violation.status == "open")) or 0,
                  directives=_directives(session, start, end), overdue=_overdue(session, start, end))


def _groups(session) -> list[GroupRow]:
    bad = (select(GroupMember.group_id).where(GroupMember.state == "present",
                                              GroupMember.compliance.notin_(("ok", "unknown"))).distinct())
    rows = session.execute(select(Group.kind, func.count(), func.count().filter(Group.id.notin_(bad)))
                           .where(Group.status.in_(GOVERNED)).group_by(Group.kind)).all()
    found = {kind: GroupRow(kind, total, compliant) for kind, total, compliant in rows}
    return [found[k] for k in KINDS if k in found]


def _rule_order(rule: str) -> tuple[int, str]:
    return (int(rule[1:]) if rule[1:].isdigit() else 99, rule)


def _opened(session, start: datetime, end: datetime) -> list[tuple[str, int]]:
    rows = session.execute(select(Violation.rule, func.count()).where(
        Violation.created_at >= start, Violation.created_at < end).group_by(Violation.rule)).all()
    return sorted(((rule, n) for rule, n in rows), key=lambda row: _rule_order(row[0]))


def _decided(session, start: datetime, end: datetime) -> dict[str, int]:
    rows = dict(session.execute(select(Violation.status, func.count()).where(
        Violation.decided_at >= start, Violation.decided_at < end,
        Violation.status.in_(("confirmed", "dismissed"))).group_by(Violation.status)).all())
    return {status: rows.get(status, 0) for status in ("confirmed", "dismissed")}


def _directives(session, start: datetime, end: datetime) -> list[DirectiveRow]:
    found = session.scalars(select(Directive).where(Directive.created_at >= start, Directive.created_at < end,
                                                    Directive.status != "revoked").order_by(Directive.id)).all()
    by_id = counts(session, list(found))
    return [DirectiveRow(d.id, d.title, d.require, c["total"], c["acknowledged"], c["completed"], c["ack_rate"],
                         c["completion_rate"]) for d in found for c in [by_id[d.id]]]


def _overdue(session, start: datetime, end: datetime) -> list[DepartmentRow]:
    r = DirectiveReceipt
    rows = session.execute(
        select(r.userid, Department.name).outerjoin(User, User.userid == r.userid)
        .outerjoin(Department, Department.id == User.main_department)
        .where(r.overdue_at >= start, r.overdue_at < end)).all()
    people: dict[str, set[str]] = defaultdict(set)
    receipts: Counter[str] = Counter()
    for userid, department in rows:
        name = department or NO_DEPARTMENT
        people[name].add(userid)
        receipts[name] += 1
    return sorted((DepartmentRow(name, len(people[name]), receipts[name]) for name in people),
                  key=lambda row: (-row.people, -row.receipts, row.department))


# ---- the dashboard's trends --------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Week:
    start: date  # Monday, company time
    violations: int
    receipts: int  # receipts of the directives issued that week (not revoked)
    acknowledged: int

    @property
    def ack_rate(self) -> float | None:
        return self.acknowledged / self.receipts if self.receipts else None


def weekly_trend(session, settings, now: datetime, *, weeks: int = 12, mine: frozenset[int] | None = None) -> list[Week]:
    """The last `weeks` weeks up to and including this one, oldest first: violations
    opened per week, and the acknowledgment rate of the directives issued each week.
    `mine`: a custodian's group ids (violations in those groups, directives sent to them)."""
    tz = settings.tz
    first = containing("weekly", now.astimezone(tz).date()).start - timedelta(weeks=weeks - 1)
    since = datetime.combine(first, datetime.min.time(), tz)

    def week_of(moment: datetime) -> int:
        return (moment.astimezone(tz).date() - first).days // 7

    violations = Counter()
    stmt = select(Violation.created_at).where(Violation.created_at >= since)
    if mine is not None:
        stmt = stmt.where(Violation.group_id.in_(mine or [-1]))
    for (created,) in session.execute(stmt):
        violations[week_of(created)] += 1
    receipts, acknowledged = Counter(), Counter()
    rows = session.execute(
        select(Directive.created_at, Directive.assignees, func.count(DirectiveReceipt.id),
               func.count(DirectiveReceipt.acknowledged_at))
        .join(DirectiveReceipt, DirectiveReceipt.directive_id == Directive.id)
        .where(Directive.created_at >= since, Directive.status != "revoked")
        .group_by(Directive.id)).all()  # PostgreSQL: the other columns depend on the key (JSON has no equality)
    for created, assignees, total, acked in rows:
        if mine is not None and not mine.intersection(int(g) for g in (assignees or {}).get("groups") or []):
            continue
        receipts[week_of(created)] += total
        acknowledged[week_of(created)] += acked  # a completion acknowledges too
    return [Week(first + timedelta(weeks=i), violations[i], receipts[i], acknowledged[i]) for i in range(weeks)]
