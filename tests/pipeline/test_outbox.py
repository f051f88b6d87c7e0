"""The outbox sender on a real database (SQLite and PostgreSQL) with a recording
fake WeCom client: quiet hours (R4), idempotency, retries, failures, quotas, leases.
The end-to-end tests at the bottom use the real client against the WeCom emulator."""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from jobs import outbox as outbox_job
from tests.conftest import make_settings
from tests.plugins.outbox import TUESDAY_10, FakeClient, add, row, send, text
from wecom_app.models import OutboxAction
from wecom_app.wecom import outbox
from wecom_app.wecom.errors import WeComBusy, WeComError, WeComRateLimited, WeComUnavailable
from wecom_app.workcal import WorkCalendar

pytestmark = pytest.mark.both_databases  # the outbox: SKIP LOCKED claims, concurrent senders, a dialect branch

SH = ZoneInfo("Asia/Shanghai")
FRIDAY_19 = datetime(2026, 3, 13, 19, 0, tzinfo=SH).astimezone(timezone.utc)
MONDAY_9 = datetime(2026, 3, 16, 9, 0, tzinfo=SH).astimezone(timezone.utc)


@pytest.fixture
def settings(db_url):
    return make_settings(database_url=db_url)


def test_r4_friday_evening_message_is_held_until_monday_first_window(sessions, settings, calendar):
    id = add(sessions, "message/send", text(["zhangsan"]), "weekly-1", FRIDAY_19)
    client = FakeClient()
    stats = send(sessions, client, settings, calendar, FRIDAY_19)
    assert stats.held == 1 and client.calls == []
    held = row(sessions, id)
    assert held.status == "pending" and held.attempts == 0
    # jitter keeps it off the :00 peak (pitfall 22) but inside Monday's first window
    assert MONDAY_9 + timedelta(minutes=1) <= held.not_before <= MONDAY_9 + timedelta(minutes=4)
    assert send(sessions, client, settings, calendar, MONDAY_9).sent == 0  # not yet due
    assert send(sessions, client, settings, calendar, MONDAY_9 + timedelta(minutes=5)).sent == 1
    assert row(sessions, id).status == "sent" and len(client.calls) == 1


def test_r4_urgent_message_goes_at_once_at_night(sessions, settings, calendar):
    id = add(sessions, "message/send", text(["zhangsan"]), "fire-drill", FRIDAY_19, urgent=True)
    client = FakeClient()
    assert send(sessions, client, settings, calendar, FRIDAY_19).sent == 1
    sent = row(sessions, id)
    assert sent.status == "sent" and sent.sent_at == FRIDAY_19 and sent.result["msgid"] == "msg1"


def test_r9_membership_update_is_not_held_at_night(sessions, settings, calendar):
    id = add(sessions, "appchat/update", {"chatid": "proj42", "del_user_list": ["wangwu"]}, "r9-proj42-1", FRIDAY_19)
    client = FakeClient()
    assert send(sessions, client, settings, calendar, FRIDAY_19).sent == 1
    assert row(sessions, id).status == "sent" and client.calls == [("appchat/update", {"chatid": "proj42", "del_user_list": ["wangwu"]})]


def test_enqueue_is_idempotent_on_key(sessions):
    first = add(sessions, "message/send", text(["zhangsan"]), "directive-7:zhangsan", TUESDAY_10)
    again = add(sessions, "message/send", text(["lisi"], "changed"), "directive-7:zhangsan", TUESDAY_10, urgent=True)
    assert again == first
    stored = row(sessions, first)
    assert stored.payload["touser"] == "zhangsan" and not stored.urgent
    with sessions() as session:
        assert len(session.scalars(select(OutboxAction)).all()) == 1


def test_enqueue_defaults_and_validation(sessions):
    with sessions.begin() as session:
        msg = outbox.enqueue(session, "message/send", text(["ZhangSan", "LiSi"]), key="k1", now=TUESDAY_10)
        card = outbox.enqueue(session, "message/update_template_card", {"userids": ["a"]}, key="k2", now=TUESDAY_10)
        assert msg.hold and not card.hold
        # lower-cased ids (pitfall 25) and WeCom's duplicate check against a re-send after a crash
        assert msg.payload["touser"] == "zhangsan|lisi" and msg.payload["enable_duplicate_check"] == 1
        with pytest.raises(ValueError, match="at most 1000"):
            outbox.enqueue(session, "message/send", text([f"u{i}" for i in range(1001)]), key="k3")
        with pytest.raises(ValueError, match="unknown outbox kind"):
            outbox.enqueue(session, "message/recall", {}, key="k4")


