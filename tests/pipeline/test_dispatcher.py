"""The dispatcher: routing, one transaction per event, retries, parking, several workers at once."""

import threading
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from wecom_app.callbacks.dispatcher import dispatch_pending, requeue
from wecom_app.callbacks.events import parse_event
from wecom_app.callbacks.router import Router
from wecom_app.models import CalendarOverride, InboxEvent

from tests.callbacks import fixture
from tests.conftest import make_settings

pytestmark = pytest.mark.both_databases  # SKIP LOCKED: several dispatchers at once

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)


def store(sessions, *names, at=NOW):
    with sessions.begin() as session:
        for name in names:
            xml = fixture(name) if "<xml>" not in name else name
            event = parse_event(xml)
            session.add(InboxEvent(dedupe_key=event.dedupe_key(), source="app", msg_type=event.msg_type,
                                   event=event.event, change_type=event.change_type, from_user=event.from_user,
                                   create_time=event.create_time, payload=xml, received_at=at, next_attempt_at=at))


def rows(sessions):
    with sessions() as session:
        return session.scalars(select(InboxEvent).order_by(InboxEvent.id)).all()


@pytest.fixture
def recorded():
    return []


@pytest.fixture
def router(recorded):
    router = Router()

    @router.register("change_contact", ChangeType="delete_user")
    def remove_departed(event, ctx):
        recorded.append(("delete_user", event.get("UserID")))

    @router.register("change_contact", ChangeType="create_user")
    def add_user(event, ctx):
        recorded.append(("create_user", event.get("UserID")))

    @router.register("text")
    def read_text(event, ctx):
        recorded.append(("text", event.get("Content")))

    return router


def test_events_are_routed_by_event_and_change_type(sessions, router, recorded):
    store(sessions, "change_contact__delete_user", "change_contact__create_user", "text")
    stats = dispatch_pending(sessions, router, make_settings(), NOW)
    assert stats.done == 3
    assert recorded == [("delete_user", "zhangsan"), ("create_user", "zhangsan"), ("text", "举报 有陌生人在销售群")]
    assert {r.status for r in rows(sessions)} == {"done"}


def test_unknown_event_is_ignored_and_logged_with_the_registration_to_add(sessions, router, recorded, caplog):
    store(sessions, "enter_agent", "change_contact__update_user__NewUserID")
    caplog.set_level("INFO", logger="wecom.dispatch")
    stats = dispatch_pending(sessions, router, make_settings(), NOW)
    assert stats.ignored == 2 and recorded == []
    assert [r.status for r in rows(sessions)] == ["ignored", "ignored"]
    assert "@router.register('change_contact', ChangeType='update_user')" in caplog.text


def test_a_merged_router_runs_the_first_router_s_handlers_first():
    directory, rules, seen = Router(), Router(), []
    rules.register("change_contact", ChangeType="delete_user")(lambda event, ctx: seen.append("rules"))
    directory.register("change_contact", ChangeType="delete_user")(lambda event, ctx: seen.append("dir"))
    directory.register("text")(lambda event, ctx: seen.append("text"))
    merged = Router(directory, rules)
    for handler in merged.match(parse_event(fixture("change_contact__delete_user"))):
        handler(None, None)
    assert seen == ["dir", "rules"]
    assert len(merged.match(parse_event(fixture("text")))) == 1


def test_the_app_router_applies_the_directory_before_the_rules_that_read_it():
    import handlers

    delete_user = parse_event(fixture("change_contact__delete_user"))
    assert [h.__module__ for h in handlers.router.match(delete_user)] == ["handlers.contact", "handlers.membership"]


def test_a_preparer_runs_once_a_batch_with_its_events_before_their_handlers(sessions, router, recorded):
    @router.prepare("change_contact")
    def read_once(events, ctx):
        recorded.append(("prepared", [event.get("ChangeType") for event in events]))

    store(sessions, "change_contact__delete_user", "text", "change_contact__create_user")
    assert dispatch_pending(sessions, router, make_settings(), NOW).done == 3
    assert recorded == [("prepared", ["delete_user", "create_user"]), ("delete_user", "zhangsan"),
                        ("text", "举报 有陌生人在销售群"), ("create_user", "zhangsan")]


def test_a_failing_preparer_is_logged_and_its_batch_handled_all_the_same(sessions, router, recorded, caplog):
    @router.prepare("change_contact")
    def broken(events, ctx):
        ctx.session.add(CalendarOverride(day=date(2027, 1, 1), workday=False, note="read ahead"))
        ctx.session.flush()
        raise RuntimeError("a payload no one foresaw")

    store(sessions, "change_contact__delete_user")
    assert dispatch_pending(sessions, router, make_settings(), NOW).done == 1
    assert recorded == [("delete_user", "zhangsan")] and "wecom.dispatch.prepare_failed" in caplog.text
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(CalendarOverride)) == 0


def test_a_second_pass_handles_nothing_twice(sessions, router, recorded):
    store(sessions, "change_contact__delete_user")
    dispatch_pending(sessions, router, make_settings(), NOW)
    dispatch_pending(sessions, router, make_settings(), NOW + timedelta(hours=1))
    assert recorded == [("delete_user", "zhangsan")]


