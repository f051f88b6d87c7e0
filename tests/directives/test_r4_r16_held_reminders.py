"""R4 and R16, issue 13 items 4 and 5: when a held message goes is computed once, by the
outbox's own rule (outbox.held_until / send_time), and 立即提醒 counts whom it reminds,
says when that goes, reminds nobody twice within a reminder's lifetime and reminds at
once when the directive is urgent. Time is passed in: a Saturday evening, a Friday
17:59, a holiday from the calendar's overrides."""

from __future__ import annotations

import threading
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from tests.conftest import make_settings
from tests.plugins.world import deliver
from wecom_app.directives import followup
from wecom_app.directives import issue as directives
from wecom_app.directives.errors import DirectiveError
from wecom_app.models import Directive, DirectiveBatch, OutboxAction
from wecom_app.settlers import SETTLERS
from wecom_app.wecom import outbox
from wecom_app.workcal import WorkCalendar

SH = ZoneInfo("Asia/Shanghai")
FRIDAY_10 = datetime(2026, 3, 6, 10, 0, tzinfo=SH)
FRIDAY_1759 = datetime(2026, 3, 6, 17, 59, tzinfo=SH)
SATURDAY_20 = datetime(2026, 3, 7, 20, 0, tzinfo=SH)
MONDAY_9 = datetime(2026, 3, 9, 9, 0, tzinfo=SH)
TUESDAY_9 = datetime(2026, 3, 10, 9, 0, tzinfo=SH)
PEOPLE = ("lina", "chenjing", "zhaolei")


def pending(row_id: int, not_before: datetime, *, urgent=False, hold=True) -> OutboxAction:
    return OutboxAction(id=row_id, kind="message/send", hold=hold, urgent=urgent, not_before=not_before,
                        status="pending")


# ---- the one rule ---------------------------------------------------------------------------------------------

def test_r4_a_message_queued_on_a_saturday_evening_goes_monday_a_few_minutes_past_nine():
    calendar = WorkCalendar(make_settings())
    goes, held = outbox.send_time(pending(41, SATURDAY_20), calendar, SATURDAY_20)
    assert held and goes == MONDAY_9 + outbox.hold_jitter(41)
    assert MONDAY_9 + timedelta(minutes=1) <= goes <= MONDAY_9 + timedelta(minutes=4)  # not on :00 (pitfall 22)
    assert outbox.send_time(pending(41, SATURDAY_20, urgent=True), calendar, SATURDAY_20) == (SATURDAY_20, False)


def test_r4_friday_1759_is_still_working_time_and_a_minute_later_waits_for_monday():
    calendar = WorkCalendar(make_settings())
    assert outbox.send_time(pending(5, FRIDAY_1759), calendar, FRIDAY_1759) == (FRIDAY_1759, False)
    after = FRIDAY_1759 + timedelta(minutes=1)
    assert outbox.send_time(pending(5, after), calendar, after) == (MONDAY_9 + outbox.hold_jitter(5), True)


def test_r4_a_holiday_from_the_calendar_overrides_moves_the_send_time_a_day_on():
    calendar = WorkCalendar(make_settings(), {date(2026, 3, 9): False})  # an admin's override: Monday off
    goes, held = outbox.send_time(pending(5, SATURDAY_20), calendar, SATURDAY_20)
    assert held and goes == TUESDAY_9 + outbox.hold_jitter(5)


def test_r4_a_row_the_claim_moved_still_reads_as_held_at_the_same_time(sessions):
    """The page before the claim and after it, and the claim itself, agree to the second."""
    settings = make_settings()
    calendar = WorkCalendar(settings)
    with sessions.begin() as session:
        row = outbox.enqueue(session, "message/send", {"touser": "lina", "msgtype": "text",
                                                        "text": {"content": "周报"}}, key="k1", now=SATURDAY_20)
        session.flush()
        before = outbox.send_time(row, calendar, SATURDAY_20)
        row_id = row.id
    stats = outbox.send_due(sessions, None, settings, calendar, SATURDAY_20 + timedelta(minutes=1))
    assert stats.held == 1
    with sessions() as session:
        moved = session.get(OutboxAction, row_id)
        assert moved.not_before == before[0]
        assert outbox.send_time(moved, calendar, SATURDAY_20 + timedelta(hours=3)) == before


# ---- 立即提醒 -----------------------------------------------------------------------------------------------------

def set_clock(world, moment: datetime) -> None:
    world.clock.advance(moment.timestamp() - world.clock())