def test_every_subject_enqueue_accepts_has_one_settler_and_no_other_is_accepted(sessions):
    from wecom_app.settlers import SETTLERS

    assert sorted(SETTLERS) == sorted(outbox.SUBJECTS)
    with sessions.begin() as session, pytest.raises(ValueError, match="no settler registered"):
        outbox.enqueue(session, "message/send", text(["zhangsan"]), key="k5", subject="nobody:1")


def test_rate_limited_backs_off_then_sends_without_using_up_attempts(sessions, settings, calendar):
    id = add(sessions, "message/send", text(["zhangsan"]), "k", TUESDAY_10)
    client = FakeClient(WeComRateLimited("message/send", 45009, "api freq out of limit", retry_after=60))
    assert send(sessions, client, settings, calendar, TUESDAY_10).retried == 1
    waiting = row(sessions, id)
    assert waiting.status == "pending" and waiting.errcode == 45009 and waiting.attempts == 0
    assert TUESDAY_10 + timedelta(seconds=60) <= waiting.not_before <= TUESDAY_10 + timedelta(seconds=90)
    assert send(sessions, client, settings, calendar, TUESDAY_10 + timedelta(seconds=30)).sent == 0
    assert send(sessions, client, settings, calendar, TUESDAY_10 + timedelta(seconds=95)).sent == 1
    assert row(sessions, id).status == "sent" and row(sessions, id).errcode is None


def test_one_rate_limit_holds_back_the_rest_of_the_batch(sessions, settings, calendar):
    for i in range(3):
        add(sessions, "appchat/send", {"chatid": f"c{i}", "msgtype": "text", "text": {"content": "hi"}}, f"k{i}", TUESDAY_10)
    client = FakeClient(WeComRateLimited("appchat/send", 45009, "limit"))
    assert send(sessions, client, settings, calendar, TUESDAY_10).retried == 3
    assert len(client.calls) == 1


@pytest.mark.parametrize("error", [WeComBusy("message/send", -1, "system busy"), WeComUnavailable("message/send", "HTTP 500", status=500)])
def test_busy_and_unavailable_are_retried_later(sessions, settings, calendar, error):
    id = add(sessions, "message/send", text(["zhangsan"]), "k", TUESDAY_10)
    client = FakeClient(error)
    assert send(sessions, client, settings, calendar, TUESDAY_10).retried == 1
    waiting = row(sessions, id)
    # an outage uses up no attempt (OUTBOX_MAX_ATTEMPTS): it counts towards OUTBOX_GIVE_UP_AFTER instead
    assert waiting.status == "pending" and waiting.attempts == 0 and waiting.errcode == error.errcode
    assert waiting.result["transient"] == 1
    assert waiting.not_before > TUESDAY_10 + timedelta(seconds=20)
    assert send(sessions, client, settings, calendar, TUESDAY_10 + timedelta(minutes=1)).sent == 1
    assert row(sessions, id).attempts == 1 and len(client.calls) == 2


@pytest.mark.parametrize("errcode", [86216, 40003])
def test_permanent_error_fails_with_errcode_visibly(sessions, settings, calendar, caplog, errcode):
    id = add(sessions, "appchat/update", {"chatid": "proj42", "add_user_list": ["ghost"]}, "k", TUESDAY_10)
    client = FakeClient(WeComError("appchat/update", errcode, "invalid"))
    with caplog.at_level(logging.WARNING, logger="wecom.outbox"):
        assert send(sessions, client, settings, calendar, TUESDAY_10).failed == 1
    failed = row(sessions, id)
    assert failed.status == "failed" and failed.errcode == errcode and failed.errmsg == "invalid"
    assert f"wecom.outbox.failed id={id} kind=appchat/update errcode={errcode}" in caplog.text
    assert send(sessions, client, settings, calendar, TUESDAY_10 + timedelta(hours=1)).total == 0  # stays failed
    with sessions() as session:
        assert outbox.summary(session, TUESDAY_10)["failed"] == [{"kind": "appchat/update", "errcode": errcode, "count": 1}]
    with sessions.begin() as session:
        outbox.retry_failed(session, id, now=TUESDAY_10)
    assert send(sessions, client, settings, calendar, TUESDAY_10).sent == 1


