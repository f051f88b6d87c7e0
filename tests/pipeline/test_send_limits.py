"""WeCom's sending limits, each on its own API (document/path/90312 and its twin
90454; appchat/send 90248), as the outbox keeps them: message/send has no
company-wide person-times a minute, its per-member limits still hold, and its daily
quota of seats × 200 person-times applies only when the seat cap is known."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from tests.conftest import make_settings
from tests.plugins.outbox import TUESDAY_10, FakeClient, add, row, send, text
from wecom_app import metrics
from wecom_app.models import Group, GroupMember, OutboxAction
from wecom_app.wecom import quota

pytestmark = pytest.mark.both_databases  # quota counting per member and per day


@pytest.fixture
def settings(db_url):
    """As in test_outbox.py: the test settings on this test's database."""
    return make_settings(database_url=db_url)

MIDNIGHT_BEIJING = datetime(2026, 3, 10, 16, 0, tzinfo=timezone.utc)  # TUESDAY_10's next natural day


def people(n, prefix="p"):
    return [f"{prefix}{i:05d}" for i in range(n)]


def batches(sessions, userids, key, now=TUESDAY_10, **kw):
    return [add(sessions, "message/send", text(userids[i:i + 1000]), f"{key}:{i}", now, **kw)
            for i in range(0, len(userids), 1000)]


def test_each_api_has_its_own_limits():
    assert "message/send" in quota.API_LIMITS and quota.API_LIMITS["message/send"] == quota.CALL_LIMITS
    assert [lim.limit for lim in quota.CALL_LIMITS] == [10_000, 150_000]  # calls per minute, per hour
    assert [lim.limit for lim in quota.APPCHAT_PERSON_TIMES_LIMITS][0] == 20_000  # appchat/send's, not message/send's
    assert quota.seat_limits(None) == ()
    assert [lim.limit for lim in quota.seat_limits(500)] == [100_000]  # the page's own example


def test_r16_a_20001_person_directive_is_not_held_a_minute(sessions, settings, calendar):
    ids = batches(sessions, people(20_001), "d1")
    client = FakeClient()
    stats = send(sessions, client, settings, calendar, TUESDAY_10)
    assert (stats.sent, stats.deferred, len(client.calls)) == (21, 0, 21)
    assert {row(sessions, i).status for i in ids} == {"sent"}


def test_message_send_calls_counted_per_api(sessions, settings, calendar):
    scope, limits = quota.api_scope("message/send"), quota.API_LIMITS["message/send"]
    with sessions.begin() as session:
        quota.record(session, [scope], limits, TUESDAY_10, n=10_000)  # the minute's calls are used up
    first = add(sessions, "message/send", text(["zhangsan"]), "k1", TUESDAY_10)
    chat = add(sessions, "appchat/send", {"chatid": "c1", "msgtype": "text", "text": {"content": "x"}}, "k2", TUESDAY_10)
    stats = send(sessions, FakeClient(), settings, calendar, TUESDAY_10)
    assert (stats.sent, stats.deferred) == (1, 1)  # appchat/send has its own count
    assert row(sessions, chat).status == "sent" and row(sessions, first).status == "pending"
    assert TUESDAY_10 + timedelta(seconds=50) <= row(sessions, first).not_before <= TUESDAY_10 + timedelta(seconds=80)


def test_per_member_drops_still_prevented(sessions, settings, calendar):
    for i in range(30):
        add(sessions, "message/send", text(["lisi"], f"第{i}条"), f"m{i}", TUESDAY_10)
    big = batches(sessions, ["lisi"] + people(999), "d2")[0]
    client = FakeClient()
    stats = send(sessions, client, settings, calendar, TUESDAY_10)
    assert stats.split == 1 and "lisi" not in client.calls[-1][1]["touser"].split("|")
    with sessions() as session:
        child = session.scalars(select(OutboxAction).where(OutboxAction.parent_id == big)).one()
    assert child.payload["touser"] == "lisi" and child.not_before >= TUESDAY_10 + timedelta(seconds=60)


def test_seat_quota_not_enforced_while_the_seat_cap_is_unknown(sessions, settings, calendar):
    assert settings.seat_limit is None
    batches(sessions, people(3000), "d3")
    assert send(sessions, FakeClient(), settings, calendar, TUESDAY_10).sent == 3


