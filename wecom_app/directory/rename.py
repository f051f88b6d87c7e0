"""A userid rename (change_contact update_user with NewUserID, 90970): the person keeps
everything that is theirs.

WeCom lets an admin change a system-generated userid once and then knows the member
only by the new one ("switch your primary key to NewUserID"): cards already sent stay
in the member's client, and their clicks come back from the new userid. So every
column that holds a person's userid is listed below, by how it holds it, and moved
in the dispatcher's transaction, with messages still waiting in the outbox. The
list is explicit on purpose: a table that keeps
userids and is not here keeps the old id, and grep finds this file from the column.

What is never rewritten is history: the evidence ledger's rows (their hashes cover
the userid; `wecom-app ledger verify` must still pass) and the audit log. Instead
each directive the person holds a receipt for gets a `renamed` ledger entry naming
both ids, and a click that still arrives from the old id finds its receipt through
it (directives/acks.py).
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import String, cast, delete, func, select, update

from wecom_app.audit import audit
from wecom_app.directives import ledger
from wecom_app.governance import scope
from wecom_app.logs import kv
from wecom_app.models import (
    Announcement,
    ApiToken,
    Assessment,
    Department,
    Directive,
    DirectiveBatch,
    DirectiveClick,
    DirectiveReceipt,
    DirectiveVersion,
    Group,
    GroupMember,
    OutboxAction,
    Sanction,
    TagMember,
    User,
    UserDepartment,
    Violation,
)
from wecom_app.violations.records import open_key

log = logging.getLogger("wecom.directory")

# one row per (userid, key): a row the new id already has wins, the old one goes
MERGED = (
    (UserDepartment.userid, UserDepartment.department_id),
    (TagMember.userid, TagMember.tag_id),
    (GroupMember.member_id, GroupMember.group_id),
)
# one receipt per (directive, userid), but a receipt is evidence: when the new id already
# holds one for the same directive, the old one stays as it is (never deleted)
RECEIPTS = (DirectiveReceipt.userid, DirectiveReceipt.directive_id)
# a plain userid (or "api:<token>" / "system", which never equal a userid)
PLAIN = (
    Group.owner, Group.custodian, Group.created_by, GroupMember.invitor, ApiToken.userid,
    Directive.issuer, Directive.revoked_by, DirectiveVersion.created_by, DirectiveClick.userid,
    Announcement.created_by,
    Violation.userid, Violation.decided_by, Sanction.userid, Sanction.actor, Sanction.ended_by,
    Assessment.userid,
)
# "report:<userid>" / "custodian:<userid>" (a reporter's list of their reports reads it)
PREFIXED = (Violation.detected_by,)
# JSON lists of userids, or dicts of them (a scope's users/exclude, a directive's assignees)
LISTS = (
    Group.scope, User.direct_leader, Department.department_leader, Directive.assignees, DirectiveBatch.userids,
)
# messages not sent yet: addressed to the new id (WeCom would answer invaliduser for the old one)
PENDING_SENDS = {"message/send": "touser", "message/update_template_card": "userids"}


def rename_user(session, old: str, new: str, now: datetime) -> bool:
    """Move every reference from `old` to `new` (the lists above). False if nothing to do."""
    old, new = old.strip().lower(), new.strip().lower()
    if old == new or session.get(User, old) is None:
        return False
    session.flush()
    ledger.lock(session)  # receipts change: a concurrent click must not interleave (directives/acks.py)
    directives = _directives_of(session, old)
    if session.get(User, new) is not None:  # the new id was created first: the old row goes
        session.execute(delete(User).where(User.userid == old))
    else:
        session.execute(update(User).where(User.userid == old).values(userid=new))
    for column, key in MERGED:
        _merge(session, column, key, old, new)
    _move_receipts(session, old, new)
    _move_open_keys(session, old, new)
    for column in PLAIN:
        session.execute(update(column.class_).where(column == old).values({column.key: new}))
    for column in PREFIXED:
        _rewrite_prefixed(session, column, old, new)
    for column in LISTS:
        _rewrite_lists(session, column, old, new)
    _move_pending_sends(session, old, new)
    for directive_id in directives:  # appended, never rewritten: the chain still verifies
        ledger.append(session, "renamed", at=now, directive_id=directive_id, userid=new, old_userid=old,
                      new_userid=new)
    audit(session, "system", "user.renamed", f"user:{new}", now=now, old=old, new=new)
    session.expire_all()
    scope.invalidate(session)
    log.info(kv("wecom.directory.renamed", old=old, new=new, directives=len(directives)))
    return True


def _directives_of(session, userid: str) -> list[int]:
    return list(session.scalars(select(DirectiveReceipt.directive_id).where(DirectiveReceipt.userid == userid)
                                .order_by(DirectiveReceipt.directive_id)))


def _merge(session, column, key, old: str, new: str) -> None:
    model = column.class_
    session.execute(delete(model).where(column == old, key.in_(select(key).where(column == new))))
    session.execute(update(model).where(column == old).values({column.key: new}))


def _move_receipts(session, old: str, new: str) -> None:
    column, key = RECEIPTS
    taken = select(key).where(column == new).scalar_subquery()
    clash = session.scalars(select(key).where(column == old, key.in_(taken))).all()
    if clash:
        log.warning(kv("wecom.directory.rename_receipt_kept", old=old, new=new, directives=len(clash)))
    session.execute(update(DirectiveReceipt).where(column == old, key.not_in(taken)).values(userid=new))


def _move_open_keys(session, old: str, new: str) -> None:
    """An open violation's unique key names the person ("rule:userid:group")."""
    for violation in session.scalars(select(Violation).where(Violation.userid == old,
                                                             Violation.open_key.is_not(None))).all():
        key = open_key(violation.rule, new, violation.group_id, (violation.evidence or {}).get("archive_msgid"))
        if session.scalar(select(func.count()).select_from(Violation).where(Violation.open_key == key)) == 0:
            violation.open_key = key
    session.flush()


def _rewrite_prefixed(session, column, old: str, new: str) -> None:
    for prefix in ("report:", "custodian:"):
        session.execute(update(column.class_).where(column == prefix + old).values({column.key: prefix + new}))


def _move_pending_sends(session, old: str, new: str) -> None:
    """Outbox rows still pending (not leased, not sent): touser is "a|b|c", userids a list."""
    rows = session.scalars(select(OutboxAction).where(
        OutboxAction.status == "pending", OutboxAction.kind.in_(PENDING_SENDS),
        cast(OutboxAction.payload, String).contains(old, autoescape=True))).all()
    for row in rows:
        field, payload = PENDING_SENDS[row.kind], dict(row.payload)
        value = payload.get(field)
        if isinstance(value, str):
            payload[field] = "|".join(new if part.lower() == old else part for part in value.split("|"))
        elif isinstance(value, list):
            payload[field] = _replaced(value, old, new)
        row.payload = payload
    session.flush()


def _rewrite_lists(session, column, old: str, new: str) -> None:
    model = column.class_
    rows = session.scalars(select(model).where(cast(column, String).contains(f'"{old}"', autoescape=True))).all()
    for row in rows:
        setattr(row, column.key, _replaced(getattr(row, column.key), old, new))
    session.flush()


def _replaced(value, old: str, new: str):
    if isinstance(value, list):
        out = []
        for item in value:
            item = new if isinstance(item, str) and item.lower() == old else _replaced(item, old, new)
            if item not in out:
                out.append(item)
        return out
    if isinstance(value, dict):
        return {key: _replaced(item, old, new) for key, item in value.items()}
    return value
