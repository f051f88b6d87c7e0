"""The group registry (R7, R8): managed groups created through the app and sent to the
emulator, registration of customer and ordinary groups, discovery, the API view."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from wecom_app.governance import naming, registry
from wecom_app.models import AuditEntry, Group, GroupMember
from wecom_app.wecom import robot_keys

from tests.plugins.world import actions, deliver

RD = 8  # 研发部: 16 people, of whom jiayun and dingning are not activated and weiqiang is disabled
HUADONG_CHAT = "wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA"


def create(world, session, **fields):
    values = dict(name="研发部-周会", owner="wangfang", custodian="caoyang", scope={"departments": [RD]},
                  allow_external=False, join_policy="auto", actor="api:office", now=world.now())
    values.update(fields)
    return registry.create_managed_group(session, world.settings, **values)


def test_r7_create_managed_group_members_from_scope(world):
    with world.sessions.begin() as session:
        group = create(world, session)
        chat_id, group_id = group.chat_id, group.id
        assert group.status == "creating" and len(chat_id) <= 32 and chat_id.isalnum()
        (action,) = actions(session, "appchat/create")
        assert action.idempotency_key == f"appchat.create:{chat_id}"
        userlist = action.payload["userlist"]
        assert action.payload["owner"] == "wangfang" and userlist[:2] == ["wangfang", "caoyang"]
        assert "jiayun" not in userlist and "weiqiang" not in userlist and len(userlist) == 14
        assert [a.payload["chatid"] for a in actions(session, "appchat/send")] == [chat_id]
        assert session.scalar(select(AuditEntry.action).where(AuditEntry.target == f"group:{group_id}")) == "group.create"
    assert deliver(world).sent == 1  # the create; the welcome waits a minute so that it comes second
    assert sorted(world.state.appchats[chat_id]["userlist"]) == sorted(userlist)
    with world.sessions.begin() as session:
        assert [g.id for g in registry.settle_created_groups(session, world.now())] == [group_id]
        assert session.get(Group, group_id).status == "active"
    world.clock.advance(61)
    assert deliver(world).sent == 1
    assert "欢迎加入「研发部-周会」" in world.state.inbox("pengfei")[-1]["body"]["text"]["content"]


@pytest.mark.parametrize("fields, field", [
    (dict(name="🙂开心群"), "name"),
    (dict(name="x" * 51), "name"),
    (dict(owner="jiayun"), "owner"),  # not activated (R1)
    (dict(custodian="nobody"), "custodian"),
    (dict(scope={"departments": [999]}), "scope.departments"),
    (dict(scope={"departments": ["8"]}), "scope.departments"),
    (dict(scope={"teams": [1]}), "scope"),
    (dict(scope={}, custodian="wangfang"), "scope"),  # one member: appchat needs 2-2000
    (dict(allow_external=True), "allow_external"),
    (dict(join_policy="open"), "join_policy"),
])
def test_r8_create_refuses_an_invalid_field_and_names_it(world, fields, field):
    with world.sessions.begin() as session:
        with pytest.raises(registry.RegistryError) as caught:
            create(world, session, **fields)
        assert caught.value.field == field and caught.value.message
        assert session.scalar(select(Group)) is None and actions(session, "appchat/create") == []


def test_r7_changes_before_the_create_is_sent_go_into_the_create(world):
    from wecom_app.governance import rules

    with world.sessions.begin() as session:
        group = create(world, session, scope={"users": ["pengfei", "zenglin"]})
        rules.admit(session, world.settings, group, "xuwei", world.now())
        pengfei = session.scalar(select(GroupMember).where(GroupMember.member_id == "pengfei"))
        rules.enforce(session, world.settings, group, pengfei, world.now(), "out_of_scope")
        assert actions(session, "appchat/update") == []
        chat_id = group.chat_id
    deliver(world)
    assert world.state.appchats[chat_id]["userlist"] == ["wangfang", "caoyang", "zenglin", "xuwei"]


def test_r7_register_a_discovered_customer_group(world):
    with world.sessions.begin() as session:
        discovered = registry.discover_customer_group(session, HUADONG_CHAT, world.now())
        assert discovered.status == "discovered"
        assert registry.discover_customer_group(session, HUADONG_CHAT, world.now()) is discovered
        group = registry.register_group(
            session, world.settings, kind="customer", chat_id=HUADONG_CHAT, name="华东客户交流群", owner="hujie",
            custodian="wujun", scope={"departments": [6]}, allow_external=True,
            robot_webhook="https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa",
            actor="api:office", now=world.now())
        assert group.id == discovered.id and group.status == "active" and group.registered_at is not None
        assert "693a91f6" not in group.robot_webhook
        assert robot_keys.robot_key(world.settings, group) == "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"
        view = registry.group_view(session, group)
        assert view["robot_webhook"] == {"configured": True} and "693a91f6" not in repr(view)
        assert view["kind"] == "customer" and "no API" in " ".join(view["enforced"]["custodian_tasks"])
        with pytest.raises(registry.RegistryError) as caught:
            registry.register_group(session, world.settings, kind="customer", chat_id=HUADONG_CHAT, name="重复登记",
                                    owner="hujie", custodian="wujun", scope={}, allow_external=False,
                                    robot_webhook=None, actor="api:office", now=world.now())
        assert caught.value.field == "chat_id"


@pytest.mark.parametrize("fields, field", [
    (dict(kind="managed"), "kind"),
    (dict(kind="customer", chat_id=None), "chat_id"),
    (dict(robot_webhook="https://example.com/hook?key=abc"), "robot_webhook"),
])
def test_r8_register_refuses_an_invalid_field_and_names_it(world, fields, field):
    values = dict(kind="internal", chat_id=None, name="行政部-日常", owner="wangfang", custodian="lina",
                  scope={"departments": [3]}, allow_external=False, robot_webhook=None, actor="u", now=world.now())
    values.update(fields)
    with world.sessions.begin() as session:
        with pytest.raises(registry.RegistryError) as caught:
            registry.register_group(session, world.settings, **values)
        assert caught.value.field == field


def test_group_view_of_a_managed_group_while_it_is_created(world):
    with world.sessions.begin() as session:
        group = create(world, session)
        view = registry.group_view(session, group)
    assert view["status"] == "creating" and view["creation"] == {"outbox": "pending", "errcode": None}
    assert view["robot_webhook"] == {"configured": False} and view["chatid"] == group.chat_id
    assert {m["userid"]: m["compliance"] for m in view["members"]}["caoyang"] == "ok"
    assert view["members"][0] == {"userid": "wangfang", "type": "internal", "name": "王芳", "group_nickname": "",
                                  "compliance": "ok", "state": "present", "invitor": None}
    assert "appchat/update" in " ".join(view["enforced"]["automatic"])


def test_r8_group_name_convention():
    ok = ["研发部-周会", "Sales Team 华东", "项目群（二期）", "A1"]
    bad = ["🙂开心群", "x", " 研发部", "研发部 ", "a" * 51, "群\n名"]
    assert [n for n in ok if naming.group_name_problem(n)] == []
    assert [n for n in bad if not naming.group_name_problem(n)] == []
    strict = type("S", (), {"group_name_pattern": naming.DEPARTMENT_PURPOSE})()
    assert naming.group_name_problem("研发部-周会", strict) is None
    assert naming.group_name_problem("周会", strict)


def test_r2_real_name_convention():
    assert naming.is_real_name("张伟") and naming.is_real_name("欧阳娜娜")
    assert not any(naming.is_real_name(n) for n in ("Tony", "小王🙂", "销售-李", "张", "", None))
    assert naming.is_real_name("销售-李", naming.DEPARTMENT_DASH_NAME)
    with pytest.raises(ValueError):
        naming.compile_pattern("[")


def test_r7_welcome_waits_until_after_the_create(world):
    with world.sessions.begin() as session:
        create(world, session)
        (welcome,) = actions(session, "appchat/send")
        (create_row,) = actions(session, "appchat/create")
        assert welcome.not_before - create_row.not_before == timedelta(minutes=1)
