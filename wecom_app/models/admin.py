"""What the office administers: REST API tokens, the audit log, sensitive-word rules (R3, R12)
and workbench session generations: tables only."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from wecom_app.db import Base, UTCDateTime, utcnow


class ApiToken(Base):
    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    # for role custodian/issuer: the userid it acts as (scopes what it may see and do)
    userid: Mapped[str | None] = mapped_column(String(64))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class AuditEntry(Base):
    __tablename__ = "audit_entry"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(64))  # a userid, "api:<token name>", or "system"
    action: Mapped[str] = mapped_column(String(64))  # dotted: group.create, member.remove, violation.decide ...
    target: Mapped[str] = mapped_column(String(128), default="")  # e.g. group:12, user:zhangsan
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class SensitiveWordRule(Base):
    __tablename__ = "sensitive_word_rule"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(40))
    words: Mapped[list[str]] = mapped_column(JSON, default=list)
    semantics: Mapped[list[int]] = mapped_column(JSON, default=list)  # 1 phone, 2 e-mail, 3 red packet
    intercept_type: Mapped[int] = mapped_column(Integer, default=1)  # 1 warn + block, 2 warn only
    users: Mapped[list[str]] = mapped_column(JSON, default=list)
    departments: Mapped[list[int]] = mapped_column(JSON, default=list)
    rule_id: Mapped[str | None] = mapped_column(String(128), unique=True)  # WeCom's, once created
    sync_status: Mapped[str] = mapped_column(String(16), default="pending")
    pending_call: Mapped[str | None] = mapped_column(String(64))  # the outbox kind in flight
    outbox_id: Mapped[int | None] = mapped_column(Integer)  # the last call's outbox row
    version: Mapped[int] = mapped_column(Integer, default=0)  # one per call: the outbox key
    # the range WeCom last accepted: {"users": [...], "departments": [...]} (update sends the difference)
    synced_range: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    errcode: Mapped[int | None] = mapped_column(Integer)
    errmsg: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SessionGeneration(Base):
    __tablename__ = "user_session_generation"

    userid: Mapped[str] = mapped_column(String(64), primary_key=True)
    generation: Mapped[int] = mapped_column(Integer, default=0)
    changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