def test_transient_failures_back_off_to_an_hour_and_never_fail_before_give_up_after(sessions, db_url, calendar):
    """Issue 9 item 9: 40 failures in a row (more than OUTBOX_MAX_ATTEMPTS) over two days: the row
    is still pending, each wait doubling with jitter up to 1 h; it fails only after 3 days, with why."""
    settings = make_settings(database_url=db_url, outbox_max_attempts=3)
    id = add(sessions, "message/send", text(["zhangsan"]), "k", TUESDAY_10, urgent=True)  # not held at night
    client = FakeClient(*[WeComUnavailable("message/send", "HTTP 503") for _ in range(200)])
    now, waits = TUESDAY_10, []
    for _ in range(40):
        send(sessions, client, settings, calendar, now)
        waiting = row(sessions, id)
        assert waiting.status == "pending" and waiting.attempts == 0
        waits.append((waiting.not_before - now).total_seconds())
        now = waiting.not_before
    assert 24 <= waits[0] <= 36 and 48 <= waits[1] <= 72  # 30 s, 60 s, ... ±20 %
    assert max(waits) <= 3600 and min(waits[10:]) >= 3600 * 0.8  # the ceiling: 1 h
    assert now - TUESDAY_10 < timedelta(days=3)
    while now - TUESDAY_10 < timedelta(seconds=settings.outbox_give_up_after):
        send(sessions, client, settings, calendar, now)
        now = row(sessions, id).not_before
    send(sessions, client, settings, calendar, now)
    gave_up = row(sessions, id)
    assert gave_up.status == "failed" and gave_up.errmsg.startswith("gave up after ") and "HTTP 503" in gave_up.errmsg
    assert 72.0 <= float(gave_up.errmsg.split()[3]) <= 73.0  # the first try after 3 days, at most 1 h late


@pytest.mark.parametrize("error", [WeComBusy("message/send", -1, "busy"), WeComRateLimited("message/send", 45009, "freq"),
                                   WeComRateLimited("message/send", 45033, "concurrency")])
def test_a_row_transiently_failing_past_give_up_after_fails_with_its_reason(sessions, db_url, calendar, error):
    settings = make_settings(database_url=db_url, outbox_give_up_after=7200)
    id = add(sessions, "message/send", text(["zhangsan"]), "k", TUESDAY_10, urgent=True)
    client = FakeClient(error, error, error)
    send(sessions, client, settings, calendar, TUESDAY_10)
    send(sessions, client, settings, calendar, TUESDAY_10 + timedelta(minutes=119))
    assert row(sessions, id).status == "pending" and row(sessions, id).failing_since == TUESDAY_10
    send(sessions, client, settings, calendar, max(TUESDAY_10 + timedelta(hours=2), row(sessions, id).not_before))
    gave_up = row(sessions, id)
    assert gave_up.status == "failed" and gave_up.errcode == error.errcode
    assert gave_up.errmsg.startswith("gave up after 2.0 h of transient failures") and error.errmsg in gave_up.errmsg


def test_a_message_held_over_a_holiday_is_not_given_up_at_wecoms_first_hiccup(sessions, db_url, calendar):
    """The give-up clock starts at the first failure, not when the row was queued."""
    settings = make_settings(database_url=db_url, outbox_give_up_after=3600)
    id = add(sessions, "message/send", text(["zhangsan"]), "k", TUESDAY_10 - timedelta(days=8))
    send(sessions, FakeClient(WeComUnavailable("message/send", "timeout")), settings, calendar, TUESDAY_10)
    assert row(sessions, id).status == "pending"


def test_other_retryable_errors_still_fail_after_max_attempts(sessions, db_url, calendar):
    """OUTBOX_MAX_ATTEMPTS bounds what is not an outage: 6000 (data conflict), a bug in the client."""
    settings = make_settings(database_url=db_url, outbox_max_attempts=3)
    id = add(sessions, "message/send", text(["zhangsan"]), "k", TUESDAY_10)
    client = FakeClient(WeComError("message/send", 6000, "data version conflict"), RuntimeError("bug"),
                        WeComError("message/send", 6000, "data version conflict"))
    now = TUESDAY_10
    for _ in range(3):
        send(sessions, client, settings, calendar, now)
        now += timedelta(minutes=30)
    gave_up = row(sessions, id)
    assert gave_up.status == "failed" and gave_up.attempts == 3 and gave_up.errcode == 6000


