"""The emulator-backed world for the governance, directive and job tests: a database whose
directory mirror holds the emulator's demo company, the real client against the emulator,
callbacks dispatched through the real router, and the outbox sent to the emulator.

- `world` (fixture): settings, client, emulator state and clock, sessions, calendar.
- helpers: `push(world, *xmls)`, `deliver(world)`, `actions`, `member`, `group_by_chat`, `texts_to`,
  `failed_rows`, `seed_directory`.
"""

from __future__ import annotations

from datetime import datetime, timezone
from types import SimpleNamespace

import pytest
from sqlalchemy import select

import handlers
from jobs.directory_sync import refresh_stale
from tests.conftest import make_settings
from wecom_app.callbacks.dispatcher import dispatch_pending
from wecom_app.callbacks.events import parse_event
from wecom_app.models import (
    Department,
    Group,
    GroupMember,
    InboxEvent,
    OutboxAction,
    Tag,
    TagMember,
    User,
    UserDepartment,
)
from wecom_app.wecom import outbox
from wecom_app.workcal import WorkCalendar


@pytest.fixture
def world(db_url, sessions, sandbox_state, sandbox_clock, emulator_url):
    """settings, client, emulator state and clock (Monday 2026-03-02 09:00, working time), and
    a directory mirror seeded from the emulator's demo company."""
    from wecom_app.wecom.client import WeComClient

    settings = make_settings(database_url=db_url, api_base=emulator_url, wecom_timeout=2, admins=("wangfang",))
    clock = lambda: datetime.fromtimestamp(sandbox_clock(), timezone.utc)  # noqa: E731
    client = WeComClient(settings, sessions, clock=clock, sleep=lambda _s: None, max_attempts=1)
    with sessions.begin() as session:
        seed_directory(session, sandbox_state)
    yield SimpleNamespace(settings=settings, client=client, now=clock, state=sandbox_state, clock=sandbox_clock,
                          sessions=sessions, calendar=WorkCalendar(settings))
    client.close()


def seed_directory(session, state) -> None:
    """The mirror as a full sync would leave it (departments, users and their departments, tags)."""
    for d in state.departments.values():
        session.add(Department(id=d["id"], name=d["name"], parentid=d["parentid"]))
    for u in state.users.values():
        session.add(User(userid=u["userid"], name=u["name"], status=u["status"], main_department=u["main_department"],
                         direct_leader=list(u["direct_leader"]), extra={}))
        for department_id in u["department"]:
            session.add(UserDepartment(userid=u["userid"], department_id=department_id))
    for t in state.tags.values():
        session.add(Tag(id=t["tagid"], name=t["tagname"], stale=False))
        session.add_all(TagMember(tag_id=t["tagid"], userid=u) for u in t["userlist"])


def store(world, *xmls: str):
    """Store callbacks in the inbox as the receiver does (no dispatch)."""
    with world.sessions.begin() as session:
        for xml in xmls:
            event = parse_event(xml)
            session.add(InboxEvent(dedupe_key=event.dedupe_key(), source="app", msg_type=event.msg_type,
                                   event=event.event, change_type=event.change_type, from_user=event.from_user,
                                   create_time=event.create_time, payload=xml, received_at=world.now(),
                                   next_attempt_at=world.now()))


def push(world, *xmls: str):
    """Store callbacks in the inbox as the receiver does, then run the dispatcher once."""
    store(world, *xmls)
    stats = dispatch_pending(world.sessions, handlers.router, world.settings, world.now())
    assert stats.parked == stats.retried == 0, _errors(world)
    if any(parse_event(xml).event == "change_contact" for xml in xmls):
        # the directory_sync job's turn: the emulator's 通讯录同步 callbacks are the minimal form
        # (UserID and Department, 90970), so what they leave stale is re-read with user/get
        refresh_stale(world.sessions, world.client, world.now())
    return stats


def _errors(world):
    with world.sessions() as session:
        return session.scalars(select(InboxEvent.last_error).where(InboxEvent.last_error.is_not(None))).all()


def deliver(world):
    """One outbox pass against the emulator; every due row must go."""
    stats = outbox.send_due(world.sessions, world.client, world.settings, world.calendar, world.now())
    assert stats.failed == 0, failed_rows(world)
    return stats


def failed_rows(world):
    with world.sessions() as session:
        return [(r.kind, r.payload, r.errcode, r.errmsg) for r in
                session.scalars(select(OutboxAction).where(OutboxAction.status == "failed"))]


def actions(session, kind: str, status: str | None = None) -> list[OutboxAction]:
    query = select(OutboxAction).where(OutboxAction.kind == kind).order_by(OutboxAction.id)
    if status:
        query = query.where(OutboxAction.status == status)
    return list(session.scalars(query))


def member(session, group_id: int, member_id: str) -> GroupMember | None:
    return session.scalar(select(GroupMember).where(GroupMember.group_id == group_id, GroupMember.member_id == member_id))


def group_by_chat(session, chat_id: str) -> Group | None:
    return session.scalar(select(Group).where(Group.chat_id == chat_id))


def texts_to(session, userid: str) -> list[str]:
    """The message/send texts queued for one member."""
    return [a.payload["text"]["content"] for a in actions(session, "message/send")
            if userid in a.payload["touser"].split("|")]
