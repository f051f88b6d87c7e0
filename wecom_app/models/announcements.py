"""Announcements (R4, R17) and their delivery to each group: tables only."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from wecom_app.db import Base, UTCDateTime, utcnow


class Announcement(Base):
    """R4, R17: one text or markdown written once and sent to many governed groups."""

    __tablename__ = "announcement"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    msgtype: Mapped[str] = mapped_column(String(16))  # text | markdown
    content: Mapped[str] = mapped_column(Text)
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    send_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AnnouncementDelivery(Base):
    """One group of an announcement: queued → sent | failed (errcode), or
    `unreachable` with the reason (no API for its kind and no robot)."""

    __tablename__ = "announcement_delivery"
    __table_args__ = (UniqueConstraint("announcement_id", "group_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    announcement_id: Mapped[int] = mapped_column(ForeignKey("announcement.id", ondelete="CASCADE"))
    group_id: Mapped[int] = mapped_column(ForeignKey("chat_group.id", ondelete="CASCADE"))
    channel: Mapped[str | None] = mapped_column(String(16))  # appchat | webhook
    status: Mapped[str] = mapped_column(String(16), default="queued")  # queued | sent | failed | unreachable
    outbox_id: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text, default="")
    errcode: Mapped[int | None] = mapped_column(Integer)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
