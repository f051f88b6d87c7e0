"""R6: the custodian rules on a violation, and confirmed violations climb the sanctions
ladder warning → temporary removal (added back by the job when it ends) → removal,
through the outbox to the emulator. WeCom has no mute API, so there is no mute step."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from sqlalchemy import select

from jobs import sanctions as sanctions_job
from wecom_app.governance import registry
from wecom_app.models import AuditEntry, Sanction
from wecom_app.violations import decisions
from wecom_app.violations import records as violations
from wecom_app.violations.sanctions import ladder

from tests.plugins.world import actions, deliver, member, push, texts_to

DAY = 86400


def managed(world, name="研发部-全员", custodian="caoyang"):
    with world.sessions.begin() as session:
        group = registry.create_managed_group(
            session, world.settings, name=name, owner="zhangwei", custodian=custodian,
            scope={"departments": [8]}, allow_external=False, join_policy="auto", actor="api:office", now=world.now())
        ids = group.id, group.chat_id
    deliver(world)
    return ids


def confirm(world, group_id, userid="xuwei", rule="R3", actor="custodian:caoyang"):
    with world.sessions.begin() as session:
        violation, _ = violations.open_violation(session, rule, userid, group_id, evidence={"reason": "辱骂同事"},
                                                 detected_by="report:zenglin", now=world.now())
        decided = decisions.decide(session, world.settings, violation.id, "confirm", actor, world.now(), "属实")
        return decided.id, decided.sanction


def run_job(world):
    return sanctions_job.run(SimpleNamespace(sessions=world.sessions, settings=world.settings, clock=world.now))


def test_r6_sanctions_ladder_warning_then_temporary_removal_then_removal(world):
    group_id, chat = managed(world)
    assert confirm(world, group_id)[1] == "warning"
    deliver(world)
    assert any("【群规警告】" in m["content"] for m in _texts(world, "xuwei"))
    assert "xuwei" in world.state.appchats[chat]["userlist"]

    assert confirm(world, group_id)[1] == "temporary_removal"
    with world.sessions() as session:
        assert actions(session, "appchat/update")[-1].payload == {"chatid": chat, "del_user_list": ["xuwei"]}
        assert member(session, group_id, "xuwei").state == "suspended"
    deliver(world)
    assert "xuwei" not in world.state.appchats[chat]["userlist"]
    push(world, world.state.user_update("xuwei", position="高级测试工程师"))  # a scope review does not re-add
    world.clock.advance(6 * DAY)
    assert run_job(world).total == 0
    world.clock.advance(DAY + 1)
    assert run_job(world).total == 1
    deliver(world)
    assert "xuwei" in world.state.appchats[chat]["userlist"]
    assert run_job(world).total == 0  # ended once

    assert confirm(world, group_id)[1] == "removal"
    deliver(world)
    world.clock.advance(60 * DAY)
    run_job(world)
    deliver(world)
    assert "xuwei" not in world.state.appchats[chat]["userlist"]
    with world.sessions() as session:
        steps = [(e.actor, e.action) for e in session.scalars(select(AuditEntry).where(
            AuditEntry.action.like("sanction.%")).order_by(AuditEntry.id))]
    assert steps == [("custodian:caoyang", "sanction.warning"), ("custodian:caoyang", "sanction.temporary_removal"),
                     ("system", "sanction.ended"), ("custodian:caoyang", "sanction.removal")]


def test_r6_dismissed_violation_applies_no_sanction_and_frees_the_triple(world):
    group_id, _ = managed(world)
    with world.sessions.begin() as session:
        first, new = violations.open_violation(session, "R5", "xuwei", group_id, evidence={}, detected_by="system",
                                               now=world.now())
        again, new_again = violations.open_violation(session, "R5", "xuwei", group_id, evidence={},
                                                     detected_by="report:zenglin", now=world.now())
        assert new and not new_again and again.id == first.id
        decisions.decide(session, world.settings, first.id, "dismiss", "custodian:caoyang", world.now(), "误报")
        with pytest.raises(decisions.DecisionError):
            decisions.decide(session, world.settings, first.id, "confirm", "custodian:caoyang", world.now())
        assert session.scalars(select(Sanction)).all() == []
        later, new_later = violations.open_violation(session, "R5", "xuwei", group_id, evidence={},
                                                     detected_by="system", now=world.now())
        assert new_later and later.id != first.id


def test_r6_ladder_is_configurable_and_a_customer_group_gets_a_task(world):
    settings = SimpleNamespace(sanction_ladder="temporary_removal:3,removal", admins=("wangfang",))
    assert ladder(settings) == [("temporary_removal", 3), ("removal", 7)]
    with world.sessions.begin() as session:
        group = registry.register_group(
            session, world.settings, kind="customer", chat_id="wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA", name="华东客户交流群",
            owner="hujie", custodian="wujun", scope={"departments": [6]}, allow_external=True, robot_webhook=None,
            actor="api:office", now=world.now())
        violation, _ = violations.open_violation(session, "R3", "zhuxia", group.id, evidence={},
                                                 detected_by="custodian:wujun", now=world.now())
        decided = decisions.decide(session, settings, violation.id, "confirm", "custodian:wujun", world.now())
        assert decided.sanction == "temporary_removal"
        assert any("不提供移出该群成员的接口" in t for t in texts_to(session, "wujun"))
        assert actions(session, "appchat/update") == []


def _texts(world, userid):
    return [{"content": (m["body"].get("text") or {}).get("content", "")} for m in world.state.inbox(userid)]
