"""The conversation archive (会话内容存档, developer.work.weixin.qq.com/document/path/91774):
where the pull stands, the archived messages it stored, the rooms (group chats) it saw and
the members whose chats WeCom archives (msgaudit/get_permit_user_list, 91614).

- `ArchiveCursor`: one row per corp: the `seq` the next GetChatData starts after, advanced in
  the same transaction as the page's messages; the pull's standing error, shown once (a wrong
  secret is not a log line a minute); the lag alert sent to the office.
- `ArchivedMessage`: one row per `msgid` (unique: a re-pulled page stores nothing twice).
  Group messages keep their decrypted JSON (`raw`) and the fields the rules read; a record
  that cannot be decrypted (no private key for its `publickey_ver`, a corrupted random key,
  DecryptData refusing it) is kept as it came (`encrypted`, state `encrypted`) with its error.
  A one-to-one chat keeps its metadata only: no rule reads private chats.
- `ArchiveRoom`: every `roomid` seen, the group it is (a discovered or registered internal
  group, or a customer or managed group we already know), and its msgaudit/groupchat/get
  read (92951): when, the error for a room that is not an internal group, the next read.
- `ArchivePermitUser`: who is in the archive's scope, as last read.
- `ArchiveWordList`: the office's word lists for archive use only (e.g. classified project
  names, R12), applied with the sensitive-word rules to every archived text (archive/content.py).
- `ArchiveTally`: messages per room, company-time week (its Monday) and sender, and how many
  of them were sent outside working time (R4, R17): counts outlive the retained content.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from wecom_app.db import Base, UTCDateTime, utcnow

MESSAGE_STATES = ("stored", "encrypted", "private")  # private: a one-to-one chat, metadata only


class ArchiveCursor(Base):
    __tablename__ = "archive_cursor"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    corp_id: Mapped[str] = mapped_column(String(64), unique=True)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)  # the last seq stored; GetChatData starts after it
    pulled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the last pull that reached WeCom
    notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # a msgaudit_notify not yet pulled for
    newest_msgtime: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the newest message stored
    caught_up_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the last pull that emptied WeCom's queue
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)  # a pull under way (one at a time)
    retry_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # after a configuration error: not before
    # the pull's standing error: wrong_secret | not_archive_secret | ip_not_allowed | expired | unavailable | ...
    error: Mapped[str | None] = mapped_column(String(32))
    error_detail: Mapped[str | None] = mapped_column(Text)
    error_key: Mapped[str | None] = mapped_column(String(16))  # which secret and SDK it was: a new one is tried at once
    error_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error_count: Mapped[int] = mapped_column(Integer, default=0)
    lag_alerted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the office told: > 3 days behind
    permit_read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    permit_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class ArchivedMessage(Base):
    __tablename__ = "archived_message"
    __table_args__ = (
        Index("ix_archived_message_room_time", "roomid", "msgtime"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    msgid: Mapped[str] = mapped_column(String(128), unique=True)
    seq: Mapped[int] = mapped_column(BigInteger, index=True)
    publickey_ver: Mapped[int | None] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16), default="stored", index=True)
    roomid: Mapped[str | None] = mapped_column(String(64))
    sender: Mapped[str | None] = mapped_column(String(64))  # the message's "from"
    tolist: Mapped[list[str] | None] = mapped_column(JSON)
    msgtime: Mapped[datetime | None] = mapped_column(UTCDateTime)
    msgtype: Mapped[str | None] = mapped_column(String(32))
    action: Mapped[str | None] = mapped_column(String(16))  # send | recall | switch
    known_type: Mapped[bool] = mapped_column(default=True)  # False: a msgtype this app does not read (kept, counted)
    content: Mapped[str | None] = mapped_column(Text)  # the text the content rules read (text, markdown, link title…)
    raw: Mapped[str | None] = mapped_column(Text)  # the decrypted message JSON, as DecryptData gave it
    encrypted: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # the record as pulled, when it could not be read
    error: Mapped[str | None] = mapped_column(Text)
    stored_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    cited_by: Mapped[int | None] = mapped_column(Integer, index=True)  # the violation it is evidence of: kept past retention
    judged: Mapped[bool] = mapped_column(default=False)  # the content rules read it (its group was governed)


class ArchiveRoom(Base):
    __tablename__ = "archive_room"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    roomid: Mapped[str] = mapped_column(String(64), unique=True)
    group_id: Mapped[int | None] = mapped_column(ForeignKey("chat_group.id", ondelete="SET NULL"), index=True)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_message_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    messages: Mapped[int] = mapped_column(Integer, default=0)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the last msgaudit/groupchat/get that answered
    read_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)  # None: no read wanted
    read_attempts: Mapped[int] = mapped_column(Integer, default=0)  # failed reads in a row
    read_errcode: Mapped[int | None] = mapped_column(Integer)
    read_error: Mapped[str | None] = mapped_column(Text)  # kept: e.g. 301059, not an internal group


class ArchivePermitUser(Base):
    __tablename__ = "archive_permit_user"

    userid: Mapped[str] = mapped_column(String(64), primary_key=True)
    read_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


WORD_LIST_RULES = ("R12", "R3", "R5")  # classified information, conduct, business only


class ArchiveWordList(Base):
    __tablename__ = "archive_word_list"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(40), unique=True)
    rule: Mapped[str] = mapped_column(String(8), default="R12")
    words: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_by: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ArchiveTally(Base):
    __tablename__ = "archive_tally"
    __table_args__ = (UniqueConstraint("roomid", "week", "userid", name="uq_archive_tally"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    roomid: Mapped[str] = mapped_column(String(64))
    week: Mapped[date] = mapped_column(Date, index=True)  # the Monday, company time
    userid: Mapped[str] = mapped_column(String(64), default="")
    messages: Mapped[int] = mapped_column(Integer, default=0)
    off_hours: Mapped[int] = mapped_column(Integer, default=0)  # R4: work talk outside working time