def test_retry_all_failed_since_requeues_and_restarts_the_give_up_clock(sessions, db_url, calendar):
    settings = make_settings(database_url=db_url, outbox_give_up_after=3600)
    old = add(sessions, "message/send", text(["a"]), "old", TUESDAY_10 - timedelta(days=5), urgent=True)
    new = add(sessions, "message/send", text(["b"]), "new", TUESDAY_10, urgent=True)
    client = FakeClient(*[WeComUnavailable("message/send", "timeout") for _ in range(4)])
    for minutes in (0, 61, 62):  # WeCom down stops each pass after its first call
        send(sessions, client, settings, calendar, TUESDAY_10 + timedelta(minutes=minutes))
    assert {row(sessions, i).status for i in (old, new)} == {"failed"}
    later = TUESDAY_10 + timedelta(minutes=63)
    with sessions.begin() as session:
        assert outbox.retry_all_failed(session, since=TUESDAY_10 - timedelta(days=1), now=later) == [new]
    assert (row(sessions, new).status, row(sessions, old).status) == ("pending", "failed")
    assert row(sessions, new).failing_since is None
    send(sessions, client, settings, calendar, later)  # still down: a fresh hour to go
    assert row(sessions, new).status == "pending"
    assert send(sessions, client, settings, calendar, row(sessions, new).not_before).sent == 1


def test_appchat_create_answered_chatid_exists_counts_as_sent(sessions, settings, calendar):
    id = add(sessions, "appchat/create", {"chatid": "proj42", "owner": "a", "userlist": ["a", "b"]}, "k", TUESDAY_10)
    client = FakeClient(WeComError("appchat/create", 86215, "chatid exists"))
    assert send(sessions, client, settings, calendar, TUESDAY_10).sent == 1
    assert row(sessions, id).status == "sent" and row(sessions, id).result["chatid"] == "proj42"


def test_appchat_update_quota_defers_instead_of_failing(sessions, settings, calendar):
    from wecom_app.wecom import quota

    with sessions.begin() as session:
        quota.record(session, [quota.api_scope("appchat/update")], quota.API_LIMITS["appchat/update"], TUESDAY_10, n=1000)
    id = add(sessions, "appchat/update", {"chatid": "c", "add_user_list": ["a"]}, "k", TUESDAY_10)
    client = FakeClient()
    assert send(sessions, client, settings, calendar, TUESDAY_10).deferred == 1
    assert client.calls == [] and row(sessions, id).status == "pending"
    assert row(sessions, id).not_before > TUESDAY_10 + timedelta(minutes=55)


def test_thirty_one_messages_to_one_member_in_a_minute_thirty_now_one_later(sessions, settings, calendar):
    ids = [add(sessions, "message/send", text(["zhangsan"], f"提醒 {i}"), f"k{i}", TUESDAY_10) for i in range(31)]
    client = FakeClient()
    stats = send(sessions, client, settings, calendar, TUESDAY_10)
    assert (stats.sent, stats.deferred) == (30, 1) and len(client.calls) == 30
    late = row(sessions, ids[-1])
    assert late.status == "pending" and TUESDAY_10 + timedelta(seconds=60) <= late.not_before <= TUESDAY_10 + timedelta(seconds=80)
    assert send(sessions, client, settings, calendar, late.not_before).sent == 1
    assert {row(sessions, i).status for i in ids} == {"sent"}


