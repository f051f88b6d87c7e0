"""The custodian's decision on a violation (R6, R15), next to the sanctions ladder.

`decide` confirms or dismisses an open violation (violations/records.py); a
confirmation applies the next step of the person's sanctions ladder
(violations/sanctions.py, R6) and becomes an assessment record for the month
(assessments.py, R15). Every step is audited with who did it.
"""

from __future__ import annotations

from datetime import datetime

from wecom_app.audit import audit
from wecom_app.models import Violation
from wecom_app.violations import assessments, sanctions

DECISIONS = {"confirm": "confirmed", "dismiss": "dismissed"}


class DecisionError(ValueError):
    """A decision that cannot be taken (unknown violation, already decided, bad decision)."""

    def __init__(self, field: str, message: str):
        super().__init__(field, message)
        self.field, self.message = field, message


def decide(session, settings, violation_id: int, decision: str, actor: str, now: datetime, text: str = "") -> Violation:
    """Confirm or dismiss an open violation (R6: the custodian rules on it). A confirmation
    applies the next step of the person's sanctions ladder and writes the assessment record
    (R15). The caller checks that `actor` may decide for this group."""
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
        violation.sanction = sanctions.apply_next(session, settings, violation, actor, now)
        assessments.record(session, settings, violation.userid, source="violation", source_id=violation.id,
                           rule=violation.rule, at=now, note=text or violation.evidence.get("reason", ""))
    return violation
