"""Quota counters shared through the database: WeCom silently drops the 31st
message a minute to one member, so the app must never send it (pitfall 15)."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from wecom_app.models import QuotaCounter
from wecom_app.wecom import quota

pytestmark = pytest.mark.both_databases  # quota counting under concurrency, the parameter limit

NOW = datetime(2026, 3, 10, 2, 0, 5, tzinfo=timezone.utc)  # 10:00:05 in Beijing


def test_thirty_messages_a_minute_then_the_member_waits(sessions):
    with sessions.begin() as session:
        for _ in range(30):
            assert quota.reserve_members(session, ["zhangsan"], NOW).ready == ["zhangsan"]
        refused = quota.reserve_members(session, ["zhangsan", "lisi"], NOW)
    assert refused.ready == ["lisi"]
    free = refused.later["zhangsan"]
    # the minute is counted conservatively: never a 31st inside any 60 seconds
    assert NOW + timedelta(seconds=60) <= free <= NOW + timedelta(seconds=70)
    with sessions() as session:
        assert quota.check_members(session, ["zhangsan"], free).ready == ["zhangsan"]
        assert quota.check_members(session, ["zhangsan"], free - timedelta(seconds=1)).ready == []


def test_a_refused_reservation_takes_nothing(sessions):
    with sessions.begin() as session:
        for _ in range(31):
            quota.reserve_members(session, ["ZhangSan"], NOW)
    with sessions() as session:
        total = session.scalar(select(func.sum(QuotaCounter.count)).where(QuotaCounter.scope == "member:zhangsan"))
    assert total == 30 * 2  # 30 in the minute buckets, 30 in the hour buckets


def test_thousand_an_hour_per_member(sessions):
    with sessions.begin() as session:
        quota.record(session, [quota.member_scope("lisi")], quota.MEMBER_LIMITS, NOW - timedelta(minutes=50), n=1000)
    with sessions() as session:
        later = quota.check_members(session, ["lisi", "wangwu"], NOW)
    assert later.ready == ["wangwu"]
    assert NOW + timedelta(minutes=10) <= later.later["lisi"] <= NOW + timedelta(minutes=15)


def test_appchat_create_quota_is_a_beijing_natural_day(sessions):
    limits = quota.API_LIMITS["appchat/create"]
    scope = quota.api_scope("appchat/create")
    with sessions.begin() as session:
        quota.record(session, [scope], limits, NOW, n=1000)
        refused = quota.reserve(session, [scope], limits, NOW)
    assert refused.later[scope] == datetime(2026, 3, 10, 16, 0, tzinfo=timezone.utc)  # midnight in Beijing


def test_group_robot_twenty_a_minute_per_key_and_key_is_hashed(sessions):
    scope = quota.webhook_scope("secret-robot-key")
    with sessions.begin() as session:
        granted = [quota.reserve(session, [scope], quota.WEBHOOK_LIMITS, NOW).ready for _ in range(21)]
    assert granted.count([scope]) == 20
    with sessions() as session:
        assert not session.scalar(select(func.count()).where(QuotaCounter.scope.contains("secret-robot-key")))


def test_old_buckets_are_pruned(sessions):
    with sessions.begin() as session:
        quota.record(session, ["member:old"], quota.MEMBER_LIMITS, NOW - timedelta(days=3))
        quota.record(session, ["member:new"], quota.MEMBER_LIMITS, NOW)
        assert quota.prune(session, NOW) == 2
    with sessions() as session:
        assert set(session.scalars(select(QuotaCounter.scope))) == {"member:new"}


def test_concurrent_reservers_never_exceed_the_quota(sessions):
    """Eight threads, each with its own session, race for one member's 30 messages."""
    granted = []
    lock = threading.Lock()

    def worker():
        for _ in range(10):
            with sessions.begin() as session:
                got = quota.reserve_members(session, ["zhaoliu"], NOW).ready
            with lock:
                granted.extend(got)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(granted) == 30


def test_a_tally_decides_a_batch_in_memory_and_writes_once(sessions):
    with sessions.begin() as session:
        tally = quota.Tally(session, NOW)
        granted = [tally.take([quota.member_scope("sunli")], quota.MEMBER_LIMITS).ready for _ in range(31)]
        tally.give_back([quota.member_scope("sunli")], quota.MEMBER_LIMITS)  # one send fell through
        tally.flush()
    assert sum(map(len, granted)) == 30
    with sessions() as session:
        assert len(quota.check_members(session, ["sunli"], NOW).ready) == 1  # 29 used


def test_a_claim_for_twenty_thousand_members_fits_the_database_parameter_limit(sessions):
    """A directive to 20,000 people claims 20 batches at once: 40,000 counter rows in one
    write, far over PostgreSQL's 65,535 parameters if sent as one multi-row statement."""
    userids = [f"user{i:05d}" for i in range(20_000)]
    with sessions.begin() as session:
        tally = quota.Tally(session, NOW)
        taken = tally.take([quota.member_scope(u) for u in userids], quota.MEMBER_LIMITS)
        tally.flush()
    assert len(taken.ready) == 20_000
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(QuotaCounter)) == 20_000 * len(quota.MEMBER_LIMITS)
        again = quota.Tally(session, NOW)
        again.load([quota.member_scope(u) for u in userids], quota.MEMBER_LIMITS)
        assert again.take([quota.member_scope("user00000")], quota.MEMBER_LIMITS).ready