def test_seat_quota_when_known_the_rest_waits_for_the_next_day_visibly(sessions, db_url, calendar, caplog):
    settings = make_settings(database_url=db_url, seat_limit=6)  # 1,200 person-times a day for the app
    before = metrics.OUTBOX_QUOTA_WAIT.labels("message/send", "seats")._value.get()
    first, second = batches(sessions, people(1800), "d4", urgent=True)  # urgent: not held at midnight (R4)
    client = FakeClient()
    with caplog.at_level(logging.WARNING, logger="wecom.outbox"):
        stats = send(sessions, client, settings, calendar, TUESDAY_10)
    assert stats.sent == 2 and stats.split == 1
    assert sum(len(body["touser"].split("|")) for _, body in client.calls) == 1200
    with sessions() as session:
        child = session.scalars(select(OutboxAction).where(OutboxAction.parent_id == second)).one()
    assert len(child.payload["touser"].split("|")) == 600 and child.status == "pending"
    assert MIDNIGHT_BEIJING <= child.not_before <= MIDNIGHT_BEIJING + timedelta(seconds=11)  # not dropped
    assert "wecom.outbox.seat_quota_exhausted" in caplog.text and "waiting=600" in caplog.text
    assert metrics.OUTBOX_QUOTA_WAIT.labels("message/send", "seats")._value.get() - before == 600
    assert send(sessions, client, settings, calendar, MIDNIGHT_BEIJING - timedelta(seconds=1)).sent == 0
    assert send(sessions, client, settings, calendar, child.not_before).sent == 1
    assert row(sessions, first).status == row(sessions, child.id).status == "sent"


def test_seat_quota_a_row_that_cannot_go_today_gives_its_quota_back(sessions, db_url, calendar):
    settings = make_settings(database_url=db_url, seat_limit=1)  # 200 a day
    with sessions.begin() as session:
        quota.record(session, [quota.person_times_scope("message/send")], quota.seat_limits(1), TUESDAY_10, n=200)
    waiting = add(sessions, "message/send", text(["zhangsan", "lisi"]), "k", TUESDAY_10)
    assert send(sessions, FakeClient(), settings, calendar, TUESDAY_10).deferred == 1
    assert row(sessions, waiting).not_before >= MIDNIGHT_BEIJING
    with sessions() as session:  # nothing taken for a row that did not go
        assert quota.check_members(session, ["zhangsan"], TUESDAY_10).ready == ["zhangsan"]
        tally = quota.Tally(session, TUESDAY_10)
        assert tally.room(quota.api_scope("message/send"), quota.CALL_LIMITS) == 10_000


def test_appchat_send_person_times_count_the_group_members(sessions, settings, calendar):
    with sessions.begin() as session:
        group = Group(kind="managed", chat_id="big", name="全员群")
        session.add(group)
        session.flush()
        session.add_all(GroupMember(group_id=group.id, member_id=u) for u in people(1500))
    message = {"msgtype": "text", "text": {"content": "通知"}}
    ids = [add(sessions, "appchat/send", {"chatid": "big", **message}, f"a{i}", TUESDAY_10) for i in range(14)]
    stats = send(sessions, FakeClient(), settings, calendar, TUESDAY_10)
    assert (stats.sent, stats.deferred) == (13, 1)  # 13 × 1,500 = 19,500 of 20,000 person-times a minute
    assert row(sessions, ids[-1]).not_before > TUESDAY_10 + timedelta(seconds=50)


def test_appchat_send_waits_while_a_member_is_at_200_a_minute(sessions, settings, calendar):
    """WeCom would drop the group message for lina silently (90248): it waits for her."""
    with sessions.begin() as session:
        group = Group(kind="managed", chat_id="office", name="行政部工作群")
        session.add(group)
        session.flush()
        session.add_all(GroupMember(group_id=group.id, member_id=u) for u in ("lina", "wangfang"))
        quota.record(session, [quota.appchat_member_scope("lina")], quota.APPCHAT_MEMBER_LIMITS, TUESDAY_10, n=200)
    post = add(sessions, "appchat/send", {"chatid": "office", "msgtype": "text", "text": {"content": "通知"}},
               "office1", TUESDAY_10)
    client = FakeClient()
    assert send(sessions, client, settings, calendar, TUESDAY_10).deferred == 1 and client.calls == []
    when = row(sessions, post).not_before
    assert TUESDAY_10 + timedelta(seconds=60) <= when <= TUESDAY_10 + timedelta(seconds=80)
    with sessions() as session:  # wangfang's unit was given back with the row
        tally = quota.Tally(session, TUESDAY_10)
        assert tally.room(quota.appchat_member_scope("wangfang"), quota.APPCHAT_MEMBER_LIMITS) == 200
    assert send(sessions, client, settings, calendar, when).sent == 1
