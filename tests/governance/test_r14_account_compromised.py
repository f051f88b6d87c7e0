"""R14: a member reports their account lost or stolen (a text to the app); they are suspended
from every managed group (appchat/update del_user_list), the custodians are told, and an
admin's restore adds them back, through the outbox to the emulator."""

from __future__ import annotations

import pytest

from wecom_app.governance import registry
from wecom_app.models import AuditEntry
from wecom_app.violations.sanctions import restore_account

from tests.plugins.world import actions, deliver, member, push, texts_to


def managed(world, name, custodian):
    with world.sessions.begin() as session:
        group = registry.create_managed_group(
            session, world.settings, name=name, owner="zhangwei", custodian=custodian,
            scope={"departments": [8]}, allow_external=False, join_policy="auto", actor="api:office", now=world.now())
        return group.id, group.chat_id


def test_r14_account_compromised_suspends_everywhere_and_admin_restores(world):
    (a, chat_a), (b, chat_b) = managed(world, "研发部-全员", "caoyang"), managed(world, "研发部-测试", "pengfei")
    deliver(world)
    push(world, world.state.member_sends_text("xuwei", "我的账号被盗了"))
    with world.sessions() as session:
        removals = [x.payload for x in actions(session, "appchat/update")]
        assert removals == [{"chatid": chat_a, "del_user_list": ["xuwei"]}, {"chatid": chat_b, "del_user_list": ["xuwei"]}]
        assert member(session, a, "xuwei").state == member(session, b, "xuwei").state == "suspended"
        assert any("【账号安全】" in t and "研发部-全员" in t for t in texts_to(session, "caoyang"))
        assert any("【账号安全】" in t and "研发部-测试" in t for t in texts_to(session, "pengfei"))
    deliver(world)
    assert "xuwei" not in world.state.appchats[chat_a]["userlist"] + world.state.appchats[chat_b]["userlist"]

    push(world, world.state.member_sends_text("xuwei", "账号丢失"))  # again: nothing more to do
    with world.sessions() as session:
        assert len(actions(session, "appchat/update")) == 2

    with world.sessions.begin() as session:
        with pytest.raises(PermissionError):
            restore_account(session, world.settings, "xuwei", "zenglin", world.now())
    with world.sessions.begin() as session:
        assert restore_account(session, world.settings, "xuwei", "wangfang", world.now()) == [a, b]
        assert restore_account(session, world.settings, "xuwei", "wangfang", world.now()) == []
    deliver(world)
    assert "xuwei" in world.state.appchats[chat_a]["userlist"] and "xuwei" in world.state.appchats[chat_b]["userlist"]
    with world.sessions() as session:
        audited = [(e.actor, e.action) for e in session.query(AuditEntry).filter(
            AuditEntry.action.like("account.%")).order_by(AuditEntry.id)]
    assert audited[0] == ("xuwei", "account.suspended") and audited[-1] == ("wangfang", "account.restored")


def test_r14_restore_keeps_out_someone_also_under_a_sanction(world):
    from wecom_app.violations import decisions
    from wecom_app.violations import records as violations

    (a, chat_a) = managed(world, "研发部-全员", "caoyang")
    deliver(world)
    with world.sessions.begin() as session:
        for _ in range(2):  # warning, then a temporary removal
            v, _new = violations.open_violation(session, "R3", "xuwei", a, evidence={}, detected_by="system",
                                                now=world.now())
            decisions.decide(session, world.settings, v.id, "confirm", "custodian:caoyang", world.now())
    push(world, world.state.member_sends_text("xuwei", "账号被盗"))
    with world.sessions.begin() as session:
        assert restore_account(session, world.settings, "xuwei", "wangfang", world.now()) == []
        assert member(session, a, "xuwei").state == "suspended"
