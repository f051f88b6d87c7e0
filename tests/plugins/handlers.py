"""The handler layer's bench (tests/handlers/; STYLE.md "How a test should read"): build a
CallbackEvent, dispatch it through the handlers' router with a HandlerContext, then look at the
rows and outbox rows in the same open transaction. No emulator, no HTTP, no inbox.

- `ctx` (fixture): a HandlerContext on an open session of a fresh database, the test settings,
  NOW (Tuesday 2026-03-03 10:00 in Shanghai, working time) and a logger. The directory holds
  `company`: 华东公司 (1) ⊃ 研发部 (2) ⊃ 平台组 (3); zhangsan 张三 (1), lisi 李四 (2),
  wangwu 王五 (2), zhaoliu 赵六 (3), all active.
- `contact(change_type, **fields)`, `external_chat(change_type, **fields)`, `text(sender, content)`,
  `card_click(sender, task_id, key)`: CallbackEvents as `parse_event` gives them.
- `dispatch(ctx, event)`: every handler the router matches, in order, then a flush; their names.
- `managed_group(ctx, members)`, `customer_group(ctx, members)`, `members(ctx, group_id)`,
  `outbox(ctx, kind)`: rows.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from types import MappingProxyType

import pytest
from sqlalchemy import select

import handlers
from tests.conftest import CORP_ID, make_settings
from wecom_app.callbacks.events import CallbackEvent
from wecom_app.callbacks.router import HandlerContext
from wecom_app.models import Department, Group, GroupMember, OutboxAction, User, UserDepartment

NOW = datetime(2026, 3, 3, 2, 0, tzinfo=timezone.utc)  # Tuesday 10:00 in Shanghai
CREATE_TIME = int(NOW.timestamp()) - 5  # pushed five seconds before the dispatcher got to it
COMPANY = (("zhangsan", "张三", 1), ("lisi", "李四", 2), ("wangwu", "王五", 2), ("zhaoliu", "赵六", 3))
CHAT = "wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA"


@pytest.fixture
def ctx(db_url, sessions):
    with sessions.begin() as session:
        session.add_all([Department(id=1, name="华东公司", parentid=0), Department(id=2, name="研发部", parentid=1),
                         Department(id=3, name="平台组", parentid=2)])
        for userid, name, department in COMPANY:
            session.add(User(userid=userid, name=name, status=1, main_department=department, direct_leader=[],
                             extra={}, event_time=0))
            session.add(UserDepartment(userid=userid, department_id=department))
    with sessions() as session, session.begin():
        yield HandlerContext(session=session, settings=make_settings(database_url=db_url), now=NOW,
                             log=logging.getLogger("tests.handlers"))
        session.rollback()  # nothing to keep: the database is the test's own


def event(msg_type: str, *, name: str = "", from_user: str = "sys", lists=None, **fields) -> CallbackEvent:
    values = {"ToUserName": CORP_ID, "FromUserName": from_user, "CreateTime": str(CREATE_TIME), "MsgType": msg_type}
    if msg_type == "event":
        values["Event"] = name
    values.update({key: str(value) for key, value in fields.items()})
    return CallbackEvent(msg_type=msg_type, event=values.get("Event", ""), from_user=from_user,
                         create_time=CREATE_TIME, fields=MappingProxyType(values),
                         lists=MappingProxyType({key: tuple(items) for key, items in (lists or {}).items()}))


def contact(change_type: str, **fields) -> CallbackEvent:
    """change_contact (90970-90972)."""
    return event("event", name="change_contact", ChangeType=change_type, **fields)


def external_chat(change_type: str, *, members=None, **fields) -> CallbackEvent:
    """change_external_chat (92130); `members` becomes MemChangeList's <Item>s."""
    lists = {"MemChangeList": members} if members is not None else None
    return event("event", name="change_external_chat", ChangeType=change_type, ChatId=CHAT, lists=lists, **fields)


def text(sender: str, content: str, msg_id: str = "7000000000000000001") -> CallbackEvent:
    """A text message to the app (90239)."""
    return event("text", from_user=sender, Content=content, MsgId=msg_id, AgentID=1000002)


def card_click(sender: str, task_id: str, key: str) -> CallbackEvent:
    """template_card_event (90240): a button pressed on a card."""
    return event("event", name="template_card_event", from_user=sender, TaskId=task_id, EventKey=key,
                 CardType="button_interaction", ResponseCode="response-code-1", AgentID=1000002)


def dispatch(ctx: HandlerContext, callback: CallbackEvent) -> list[str]:
    """What the dispatcher does for one stored event, without the inbox: every matching handler in order."""
    matched = handlers.router.match(callback)
    for handler in matched:
        handler(callback, ctx)
    ctx.session.flush()
    return [f"{handler.__module__}.{handler.__name__}" for handler in matched]


def managed_group(ctx, members=("zhangsan", "lisi", "wangwu"), **values) -> int:
    """An active managed group (appchat) owned by zhangsan, lisi its custodian, scope 研发部 (2)."""
    group = Group(kind="managed", chat_id="wrmanaged01", name="研发部-周会", owner="zhangsan", custodian="lisi",
                  scope={"departments": [2], "tags": [], "users": [], "exclude": []}, status="active", **values)
    return _with_members(ctx, group, members)


def customer_group(ctx, members=("zhangsan",), **values) -> int:
    """A registered customer group (客户群, chat CHAT) owned by zhangsan, lisi its custodian."""
    group = Group(kind="customer", chat_id=CHAT, name="华东客户交流群", owner="zhangsan", custodian="lisi",
                  scope={"departments": [1]}, status="active", registered_at=NOW, **values)
    return _with_members(ctx, group, members)


def _with_members(ctx, group: Group, members) -> int:
    ctx.session.add(group)
    ctx.session.flush()
    ctx.session.add_all(GroupMember(group_id=group.id, member_id=m, compliance="ok") for m in members)
    ctx.session.flush()
    return group.id


def members(ctx, group_id: int) -> dict[str, tuple[str, str]]:
    """member_id → (state, compliance)."""
    return {m.member_id: (m.state, m.compliance)
            for m in ctx.session.scalars(select(GroupMember).where(GroupMember.group_id == group_id))}


def outbox(ctx, kind: str) -> list[dict]:
    """The payloads of the outbox rows of one kind, oldest first."""
    return [a.payload for a in ctx.session.scalars(select(OutboxAction).where(OutboxAction.kind == kind)
                                                    .order_by(OutboxAction.id))]
