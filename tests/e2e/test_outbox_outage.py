"""A long WeCom outage (issue 9, item 9): the outbox keeps trying (backing off to 1 h) until
OUTBOX_GIVE_UP_AFTER, the directive's receipts stay `queued` meanwhile, the dashboard and
/metrics say that messages are waiting, and `wecom-app outbox retry` puts failed rows back
(one, all, or all since a date). SQLite and PostgreSQL; WeCom is the emulator on its
ManualClock, failing through its fault injection."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from tests.conftest import AES_KEY, CORP_ID, SECRET, TOKEN
from tests.plugins.workbench import login
from tests.directives.test_r16_directives import issue, receipts, task_of
from wecom_app.cli import main
from wecom_app.db import make_engine, make_sessionmaker
from wecom_app.models import AuditEntry, OutboxAction
from wecom_app.settlers import SETTLERS
from wecom_app.wecom import outbox

pytestmark = pytest.mark.both_databases  # the end-to-end layer: a long WeCom outage


def outbox_pass(world):
    """What the outbox job does every few seconds: send what is due, settle the answers."""
    stats = outbox.send_due(world.sessions, world.client, world.settings, world.calendar, world.now())
    with world.sessions.begin() as session:
        outbox.settle(session, world.now(), SETTLERS)
    return stats


def test_r16_wecom_answering_503_for_four_hours_delays_the_cards_and_loses_none(world):
    directive_id = issue(world)
    world.state.faults.add("message/send", "http_error", status=503, count=None)
    start = world.now()
    while world.now() - start < timedelta(hours=4):
        outbox_pass(world)
        world.clock.advance(300)
    tries = len(world.state.faults.calls("message/send"))
    assert 8 <= tries <= 20  # 30 s doubling to 1 h: a dozen calls in four hours, not one every pass
    assert {r.status for r in receipts(world, directive_id).values()} == {"queued"}  # still on their way
    with world.sessions() as session:
        card = session.scalar(select(OutboxAction).where(OutboxAction.subject.like("directive_batch:%")))
        assert card.status == "pending" and card.attempts == 0
        late = outbox.waiting(session, world.now())
    assert late["count"] == 1 and late["oldest_age_seconds"] >= 4 * 3600

    world.state.faults.clear()  # WeCom is back; nobody does anything
    for _ in range(14):  # the back-off's ceiling is 1 h (+ one pass)
        outbox_pass(world)
        world.clock.advance(300)
    got = receipts(world, directive_id)
    assert {r.status for r in got.values()} == {"delivered"}
    assert all(r.delivered_at > start + timedelta(hours=4) for r in got.values())
    task_id = task_of(world, directive_id)
    assert {u for (u, t) in world.state.cards if t == task_id} == {"lina", "chenjing", "zhaolei"}
    with world.sessions() as session:
        assert outbox.waiting(session, world.now())["count"] == 0


def test_r16_a_card_still_failing_after_give_up_after_fails_with_the_reason_and_its_receipts_say_why(world):
    import dataclasses

    world.settings = dataclasses.replace(world.settings, outbox_give_up_after=3 * 3600)
    directive_id = issue(world)
    world.state.faults.add("message/send", "http_error", status=502, count=None)
    start = world.now()
    while world.now() - start < timedelta(hours=2, minutes=55):
        outbox_pass(world)
        world.clock.advance(300)
    assert {r.status for r in receipts(world, directive_id).values()} == {"queued"}
    for _ in range(16):  # the first try after 3 h comes at most 1 h after the one before
        outbox_pass(world)
        world.clock.advance(300)
    with world.sessions() as session:
        card = session.scalar(select(OutboxAction).where(OutboxAction.subject.like("directive_batch:%")))
    assert card.status == "failed" and card.errmsg.startswith("gave up after 3.") and "502" in card.errmsg
    got = receipts(world, directive_id)
    assert {r.status for r in got.values()} == {"undeliverable"} and "gave up after" in got["lina"].undeliverable


def _waiting_row(session, now, minutes: int, key: str = "k") -> OutboxAction:
    """A message queued a day ago (held over the night, say) that WeCom has failed for `minutes`."""
    row = outbox.enqueue(session, "message/send", {"touser": "lina", "msgtype": "text", "text": {"content": "x"}},
                         key=key, now=now - timedelta(days=1))
    row.errmsg, row.failing_since = "HTTP 503", now - timedelta(minutes=minutes)  # what an outage leaves behind
    return row


def test_dashboard_and_metrics_warn_once_a_message_has_waited_over_fifteen_minutes(wb, sandbox_state):
    runtime = wb.extensions["wecom"]
    client = wb.test_client()
    login(client, sandbox_state, "zhangwei")
    with runtime.sessions.begin() as session:
        _waiting_row(session, runtime.clock(), 14)
    assert 'data-test="outbox-waiting"' not in client.get("/").text  # a short hiccup is no news
    assert "wecom_outbox_waiting 0.0" in client.get("/metrics").text
    with runtime.sessions.begin() as session:
        oldest = _waiting_row(session, runtime.clock(), 40, key="k2").failing_since
    html = client.get("/").text
    local = oldest.astimezone(runtime.settings.tz).strftime("%Y-%m-%d %H:%M")
    assert f"企业微信暂时无法送达，1 条消息等待重试，最早 {local}" in html
    body = client.get("/metrics").text
    assert "wecom_outbox_waiting 1.0" in body
    age = float(re.search(r"^wecom_outbox_oldest_waiting_seconds (\S+)$", body, re.M).group(1))
    assert 40 * 60 <= age < 45 * 60


# -- wecom-app outbox retry ---------------------------------------------------------------------

@pytest.fixture
def cli_env(db_url, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no stray .env
    return {"WECOM_CORP_ID": CORP_ID, "WECOM_AGENT_ID": "1000002", "WECOM_SECRET": SECRET, "WECOM_TOKEN": TOKEN,
            "WECOM_AES_KEY": AES_KEY, "SECRET_KEY": "cli-test-secret-key-123", "DATABASE_URL": db_url,
            "TIMEZONE": "Asia/Shanghai"}


def run(env, *args):
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def failed(sessions, key: str, created: datetime) -> int:
    with sessions.begin() as session:
        row = OutboxAction(idempotency_key=key, kind="appchat/send", payload={"chatid": key}, status="failed",
                           attempts=1, errcode=None, errmsg="gave up after 72.0 h of transient failures",
                           not_before=created, created_at=created)
        session.add(row)
        session.flush()
        return row.id


def test_outbox_retry_all_failed_since_a_date_requeues_them_audited_and_says_which(cli_env, db_url):
    engine = make_engine(db_url)
    sessions = make_sessionmaker(engine)
    shanghai_dec_3 = datetime(2026, 12, 2, 16, 0, tzinfo=timezone.utc)  # 2026-12-03 00:00 in Shanghai
    old = failed(sessions, "old", shanghai_dec_3 - timedelta(minutes=1))
    new = [failed(sessions, f"new{i}", shanghai_dec_3 + timedelta(hours=i)) for i in range(2)]
    result = run(cli_env, "outbox", "retry", "--all-failed", "--since", "2026-12-03")
    assert result.exit_code == 0, result.output
    assert f"2 failed action(s) created since 2026-12-03 00:00 queued again: {new[0]}, {new[1]}" in result.output
    with sessions() as session:
        assert {r.id: r.status for r in session.scalars(select(OutboxAction))} == {
            old: "failed", new[0]: "pending", new[1]: "pending"}
        entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "outbox.retry_all_failed"))
        assert entry.actor == "cli" and entry.details["ids"] == new
    assert "no failed actions created since 2026-12-03" in run(cli_env, "outbox", "retry", "--all-failed",
                                                               "--since", "2026-12-03").output
    result = run(cli_env, "outbox", "retry", "--all-failed")
    assert result.exit_code == 0 and f"1 failed action(s) queued again: {old}" in result.output
    engine.dispose()


def test_outbox_retry_one_is_audited(cli_env, db_url):
    engine = make_engine(db_url)
    sessions = make_sessionmaker(engine)
    id = failed(sessions, "one", datetime(2026, 12, 3, tzinfo=timezone.utc))  # noqa: A001
    result = run(cli_env, "outbox", "retry", str(id))
    assert result.exit_code == 0 and f"outbox action {id} queued again" in result.output
    with sessions() as session:
        assert session.scalar(select(AuditEntry.target).where(AuditEntry.action == "outbox.retry")) == f"outbox_action:{id}"
    result = run(cli_env, "outbox", "retry", str(id))
    assert result.exit_code == 1 and "has not failed" in result.output
    engine.dispose()


@pytest.mark.parametrize("args, message", [
    ((), "give an action ID or --all-failed"),
    (("7", "--all-failed"), "give an action ID or --all-failed, not both"),
    (("--since", "2026-12-03"), "--since goes with --all-failed"),
    (("seven",), "action ID must be a number"),
    (("--all-failed", "--since", "2026-13-03"), "is not a date (YYYY-MM-DD)"),
    (("--all-failed", "--since", "yesterday"), "is not a date (YYYY-MM-DD)"),
])
def test_outbox_retry_refuses_bad_arguments_and_changes_nothing(cli_env, db_url, args, message):
    engine = make_engine(db_url)
    sessions = make_sessionmaker(engine)
    id = failed(sessions, "one", datetime(2026, 12, 3, tzinfo=timezone.utc))  # noqa: A001
    result = run(cli_env, "outbox", "retry", *args)
    assert result.exit_code == 2 and message in result.output
    with sessions() as session:
        assert session.get(OutboxAction, id).status == "failed"
        assert session.scalar(select(AuditEntry)) is None
    engine.dispose()
