"""Instructions given in a group (R16, issue 12 item 6): an archived message a leader or a
group's custodian sent in a governed group, offered to its sender as a card ("track this
instruction?"); one tap issues a directive (wecom_app/archive/instructions.py).

`InstructionOffer`: one row per archived message offered (`msgid` unique: a re-pulled page
offers nothing twice), with the text frozen as it was archived, whom it named, the card's
`task_id`, and how it ended: `offered` → `issued` (the directive), `declined`, `expired`
(tapped after `expires_at`) or `refused` (the directive could not be issued: `error`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from wecom_app.db import Base, UTCDateTime, utcnow

OFFER_STATUSES = ("offered", "issued", "declined", "expired", "refused")


class InstructionOffer(Base):
    __tablename__ = "instruction_offer"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    msgid: Mapped[str] = mapped_column(String(128), unique=True)  # the archived message's
    group_id: Mapped[int | None] = mapped_column(ForeignKey("chat_group.id", ondelete="SET NULL"), index=True)
    sender: Mapped[str] = mapped_column(String(64))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the message's msgtime
    text: Mapped[str] = mapped_column(Text)  # frozen as archived (clipped to a directive's body)
    mention_all: Mapped[bool] = mapped_column(Boolean, default=False)  # @所有人
    mentioned: Mapped[list[str]] = mapped_column(JSON, default=list)  # userids matched from "@name"
    unmatched: Mapped[list[str]] = mapped_column(JSON, default=list)  # "@name"s that matched no member
    marker: Mapped[str | None] = mapped_column(String(32))  # the directive marker found, if any
    task_id: Mapped[str | None] = mapped_column(String(128), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="offered", index=True)
    offered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    tapped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    directive_id: Mapped[int | None] = mapped_column(ForeignKey("directive.id", ondelete="SET NULL"))
    error: Mapped[str | None] = mapped_column(Text)
