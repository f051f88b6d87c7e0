"""Directives (R16, 第十一条): an instruction given through the app carries the weight
of a phone call, an e-mail or a paper notice, so each one is frozen, delivered to
each person as a card they acknowledge, followed up, and recorded in the evidence
ledger (ledger.py).

- `issue` validates, expands the assignees (users, departments with their
  sub-departments, governed groups' employee members) to active people and
  freezes them as receipts, freezes the content as version 1 with its SHA-256,
  appends `issued` to the ledger and queues the cards (directives/delivery.py).
- `correct` is a new version: everyone must acknowledge again; the cards of the
  old version are updated to say so where WeCom still allows (72 h response
  codes), and the new cards go out.
- `revoke` ends it: no more reminders, the cards say 已撤回 where they can, and
  those whose card cannot be updated any more are told by a text.

Every function works in the caller's transaction and raises `DirectiveError`
(field, message) for an input it refuses, before writing anything.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import insert, select, update

from wecom_app.audit import audit
from wecom_app.directives import delivery, followup, ledger
from wecom_app.directives.errors import DirectiveError
from wecom_app.governance import scope
from wecom_app.models import Department, Directive, DirectiveReceipt, DirectiveVersion, Group, GroupMember, User
from wecom_app.models.directives import REQUIRES, done_at
from wecom_app.wecom import textlimits
from wecom_app.workcal import load_calendar

# In UTF-8 bytes, as WeCom counts (textlimits.py). The title is at most what WeCom takes
# whole as a message title (textcard/news title: 128 bytes, "超过会自动截断", 90236); the
# card's main_title shows it clipped to 36 characters with "…" and links to the whole.
# The body is at most one WeCom text (2,048 bytes, 90236/90248), so a group summary
# (appchat/send) can carry it whole; the card shows its first 160 characters (sub_title_text)
# and links to the workbench page, a confidential one none of it (R12).
TITLE_BYTES, BODY_BYTES = 128, textlimits.TEXT_BYTES
TITLE_MAX, BODY_MAX = TITLE_BYTES, BODY_BYTES  # characters: never more than the bytes
MAX_ASSIGNEES = 200_000
IN_CHUNK = 10_000
STATUS_ACTIVE = 1


def content_hash(directive_id: int, version: int, *, title: str, body: str, issuer: str, require: str,
                 deadline: datetime, urgent: bool, confidential: bool) -> str:
    """SHA-256 of the frozen content, as canonical JSON (sorted keys, UTC times)."""
    content = {"directive": directive_id, "version": version, "title": title, "body": body, "issuer": issuer,
               "require": require, "deadline": deadline.astimezone(timezone.utc).isoformat(), "urgent": urgent,
               "confidential": confidential}
    return hashlib.sha256(json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()
                          ).hexdigest()


def people_hash(userids) -> str:
    """SHA-256 of the frozen assignee list (sorted userids, one per line): the ledger
    keeps this rather than up to 100,000 names; the receipts are the list."""
    return hashlib.sha256("\n".join(sorted(userids)).encode()).hexdigest()


def expand_assignees(session, assignees: dict[str, Any]) -> list[str]:
    """The active people the assignees name, sorted. Unknown or departed users, unknown
    departments and unknown groups are refused by name (a directive must not quietly
    miss someone its issuer meant)."""
    users = [str(u).strip().lower() for u in assignees.get("users") or []]
    departments = [int(d) for d in assignees.get("departments") or []]
    groups = [int(g) for g in assignees.get("groups") or []]
    if not (users or departments or groups):
        raise DirectiveError("assignees", "name at least one user, department or group")
    people: set[str] = set()
    if users:
        status: dict[str, int] = {}
        for start in range(0, len(users), IN_CHUNK):  # a parameter per userid: stay below PostgreSQL's 65,535
            status.update(session.execute(select(User.userid, User.status).where(
                User.userid.in_(users[start:start + IN_CHUNK]))).all())
        unknown = [u for u in users if u not in status]
        if unknown:
            raise DirectiveError("assignees.users", f"not in the directory: {', '.join(unknown[:20])}")
        inactive = [u for u in users if status[u] != STATUS_ACTIVE]
        if inactive:
            raise DirectiveError("assignees.users", f"not active employees (not activated, disabled or left): "
                                                    f"{', '.join(inactive[:20])}")
        people.update(users)
    if departments:
        known = set(session.scalars(select(Department.id).where(Department.id.in_(departments),
                                                                        Department.deleted.is_(False))))
        unknown_d = [d for d in departments if d not in known]
        if unknown_d:
            raise DirectiveError("assignees.departments", f"unknown departments: {', '.join(map(str, unknown_d))}")
        people |= scope.active_in_scope(session, {"departments": departments})
    if groups:
        found = {g.id: g for g in session.scalars(select(Group).where(Group.id.in_(groups)))}
        unknown_g = [g for g in groups if g not in found]
        if unknown_g:
            raise DirectiveError("assignees.groups", f"unknown groups: {', '.join(map(str, unknown_g))}")
        members = set(session.scalars(
            select(GroupMember.member_id).join(User, User.userid == GroupMember.member_id)
            .where(GroupMember.group_id.in_(groups), GroupMember.member_type == 1,
                   GroupMember.state.in_(("present", "pending_approval")), User.status == STATUS_ACTIVE)))
        people |= members
    if not people:
        raise DirectiveError("assignees", "nobody active is named: the departments and groups have no active employees")
    if len(people) > MAX_ASSIGNEES:
        raise DirectiveError("assignees", f"{len(people)} people: at most {MAX_ASSIGNEES} per directive")
    return sorted(people)


def _check_content(title: str, body: str) -> tuple[str, str]:
    title, body = (title or "").strip(), (body or "").strip()
    if not title:
        raise DirectiveError("title", "required")
    if problem := textlimits.problem(title, TITLE_BYTES):
        raise DirectiveError("title", problem)
    if not body:
        raise DirectiveError("body", "required")
    if problem := textlimits.problem(body, BODY_BYTES):
        raise DirectiveError("body", problem)
    return title, body


def issue(session, settings, *, title: str, body: str, assignees: dict[str, Any], deadline: datetime,
          issuer: str, now: datetime, require: str = "ack", urgent: bool = False, confidential: bool = False,
          summary_group_id: int | None = None, reminder_plan: dict | None = None,
          origin_group_id: int | None = None, origin: dict | None = None) -> Directive:
    """Freeze and queue a directive. Urgent ones go out at once; others at the next
    working moment (R4). Returns the directive (flushed, with its id). `origin`: an
    instruction given in a group and tracked by its sender (archive/instructions.py), its
    group and the facts frozen with it; the ledger's `issued` entry carries them."""
    title, body = _check_content(title, body)
    if require not in REQUIRES:
        raise DirectiveError("require", f"one of {', '.join(REQUIRES)}")
    if deadline.tzinfo is None:
        raise DirectiveError("deadline", "needs a time zone (ISO-8601 with an offset)")
    if deadline <= now + timedelta(minutes=5):
        raise DirectiveError("deadline", "must be more than 5 minutes from now")
    if not urgent:
        _check_goes_before_deadline(session, settings, deadline, now)
    summary_group = _summary_group(session, summary_group_id)
    plan = followup.check_plan(reminder_plan) if reminder_plan is not None else None
    people = expand_assignees(session, assignees)

    directive = Directive(title=title, body=body, version=1, content_hash="", issuer=issuer, require=require,
                          urgent=bool(urgent), confidential=bool(confidential), deadline=deadline,
                          assignees=_spec(assignees), summary_group_id=summary_group.id if summary_group else None,
                          reminder_plan=plan, status="active", created_at=now, origin_group_id=origin_group_id,
                          origin=origin)
    session.add(directive)
    session.flush()
    directive.content_hash = _hash_of(directive)
    session.add(DirectiveVersion(directive_id=directive.id, version=1, title=title, body=body,
                                 content_hash=directive.content_hash, created_by=issuer, created_at=now))
    session.execute(insert(DirectiveReceipt), [  # one executemany (pipelined by psycopg)
        dict(directive_id=directive.id, userid=u, version=1, status="queued", reminders=0) for u in people])
    ledger.append(session, "issued", at=now, directive_id=directive.id, actor=issuer, version=1,
                  title=title, content_hash=directive.content_hash, require=require, urgent=bool(urgent),
                  confidential=bool(confidential), deadline=deadline.astimezone(timezone.utc).isoformat(),
                  assignees=_spec(assignees), people=len(people), people_hash=people_hash(people),
                  **({"origin": origin} if origin is not None else {}))
    audit(session, issuer, "directive.issue", f"directive:{directive.id}", now=now, title=title, people=len(people),
          urgent=bool(urgent), confidential=bool(confidential))
    delivery.send_cards(session, settings, directive, people, now=now)
    if summary_group is not None:
        delivery.send_summary(session, settings, directive, summary_group, now=now)
    return directive


