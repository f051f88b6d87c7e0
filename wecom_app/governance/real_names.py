"""R2 real names: a grace period with reminders before a bad name becomes a violation.

When `rules.judge` finds a member's directory name (or, in a customer group, the
group nickname) breaking the real-name pattern (naming.py; the group's own
pattern overrides the company's), `start_grace` opens a grace period of
`REAL_NAME_GRACE_DAYS` calendar days and the member is told what to fix and by
when. `run_due` (the hourly job jobs/real_names.py) then, for every member still
flagged:

- before the deadline, on a working day, reminds the member once that day (one
  message per person per day, listing every group; the outbox key
  `realname:<userid>:<local date>` makes a second run that day a no-op, and the
  message waits for working time like every message to a person, R4);
- after the deadline, records one R2 violation for the custodian to rule on
  (violations/records.py `record_violation`, detected by `system`): never a removal.

A fixed name ends the grace with no violation: the next judgement (change_contact
update_user → membership.review_user; a nickname seen by reconciliation's
groupchat/get → membership.apply_member_info) finds `ok` and `rules.enforce`
clears the flag (`member.name_fixed` audit line).

Where the state lives (no schema change): `GroupMember.compliance == "bad_name"`
says the member is flagged, and the `member.bad_name` audit entry written when
the flag was raised carries `grace_until`; the latest such entry for the
(group, member) is the current grace period. An R2 violation for the
(member, group) created at or after that entry, or one still open from an earlier
grace, means the grace is over and recorded, so the job is idempotent from state
alone.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

from sqlalchemy import or_, select

from wecom_app.audit import audit
from wecom_app.counts import Counts
from wecom_app.governance import naming
from wecom_app.governance.notify import tell
from wecom_app.models import AuditEntry, Group, GroupMember, OutboxAction, User, Violation
from wecom_app.violations.records import record_violation

ACTION = "member.bad_name"
DEFAULT_GRACE_DAYS = 3


@dataclasses.dataclass
class Stats(Counts):
    reminded: int = 0  # people sent a reminder in this run
    violations: int = 0  # R2 violations recorded in this run


def grace_days(settings) -> int:
    return getattr(settings, "real_name_grace_days", DEFAULT_GRACE_DAYS)


def start_grace(session, settings, group: Group, member: GroupMember, now: datetime) -> datetime:
    """The member's name was just found bad in this group: open the grace period and tell them."""
    until = now + timedelta(days=grace_days(settings))
    audit(session, "system", ACTION, f"group:{group.id}", now=now, userid=member.member_id,
          rule="R2", grace_until=until.isoformat(), problems=problems(session, settings, group, member))
    if member.member_type == 1:
        _remind(session, settings, member.member_id, [(group, member, until)], now)
    return until


def grace_entry(session, group: Group, member: GroupMember) -> AuditEntry | None:
    """The audit entry that opened the member's current grace period in this group."""
    entries = session.scalars(select(AuditEntry).where(
        AuditEntry.action == ACTION, AuditEntry.target == f"group:{group.id}")
        .order_by(AuditEntry.at.desc(), AuditEntry.id.desc()))
    return next((e for e in entries if e.details.get("userid") == member.member_id
                 and e.details.get("grace_until")), None)


def grace_until(entry: AuditEntry) -> datetime:
    return datetime.fromisoformat(entry.details["grace_until"])


def run_due(session, settings, calendar, now: datetime) -> Stats:
    """Remind members in their grace period (once a working day) and record an R2 violation
    for each whose grace is over (once). Idempotent: a second run changes nothing.
    The R2 job (jobs/real_names.py) runs it; it is the steps below, in order."""
    stats = Stats()
    due: dict[str, list] = {}
    for group, member in flagged(session):
        entry = grace_entry(session, group, member)
        if entry is None:  # flagged before grace periods existed: the grace starts now
            start_grace(session, settings, group, member, now)
        elif now < grace_until(entry):
            due.setdefault(member.member_id, []).append((group, member, grace_until(entry)))
        elif end_grace(session, group, member, entry, now):
            stats.violations += 1
    stats.reminded += remind_due(session, settings, calendar, due, now)
    return stats


def flagged(session) -> list[tuple[Group, GroupMember]]:
    """Employees present in an active group whose name is flagged (`bad_name`), by person."""
    return [tuple(row) for row in session.execute(
        select(Group, GroupMember).join(GroupMember, GroupMember.group_id == Group.id).where(
            GroupMember.compliance == "bad_name", GroupMember.state == "present", GroupMember.member_type == 1,
            Group.status == "active").order_by(GroupMember.member_id, Group.id)).all()]


def end_grace(session, group: Group, member: GroupMember, entry: AuditEntry, now: datetime) -> bool:
    """The grace `entry` opened is over: one R2 violation for the (member, group), unless one was
    recorded since it opened or one is still open; True when it is recorded now."""
    recorded = session.scalar(select(Violation.id).where(
        Violation.rule == "R2", Violation.userid == member.member_id, Violation.group_id == group.id,
        or_(Violation.created_at >= entry.at, Violation.status == "open")).limit(1))
    if recorded is not None:
        return False
    record_violation(session, group, member, "R2", "bad_name", now)
    return True


def remind_due(session, settings, calendar, due: dict[str, list], now: datetime) -> int:
    """On a working day, one reminder per person in `due` ({userid: [(group, member, until)]});
    the number of people reminded now."""
    if not calendar.is_workday(now.astimezone(settings.tz).date()):
        return 0
    return sum(_remind(session, settings, userid, items, now) for userid, items in due.items())


def problems(session, settings, group: Group, member: GroupMember) -> list[str]:
    """What is wrong with the member's names in this group, in words for the member."""
    pattern = naming.real_name_pattern(settings, group)
    user = session.get(User, member.member_id)
    found = []
    if user is not None and not naming.is_real_name(user.name, pattern):
        found.append(f"通讯录姓名「{user.name}」")
    if group.kind == "customer" and member.group_nickname and not naming.is_real_name(member.group_nickname, pattern):
        found.append(f"在「{group.name}」中的群昵称「{member.group_nickname}」")
    return found


def describe(pattern: str) -> str:
    return naming.describe_real_name(pattern)


def _remind(session, settings, userid: str, items, now: datetime) -> int:
    """One reminder to `userid` for today (local date), listing what to fix in each group and by when."""
    key = f"realname:{userid}:{now.astimezone(settings.tz):%Y%m%d}"
    if session.scalar(select(OutboxAction.id).where(OutboxAction.idempotency_key == key)) is not None:
        return 0
    lines = []
    for group, member, until in items:
        what = "、".join(problems(session, settings, group, member)) or "姓名"
        deadline = until.astimezone(settings.tz).strftime("%Y-%m-%d %H:%M")
        lines.append(f"· 「{group.name}」：请把{what}改为{describe(naming.real_name_pattern(settings, group))}，"
                     f"期限 {deadline}")
    text = ("【实名提醒】按群规（R2）群成员须使用真实姓名：\n" + "\n".join(lines)
            + "\n逾期未改将记为违规，交由群专管人员处理。")
    tell(session, settings, [userid], text, key=key, now=now)  # someone in many groups: several messages, never cut
    return 1
