"""R9 (membership follows the scope) and R6 (joins that need the custodian's approval):
transfers, new hires and approvals, through the dispatcher and the outbox to the emulator."""

from __future__ import annotations

import pytest

from wecom_app.governance import registry, rules
from wecom_app.models import AuditEntry

from tests.plugins.world import actions, deliver, group_by_chat, member, push, texts_to


def managed(world, session, name, departments, join_policy="auto", custodian="wangfang"):
    return registry.create_managed_group(
        session, world.settings, name=name, owner="zhangwei", custodian=custodian,
        scope={"departments": departments}, allow_external=False, join_policy=join_policy, actor="api:office",
        now=world.now())


def test_r9_transfer_between_departments(world):
    with world.sessions.begin() as session:
        rd, hr = managed(world, session, "研发部-全员", [8]).chat_id, managed(world, session, "人力资源部-全员", [9]).chat_id
    deliver(world)
    push(world, world.state.user_update("xuwei", department=[9], main_department=9))
    with world.sessions() as session:
        removal, addition = actions(session, "appchat/update")
        assert removal.payload == {"chatid": rd, "del_user_list": ["xuwei"]}
        assert addition.payload == {"chatid": hr, "add_user_list": ["xuwei"]}
    assert deliver(world).sent == 2
    assert "xuwei" not in world.state.appchats[rd]["userlist"] and "xuwei" in world.state.appchats[hr]["userlist"]


def test_r9_new_hire_added_once_activated(world):
    with world.sessions.begin() as session:
        chat = managed(world, session, "研发部-全员", [8]).chat_id
    deliver(world)
    push(world, world.state.user_create("newbie", "牛犇", [8], status=4))  # invited, not activated yet (R1)
    with world.sessions() as session:
        assert actions(session, "appchat/update") == []
    push(world, world.state.user_update("newbie", status=1))
    deliver(world)
    assert "newbie" in world.state.appchats[chat]["userlist"]


def test_r9_transfer_back_in_after_removal_is_added_again(world):
    with world.sessions.begin() as session:
        chat = managed(world, session, "研发部-全员", [8]).chat_id
    deliver(world)
    push(world, world.state.user_update("xuwei", department=[9]))
    deliver(world)
    world.clock.advance(3600)
    push(world, world.state.user_update("xuwei", department=[8]))
    deliver(world)
    assert "xuwei" in world.state.appchats[chat]["userlist"]


def test_r6_approval_policy_join_approved_and_rejected(world):
    with world.sessions.begin() as session:
        group = managed(world, session, "研发部-核心", [8], join_policy="approval", custodian="caoyang")
        chat, group_id = group.chat_id, group.id
    deliver(world)
    push(world, world.state.user_create("newbie", "牛犇", [8]), world.state.user_create("other", "欧阳娜娜", [8]))
    with world.sessions.begin() as session:
        assert {member(session, group_id, u).state for u in ("newbie", "other")} == {"pending_approval"}
        assert actions(session, "appchat/update") == []
        assert sum("【入群审批】" in t for t in texts_to(session, "caoyang")) == 2
        group = group_by_chat(session, chat)
        rules.approve_join(session, world.settings, group, "newbie", actor="caoyang", now=world.now())
        rules.reject_join(session, world.settings, group, "other", actor="caoyang", now=world.now())
        with pytest.raises(LookupError):
            rules.approve_join(session, world.settings, group, "other", actor="caoyang", now=world.now())
        decisions = [(e.actor, e.action) for e in session.query(AuditEntry).filter(AuditEntry.actor == "caoyang")]
        assert decisions == [("caoyang", "member.add"), ("caoyang", "member.join_rejected")]
    deliver(world)
    assert "newbie" in world.state.appchats[chat]["userlist"] and "other" not in world.state.appchats[chat]["userlist"]
    push(world, world.state.user_update("other", position="算法工程师", name="欧阳娜"))  # not proposed again
    with world.sessions() as session:
        assert member(session, group_id, "other").state == "rejected"
        assert sum("【入群审批】" in t for t in texts_to(session, "caoyang")) == 2
