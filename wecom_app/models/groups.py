"""The group registry (R7, R8): every governed group with its kind, scope and
custodian, and the members we last saw in it with their compliance.

Kinds (DESIGN §1): `managed` — an appchat created by this app (appchat/create
90245; the app can add and remove members); `customer` — a 客户群 owned by a
member (change_external_chat 92130, groupchat/get 92122; no removal API);
`internal` — an ordinary group registered by hand (no events, no API; a robot
webhook may post into it).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from wecom_app.db import Base, UTCDateTime, utcnow

KINDS = ("managed", "customer", "internal")
JOIN_POLICIES = ("auto", "approval")
# creating (managed, appchat/create queued) → active; discovered (customer group seen
# but not registered yet: queued for the office) → active; dismissed; archived (the office
# stopped governing it: kept for the records, governance/group_edit.py)
STATUSES = ("creating", "discovered", "active", "dismissed", "archived")
GOVERNED = ("creating", "active")  # the statuses whose members the rules judge


class Group(Base):
    __tablename__ = "chat_group"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    chat_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    owner: Mapped[str] = mapped_column(String(64), default="")
    custodian: Mapped[str] = mapped_column(String(64), default="", index=True)
    # {"departments": [int], "tags": [int], "users": [str], "exclude": [str]}; a department includes its subtree
    scope: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    allow_external: Mapped[bool] = mapped_column(Boolean, default=False)
    join_policy: Mapped[str] = mapped_column(String(16), default="auto")
    name_pattern: Mapped[str | None] = mapped_column(String(200))  # overrides the company's real-name pattern
    robot_webhook: Mapped[str | None] = mapped_column(Text)  # encrypted at rest: the key is a bearer secret
    status: Mapped[str] = mapped_column(String(16), default="active", index=True)
    member_version: Mapped[str | None] = mapped_column(String(64))  # customer groups: last CurMemVer seen
    created_by: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    registered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reconciled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # something the office and the custodian must act on: "size_limit" (group_size.py: people in
    # scope left out of a full group, or WeCom's 86006), its details and since when
    problem: Mapped[str | None] = mapped_column(String(32))
    problem_detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    problem_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class GroupMember(Base):
    """One member as last seen in a group: an employee (`member_type` 1) or an
    external contact (2, `member_id` is the external_userid)."""

    __tablename__ = "group_member"
    __table_args__ = (
        UniqueConstraint("group_id", "member_id"),
        Index("ix_group_member_member", "member_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("chat_group.id", ondelete="CASCADE"))
    member_id: Mapped[str] = mapped_column(String(64))
    member_type: Mapped[int] = mapped_column(Integer, default=1)
    group_nickname: Mapped[str] = mapped_column(String(128), default="")
    join_time: Mapped[int | None] = mapped_column(BigInteger)
    join_scene: Mapped[int | None] = mapped_column(Integer)
    invitor: Mapped[str | None] = mapped_column(String(64))
    # present | removing (a removal is queued) | removed | suspended (R14) | pending_approval (R6)
    # | rejected (R6) | over_limit (in scope, but the group is full: group_size.py)
    state: Mapped[str] = mapped_column(String(24), default="present")
    # ok | not_active | out_of_scope | external_not_allowed | bad_name | unknown
    compliance: Mapped[str] = mapped_column(String(32), default="unknown")
    checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class GroupReread(Base):
    """A customer group to read again at once (groupchat/get 92122): a change_external_chat
    push (92130) that did not name every changed member, or whose member version we cannot
    follow. One row per group; `generation` counts requests, so a re-read that finishes after
    a newer request leaves the row for another read (group_reread.py)."""

    __tablename__ = "group_reread"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("chat_group.id", ondelete="CASCADE"), unique=True)
    reason: Mapped[str] = mapped_column(String(32))  # no_list, partial_list, no_versions, missed_event, version_moved
    want_version: Mapped[str | None] = mapped_column(String(64))  # the latest CurMemVer pushed: the read should show it
    generation: Mapped[int] = mapped_column(Integer, default=1)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
