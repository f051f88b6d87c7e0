"""Violation records (R3, R5, R6, R11, R15), the sanctions that follow them (R6, R14), and
assessment records for the monthly performance review (R15, R16): tables only."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from wecom_app.db import Base, UTCDateTime, utcnow


class Violation(Base):
    __tablename__ = "violation"
    __table_args__ = (UniqueConstraint("open_key", name="uq_violation_open_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rule: Mapped[str] = mapped_column(String(8), index=True)
    userid: Mapped[str] = mapped_column(String(64), default="", index=True)
    group_id: Mapped[int | None] = mapped_column(ForeignKey("chat_group.id", ondelete="SET NULL"), index=True)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    detected_by: Mapped[str] = mapped_column(String(80))  # system | report:<userid> | custodian:<userid>
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)
    open_key: Mapped[str | None] = mapped_column(String(200))  # "rule:userid:group" while open, else NULL
    decision: Mapped[str] = mapped_column(Text, default="")
    decided_by: Mapped[str | None] = mapped_column(String(80))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sanction: Mapped[str | None] = mapped_column(String(32))  # the ladder step a confirmation applied
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class Sanction(Base):
    __tablename__ = "sanction"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    userid: Mapped[str] = mapped_column(String(64), index=True)
    group_id: Mapped[int | None] = mapped_column(ForeignKey("chat_group.id", ondelete="SET NULL"))
    violation_id: Mapped[int | None] = mapped_column(ForeignKey("violation.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(32))  # warning | temporary_removal | removal | suspension
    status: Mapped[str] = mapped_column(String(16), default="active", index=True)  # active | ended
    actor: Mapped[str] = mapped_column(String(80))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_by: Mapped[str | None] = mapped_column(String(80))


class Assessment(Base):
    __tablename__ = "assessment"
    __table_args__ = (UniqueConstraint("source", "source_id", name="uq_assessment_source"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    month: Mapped[str] = mapped_column(String(7), index=True)  # YYYY-MM, company time zone
    userid: Mapped[str] = mapped_column(String(64), index=True)
    department_id: Mapped[int | None] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(16))  # violation | directive
    source_id: Mapped[int] = mapped_column(Integer)
    rule: Mapped[str] = mapped_column(String(8))
    note: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
