"""Who did what: every admin and custodian action, and every automatic
enforcement, appended here (R6, R15; shown in the workbench's audit log)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from .db import Base, UTCDateTime, utcnow


class AuditEntry(Base):
    __tablename__ = "audit_entry"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(64))  # a userid, "api:<token name>", or "system"
    action: Mapped[str] = mapped_column(String(64))  # dotted: group.create, member.remove, violation.decide ...
    target: Mapped[str] = mapped_column(String(128), default="")  # e.g. group:12, user:zhangsan
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


def audit(session, actor: str, action: str, target: str = "", now: datetime | None = None, **details) -> AuditEntry:
    entry = AuditEntry(actor=actor, action=action, target=target, details=details, at=now or utcnow())
    session.add(entry)
    return entry
