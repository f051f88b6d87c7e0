"""The outbox sender's batch under trouble: split keys that repeat, a batch that
outlives its lease, WeCom down or refusing the app's credentials, a card's task_id
answered 42014 after an earlier call, quotas given back, 45009 per robot and escalating."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from tests.conftest import make_settings
from tests.plugins.outbox import TUESDAY_10, FakeClient, add, robot, row, send, text
from wecom_app.models import OutboxAction, QuotaCounter
from wecom_app.wecom import outbox, quota
from wecom_app.wecom.errors import WeComAuthError, WeComBusy, WeComError, WeComRateLimited, WeComUnavailable
from wecom_app.workcal import WorkCalendar

pytestmark = pytest.mark.both_databases  # the outbox: SKIP LOCKED claims, leases, quotas given back


@pytest.fixture
def settings(db_url):
    """As in test_outbox.py: the test settings on this test's database."""
    return make_settings(database_url=db_url)


def card(users, task_id="d7-1"):
    return {"touser": "|".join(users), "msgtype": "template_card",
            "template_card": {"card_type": "button_interaction", "task_id": task_id}}


def chat(i):
    return {"chatid": f"c{i}", "msgtype": "text", "text": {"content": "x"}}


def used(sessions, scope, limits, now) -> int:
    step = limits[0].step
    with sessions() as session:
        return session.scalar(select(func.coalesce(func.sum(QuotaCounter.count), 0)).where(
            QuotaCounter.scope == scope, QuotaCounter.window == step, QuotaCounter.bucket == limits[0].bucket(now)))


# -- 1. a split key never repeats, and one row's bad split does not stop the others ----------


def _over_quota_then_45009(sessions, settings, calendar):
    for i in range(30):
        add(sessions, "message/send", text(["lisi"], f"m{i}"), f"lisi{i}", TUESDAY_10)
    send(sessions, FakeClient(), settings, calendar, TUESDAY_10)
    parent = add(sessions, "message/send", card(["zhangsan", "wangwu", "lisi"]), "directive-7", TUESDAY_10)
    client = FakeClient(WeComRateLimited("message/send", 45009, "api freq out of limit", retry_after=60))
    stats = send(sessions, client, settings, calendar, TUESDAY_10)
    assert stats.split == 1 and client.calls[0][1]["touser"] == "zhangsan|wangwu"
    assert row(sessions, parent).attempts == 0  # 45009 gives the attempt back: attempts repeat
    others = [add(sessions, "message/send", text([f"u{i}"]), f"other{i}", TUESDAY_10) for i in range(29)]
    later = TUESDAY_10 + timedelta(seconds=100)
    with sessions.begin() as session:  # zhangsan's quota fills up meanwhile
        quota.record(session, [quota.member_scope("zhangsan")], quota.MEMBER_LIMITS, later, n=30)
    return parent, others, later


def test_a_second_split_of_the_same_row_gets_a_new_key_and_task_id(sessions, settings, calendar):
    parent, others, later = _over_quota_then_45009(sessions, settings, calendar)
    client = FakeClient()
    stats = send(sessions, client, settings, calendar, later)  # was: UNIQUE constraint failed, nothing sent
    assert stats.split == 1
    assert {row(sessions, i).status for i in others} == {"sent"}
    assert row(sessions, parent).status == "sent" and row(sessions, parent).payload["touser"] == "wangwu"
    with sessions() as session:
        children = session.scalars(select(OutboxAction).where(OutboxAction.parent_id == parent)).all()
    assert sorted(c.payload["touser"] for c in children) == ["lisi", "zhangsan"]
    assert len({c.idempotency_key for c in children}) == 2
    task_ids = {c.payload["template_card"]["task_id"] for c in children}
    assert len(task_ids) == 2 and all(t.startswith("d7-1@") for t in task_ids)


def test_a_split_that_cannot_be_stored_defers_that_row_only(sessions, settings, calendar, monkeypatch):
    parent, others, later = _over_quota_then_45009(sessions, settings, calendar)
    monkeypatch.setattr(outbox.uuid, "uuid4", lambda: uuid.UUID(int=7))  # every key the same again
    with sessions.begin() as session:  # ...and the first split already took it
        session.get(OutboxAction, parent).attempts = 0
        session.add(OutboxAction(idempotency_key=f"split:{parent}:{uuid.UUID(int=7).hex[:12]}", kind="message/send",
                                 payload=text(["x"]), status="sent", not_before=TUESDAY_10, created_at=TUESDAY_10))
    client = FakeClient()
    stats = send(sessions, client, settings, calendar, later)
    assert {row(sessions, i).status for i in others} == {"sent"}
    assert stats.deferred == 1 and row(sessions, parent).status == "pending"
    assert not any(body.get("template_card", {}).get("task_id") == "d7-1" for _, body in client.calls)
    # the split's members were given back: wangwu's quota is untouched
    assert used(sessions, quota.member_scope("wangwu"), quota.MEMBER_LIMITS, later) == 0


