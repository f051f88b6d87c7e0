"""Issue 4's "done when", over real HTTP against the sandbox: an urgent directive to
three people goes out, two acknowledge from their cards (clicks pushed by the
emulator, encrypted as WeCom does), the third gets reminders and then an escalation
to their leader and an assessment record; the receipt sheet shows all of it, and
`wecom-app ledger verify` passes, then fails once a ledger row is edited."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from click.testing import CliRunner
from pypdf import PdfReader
from sqlalchemy import select, text

from wecom_app.cli import main
from wecom_app.directives import issue as directives
from wecom_app.directives.receipt_sheet import receipt_pdf
from wecom_app.directory.full_sync import full_sync
from wecom_app.models import Assessment, DirectiveBatch, DirectiveReceipt, LedgerEntry
from wecom_app.sandbox.run import AES_KEY, AGENT_ID, CORP_ID, SECRET, TOKEN
from wecom_app.scheduler import run_job

pytestmark = pytest.mark.both_databases  # the end-to-end layer

PEOPLE = ["lina", "chenjing", "zhaolei"]  # 行政部, led by wangfang


def texts_to(state, userid):
    return [m["body"]["text"]["content"] for m in state.messages
            if m["api"] == "message/send" and m["msgtype"] == "text" and userid in m["deliveries"]]


def cards_to(state, userid):
    return [m["body"]["template_card"] for m in state.messages
            if m["api"] == "message/send" and m["msgtype"] == "template_card" and userid in m["deliveries"]]


def test_r16_urgent_directive_acknowledged_reminded_escalated_and_evidenced(sandbox, tmp_path, monkeypatch):
    app, runtime, state = sandbox
    start = runtime.clock()
    full_sync(runtime.sessions, runtime.client, start)
    with runtime.sessions.begin() as session:
        directive = directives.issue(
            session, runtime.settings, title="今晚 20:00 前核对消防通道", body="请今晚 20:00 前核对本层消防通道并确认。",
            assignees={"users": PEOPLE}, deadline=start + timedelta(hours=8), issuer="zhangwei", now=start,
            urgent=True)
        directive_id = directive.id
    run_job("outbox", runtime)  # urgent: out at once, whatever the hour
    with runtime.sessions() as session:
        task_id = session.scalar(select(DirectiveBatch.task_id).where(DirectiveBatch.directive_id == directive_id))
    assert all(state.cards.get((u, task_id)) for u in PEOPLE)

    pusher = app.extensions["wecom_pusher"]
    for userid in PEOPLE[:2]:
        assert pusher.push(state.click(userid, task_id, "ack")).status_code == 200
    run_job("inbox", runtime)
    run_job("outbox", runtime)  # the two cards greyed
    assert state.cards[("lina", task_id)]["replace_name"].startswith("已确认")

    # three hours on: the first reminder (urgent: 2 calendar hours after delivery) goes to zhaolei only
    runtime.clock = lambda: start + timedelta(hours=3)
    run_job("reminders", runtime)
    run_job("outbox", runtime)
    reminders = [c for c in cards_to(state, "zhaolei") if c["main_title"]["title"].startswith("【提醒】")]
    assert len(reminders) == 1
    assert not [c for u in PEOPLE[:2] for c in cards_to(state, u) if c["main_title"]["title"].startswith("【提醒】")]

    # past the deadline: zhaolei is overdue, assessed, and their leader told
    runtime.clock = lambda: start + timedelta(hours=8, minutes=1)
    run_job("reminders", runtime)
    run_job("escalation", runtime)
    run_job("outbox", runtime)
    with runtime.sessions() as session:
        receipts = {r.userid: r for r in session.scalars(select(DirectiveReceipt).where(
            DirectiveReceipt.directive_id == directive_id))}
        assessed = session.scalars(select(Assessment.userid).where(Assessment.source == "directive")).all()
    assert receipts["zhaolei"].overdue_at is not None and receipts["zhaolei"].reminders >= 1
    assert {receipts[u].status for u in PEOPLE[:2]} == {"acknowledged"}
    assert assessed == ["zhaolei"]
    leader_texts = texts_to(state, "wangfang")
    assert len(leader_texts) == 1 and "zhaolei" in leader_texts[0] and "lina" not in leader_texts[0]
    assert any("zhaolei" in t for t in texts_to(state, "zhangwei"))  # the issuer's full list

    with runtime.sessions() as session:
        pdf = receipt_pdf(session, runtime.settings, directive_id)
    sheet = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    for userid in PEOPLE:
        assert userid in sheet
    with runtime.sessions() as session:
        head = session.scalars(select(LedgerEntry.hash).order_by(LedgerEntry.seq.desc())).first()
        events = session.scalars(select(LedgerEntry.event).where(LedgerEntry.directive_id == directive_id)
                                 .order_by(LedgerEntry.seq)).all()
    assert head in sheet.replace("\n", "")
    assert events[:2] == ["issued", "delivered"] and events.count("acknowledged") == 2
    assert {"reminded", "overdue", "escalated"} <= set(events)

    monkeypatch.chdir(tmp_path)
    env = {"WECOM_CORP_ID": CORP_ID, "WECOM_AGENT_ID": str(AGENT_ID), "WECOM_SECRET": SECRET, "WECOM_TOKEN": TOKEN,
           "WECOM_AES_KEY": AES_KEY, "SECRET_KEY": "e2e-test-secret-key-123",
           "DATABASE_URL": runtime.settings.database_url}
    verified = CliRunner().invoke(main, ["ledger", "verify"], env=env, catch_exceptions=False)
    assert verified.exit_code == 0 and f"head {head}" in verified.output
    with runtime.engine.begin() as connection:
        seq = connection.scalar(text("SELECT seq FROM ledger_entry WHERE event = 'acknowledged' ORDER BY seq LIMIT 1"))
        connection.execute(text("UPDATE ledger_entry SET actor = 'someone-else' WHERE seq = :seq"), {"seq": seq})
    tampered = CliRunner().invoke(main, ["ledger", "verify"], env=env, catch_exceptions=False)
    assert tampered.exit_code == 1 and f"seq {seq}" in tampered.output
