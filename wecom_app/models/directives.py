"""The tables of directives (R16) and announcements (R4, R17); the logic lives in
directives.py (issue, correct, revoke), directives/delivery.py (cards and what WeCom
answered), directives/acks.py (clicks and workbench actions), directives/followup.py
(reminders and escalation), announcements.py, ledger.py (the evidence chain) and
directives/receipt_sheet.py (签收单).

A directive's content is frozen per version (`DirectiveVersion`, with its SHA-256);
the assignees are expanded to people and frozen at issue (`DirectiveReceipt`, one
row per person, carrying the version they must act on). A correction is a new
version: every receipt goes back to `queued` for it (the old acknowledgments stay
in the ledger).

Receipt status: queued → delivered → acknowledged → completed, or `undeliverable`
(WeCom's `invaliduser`, with the reason). "Overdue" is not a status of its own: it
is `overdue_at` set by the escalation job on a receipt that had not done what the
directive requires by the deadline (the API shows it as `overdue`).

`next_reminder_at` is the one column the reminder scan reads (indexed): the next
moment a reminder is due, NULL once the person has acted or nothing more is due.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from wecom_app.db import Base, UTCDateTime, utcnow

REQUIRES = ("ack", "completion")
DIRECTIVE_STATUSES = ("active", "revoked")
RECEIPT_STATUSES = ("queued", "delivered", "undeliverable", "acknowledged", "completed")
CHANNELS = ("card", "workbench", "api")
# a delivery batch's purpose: the directive's card, a reminder card, a summary to a group
BATCH_KINDS = ("card", "reminder", "summary", "notice")


class Directive(Base):
    __tablename__ = "directive"
    __table_args__ = (Index("ix_directive_due", "status", "escalated_at", "deadline"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(128))  # of the current version
    body: Mapped[str] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1)
    content_hash: Mapped[str] = mapped_column(String(64))  # of the current version
    issuer: Mapped[str] = mapped_column(String(80))  # a userid, or "api:<token name>"
    require: Mapped[str] = mapped_column(String(16), default="ack")  # ack | completion
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    confidential: Mapped[bool] = mapped_column(Boolean, default=False)
    deadline: Mapped[datetime] = mapped_column(UTCDateTime)
    # {"users": [str], "departments": [int], "groups": [int]} as given; the people are the receipts
    assignees: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    summary_group_id: Mapped[int | None] = mapped_column(ForeignKey("chat_group.id", ondelete="SET NULL"))
    # reminder plan (directives/followup.py); NULL: the default plan
    reminder_plan: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="active")  # active | revoked
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_by: Mapped[str | None] = mapped_column(String(80))
    revoke_reason: Mapped[str] = mapped_column(Text, default="")
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the deadline was processed
    # an instruction given in a group and tracked by its sender's tap (archive/instructions.py): the
    # group, and the facts frozen at issue {"group_name", "chat_id", "msgid", "sent_at", "label"}.
    # Evidence, like `issuer`: no foreign key, so a deleted group never blanks the record.
    origin_group_id: Mapped[int | None] = mapped_column(Integer)
    origin: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class DirectiveVersion(Base):
    """One frozen version: what exactly was issued, and its hash."""

    __tablename__ = "directive_version"
    __table_args__ = (UniqueConstraint("directive_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    directive_id: Mapped[int] = mapped_column(ForeignKey("directive.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(128))
    body: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(Text, default="")  # why it was corrected
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DirectiveReceipt(Base):
    """One assignee's receipt for a directive."""

    __tablename__ = "directive_receipt"
    __table_args__ = (
        UniqueConstraint("directive_id", "userid"),
        Index("ix_directive_receipt_reminder", "next_reminder_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    directive_id: Mapped[int] = mapped_column(ForeignKey("directive.id", ondelete="CASCADE"))
    userid: Mapped[str] = mapped_column(String(64), index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)  # the version they must act on
    status: Mapped[str] = mapped_column(String(16), default="queued")
    batch_id: Mapped[int | None] = mapped_column(Integer)  # the batch that carries (carried) their card
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    msgid: Mapped[str | None] = mapped_column(String(128))
    undeliverable: Mapped[str | None] = mapped_column(String(200))  # why WeCom refused them
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ack_channel: Mapped[str | None] = mapped_column(String(16))
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    complete_channel: Mapped[str | None] = mapped_column(String(16))
    reminders: Mapped[int] = mapped_column(Integer, default=0)
    last_reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_reminder_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    overdue_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


def done_column(directive: Directive):
    """The receipt column that says the person did what the directive requires."""
    return DirectiveReceipt.completed_at if directive.require == "completion" else DirectiveReceipt.acknowledged_at


def done_at(directive: Directive, receipt: DirectiveReceipt) -> datetime | None:
    """When the person did what the directive requires (None: not yet)."""
    return receipt.completed_at if directive.require == "completion" else receipt.acknowledged_at


class DirectiveBatch(Base):
    """One message/send (or appchat/send) of a directive: its task_id and recipients. The
    outbox row that carries it has `subject = "directive_batch:<id>"`; WeCom's answer
    (msgid, the response_code for one update of every recipient's card within 72 h) is
    read from that row's `result`."""

    __tablename__ = "directive_batch"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    directive_id: Mapped[int] = mapped_column(ForeignKey("directive.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))  # card | reminder | summary | notice
    task_id: Mapped[str | None] = mapped_column(String(128), unique=True)
    userids: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DirectiveClick(Base):
    """Every card click and workbench action, counted or not: unknown task ids,
    non-assignees, revoked or superseded versions are recorded with why they did
    not count (`outcome`)."""

    __tablename__ = "directive_click"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    directive_id: Mapped[int | None] = mapped_column(Integer, index=True)
    userid: Mapped[str] = mapped_column(String(64))
    task_id: Mapped[str] = mapped_column(String(128), default="")
    key: Mapped[str] = mapped_column(String(64), default="")
    channel: Mapped[str] = mapped_column(String(16), default="card")
    # counted | repeat | not_assignee | unknown_task | revoked | superseded | not_required | undeliverable
    outcome: Mapped[str] = mapped_column(String(24))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