# -- 2. a batch stops before its lease runs out, and on WeCom being down ---------------------


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def test_a_slow_batch_releases_its_rows_before_the_lease_ends_each_row_sent_once(sessions, settings, calendar):
    ids = [add(sessions, "appchat/send", chat(i), f"k{i}", TUESDAY_10) for i in range(20)]
    clock_a, clock_b, seen = Clock(), Clock(), []
    other = SimpleNamespace(ran=False)

    class Slow(FakeClient):
        """Each call takes 38 s; once A's lease is over, sender B runs (as a second worker would)."""

        def appchat_send(self, body):
            clock_a.t += 38
            seen.append(body["chatid"])
            if clock_a.t - 1000 > 300 and not other.ran:
                other.ran = True
                send(sessions, Fast(), settings, calendar, TUESDAY_10 + timedelta(minutes=6), clock=clock_b)
            return super().appchat_send(body)

    class Fast(FakeClient):
        def appchat_send(self, body):
            seen.append(body["chatid"])
            return super().appchat_send(body)

    stats = send(sessions, Slow(), settings, calendar, TUESDAY_10, clock=clock_a)
    assert stats.sent == 4 and stats.released == 16  # 4 × 38 s > half of the 5-minute lease
    released = row(sessions, ids[-1])
    assert released.status == "pending" and released.attempts == 0 and released.not_before == TUESDAY_10
    while send(sessions, Fast(), settings, calendar, TUESDAY_10 + timedelta(minutes=6), clock=clock_b).claimed:
        pass
    assert Counter(seen) == Counter(f"c{i}" for i in range(20))  # each exactly once
    assert {row(sessions, i).status for i in ids} == {"sent"}


@pytest.mark.parametrize("error", [WeComUnavailable("appchat/send", "timeout"), WeComBusy("appchat/send", -1, "system busy")])
def test_wecom_down_stops_the_batch_without_using_attempts(sessions, settings, calendar, error):
    ids = [add(sessions, "appchat/send", chat(i), f"k{i}", TUESDAY_10) for i in range(5)]
    add(sessions, "webhook/send", {"group_id": robot(sessions, settings, "robot-a"),
                                   "body": {"msgtype": "text", "text": {"content": "x"}}}, "w", TUESDAY_10)
    client = FakeClient(error)
    stats = send(sessions, client, settings, calendar, TUESDAY_10)
    assert len(client.calls) == 1 and (stats.retried, stats.released) == (1, 5)
    first = row(sessions, ids[0])
    assert first.status == "pending" and first.attempts == 0 and first.result["transient"] == 1
    for i in ids[1:]:
        rest = row(sessions, i)
        assert rest.status == "pending" and rest.attempts == 0 and rest.not_before >= first.not_before
        assert rest.errcode == error.errcode
        assert rest.failing_since == first.failing_since == TUESDAY_10  # waiting on WeCom too (the dashboard's warning)
    later = TUESDAY_10 + timedelta(minutes=2)
    assert send(sessions, client, settings, calendar, later).sent == 6
    assert {row(sessions, i).failing_since for i in ids} == {None}


# -- 3. wrong secret / untrusted IP: one gettoken per run -------------------------------------


def test_auth_error_stops_token_calls_but_not_robots(sessions, settings, calendar):
    ids = [add(sessions, "appchat/send", chat(i), f"k{i}", TUESDAY_10) for i in range(5)]
    robot_row = add(sessions, "webhook/send", {"group_id": robot(sessions, settings, "robot-a"),
                                               "body": {"msgtype": "text", "text": {"content": "x"}}}, "w", TUESDAY_10)
    client = FakeClient(WeComAuthError("gettoken", 60020, "not allow to access from your ip"))
    stats = send(sessions, client, settings, calendar, TUESDAY_10)
    assert [api for api, _ in client.calls] == ["appchat/send", "webhook/send"]
    assert stats.sent == 1 and row(sessions, robot_row).status == "sent"
    for i in ids:
        waiting = row(sessions, i)
        assert waiting.status == "pending" and waiting.attempts == 0 and waiting.errcode == 60020
        assert waiting.not_before >= TUESDAY_10 + timedelta(minutes=5)


@pytest.fixture
def wrong_secret(db_url, sessions, sandbox_state, sandbox_clock, emulator_url):
    from wecom_app.wecom.client import WeComClient

    settings = make_settings(database_url=db_url, api_base=emulator_url, wecom_timeout=0.5, secret="not-the-secret")
    clock = lambda: datetime.fromtimestamp(sandbox_clock(), timezone.utc)  # noqa: E731
    client = WeComClient(settings, sessions, clock=clock, sleep=lambda _s: None, max_attempts=1)
    yield SimpleNamespace(settings=settings, client=client, now=clock, state=sandbox_state, clock=sandbox_clock,
                          calendar=WorkCalendar(settings))
    client.close()


