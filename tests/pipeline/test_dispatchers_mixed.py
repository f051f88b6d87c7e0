"""Two dispatchers at once over a mix of group joins and card clicks (issue 14 item 3): each
event handled once, none retried after a deadlock, the ledger's chain whole (R11, R16)."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

import handlers
from wecom_app.callbacks import dispatcher
from wecom_app.callbacks.dispatcher import DispatchStats, dispatch_pending
from wecom_app.directives import issue as directives
from wecom_app.directives import ledger
from wecom_app.governance import registry
from wecom_app.models import DirectiveBatch, DirectiveReceipt, InboxEvent, LedgerEntry
from wecom_app.settlers import SETTLERS
from wecom_app.wecom import outbox

from tests.plugins.world import deliver, group_by_chat, member, store

pytestmark = pytest.mark.both_databases  # row and advisory locks: PostgreSQL is where two dispatchers meet

CHATS = ("wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA", "wrOgQhDgAAcwMTB7YmDkbeBsgT_AAAAA", "wrOgQhDgAAs5uH0qU3k2QhQZz8n1AAAA")


def _chat(n: int) -> str:
    return CHATS[(0, 1, 2, 2, 1, 0)[n % 6]]


def _mixed_inbox(world) -> list[str]:
    """Three registered groups, a directive to everyone active, then joins and clicks interleaved."""
    with world.sessions.begin() as session:
        for chat_id in CHATS:
            registry.register_group(session, world.settings, kind="customer", chat_id=chat_id, name=f"群{chat_id[-8:]}",
                                    owner="hujie", custodian="wujun", scope={"departments": [1]},
                                    allow_external=False, robot_webhook=None, actor="api:office", now=world.now())
        directive = directives.issue(session, world.settings, title="季度安全检查", body="请在周五前完成自查并确认。",
                                     assignees={"departments": [3, 4, 7, 8]}, deadline=world.now() + timedelta(days=3),
                                     issuer="wangfang", now=world.now(), urgent=True)
        directive_id = directive.id
    deliver(world)
    with world.sessions.begin() as session:
        outbox.settle(session, world.now(), SETTLERS)
        task_id = session.scalar(select(DirectiveBatch.task_id).where(DirectiveBatch.directive_id == directive_id))
        clickers = sorted(session.scalars(select(DirectiveReceipt.userid).where(
            DirectiveReceipt.directive_id == directive_id, DirectiveReceipt.status == "delivered")))
    xmls = []
    for n, userid in enumerate(clickers):  # one batch meets the groups in one order, the next in the other
        xmls.append(world.state.groupchat_add_member(_chat(n), f"wmOutsider{n:04d}AAAAAAAAAAAAAAAAAAAA"))
        xmls.append(world.state.click(userid, task_id, "ack"))
    store(world, *xmls)
    return clickers


def test_r11_r16_two_dispatchers_on_mixed_joins_and_clicks_handle_each_once_without_a_deadlock(world, monkeypatch):
    clickers = _mixed_inbox(world)
    assert len(clickers) >= 20
    monkeypatch.setattr(dispatcher, "BATCH", 6)  # three joins and three clicks a batch, were lanes not kept apart
    totals, errors, barrier = DispatchStats(), [], threading.Barrier(2)

    def run():
        try:
            barrier.wait(timeout=10)
            stats = dispatch_pending(world.sessions, handlers.router, world.settings, world.now())
            for name in ("done", "ignored", "retried", "parked"):
                setattr(totals, name, getattr(totals, name) + getattr(stats, name))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    assert (totals.retried, totals.parked, totals.done) == (0, 0, 2 * len(clickers))
    with world.sessions() as session:
        assert set(session.scalars(select(InboxEvent.status))) == {"done"}
        assert session.scalars(select(InboxEvent.last_error).where(InboxEvent.last_error.is_not(None))).all() == []
        acknowledged = session.scalars(select(LedgerEntry.userid).where(LedgerEntry.event == "acknowledged")).all()
        assert sorted(acknowledged) == clickers  # each click counted once
        assert ledger.verify(session).ok
        for n in range(len(clickers)):
            joined = member(session, group_by_chat(session, _chat(n)).id, f"wmOutsider{n:04d}AAAAAAAAAAAAAAAAAAAA")
            assert joined is not None and joined.compliance == "external_not_allowed"
