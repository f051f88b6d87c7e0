"""Violation records (R3, R5, R6, R11, R15): what was detected or reported, and its status.

A violation names a rule id, a person (`userid`; empty when a report names only a
group, e.g. "a stranger is in the sales group"), the group (nullable), the
evidence (JSON) and who detected it: `system` (the join rules, rules.py),
`report:<userid>` (a member's 举报, violations/reports.py) or
`custodian:<userid>`. Its status goes `open` → `confirmed` | `dismissed`, with the
decision text, who decided and when.

There is never more than one open violation for the same (rule, userid, group):
`open_key` holds that triple while the violation is open and is NULL once it is
decided, and a unique constraint (NULLs never collide, on SQLite and PostgreSQL)
turns a race into one row.

A low module: it imports the tables and the audit log, nothing of governance or
sanctions. The custodian's decision (`decide`, which may lead to a sanction) is in
violations/decisions.py, next to the sanctions ladder.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from wecom_app.audit import audit
from wecom_app.models import Group, GroupMember, Violation

STATUSES = ("open", "confirmed", "dismissed")
RULES = ("R1", "R2", "R3", "R5", "R11", "R12", "R13", "R14", "R16")


def open_key(rule: str, userid: str, group_id: int | None, ref: str | None = None) -> str:
    """`ref` names one piece of evidence that is a violation of its own (an archived message's
    msgid: one violation per message, archive/content.py)."""
    return f"{rule}:{userid}:{group_id or ''}" + (f":{ref}" if ref else "")


def open_violation(session, rule: str, userid: str, group_id: int | None, *, evidence: dict, detected_by: str,
                   now: datetime, ref: str | None = None) -> tuple[Violation, bool]:
    """(the open violation for this triple (and ref), whether it is new). A second detection or
    report of the same thing while it is open adds nothing but an audit line."""
    key = open_key(rule, userid, group_id, ref)
    existing = session.scalar(select(Violation).where(Violation.open_key == key))
    if existing is not None:
        audit(session, detected_by, "violation.seen_again", f"violation:{existing.id}", now=now, rule=rule,
              userid=userid)
        return existing, False
    row = Violation(rule=rule, userid=userid, group_id=group_id, evidence=evidence, detected_by=detected_by,
                    status="open", open_key=key, created_at=now)
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:  # another transaction opened it just now
        return session.scalars(select(Violation).where(Violation.open_key == key)).one(), False
    audit(session, detected_by, "violation.open", f"violation:{row.id}", now=now, rule=rule, userid=userid,
          group_id=group_id)
    return row, True


def record_violation(session, group: Group, member: GroupMember, rule: str, reason: str, now: datetime,
                     detected_by: str = "system") -> None:
    """A violation the rules detected in a group (R15), for the custodian to rule on; at most
    one open per (rule, member, group)."""
    audit(session, detected_by, "violation.detected", f"group:{group.id}", now=now, rule=rule, reason=reason,
          userid=member.member_id, invitor=member.invitor)
    open_violation(session, rule, member.member_id, group.id, detected_by=detected_by, now=now,
                   evidence={"reason": reason, "invitor": member.invitor, "member_type": member.member_type,
                             "group_nickname": member.group_nickname})


def view(violation: Violation) -> dict[str, Any]:
    return {
        "id": violation.id,
        "rule": violation.rule,
        "userid": violation.userid,
        "group": violation.group_id,
        "evidence": violation.evidence,
        "detected_by": violation.detected_by,
        "status": violation.status,
        "decision": violation.decision,
        "decided_by": violation.decided_by,
        "decided_at": violation.decided_at.isoformat() if violation.decided_at else None,
        "sanction": violation.sanction,
        "created_at": violation.created_at.isoformat() if violation.created_at else None,
    }
