"""Violation records and the custodian's decision on them (R3, R5, R6, R11, R15).

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

`decide` confirms or dismisses; a confirmation applies the next step of the
person's sanctions ladder (violations/sanctions.py, R6) and becomes an
assessment record for the month (assessments.py, R15). Every step is audited with
who did it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from wecom_app.audit import audit
from wecom_app.models import Violation

STATUSES = ("open", "confirmed", "dismissed")
DECISIONS = {"confirm": "confirmed", "dismiss": "dismissed"}
RULES = ("R1", "R2", "R3", "R5", "R11", "R13", "R14", "R16")


class DecisionError(ValueError):
    """A decision that cannot be taken (unknown violation, already decided, bad decision)."""

    def __init__(self, field: str, message: str):
        super().__init__(field, message)
        self.field, self.message = field, message


def open_key(rule: str, userid: str, group_id: int | None) -> str:
    return f"{rule}:{userid}:{group_id or ''}"


def open_violation(session, rule: str, userid: str, group_id: int | None, *, evidence: dict, detected_by: str,
                   now: datetime) -> tuple[Violation, bool]:
    """(the open violation for this triple, whether it is new). A second detection or report
    of the same thing while it is open adds nothing but an audit line."""
    key = open_key(rule, userid, group_id)
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


def decide(session, settings, violation_id: int, decision: str, actor: str, now: datetime, text: str = "") -> Violation:
    """Confirm or dismiss an open violation (R6: the custodian rules on it). A confirmation
    applies the next step of the person's sanctions ladder and writes the assessment record
    (R15). The caller checks that `actor` may decide for this group."""
    from wecom_app.violations import assessments
    from wecom_app.violations import sanctions as violations_sanctions

    if decision not in DECISIONS:
        raise DecisionError("decision", "must be one of " + ", ".join(f'"{d}"' for d in DECISIONS))
    violation = session.get(Violation, violation_id, with_for_update=True)
    if violation is None:
        raise LookupError(f"no violation {violation_id}")
    if violation.status != "open":
        raise DecisionError("decision", f"violation {violation_id} is already {violation.status}")
    violation.status, violation.open_key = DECISIONS[decision], None
    violation.decision, violation.decided_by, violation.decided_at = text, actor, now
    audit(session, actor, f"violation.{violation.status}", f"violation:{violation.id}", now=now,
          rule=violation.rule, userid=violation.userid, group_id=violation.group_id, text=text)
    if violation.status == "confirmed" and violation.userid:
        violation.sanction = violations_sanctions.apply_next(session, settings, violation, actor, now)
        assessments.record(session, settings, violation.userid, source="violation", source_id=violation.id,
                           rule=violation.rule, at=now, note=text or violation.evidence.get("reason", ""))
    return violation


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
