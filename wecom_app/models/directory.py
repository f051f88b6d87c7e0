"""The directory mirror: departments (a tree), users, their departments and tags,
as WeCom last told us (user/get 90196, department/list 90208, tag/get 90213,
change_contact 90970-90972).

Userids are stored lower-case (WeCom ids are case-insensitive and come back
lower-cased in `invaliduser`). `event_time` is the CreateTime of the last
change_contact event applied to a row, so an older event that arrives late
never overwrites a newer state. `stale` marks a row the directory-sync job must
re-read with user/get (the 通讯录同步 callback carries only UserID and Department
since 2022-08-15).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from wecom_app.db import Base, UTCDateTime, utcnow

STATUS_ACTIVE = 1  # 已激活
STATUS_DISABLED = 2  # 已禁用
STATUS_NOT_ACTIVATED = 4  # 未激活
STATUS_LEFT = 5  # 退出企业 (user/get); also what we record on delete_user


class Department(Base):
    __tablename__ = "department"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(128), default="")
    parentid: Mapped[int] = mapped_column(Integer, default=0, index=True)
    sort_order: Mapped[int] = mapped_column(BigInteger, default=0)
    department_leader: Mapped[list[str]] = mapped_column(JSON, default=list)
    event_time: Mapped[int] = mapped_column(BigInteger, default=0)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class User(Base):
    __tablename__ = "wecom_user"

    userid: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(128), default="")
    status: Mapped[int] = mapped_column(Integer, default=STATUS_NOT_ACTIVATED, index=True)
    main_department: Mapped[int | None] = mapped_column(Integer)
    position: Mapped[str] = mapped_column(String(128), default="")
    alias: Mapped[str] = mapped_column(String(128), default="")
    direct_leader: Mapped[list[str]] = mapped_column(JSON, default=list)
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    stale: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    event_time: Mapped[int] = mapped_column(BigInteger, default=0)
    left_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    @property
    def active(self) -> bool:
        return self.status == STATUS_ACTIVE


class UserDepartment(Base):
    """A user's membership of one department, with WeCom's is_leader_in_dept flag."""

    __tablename__ = "user_department"
    __table_args__ = (Index("ix_user_department_department", "department_id"),)

    userid: Mapped[str] = mapped_column(String(64), primary_key=True)
    department_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    is_leader: Mapped[bool] = mapped_column(Boolean, default=False)


class Tag(Base):
    __tablename__ = "tag"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(64), default="")
    stale: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class TagMember(Base):
    """A tag holds users and departments (tag/get userlist, partylist)."""

    __tablename__ = "tag_member"
    __table_args__ = (UniqueConstraint("tag_id", "userid", "department_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tag_id: Mapped[int] = mapped_column(Integer, index=True)
    userid: Mapped[str | None] = mapped_column(String(64))
    department_id: Mapped[int | None] = mapped_column(Integer)


class DirectoryVersion(Base):
    """One row whose `version` a database trigger bumps on every write to the tables above
    (migration 0023): the cheap stamp that tells a process its in-memory index of the
    directory (governance/scope.py, directory/people.py) is still the directory's. The
    bump commits or rolls back with the write, so a reader that sees a version also sees
    every write before it, whichever process or session made it."""

    __tablename__ = "directory_version"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(BigInteger, default=0)