def test_members_over_quota_are_split_into_a_child_row(sessions, settings, calendar):
    for i in range(30):
        add(sessions, "message/send", text(["lisi"], f"m{i}"), f"k{i}", TUESDAY_10)
    send(sessions, FakeClient(), settings, calendar, TUESDAY_10)
    card = {"touser": "zhangsan|lisi", "msgtype": "template_card", "template_card": {"card_type": "button_interaction", "task_id": "d7-1"}}
    id = add(sessions, "message/send", card, "directive-7", TUESDAY_10)
    client = FakeClient()
    assert send(sessions, client, settings, calendar, TUESDAY_10).split == 1
    assert client.calls[0][1]["touser"] == "zhangsan"
    with sessions() as session:
        child = session.scalars(select(OutboxAction).where(OutboxAction.parent_id == id)).one()
    assert child.payload["touser"] == "lisi" and child.status == "pending" and child.not_before > TUESDAY_10
    assert child.payload["template_card"]["task_id"].startswith("d7-1@")  # task_ids are single-use (42014)
    assert send(sessions, client, settings, calendar, child.not_before).sent == 1
    assert client.calls[-1][1]["touser"] == "lisi"


def test_crashed_sender_lease_is_reclaimed(sessions, settings, calendar):
    id = add(sessions, "message/send", text(["zhangsan"]), "k", TUESDAY_10)
    with sessions.begin() as session:  # a sender claimed it and died mid-call
        session.get(OutboxAction, id).status = "sending"
        session.get(OutboxAction, id).lease_until = TUESDAY_10 + timedelta(minutes=5)
        session.get(OutboxAction, id).attempts = 1
    client = FakeClient()
    assert send(sessions, client, settings, calendar, TUESDAY_10 + timedelta(minutes=1)).total == 0
    assert send(sessions, client, settings, calendar, TUESDAY_10 + timedelta(minutes=6)).sent == 1
    assert row(sessions, id).attempts == 2 and client.calls[0][1]["enable_duplicate_check"] == 1


def test_a_late_result_does_not_overwrite_a_reclaimed_row(sessions, settings, calendar):
    id = add(sessions, "message/send", text(["zhangsan"]), "k", TUESDAY_10)
    with sessions.begin() as session:
        claimed = outbox._claim(session, settings, calendar, TUESDAY_10, 10, outbox.LEASE, outbox.SendStats())
    with sessions.begin() as session:  # the lease ran out and another sender took it
        session.get(OutboxAction, id).attempts = 2
    outbox.record(sessions, claimed[0], {"status": "failed", "errcode": 1})
    assert row(sessions, id).status == "sending"