def test_failing_handler_writes_nothing_and_is_retried_with_backoff_then_parked(sessions):
    router = Router()
    calls = []

    @router.register("change_contact", ChangeType="delete_user")
    def half_done(event, ctx):
        calls.append(1)
        ctx.session.add(CalendarOverride(day=date(2027, 1, len(calls)), workday=False, note="partial write"))
        ctx.session.flush()
        raise RuntimeError("WeCom data not ready")

    settings = make_settings(inbox_max_attempts=3)
    store(sessions, "change_contact__delete_user")
    now = NOW
    assert dispatch_pending(sessions, router, settings, now).retried == 1
    [row] = rows(sessions)
    assert row.status == "pending" and row.attempts == 1 and "WeCom data not ready" in row.last_error
    assert row.next_attempt_at > now
    assert dispatch_pending(sessions, router, settings, now).total == 0  # not due yet
    for _ in range(2):
        now += timedelta(hours=2)
        dispatch_pending(sessions, router, settings, now)
    [row] = rows(sessions)
    assert row.status == "parked" and row.attempts == 3 and len(calls) == 3
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(CalendarOverride)) == 0
    dispatch_pending(sessions, router, settings, now + timedelta(days=30))
    assert len(calls) == 3  # parked events are never retried by themselves


def test_a_failing_event_in_a_batch_is_put_off_alone_and_the_others_are_written_once(sessions):
    """No savepoint per event: the failure rolls the batch back, which runs again without it."""
    router, calls = Router(), []

    @router.register("change_contact", ChangeType="delete_user")
    def write_then_maybe_fail(event, ctx):
        userid = event.get("UserID")
        calls.append(userid)
        ctx.session.add(CalendarOverride(day=date(2027, 1, len(calls)), workday=False, note=userid))
        ctx.session.flush()
        if userid == "user001":
            raise RuntimeError("WeCom data not ready")

    template = fixture("change_contact__delete_user")
    store(sessions, *[template.replace("zhangsan", f"user{i:03d}") for i in range(3)])
    stats = dispatch_pending(sessions, router, make_settings(), NOW)
    assert (stats.done, stats.retried) == (2, 1)
    assert [(r.status, r.attempts) for r in rows(sessions)] == [("done", 1), ("pending", 1), ("done", 1)]
    assert "WeCom data not ready" in rows(sessions)[1].last_error and rows(sessions)[1].next_attempt_at > NOW
    assert calls.count("user001") == 1  # one attempt, one call: not run again when the batch is
    with sessions() as session:
        assert sorted(session.scalars(select(CalendarOverride.note))) == ["user000", "user002"]


def test_parked_event_can_be_requeued_and_then_succeeds(sessions, router, recorded):
    broken = Router()
    broken.register("change_contact", ChangeType="delete_user")(lambda e, c: 1 / 0)
    store(sessions, "change_contact__delete_user")
    dispatch_pending(sessions, broken, make_settings(inbox_max_attempts=1), NOW)
    assert rows(sessions)[0].status == "parked"
    with sessions.begin() as session:
        assert requeue(session, rows(sessions)[0].id, NOW)
    dispatch_pending(sessions, router, make_settings(), NOW)
    assert rows(sessions)[0].status == "done" and recorded == [("delete_user", "zhangsan")]


def test_parked_count_and_lag_are_in_metrics(client, sessions):
    broken = Router()
    broken.register("text")(lambda e, c: 1 / 0)
    store(sessions, "text", "enter_agent", at=datetime.now(timezone.utc) - timedelta(seconds=30))
    store(sessions, "change_contact__delete_user", at=datetime.now(timezone.utc) + timedelta(hours=1))
    dispatch_pending(sessions, broken, make_settings(inbox_max_attempts=1), datetime.now(timezone.utc))
    body = client.get("/metrics").get_data(as_text=True)
    assert "wecom_inbox_parked 1.0" in body
    assert "wecom_inbox_pending 1.0" in body


def test_several_dispatchers_at_once_handle_each_event_once(sessions, db_url):
    seen, lock = [], threading.Lock()
    router = Router()

    @router.register("change_contact", ChangeType="delete_user")
    def record(event, ctx):
        with lock:
            seen.append(event.get("UserID"))

    template = fixture("change_contact__delete_user")
    store(sessions, *[template.replace("zhangsan", f"user{i:03d}") for i in range(200)])
    barrier = threading.Barrier(4)

    def worker():
        barrier.wait()
        dispatch_pending(sessions, router, make_settings(), NOW)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(seen) == sorted(f"user{i:03d}" for i in range(200))
    assert {r.status for r in rows(sessions)} == {"done"}


def test_r9_a_group_s_later_event_waits_while_another_dispatcher_holds_an_older_one(sessions, engine, router, recorded):
    """SKIP LOCKED hands the next rows to a second dispatcher while the first still holds a group's older
    event, before either has taken the group's lock: the later one waits, so a join and the leave
    after it are never applied the other way round."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer: a batch commits in full before the next is claimed")

    @router.register("change_external_chat", ChangeType="update")
    def record(event, ctx):
        recorded.append((event.get("ChatId")[:4], event.get("UpdateDetail")))

    joined, left = fixture("change_external_chat__update__add_member"), fixture("change_external_chat__update__del_member")
    store(sessions, joined, left, left.replace("wrOgQhDg", "wrOtherG"))
    first = rows(sessions)[0].id
    holder = sessions()  # another dispatcher: the join claimed, the group's lock not taken yet
    holder.execute(select(InboxEvent).where(InboxEvent.id == first).with_for_update())
    try:
        stats = dispatch_pending(sessions, router, make_settings(), NOW)
        assert stats.done == 1 and recorded == [("wrOt", "del_member")]  # the other group's is not held back
        assert [(r.status, r.attempts) for r in rows(sessions)] == [("pending", 0), ("pending", 0), ("done", 1)]
    finally:
        holder.rollback()
        holder.close()
    assert dispatch_pending(sessions, router, make_settings(), NOW).done == 2
    assert recorded[1:] == [("wrOg", "add_member"), ("wrOg", "del_member")]