def correct(session, settings, directive: Directive, *, title: str | None, body: str | None, actor: str,
            now: datetime, note: str = "") -> Directive:
    """A new version of the content: everyone acknowledges again."""
    ledger.lock(session)
    session.refresh(directive)
    _require_active(directive)
    if directive.escalated_at is not None or directive.deadline <= now:
        raise DirectiveError("deadline", "the deadline has passed: the record stands; issue a new directive instead")
    if not directive.urgent:
        _check_goes_before_deadline(session, settings, directive.deadline, now)
    title, body = _check_content(title if title is not None else directive.title,
                                 body if body is not None else directive.body)
    if (title, body) == (directive.title, directive.body):
        raise DirectiveError("body", "nothing changed: a correction must change the title or the body")
    old_version, old_hash = directive.version, directive.content_hash
    directive.version, directive.title, directive.body = old_version + 1, title, body
    directive.content_hash = _hash_of(directive)
    session.add(DirectiveVersion(directive_id=directive.id, version=directive.version, title=title, body=body,
                                 content_hash=directive.content_hash, note=note, created_by=actor, created_at=now))
    session.execute(
        update(DirectiveReceipt).where(DirectiveReceipt.directive_id == directive.id).values(
            version=directive.version, status="queued", batch_id=None, delivered_at=None, msgid=None,
            undeliverable=None, acknowledged_at=None, ack_channel=None, completed_at=None, complete_channel=None,
            reminders=0, last_reminded_at=None, next_reminder_at=None, overdue_at=None))
    ledger.append(session, "corrected", at=now, directive_id=directive.id, actor=actor, version=directive.version,
                  previous_version=old_version, previous_hash=old_hash, content_hash=directive.content_hash,
                  title=title, note=note)
    audit(session, actor, "directive.correct", f"directive:{directive.id}", now=now, version=directive.version)
    delivery.retire_cards(session, settings, directive, old_version, now=now,
                                     label=f"已更新为第{directive.version}版")
    people = list(session.scalars(select(DirectiveReceipt.userid).where(DirectiveReceipt.directive_id == directive.id)
                                  .order_by(DirectiveReceipt.userid)))
    delivery.send_cards(session, settings, directive, people, now=now)
    return directive


