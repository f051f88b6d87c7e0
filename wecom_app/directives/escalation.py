"""Directive deadlines (R16, R15; the escalation job).

At the deadline (`escalate_due`, once per directive: `escalated_at`) the people
who got the card and had not done what it requires are overdue (`overdue_at`)
and each becomes an assessment record (R15, R16); those WeCom never reached
(undeliverable, or the card still queued) are not assessed but are listed. Each
overdue person's leader (`direct_leader`, else the leaders of their main
department, else of the departments above it) gets one text listing their own
people; the issuer and the custodians of the directive's groups (else the office
admins) get the full list. A list too long for one WeCom text (2,048 bytes, 90236)
is shortened to what fits, says how many more, and ends with the link to the
directive's workbench page that has everyone (textlimits.fit). Texts wait for working time unless the directive is
urgent; outbox keys make a second run send nothing twice.

Cards still queued at the deadline (a non-urgent directive held over a weekend,
or WeCom down) are cancelled: a card that arrives after its deadline only
confuses; those people are listed as not delivered.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

from sqlalchemy import select, update

from wecom_app.counts import Counts
from wecom_app.directives import ledger
from wecom_app.directives.delivery import REQUIRE_WORDS, card_subjects, directive_url, local, tell
from wecom_app.models import (
    Department,
    Directive,
    DirectiveReceipt,
    Group,
    InboxEvent,
    OutboxAction,
    User,
    UserDepartment,
)
from wecom_app.models.directives import done_column
from wecom_app.violations import assessments
from wecom_app.wecom.textlimits import fit

ESCALATE_LIMIT = 20  # directives per run; the next run takes the rest
STATUS_ACTIVE = 1
UNDONE_WORDS = {"ack": "未确认", "completion": "未办结"}


@dataclasses.dataclass
class EscalationStats(Counts):
    directives: int = 0
    overdue: int = 0  # assessed
    undelivered: int = 0  # listed, not assessed
    leaders: int = 0  # summaries queued
    waiting: int = 0  # deadline passed, a card's answer not settled yet: next run


def escalate_due(session, settings, now: datetime) -> EscalationStats:
    """Process the deadlines that have passed (ix_directive_due); each directive once."""
    stats = EscalationStats()
    d = Directive
    ledger.lock(session)  # first, as every change to receipts does (no lock-order inversion)
    if _clicks_waiting(session):
        return stats  # a click pressed before a deadline may still be in the inbox: next run
    query = (select(d).where(d.status == "active", d.escalated_at.is_(None), d.deadline <= now)
             .order_by(d.deadline, d.id).limit(ESCALATE_LIMIT).with_for_update(skip_locked=True))
    for directive in session.scalars(query).all():
        subjects = card_subjects(session, directive.id)
        if _sends_unsettled(session, subjects):
            stats.waiting += 1  # who got the card is not known yet: next run
            continue
        _escalate(session, settings, directive, subjects, now, stats)
        stats.directives += 1
    return stats


def _clicks_waiting(session) -> bool:
    """Card clicks stored but not handled yet (a dispatcher retrying one): their time
    may be before a deadline. Parked ones do not hold escalation up (an operator's)."""
    return session.scalar(select(InboxEvent.id).where(InboxEvent.event == "template_card_event",
                                                      InboxEvent.status == "pending").limit(1)) is not None


def _sends_unsettled(session, subjects: list[list[str]]) -> bool:
    """A card or reminder of the directive is being sent, or sent and its answer not taken yet."""
    for chunk in subjects:
        busy = session.scalar(select(OutboxAction.id).where(
            OutboxAction.subject.in_(chunk),
            (OutboxAction.status == "sending")
            | (OutboxAction.status.in_(("sent", "failed")) & OutboxAction.settled_at.is_(None))).limit(1))
        if busy is not None:
            return True
    return False


def _escalate(session, settings, directive: Directive, subjects: list[list[str]], now: datetime,
              stats: EscalationStats) -> None:
    r = DirectiveReceipt
    cancelled = _cancel_queued_cards(session, directive, subjects)
    done = done_column(directive)
    # not done by the deadline: never, or only after it (a late click still counts as acting, not as in time)
    rows = session.execute(select(r.id, r.userid, r.status, r.delivered_at).where(
        r.directive_id == directive.id, done.is_(None) | (done > directive.deadline)).order_by(r.userid)).all()
    reached = [row.delivered_at is not None or row.status in ("delivered", "acknowledged", "completed") for row in rows]
    overdue = [(row.id, row.userid) for row, got in zip(rows, reached) if got]
    missed = [row.userid for row, got in zip(rows, reached) if not got]
    ids = [i for i, _ in overdue]
    for start in range(0, len(ids), 500):
        session.execute(update(r).where(r.id.in_(ids[start:start + 500])).values(overdue_at=now))
    session.execute(update(r).where(r.directive_id == directive.id, r.next_reminder_at.is_not(None))
                    .values(next_reminder_at=None))
    people = _people(session, [u for _, u in overdue] + missed)  # also puts the users in the identity map
    word = UNDONE_WORDS[directive.require]
    assessments.record_many(session, settings, [
        dict(userid=userid, source="directive", source_id=receipt_id, rule="R16", at=now,
             note=f"指令《{directive.title}》逾期{word}") for receipt_id, userid in overdue])
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
                  leaders=sorted(leaders), full_list=full_to, overdue=len(overdue), undelivered=len(missed),
                  cancelled_cards=cancelled)
    directive.escalated_at = now
    stats.overdue += len(overdue)
    stats.undelivered += len(missed)
    stats.leaders += len(leaders)


def _cancel_queued_cards(session, directive: Directive, subjects: list[list[str]]) -> int:
    """Cancel the directive's card and reminder sends not yet handed to WeCom; the
    number cancelled. (A row being sent right now goes; its people were delivered.)"""
    cancelled = 0
    for chunk in subjects:
        cancelled += session.execute(
            update(OutboxAction).where(OutboxAction.subject.in_(chunk),
                                       OutboxAction.status == "pending")
            .values(status="cancelled", errmsg=f"directive {directive.id}: deadline passed before it was sent")
        ).rowcount
    return cancelled


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
    deadline, required = local(settings, directive.deadline), REQUIRE_WORDS[directive.require]
    head = [f"【指令逾期】《{directive.title}》已于 {deadline} 截止（要求{required}）。",
            f"您负责的人员中 {len(theirs)} 人逾期{UNDONE_WORDS[directive.require]}，已记入考核："]
    return fit(head, [("", [_who(people, u) for u in theirs])], [f"详情：{directive_url(settings, directive)}"])


def _full_text(settings, directive: Directive, people, overdue: list[str], missed: list[str]) -> str:
    word = UNDONE_WORDS[directive.require]
    deadline, required = local(settings, directive.deadline), REQUIRE_WORDS[directive.require]
    head = [f"【指令逾期名单】《{directive.title}》已于 {deadline} 截止（要求{required}）。"]
    sections = [(f"已送达、逾期{word} {len(overdue)} 人（已记入考核）：", [_who(people, u) for u in overdue]),
                (f"未送达 {len(missed)} 人（未收到指令，不记入考核）：", [_who(people, u) for u in missed])]
    return fit(head, sections, [f"完整名单：{directive_url(settings, directive)}"])