def test_concurrent_senders_send_each_row_once(sessions, settings, calendar):
    ids = [add(sessions, "appchat/send", {"chatid": f"c{i}", "msgtype": "text", "text": {"content": "x"}}, f"k{i}", TUESDAY_10) for i in range(200)]
    client = FakeClient()

    def sender():
        while send(sessions, client, settings, calendar, TUESDAY_10, limit=7).claimed:
            pass

    threads = [threading.Thread(target=sender) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(body["chatid"] for _, body in client.calls) == sorted(f"c{i}" for i in range(200))
    assert {row(sessions, i).status for i in ids} == {"sent"}


def test_job_shell_reads_overrides_and_sends(sessions, settings):
    add(sessions, "message/send", text(["zhangsan"]), "k", TUESDAY_10)
    client = FakeClient()
    runtime = SimpleNamespace(sessions=sessions, client=client, settings=settings, clock=lambda: TUESDAY_10)
    assert outbox_job.run(runtime).sent == 1


# -- end to end: the real client over HTTP against the WeCom emulator --------------------------


@pytest.fixture
def wecom(db_url, sessions, sandbox_state, sandbox_clock, emulator_url):
    """(settings, client, now()) on the emulator's clock; the client does not retry by
    itself, so every retry seen here is the outbox's."""
    from wecom_app.wecom.client import WeComClient

    settings = make_settings(database_url=db_url, api_base=emulator_url, wecom_timeout=0.5)
    clock = lambda: datetime.fromtimestamp(sandbox_clock(), timezone.utc)  # noqa: E731
    client = WeComClient(settings, sessions, clock=clock, sleep=lambda _s: None, max_attempts=1)
    yield SimpleNamespace(settings=settings, client=client, now=clock, state=sandbox_state, clock=sandbox_clock,
                          calendar=WorkCalendar(settings))
    client.close()


def active_users(state, n):
    return sorted(u for u, user in state.users.items() if user["status"] == 1)[:n]


def deliver(sessions, wecom, **kw):
    return outbox.send_due(sessions, wecom.client, wecom.settings, wecom.calendar, wecom.now(), **kw)


def test_e2e_r4_friday_evening_message_reaches_member_monday_morning(sessions, wecom):
    wecom.clock.advance(4 * 86400 + 10 * 3600)  # Monday 2026-03-02 09:00 → Friday 19:00
    user = active_users(wecom.state, 1)[0]
    add(sessions, "message/send", text([user], "周一例会改到十点"), "k", wecom.now())
    assert deliver(sessions, wecom).held == 1 and wecom.state.inbox(user) == []
    wecom.clock.advance(2 * 86400 + 14 * 3600 + 5 * 60)  # Monday 09:05
    assert deliver(sessions, wecom).sent == 1
    assert [m["body"]["text"]["content"] for m in wecom.state.inbox(user)] == ["周一例会改到十点"]


E2E_FAULTS = [  # 45009, system busy, a gateway error page, an answer that never comes
    dict(kind="errcode", errcode=45009),
    dict(kind="errcode", errcode=-1),
    dict(kind="http_error", status=500),
    dict(kind="hang", seconds=2),
]


def test_e2e_transient_failures_are_retried_and_delivered_once(sessions, wecom):
    users = active_users(wecom.state, len(E2E_FAULTS))
    for user, fault in zip(users, E2E_FAULTS):
        id = add(sessions, "message/send", text([user]), f"k-{user}", wecom.now())
        wecom.state.faults.add("message/send", count=1, **fault)
        assert deliver(sessions, wecom).retried == 1, fault
        assert row(sessions, id).status == "pending" and wecom.state.inbox(user) == []
        wecom.clock.advance(120)
        assert deliver(sessions, wecom).sent == 1, fault
        assert len(wecom.state.inbox(user)) == 1 and row(sessions, id).result["msgid"].startswith("sbx")


def test_e2e_permanent_error_fails_visibly(sessions, wecom):
    members = active_users(wecom.state, 3)
    add(sessions, "appchat/create", {"chatid": "proj42", "name": "项目群", "owner": members[0], "userlist": members}, "c", wecom.now())
    id = add(sessions, "appchat/update", {"chatid": "proj42", "del_user_list": ["nobody-here"]}, "u", wecom.now())
    stats = deliver(sessions, wecom)
    assert (stats.sent, stats.failed) == (1, 1)
    assert row(sessions, id).status == "failed" and row(sessions, id).errcode == 86216


def test_e2e_appchat_create_retried_after_a_crash_counts_as_sent(sessions, wecom):
    members = active_users(wecom.state, 3)
    id = add(sessions, "appchat/create", {"chatid": "proj43", "owner": members[0], "userlist": members}, "c", wecom.now())
    assert deliver(sessions, wecom).sent == 1
    with sessions.begin() as session:  # as if the sender died before recording its success
        action = session.get(OutboxAction, id)
        action.status, action.lease_until = "sending", wecom.now() - timedelta(seconds=1)
    assert deliver(sessions, wecom).sent == 1  # WeCom answers 86215: the chat exists
    assert row(sessions, id).result["existed"] and "proj43" in wecom.state.appchats


def test_e2e_thirty_one_messages_to_one_member_none_silently_dropped(sessions, wecom):
    user = active_users(wecom.state, 1)[0]
    for i in range(31):
        add(sessions, "message/send", text([user], f"第 {i} 条提醒"), f"k{i}", wecom.now())
    stats = deliver(sessions, wecom)
    assert (stats.sent, stats.deferred) == (30, 1) and len(wecom.state.inbox(user)) == 30
    wecom.clock.advance(80)
    assert deliver(sessions, wecom).sent == 1
    assert len(wecom.state.inbox(user)) == 31 and wecom.state.drops == []


def test_e2e_two_concurrent_senders_send_each_of_200_rows_exactly_once(sessions, wecom):
    users = active_users(wecom.state, 20)
    with sessions.begin() as session:
        for i in range(200):
            outbox.enqueue(session, "message/send", text([users[i % 20]], f"通知 {i}"), key=f"k{i}", now=wecom.now())

    def sender():
        while deliver(sessions, wecom, limit=25).claimed:
            pass

    threads = [threading.Thread(target=sender) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    contents = [m["body"]["text"]["content"] for m in wecom.state.messages]
    assert sorted(contents) == sorted(f"通知 {i}" for i in range(200))
    assert wecom.state.drops == []
