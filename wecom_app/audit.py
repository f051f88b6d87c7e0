"""Who did what: every admin and custodian action, and every automatic
enforcement, appended here (R6, R15; shown in the workbench's audit log)."""

from __future__ import annotations

from datetime import datetime

from wecom_app.db import utcnow
from wecom_app.models import AuditEntry


def audit(session, actor: str, action: str, target: str = "", now: datetime | None = None, **details) -> AuditEntry:
    entry = AuditEntry(actor=actor, action=action, target=target, details=details, at=now or utcnow())
    session.add(entry)
    return entry
