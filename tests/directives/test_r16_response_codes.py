"""R16: a card's response_code lives 72 hours and is single use (document/path/94888;
the 24 h of older copies is the emulator's `response_code_ttl` fault). A revoked
directive's cards are greyed within 72 h; when WeCom refuses the greying (60140) the
people who had not acted are told by text — nobody is left with a live card and no word."""

from __future__ import annotations

from sqlalchemy import select

from tests.directives.test_r16_directives import issue, send_and_settle, task_of
from tests.plugins.world import deliver, push
from wecom_app.directives import issue as directives
from wecom_app.models import Directive, OutboxAction
from wecom_app.settlers import SETTLERS
from wecom_app.wecom import outbox


def revoke_later(world, hours):
    directive_id = issue(world)
    send_and_settle(world)
    task_id = task_of(world, directive_id)
    push(world, world.state.click("lina", task_id, "ack"))
    deliver(world)  # lina's card: 已确认
    world.clock.advance(hours * 3600)
    with world.sessions.begin() as session:
        directives.revoke(session, world.settings, session.get(Directive, directive_id), actor="wangfang",
                          reason="重复发布", now=world.now())
    stats = outbox.send_due(world.sessions, world.client, world.settings, world.calendar, world.now())
    with world.sessions.begin() as session:
        outbox.settle(session, world.now(), SETTLERS)
    return task_id, stats


def texts(world, userid):
    return [m["body"]["text"]["content"] for m in world.state.inbox(userid) if m["msgtype"] == "text"]


def test_r16_a_card_is_greyed_two_days_later_not_only_within_24_hours(world):
    task_id, _ = revoke_later(world, 48)
    assert world.state.cards[("chenjing", task_id)]["replace_name"] == "已撤回"
    assert texts(world, "chenjing") == []  # the card says it: no text needed


def test_r16_a_greying_refused_as_expired_tells_who_had_not_acted(world):
    world.state.faults.add(kind="response_code_ttl", seconds=24 * 3600)  # WeCom as older docs describe it
    task_id, stats = revoke_later(world, 48)
    assert stats.failed == 1
    with world.sessions() as session:
        refused = session.scalars(select(OutboxAction).where(OutboxAction.kind == "message/update_template_card",
                                                             OutboxAction.status == "failed")).one()
    assert refused.errcode == 60140
    assert world.state.cards[("chenjing", task_id)]["replace_name"] is None
    deliver(world)  # the notices
    assert texts(world, "chenjing") == texts(world, "zhaolei") == ["指令《周五前提交季度报表》已撤回，无需再处理。"]
    assert texts(world, "lina") == []  # she had acknowledged


def test_r16_past_72_hours_the_card_is_left_and_the_text_sent(world):
    task_id, _ = revoke_later(world, 73)
    assert not any(r["api"] == "message/update_template_card" and r["at"] > world.clock() - 60
                   for r in world.state.messages)
    deliver(world)
    assert texts(world, "chenjing") == ["指令《周五前提交季度报表》已撤回，无需再处理。"]
