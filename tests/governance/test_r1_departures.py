"""R1 (only active employees in company groups) and R9 (the creator keeps membership
current): departures and deactivations, from the change_contact callback through the
dispatcher and the outbox to the emulator's managed groups."""

from __future__ import annotations

from sqlalchemy import select

from wecom_app.governance import registry
from wecom_app.models import Group

from tests.plugins.world import actions, deliver, group_by_chat, member, push, texts_to


def managed(world, session, name, scope, owner="wangfang", custodian="caoyang"):
    return registry.create_managed_group(
        session, world.settings, name=name, owner=owner, custodian=custodian, scope=scope, allow_external=False,
        join_policy="auto", actor="api:office", now=world.now())


def five_groups_with_pengfei(world) -> list[str]:
    with world.sessions.begin() as session:
        chats = [managed(world, session, f"研发部-项目{i}", {"departments": [8]} if i % 2 else {"users": ["pengfei", "luxin"]}).chat_id
                 for i in range(5)]
    deliver(world)
    return chats


def test_r1_departed_employee_removed_from_five_managed_groups(world):
    chats = five_groups_with_pengfei(world)
    assert all("pengfei" in world.state.appchats[c]["userlist"] for c in chats)
    push(world, world.state.user_delete("pengfei"))
    with world.sessions() as session:
        updates = actions(session, "appchat/update")
        assert sorted(a.payload["chatid"] for a in updates) == sorted(chats)  # one per group, this cycle
        assert all(a.payload["del_user_list"] == ["pengfei"] for a in updates)
        assert {member(session, group_by_chat(session, c).id, "pengfei").state for c in chats} == {"removing"}
    assert deliver(world).sent == 5
    assert not any("pengfei" in world.state.appchats[c]["userlist"] for c in chats)
    push(world, world.state.user_update("luxin", position="高级产品经理"))  # unrelated: nothing more to do
    with world.sessions() as session:
        assert len(actions(session, "appchat/update")) == 5


def test_r1_departed_owner_hands_the_group_to_the_custodian(world):
    with world.sessions.begin() as session:
        chat = managed(world, session, "研发部-架构", {"departments": [8]}, owner="pengfei").chat_id
    deliver(world)
    push(world, world.state.user_delete("pengfei"))
    with world.sessions() as session:
        (update,) = actions(session, "appchat/update")
        assert update.payload == {"chatid": chat, "del_user_list": ["pengfei"], "owner": "caoyang"}
        assert group_by_chat(session, chat).owner == "caoyang"
    deliver(world)
    assert world.state.appchats[chat]["owner"] == "caoyang"


def test_r1_disabled_employee_removed(world):
    with world.sessions.begin() as session:
        chat = managed(world, session, "研发部-测试", {"departments": [8]}).chat_id
    deliver(world)
    push(world, world.state.user_update("xuwei", status=2))
    deliver(world)
    assert "xuwei" not in world.state.appchats[chat]["userlist"]


def test_r1_departure_from_a_customer_group_is_a_custodian_task(world):
    chat = "wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA"  # 华东客户交流群: hujie owns it, zhuxia is in it
    with world.sessions.begin() as session:
        group = registry.register_group(session, world.settings, kind="customer", chat_id=chat, name="华东客户交流群",
                                        owner="hujie", custodian="wujun", scope={"departments": [6]},
                                        allow_external=True, robot_webhook=None, actor="api:office", now=world.now())
        from wecom_app.governance import membership

        membership.member_joined(session, world.settings, group, "zhuxia", world.now())
    push(world, world.state.user_delete("zhuxia"))
    with world.sessions() as session:
        assert actions(session, "appchat/update") == []  # no removal API for customer groups
        assert member(session, group_by_chat(session, chat).id, "zhuxia").compliance == "not_active"
        task = texts_to(session, "wujun")
        assert len(task) == 1 and "朱霞" in task[0] and texts_to(session, "hujie") == task
        assert session.scalar(select(Group.status).where(Group.chat_id == chat)) == "active"


def test_r1_removal_refused_by_wecom_is_retried_then_surfaced_then_retried_by_an_operator(world):
    import dataclasses

    from wecom_app.wecom import outbox

    chat = five_groups_with_pengfei(world)[0]
    # a busy WeCom is an outage: retried for OUTBOX_GIVE_UP_AFTER (here 6 h), then surfaced
    settings = dataclasses.replace(world.settings, outbox_give_up_after=6 * 3600)
    world.state.faults.add("appchat/update", "errcode", errcode=-1, count=None)  # WeCom busy, every time
    push(world, world.state.user_delete("pengfei"))
    for _ in range(20):  # each pass is a retry later (a busy WeCom also stops the rest of that pass)
        outbox.send_due(world.sessions, world.client, settings, world.calendar, world.now())
        world.clock.advance(3600)
    with world.sessions() as session:
        failed = actions(session, "appchat/update", status="failed")
        assert len(failed) == 5 and {a.errcode for a in failed} == {-1}  # surfaced with WeCom's errcode
        assert all(a.errmsg.startswith("gave up after") for a in failed)  # retried, not forever
        assert outbox.summary(session, world.now())["failed"] == [{"kind": "appchat/update", "errcode": -1, "count": 5}]
    assert "pengfei" in world.state.appchats[chat]["userlist"]
    world.state.faults.clear()
    with world.sessions.begin() as session:
        for action in actions(session, "appchat/update", status="failed"):
            outbox.retry_failed(session, action.id, now=world.now())
    deliver(world)
    assert "pengfei" not in world.state.appchats[chat]["userlist"]