def test_e2e_wrong_secret_one_gettoken_per_run(sessions, wrong_secret):
    w = wrong_secret
    users = sorted(u for u, user in w.state.users.items() if user["status"] == 1)[:20]
    ids = [add(sessions, "message/send", text([u]), f"k{u}", w.now(), urgent=True) for u in users]
    for run in (1, 2):
        outbox.send_due(sessions, w.client, w.settings, w.calendar, w.now())
        assert len(w.state.calls("gettoken")) == run
        assert {(row(sessions, i).status, row(sessions, i).attempts) for i in ids} == {("pending", 0)}
        assert outbox.send_due(sessions, w.client, w.settings, w.calendar, w.now()).claimed == 0  # backing off
        w.clock.advance(6 * 60 + 30)


# -- 4. a card's task_id answered 42014 after an earlier call ---------------------------------


@pytest.mark.parametrize("first", [
    WeComRateLimited("message/send", 45009, "api freq out of limit", retry_after=1),  # sets attempts back to 0
    WeComUnavailable("message/send", "timeout"),  # delivered, but the answer never came
])
def test_42014_after_an_earlier_call_of_that_task_id_is_sent(sessions, settings, calendar, first):
    id = add(sessions, "message/send", card(["zhangsan"]), "directive-7", TUESDAY_10, urgent=True)
    client = FakeClient(first, WeComError("message/send", 42014, "task_id exist"))
    send(sessions, client, settings, calendar, TUESDAY_10)
    assert send(sessions, client, settings, calendar, TUESDAY_10 + timedelta(hours=2)).sent == 1
    done = row(sessions, id)
    assert done.status == "sent" and done.result["task_id_used"]
    assert "42014 on call 2 of task_id d7-1" in done.result["why"] and first.errmsg in done.result["why"]


def test_42014_on_a_card_never_sent_before_fails(sessions, settings, calendar):
    id = add(sessions, "message/send", card(["zhangsan"]), "directive-7", TUESDAY_10)
    client = FakeClient(WeComError("message/send", 42014, "task_id exist"))
    assert send(sessions, client, settings, calendar, TUESDAY_10).failed == 1
    assert row(sessions, id).errcode == 42014


# -- 5. quotas given back; 45009 per robot, escalating ----------------------------------------


def test_skipped_and_failed_calls_give_their_quota_back(sessions, settings, calendar):
    scope, limits = quota.api_scope("appchat/update"), quota.API_LIMITS["appchat/update"]
    for i in range(3):
        add(sessions, "appchat/update", {"chatid": f"c{i}", "add_user_list": ["a"]}, f"k{i}", TUESDAY_10)
    send(sessions, FakeClient(WeComRateLimited("appchat/update", 45009, "limit", retry_after=60)), settings, calendar, TUESDAY_10)
    assert used(sessions, scope, limits, TUESDAY_10) == 1  # the call made; the two skipped gave theirs back
    later = TUESDAY_10 + timedelta(minutes=10)
    add(sessions, "appchat/update", {"chatid": "gone", "add_user_list": ["a"]}, "k-gone", later)
    client = FakeClient(WeComError("appchat/update", 86003, "chat not exist"))
    stats = send(sessions, client, settings, calendar, later)
    assert stats.failed == 1 and stats.sent == 3
    assert used(sessions, scope, limits, later) == 3


def test_one_robots_45009_does_not_block_another_robot(sessions, settings, calendar):
    body = {"msgtype": "text", "text": {"content": "x"}}
    robot_a, robot_b = robot(sessions, settings, "robot-a"), robot(sessions, settings, "robot-b")
    a = [add(sessions, "webhook/send", {"group_id": robot_a, "body": body}, f"a{i}", TUESDAY_10) for i in range(2)]
    b = [add(sessions, "webhook/send", {"group_id": robot_b, "body": body}, f"b{i}", TUESDAY_10) for i in range(2)]
    client = FakeClient(WeComRateLimited("webhook/send", 45009, "limit", retry_after=60))
    stats = send(sessions, client, settings, calendar, TUESDAY_10)
    assert [body["key"] for _, body in client.calls] == ["robot-a", "robot-b", "robot-b"]
    assert stats.sent == 2 and {row(sessions, i).status for i in b} == {"sent"}
    assert {row(sessions, i).status for i in a} == {"pending"}


def test_45009_backoff_escalates_without_using_attempts(sessions, settings, calendar):
    id = add(sessions, "message/send", text(["zhangsan"]), "k", TUESDAY_10, urgent=True)
    now, delays = TUESDAY_10, []
    for _ in range(8):
        send(sessions, FakeClient(WeComRateLimited("message/send", 45009, "limit", retry_after=1)), settings, calendar, now)
        waiting = row(sessions, id)
        delays.append((waiting.not_before - now).total_seconds())
        now = waiting.not_before
    assert waiting.attempts == 0 and waiting.result["rate_limited"] == 8 and waiting.status == "pending"
    lows, highs = [60, 120, 300, 600, 1800, 3600, 3600, 3600], [90, 180, 450, 900, 2700, 3600, 3600, 3600]
    assert all(lo <= d <= hi for d, lo, hi in zip(delays, lows, highs)), delays
    assert delays[-1] == 3600
