"""R3 (conduct), R5 (unrelated content) and R11 (strangers): a member's `举报 …` text to the
app, dispatched through the router, becomes a violation for the group's custodian, and the
reporter gets a reply through the outbox; an unclear report gets a reply asking for details."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from wecom_app.governance import registry
from wecom_app.models import Violation

from tests.plugins.world import deliver, push, texts_to

FIXTURES = Path(__file__).parents[1] / "fixtures" / "callbacks"


def managed(world, name="研发部-全员"):
    with world.sessions.begin() as session:
        group = registry.create_managed_group(
            session, world.settings, name=name, owner="zhangwei", custodian="caoyang",
            scope={"departments": [8]}, allow_external=False, join_policy="auto", actor="api:office", now=world.now())
        group_id = group.id
    deliver(world)
    return group_id


def all_violations(world):
    with world.sessions() as session:
        return [(v.rule, v.userid, v.group_id, v.detected_by, v.status) for v in
                session.scalars(select(Violation).order_by(Violation.id))]


def test_r3_report_by_text_becomes_a_violation_for_the_custodian(world):
    group_id = managed(world)
    push(world, world.state.member_sends_text("zenglin", "举报 @xuwei 研发部-全员 在群里辱骂同事"))
    assert all_violations(world) == [("R3", "xuwei", group_id, "report:zenglin", "open")]
    with world.sessions() as session:
        (ack,) = texts_to(session, "zenglin")
        (task,) = texts_to(session, "caoyang")
        assert "已收到" in ack and "研发部-全员" in ack
        assert "【举报待处理】" in task and "xuwei" in task and "辱骂同事" in task
        assert texts_to(session, "xuwei") == []  # the reported person is not tipped off
    deliver(world)
    assert any("已收到" in m["body"]["text"]["content"] for m in world.state.inbox("zenglin"))


def test_r3_report_read_leniently_by_name_and_shared_group(world):
    group_id = managed(world)
    push(world, world.state.member_sends_text("zenglin", "举报：许伟，天天发广告"))
    assert all_violations(world) == [("R5", "xuwei", group_id, "report:zenglin", "open")]


def test_r11_stranger_report_names_only_the_group(world):
    group_id = managed(world)
    push(world, world.state.member_sends_text("zenglin", "举报 研发部-全员 里有个陌生人"))
    assert all_violations(world) == [("R11", "", group_id, "report:zenglin", "open")]


def test_r3_same_report_twice_is_one_open_violation(world):
    managed(world)
    push(world, world.state.member_sends_text("zenglin", "举报 @xuwei 研发部-全员 骂人"),
         world.state.member_sends_text("tianyu", "举报 @xuwei 研发部-全员 骂人"))
    assert len(all_violations(world)) == 1
    with world.sessions() as session:
        assert len(texts_to(session, "tianyu")) == 1 and len(texts_to(session, "caoyang")) == 1


def test_r3_unclear_report_gets_a_polite_reply_asking_for_details(world):
    push(world, (FIXTURES / "text.xml").read_text())  # 举报 有陌生人在销售群: no such group or person
    assert all_violations(world) == []
    with world.sessions() as session:
        (reply,) = texts_to(session, "zhangsan")
        assert "举报 @userid 群名 说明" in reply


def test_r3_other_text_is_ignored(world):
    push(world, world.state.member_sends_text("zenglin", "你好"))
    assert all_violations(world) == []
    with world.sessions() as session:
        assert texts_to(session, "zenglin") == []