def delivered(world, *, urgent=False) -> int:
    """A directive issued on Friday 10:00 to three people, its cards delivered."""
    set_clock(world, FRIDAY_10)
    with world.sessions.begin() as session:
        directive_id = directives.issue(session, world.settings, title="季度报表", body="请提交季度报表。",
                                        assignees={"users": list(PEOPLE)}, deadline=FRIDAY_10 + timedelta(days=7),
                                        issuer="wangfang", now=world.now(), urgent=urgent).id
    deliver(world)
    with world.sessions.begin() as session:
        outbox.settle(session, world.now(), SETTLERS)
    return directive_id


def remind(world, directive_id: int) -> followup.RemindPlan:
    with world.sessions.begin() as session:
        return followup.remind_now(session, world.settings, session.get(Directive, directive_id), actor="wangfang",
                                   now=world.now())


def reminder_rows(world, directive_id: int) -> list[OutboxAction]:
    with world.sessions() as session:
        ids = [f"directive_batch:{i}" for i in session.scalars(select(DirectiveBatch.id).where(
            DirectiveBatch.directive_id == directive_id, DirectiveBatch.kind == "reminder"))]
        return list(session.scalars(select(OutboxAction).where(OutboxAction.subject.in_(ids))))


def reminders_to(world, userid: str) -> list[datetime]:
    return [datetime.fromtimestamp(m["at"], SH) for m in world.state.inbox(userid)
            if m["msgtype"] == "template_card"
            and m["body"]["template_card"]["main_title"]["title"].startswith("【提醒】")]


def test_r4_r16_remind_now_on_a_saturday_evening_says_monday_and_a_second_tap_is_refused(world):
    directive_id = delivered(world)
    set_clock(world, SATURDAY_20)
    with world.sessions() as session:
        preview = followup.remind_plan(session, session.get(Directive, directive_id), world.calendar, world.now())
    assert len(preview.people) == 3 and preview.held and preview.waiting == 0
    monday = MONDAY_9 + outbox.hold_jitter(directive_id)  # the directive's own minutes: its batches go together
    assert preview.goes_at == monday

    plan = remind(world, directive_id)
    assert len(plan.people) == 3 and plan.goes_at == monday
    [row] = reminder_rows(world, directive_id)
    assert row.not_before == monday and outbox.send_time(row, world.calendar, world.now()) == (monday, True)

    with pytest.raises(DirectiveError) as refused:  # the double tap
        remind(world, directive_id)
    assert refused.value.field == "reminded"
    assert f"goes at {monday.astimezone(timezone.utc).isoformat()}" in refused.value.message
    assert len(reminder_rows(world, directive_id)) == 1

    deliver(world)  # the outbox on Saturday night: nothing goes
    assert reminders_to(world, "lina") == []
    set_clock(world, monday)
    deliver(world)
    assert reminders_to(world, "lina") == [monday]


def test_r16_a_reminder_lives_an_hour_after_it_went_then_a_tap_reminds_again(world):
    directive_id = delivered(world)
    set_clock(world, SATURDAY_20)
    monday = remind(world, directive_id).goes_at
    set_clock(world, monday + timedelta(minutes=59))
    with pytest.raises(DirectiveError) as refused:
        remind(world, directive_id)
    assert "went at" in refused.value.message
    assert f"again from {(monday + followup.REMIND_AGAIN_AFTER).astimezone(timezone.utc).isoformat()}" \
        in refused.value.message
    set_clock(world, monday + followup.REMIND_AGAIN_AFTER)
    again = remind(world, directive_id)
    assert len(again.people) == 3 and not again.held  # working time: it goes at once


def test_r4_r16_an_urgent_directive_reminds_at_once_on_a_saturday_evening(world):
    directive_id = delivered(world, urgent=True)
    set_clock(world, SATURDAY_20)
    plan = remind(world, directive_id)
    assert len(plan.people) == 3 and not plan.held and plan.goes_at == SATURDAY_20
    deliver(world)
    assert reminders_to(world, "lina") == [SATURDAY_20]


@pytest.mark.both_databases  # concurrency: the ledger lock (an advisory lock on PostgreSQL, BEGIN IMMEDIATE on SQLite)
def test_r16_two_taps_at_the_same_moment_queue_one_reminder(world):
    """Two workers take the two taps together: the second waits for the first, sees its
    reminders and is refused; one reminder batch, one reminder per person."""
    directive_id = delivered(world)
    set_clock(world, SATURDAY_20)
    barrier, outcomes = threading.Barrier(2), []

    def tap():
        barrier.wait(timeout=10)
        try:
            outcomes.append(len(remind(world, directive_id).people))
        except DirectiveError as refused:
            outcomes.append(refused.field)

    threads = [threading.Thread(target=tap) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(outcomes, key=str) == [3, "reminded"]
    assert len(reminder_rows(world, directive_id)) == 1
