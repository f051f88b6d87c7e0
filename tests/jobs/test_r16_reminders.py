"""R16 reminders, R4 working time: the default plan on named dates, reminders only to
people who have not acted, held over weekends and holidays unless urgent — driven
through the sandbox: the clock jumps from one due moment to the next, the reminders
job and the outbox run at each, and the emulator's messages are what people got."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, text

from tests.plugins.world import deliver, push
from wecom_app.directives import followup as directives_followup
from wecom_app.directives import issue as directives
from wecom_app.directives.followup import Planner, check_plan, scan_due, send_reminders
from wecom_app.models import Directive, DirectiveBatch, DirectiveClick, DirectiveReceipt, LedgerEntry, OutboxAction
from wecom_app.scheduler import run_job
from wecom_app.settlers import SETTLERS
from wecom_app.wecom import outbox
from wecom_app.workcal import WorkCalendar

SH = ZoneInfo("Asia/Shanghai")


def local(*args) -> datetime:
    return datetime(*args, tzinfo=SH)


# ---- helpers ------------------------------------------------------------------------------------------------------

def set_clock(world, moment: datetime) -> None:
    world.clock.advance(moment.timestamp() - world.clock())


def issue(world, *, users=("lina", "chenjing", "zhaolei"), deadline, urgent=False, require="ack", **extra):
    with world.sessions.begin() as session:
        return directives.issue(session, world.settings, title="季度报表", body="请提交季度报表。",
                                assignees={"users": list(users)}, deadline=deadline, issuer="wangfang",
                                now=world.now(), require=require, urgent=urgent, **extra).id


def tick(world) -> None:
    """What the scheduler does at one moment: reminders, the outbox, the settlers."""
    run_job("reminders", SimpleNamespace(sessions=world.sessions, settings=world.settings, clock=world.now))
    deliver(world)
    with world.sessions.begin() as session:
        outbox.settle(session, world.now(), SETTLERS)


def next_event(world) -> datetime | None:
    with world.sessions() as session:
        moments = [session.scalar(select(func.min(DirectiveReceipt.next_reminder_at))),
                   session.scalar(select(func.min(OutboxAction.not_before)).where(OutboxAction.status == "pending"))]
    moments = [m for m in moments if m is not None]
    return min(moments) if moments else None


def run_until(world, end: datetime) -> None:
    """Jump from one due moment to the next (a reminder, an outbox row) until `end`."""
    tick(world)
    for _ in range(500):
        moment = next_event(world)
        if moment is None or moment > end:
            break
        if moment > world.now():
            set_clock(world, moment)
        tick(world)
    if world.now() < end:
        set_clock(world, end)


def reminders_to(world, userid: str) -> list[datetime]:
    """When the emulator delivered reminder cards to `userid` (local time)."""
    return [datetime.fromtimestamp(m["at"], SH) for m in world.state.inbox(userid)
            if m["msgtype"] == "template_card"
            and m["body"]["template_card"]["main_title"]["title"].startswith("【提醒】")]


def cards_to(world, userid: str) -> list[datetime]:
    return [datetime.fromtimestamp(m["at"], SH) for m in world.state.inbox(userid) if m["msgtype"] == "template_card"]


def card_task(world, directive_id: int, kind: str = "card") -> str:
    with world.sessions() as session:
        return session.scalar(select(DirectiveBatch.task_id).where(DirectiveBatch.directive_id == directive_id,
                                                                    DirectiveBatch.kind == kind)
                              .order_by(DirectiveBatch.id))


def planner(deadline: datetime, *, urgent=False, plan=None, directive_id=7) -> Planner:
    directive = Directive(id=directive_id, deadline=deadline.astimezone(timezone.utc), urgent=urgent,
                          reminder_plan=plan)
    from tests.conftest import make_settings
    return Planner(directive, WorkCalendar(make_settings()))


# ---- the plan on named dates ------------------------------------------------------------------------------------

def test_r16_first_reminder_two_working_hours_after_delivery_across_lunch_and_the_night():
    p = planner(local(2026, 3, 13, 17, 0))  # Friday 17:00
    assert p.first(local(2026, 3, 10, 11, 0)) == local(2026, 3, 10, 14, 30)  # over lunch
    assert p.first(local(2026, 3, 10, 10, 0)) == local(2026, 3, 10, 13, 30)  # 12:00 is not working time
    assert p.first(local(2026, 3, 10, 17, 0)) == local(2026, 3, 11, 10, 0)  # over the night


def test_r16_then_each_working_day_at_ten_and_a_last_one_two_working_hours_before_the_deadline():
    p = planner(local(2026, 3, 16, 17, 0))  # Monday 17:00
    j = p.jitter
    assert timedelta(minutes=1) <= j <= timedelta(minutes=4)  # WeCom: not on :00 / :30
    first = p.first(local(2026, 3, 11, 9, 30))  # Wednesday
    assert first == local(2026, 3, 11, 11, 30)
    times = [first]
    while (following := p.following(times[-1], len(times))) is not None:
        times.append(following)
    assert times == [first, local(2026, 3, 12, 10, 0) + j, local(2026, 3, 13, 10, 0) + j,  # Thu, Fri
                     local(2026, 3, 16, 10, 0) + j,  # the weekend skipped
                     local(2026, 3, 16, 15, 0) + j]  # the last one; none after it


def test_r16_a_first_reminder_too_close_to_the_last_one_is_the_last_one():
    p = planner(local(2026, 3, 10, 15, 0))  # the last one at 11:30 (+ jitter)
    assert p.first(local(2026, 3, 10, 9, 30)) == local(2026, 3, 10, 11, 30) + p.jitter  # not 11:30 and 11:32
    assert p.first(local(2026, 3, 10, 10, 45)) is None  # under an hour before the last: the card is enough


def test_r16_a_deadline_on_national_day_puts_the_last_reminder_on_the_last_working_day_before_it():
    p = planner(local(2026, 10, 2, 12, 0))
    assert p.last == local(2026, 9, 30, 16, 0) + p.jitter
    first = p.first(local(2026, 9, 28, 9, 30))
    assert first == local(2026, 9, 28, 11, 30)
    assert p.following(first, 1) == local(2026, 9, 29, 10, 0) + p.jitter
    assert p.following(local(2026, 9, 29, 10, 0) + p.jitter, 2) == local(2026, 9, 30, 10, 0) + p.jitter
    assert p.following(local(2026, 9, 30, 10, 0) + p.jitter, 3) == p.last


def test_r16_in_2027_the_fallback_calendar_decides():
    # chinese_calendar stops at 2026: 2027-01-01 is a holiday by the fixed-date fallback, then the weekend
    p = planner(local(2027, 1, 5, 12, 0))
    assert p.first(local(2026, 12, 31, 17, 0)) == local(2027, 1, 4, 10, 0)
    assert p.last == local(2027, 1, 5, 10, 0) + p.jitter  # 2 working hours before Tuesday 12:00
    assert p.following(local(2027, 1, 4, 10, 0), 1) == p.last  # Tuesday's 10:00 one would be the last one's twin


def test_r16_urgent_plan_runs_in_calendar_hours():
    p = planner(local(2026, 3, 8, 8, 0), urgent=True)  # a Sunday morning
    assert p.first(local(2026, 3, 7, 20, 0)) == local(2026, 3, 7, 22, 0)  # Saturday night
    assert p.following(local(2026, 3, 7, 22, 0), 1) == local(2026, 3, 8, 6, 0) + p.jitter  # the last, at dawn
    assert p.following(local(2026, 3, 8, 6, 0) + p.jitter, 2) is None


@pytest.mark.parametrize("plan,ok", [
    ({}, True),
    ({"first_after_minutes": 30, "daily_at": "09:15", "last_before_minutes": 60, "max_reminders": 3}, True),
    ({"daily_at": None}, True),
    ({"first_after_minutes": 5}, False),
    ({"daily_at": "25:00"}, False),
    ({"max_reminders": -1}, False),
    ({"every": 3}, False),
    ([], False),
])
def test_r16_custom_plans_are_checked(plan, ok):
    if ok:
        assert set(check_plan(plan)) == set(directives_followup.DEFAULT_PLAN)
    else:
        with pytest.raises(directives.DirectiveError) as refused:
            check_plan(plan)
        assert refused.value.field == "reminder_plan"


def test_r16_a_custom_plan_is_kept_on_the_directive(world):
    directive_id = issue(world, deadline=world.now() + timedelta(days=3),
                         reminder_plan={"daily_at": None, "max_reminders": 1})
    with world.sessions() as session:
        assert session.get(Directive, directive_id).reminder_plan["max_reminders"] == 1
    run_until(world, world.now() + timedelta(days=3))
    assert len(reminders_to(world, "zhaolei")) == 1


# ---- end to end -------------------------------------------------------------------------------------------------

def test_r16_reminders_go_only_to_people_who_have_not_acted_and_a_reminder_card_click_counts(world):
    start = world.now()  # Monday 2026-03-02 09:00
    directive_id = issue(world, deadline=start + timedelta(days=3))  # Thursday 09:00
    tick(world)
    push(world, world.state.click("lina", card_task(world, directive_id), "ack"))
    run_until(world, local(2026, 3, 2, 12, 0))
    assert len(reminders_to(world, "chenjing")) == 1
    push(world, world.state.click("chenjing", card_task(world, directive_id, "reminder"), "ack"))  # the reminder card
    run_until(world, local(2026, 3, 5, 9, 0))

    with world.sessions() as session:
        d = session.get(Directive, directive_id)
        jitter = Planner(d, world.calendar).jitter
        got = {r.userid: r for r in session.scalars(select(DirectiveReceipt))}
        outcomes = session.scalars(select(DirectiveClick.outcome)).all()
        reminded = session.scalars(select(LedgerEntry.data).where(LedgerEntry.event == "reminded")).all()
    assert reminders_to(world, "lina") == []
    assert got["chenjing"].status == "acknowledged" and outcomes == ["counted", "counted"]
    to_zhaolei = reminders_to(world, "zhaolei")
    assert to_zhaolei == [
        local(2026, 3, 2, 11, 0), (local(2026, 3, 3, 10, 0) + jitter), (local(2026, 3, 4, 10, 0) + jitter),
        (local(2026, 3, 4, 16, 0) + jitter)]
    assert all(world.calendar.is_working_time(t) for t in to_zhaolei)
    assert got["zhaolei"].reminders == 4 and got["zhaolei"].next_reminder_at is None
    assert [r["userids"] for r in reminded] == [["chenjing", "zhaolei"], ["zhaolei"], ["zhaolei"], ["zhaolei"]]
    assert [r["reminder"] for r in reminded] == [1, 2, 3, 4]


def test_r4_a_directive_issued_on_friday_evening_waits_for_monday(world):
    set_clock(world, local(2026, 3, 6, 19, 0))  # Friday evening
    issue(world, deadline=local(2026, 3, 11, 18, 0))
    run_until(world, local(2026, 3, 9, 8, 59))
    assert world.state.messages == []  # nothing all weekend
    run_until(world, local(2026, 3, 9, 12, 0))
    card, reminder = cards_to(world, "zhaolei")
    assert local(2026, 3, 9, 9, 1) <= card <= local(2026, 3, 9, 9, 5)  # the first window, with the outbox's jitter
    assert reminder - card == timedelta(hours=2)


def test_r4_urgent_reminders_go_at_night(world):
    set_clock(world, local(2026, 3, 6, 20, 0))  # Friday night
    directive_id = issue(world, deadline=local(2026, 3, 7, 8, 0), urgent=True, users=("zhaolei",))
    run_until(world, local(2026, 3, 7, 8, 0))
    with world.sessions() as session:
        jitter = Planner(session.get(Directive, directive_id), world.calendar).jitter
    assert cards_to(world, "zhaolei")[0] == local(2026, 3, 6, 20, 0)
    assert reminders_to(world, "zhaolei") == [local(2026, 3, 6, 22, 0), local(2026, 3, 7, 6, 0) + jitter]


def test_r16_a_deadline_on_national_day_last_reminder_on_the_last_working_day_before_it(world):
    set_clock(world, local(2026, 9, 29, 9, 0))
    directive_id = issue(world, deadline=local(2026, 10, 1, 12, 0), users=("zhaolei",))
    run_until(world, local(2026, 10, 1, 12, 0))
    with world.sessions() as session:
        jitter = Planner(session.get(Directive, directive_id), world.calendar).jitter
    assert reminders_to(world, "zhaolei") == [local(2026, 9, 29, 11, 0), local(2026, 9, 30, 10, 0) + jitter,
                                              local(2026, 9, 30, 16, 0) + jitter]


def test_r16_no_reminders_during_the_national_day_week(world):
    set_clock(world, local(2026, 9, 29, 9, 0))
    directive_id = issue(world, deadline=local(2026, 10, 8, 11, 0), users=("zhaolei",))
    run_until(world, local(2026, 10, 8, 11, 0))
    with world.sessions() as session:
        jitter = Planner(session.get(Directive, directive_id), world.calendar).jitter
    assert reminders_to(world, "zhaolei") == [local(2026, 9, 29, 11, 0), local(2026, 9, 30, 10, 0) + jitter,
                                              local(2026, 10, 8, 9, 0) + jitter]  # 国庆 1-7 skipped


def test_r16_revoked_and_corrected_directives_are_not_reminded_of_the_old_version(world):
    directive_id = issue(world, deadline=world.now() + timedelta(days=3))
    tick(world)
    with world.sessions.begin() as session:
        directives.revoke(session, world.settings, session.get(Directive, directive_id), actor="wangfang",
                          reason="重复发布", now=world.now())
    run_until(world, world.now() + timedelta(days=3))
    assert all(reminders_to(world, u) == [] for u in ("lina", "chenjing", "zhaolei"))


def test_r16_a_reminder_due_after_someone_acted_is_cleared_not_sent(world):
    directive_id = issue(world, deadline=world.now() + timedelta(days=3), users=("lina",))
    tick(world)
    with world.sessions.begin() as session:
        receipt = session.scalar(select(DirectiveReceipt))
        receipt.acknowledged_at, receipt.status = world.now(), "acknowledged"  # as if the scan raced the click
        receipt.next_reminder_at = world.now()
    with world.sessions.begin() as session:
        stats = send_reminders(session, world.settings, world.calendar, world.now())
    assert (stats.cleared, stats.reminded) == (1, 0)
    with world.sessions() as session:
        assert session.scalar(select(DirectiveReceipt.next_reminder_at).where(
            DirectiveReceipt.directive_id == directive_id)) is None


def test_r16_the_scan_reads_the_reminder_index_in_order(world):
    issue(world, deadline=world.now() + timedelta(days=3))
    tick(world)
    with world.sessions() as session:
        rows = scan_due(session, world.now() + timedelta(days=1), limit=2)
        assert len(rows) == 2 and rows[0].next_reminder_at <= rows[1].next_reminder_at
        if session.get_bind().dialect.name == "sqlite":
            plan = session.execute(text("EXPLAIN QUERY PLAN SELECT * FROM directive_receipt WHERE next_reminder_at "
                                        "<= '2026-03-03' ORDER BY next_reminder_at LIMIT 5000")).all()
            assert "ix_directive_receipt_reminder" in " ".join(str(row) for row in plan)