def revoke(session, settings, directive: Directive, *, actor: str, reason: str, now: datetime) -> Directive:
    ledger.lock(session)
    session.refresh(directive)
    _require_active(directive)
    reason = (reason or "").strip()
    if not reason:
        raise DirectiveError("reason", "say why the directive is revoked (it is kept in the record)")
    directive.status, directive.revoked_at, directive.revoked_by, directive.revoke_reason = "revoked", now, actor, reason
    session.execute(update(DirectiveReceipt).where(DirectiveReceipt.directive_id == directive.id)
                    .values(next_reminder_at=None))
    ledger.append(session, "revoked", at=now, directive_id=directive.id, actor=actor, version=directive.version,
                  reason=reason)
    audit(session, actor, "directive.revoke", f"directive:{directive.id}", now=now, reason=reason)
    delivery.retire_cards(session, settings, directive, directive.version, now=now, label="已撤回",
                                     notice=delivery.REVOKED_NOTICE.format(title=directive.title))
    return directive


def _check_goes_before_deadline(session, settings, deadline: datetime, now: datetime) -> None:
    """A non-urgent card waits for working time (R4): refuse one that would go only after its deadline."""
    goes_at = load_calendar(session, settings).next_working_time(now)
    if goes_at >= deadline:
        when = goes_at.astimezone(settings.tz).strftime("%Y-%m-%d %H:%M")
        raise DirectiveError("deadline", f"the cards would go out only at {when} (the next working time, R4), "
                                         "after the deadline: move the deadline or mark the directive urgent")


def get(session, directive_id: int) -> Directive:
    directive = session.get(Directive, directive_id)
    if directive is None:
        raise DirectiveError("id", f"no directive {directive_id}", missing=True)
    return directive


def receipt_status(directive: Directive, receipt: DirectiveReceipt) -> str:
    """The API's status: queued, delivered, acknowledged, completed or overdue
    (and undeliverable, which the contract's list lacks: WeCom refused the person)."""
    done = done_at(directive, receipt)
    if receipt.overdue_at is not None and done is None:
        return "overdue"
    return receipt.status


def _require_active(directive: Directive) -> None:
    if directive.status != "active":
        raise DirectiveError("status", f"directive {directive.id} is {directive.status}")


def _hash_of(directive: Directive) -> str:
    return content_hash(directive.id, directive.version, title=directive.title, body=directive.body,
                        issuer=directive.issuer, require=directive.require, deadline=directive.deadline,
                        urgent=directive.urgent, confidential=directive.confidential)


def _spec(assignees: dict[str, Any]) -> dict[str, Any]:
    return {"users": [str(u).strip().lower() for u in assignees.get("users") or []],
            "departments": [int(d) for d in assignees.get("departments") or []],
            "groups": [int(g) for g in assignees.get("groups") or []]}


def _summary_group(session, group_id: int | None) -> Group | None:
    if group_id is None:
        return None
    group = session.get(Group, group_id)
    if group is None:
        raise DirectiveError("summary_group", f"no group {group_id}")
    if group.kind != "managed" or group.status != "active" or not group.chat_id:
        raise DirectiveError("summary_group", "a summary goes only to an active managed group (appchat/send); "
                                              f"group {group_id} is a {group.status} {group.kind} group")
    return group
