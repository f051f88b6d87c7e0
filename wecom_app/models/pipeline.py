"""The foundation's tables: the callback inbox, the outbox of WeCom calls, the
shared access token, quota counters and calendar overrides.

Feature tables (directory mirror, groups, directives, ledger) live beside these
in their own modules and share `Base`.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Date, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from wecom_app.db import Base, UTCDateTime, utcnow


class InboxEvent(Base):
    """One callback from WeCom, stored before it is answered (DESIGN §2 "nothing lost").

    `dedupe_key` is unique: WeCom's retries of the same callback hit the
    constraint and are answered 200 without a second row.
    """

    __tablename__ = "inbox_event"
    __table_args__ = (Index("ix_inbox_event_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(255), unique=True)
    source: Mapped[str] = mapped_column(String(16))  # "app" or "contacts": which callback URL
    msg_type: Mapped[str] = mapped_column(String(32), default="")
    event: Mapped[str] = mapped_column(String(64), default="")
    change_type: Mapped[str] = mapped_column(String(64), default="")
    from_user: Mapped[str] = mapped_column(String(128), default="")
    create_time: Mapped[int] = mapped_column(BigInteger, default=0)
    payload: Mapped[str] = mapped_column(Text)  # the decrypted XML, verbatim
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # pending → done | ignored (no handler) | parked (gave up after N attempts)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class OutboxAction(Base):
    """One state-changing WeCom call, stored before it is sent.

    `kind` is the API path (`message/send`, `appchat/update`, ...). `hold` marks a
    message to people that waits for working time unless `urgent`.
    """

    __tablename__ = "outbox_action"
    __table_args__ = (
        Index("ix_outbox_action_due", "status", "not_before"),
        # what outbox.settle reads: finished rows whose answer a feature has not taken yet
        Index("ix_outbox_action_unsettled", "subject", sqlite_where=text("subject IS NOT NULL AND settled_at IS NULL"),
              postgresql_where=text("subject IS NOT NULL AND settled_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    hold: Mapped[bool] = mapped_column(Boolean, default=True)
    # pending → sending (leased) → sent | failed (permanent, with errcode) | cancelled
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    not_before: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    errcode: Mapped[int | None] = mapped_column(Integer)
    errmsg: Mapped[str | None] = mapped_column(Text)
    # since when WeCom has kept failing it (cleared once sent or requeued): the "waiting" warning
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    parent_id: Mapped[int | None] = mapped_column(Integer)  # a split-off remainder of a throttled send
    # the feature object whose state follows this call's answer ("directive_batch:12"), inherited by split
    # rows; `settled_at` once that feature has taken the answer (outbox.settle)
    subject: Mapped[str | None] = mapped_column(String(64))
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AccessToken(Base):
    """The access token per secret, shared by every worker and process.

    `key` is a hash of corp id and secret, so no part of a secret is stored.
    """

    __tablename__ = "access_token"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    access_token: Mapped[str] = mapped_column(String(1024), default="")
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    refreshed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class QuotaCounter(Base):
    """Calls counted per scope and window, e.g. (`user:zhangsan`, minute 29123456).

    WeCom silently drops messages above 30/min and 1000/h per member, so these
    counters are the only thing that keeps a reminder burst from vanishing.
    """

    __tablename__ = "quota_counter"
    __table_args__ = (UniqueConstraint("scope", "window", "bucket"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scope: Mapped[str] = mapped_column(String(160))
    window: Mapped[int] = mapped_column(Integer)  # window length in seconds
    bucket: Mapped[int] = mapped_column(BigInteger)  # unix time // window
    count: Mapped[int] = mapped_column(Integer, default=0)


class CalendarOverride(Base):
    """An admin's word on one day: a working day or a day off, beating chinese-calendar."""

    __tablename__ = "calendar_override"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    workday: Mapped[bool] = mapped_column(Boolean)
    note: Mapped[str] = mapped_column(String(200), default="")
    set_by: Mapped[str] = mapped_column(String(64), default="")
    set_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class JobLease(Base):
    """One row per scheduled job: which process runs it now and when it last started,
    so every process may schedule every job and each still runs once per interval."""

    __tablename__ = "job_lease"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    holder: Mapped[str] = mapped_column(String(128), default="")


class AppInstance(Base):
    """This installation (this database), one row (`id` 1), made on first use
    (task_ids.prefix): a random `task_prefix` that starts every template card task_id,
    because WeCom refuses a task_id its app has ever used (42014, 90236) and a second,
    fresh or restored database would otherwise repeat the ids of the first."""

    __tablename__ = "app_instance"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_prefix: Mapped[str] = mapped_column(String(16), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
