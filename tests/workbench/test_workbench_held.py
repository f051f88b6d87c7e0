"""Issue 13 items 4 and 5 on the pages (R4, R16), the clock passed in: 立即提醒 says whom
and when and refuses a second tap; the 待送达 count, a held reminder and a held
announcement show one computed 「将于 … 发出（非工作时间，R4）」, the same time the
outbox uses; an assignee reads what is left to do, not 待送达; the compose form's
default deadline is valid on a Saturday evening, a Friday 17:59 and before a holiday
from the calendar's overrides."""

from __future__ import annotations

import re
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from tests.plugins.workbench import as_user, csrf_of, issue_directive, rt
from wecom_app.models import CalendarOverride, DirectiveBatch, Group, OutboxAction
from wecom_app.scheduler import run_job
from wecom_app.wecom import outbox
from wecom_app.workcal import load_calendar

SH = ZoneInfo("Asia/Shanghai")
FRIDAY_10 = datetime(2026, 3, 6, 10, 0, tzinfo=SH)
FRIDAY_1759 = datetime(2026, 3, 6, 17, 59, tzinfo=SH)
SATURDAY_20 = datetime(2026, 3, 7, 20, 0, tzinfo=SH)
MONDAY_9 = datetime(2026, 3, 9, 9, 0, tzinfo=SH)


def at(wb, moment: datetime) -> None:
    rt(wb).clock = lambda: moment


def reminder_batches(wb, directive_id: int) -> int:
    with rt(wb).sessions() as db:
        return db.scalar(select(func.count()).select_from(DirectiveBatch).where(
            DirectiveBatch.directive_id == directive_id, DirectiveBatch.kind == "reminder"))


@pytest.fixture
def delivered(wb):
    """caoyang's non-urgent directive to three people, issued and delivered on Friday 10:00."""
    at(wb, FRIDAY_10)
    directive_id = issue_directive(rt(wb), ["zhuxia", "gaoping", "linfeng"], issuer="caoyang")
    run_job("outbox", rt(wb))
    return directive_id


def test_r4_r16_remind_on_a_saturday_evening_says_monday_and_the_second_tap_is_refused(wb, sandbox_state, delivered):
    at(wb, SATURDAY_20)
    client = as_user(wb, sandbox_state, "caoyang")
    monday = (MONDAY_9 + outbox.hold_jitter(delivered)).strftime("%H:%M")
    html = client.get(f"/directives/{delivered}/receipts").text
    assert f">提醒 3 人 · 周一 {monday} 发出<" in html
    assert f'data-test="remind-held">将于 周一 {monday} 发出（非工作时间，R4）<' in html
    token = csrf_of(html)
    first = client.post(f"/directives/{delivered}/remind", data={"csrf_token": token}, follow_redirects=True).text
    assert f"已提醒 3 人：将于 周一 {monday} 发出（非工作时间，R4）" in first
    assert f"3 人刚提醒过（将于 周一 {monday} 发出）" in first and 'data-test="remind" disabled>已提醒<' in first
    assert first.count(f'data-test="reminder-goes">将于 周一 {monday} 发出（非工作时间，R4）<') == 3  # each person's
    second = client.post(f"/directives/{delivered}/remind", data={"csrf_token": token}, follow_redirects=True).text
    assert f"刚提醒过，不重复提醒：上一次提醒将于 周一 {monday} 发出，周一 " in second
    assert reminder_batches(wb, delivered) == 1


def test_r4_the_queued_count_says_when_the_cards_go(wb, sandbox_state):
    at(wb, SATURDAY_20)
    directive_id = issue_directive(rt(wb), ["zhuxia", "gaoping"], issuer="caoyang")
    run_job("outbox", rt(wb))  # the claim holds them: the page's time is the one it stored
    with rt(wb).sessions() as db:
        stored = sorted(r.not_before for r in db.scalars(select(OutboxAction)))
    html = as_user(wb, sandbox_state, "caoyang").get(f"/directives/{directive_id}/receipts").text
    words = re.search(r'data-test="queued-goes">([^<]+)<', html).group(1)
    assert words == f"待送达 2 人：将于 周一 {stored[0].astimezone(SH):%H:%M} 发出（非工作时间，R4）"


def test_an_assignee_reads_what_is_left_to_do_not_delivery_words(wb, sandbox_state):
    at(wb, SATURDAY_20)
    directive_id = issue_directive(rt(wb), ["zhuxia"], issuer="caoyang")  # held: still 待送达 for the issuer
    client = as_user(wb, sandbox_state, "zhuxia")
    for page in (client.get("/me").text, client.get(f"/directives/{directive_id}").text):
        assert "待确认收到" in page and "待送达" not in page and "送达" not in page.split("<main")[-1]


@pytest.mark.parametrize("now, deadline", [
    (SATURDAY_20, datetime(2026, 3, 10, 18, 0, tzinfo=SH)),  # cards go Monday: Tuesday 18:00
    (FRIDAY_1759, datetime(2026, 3, 9, 18, 0, tzinfo=SH)),  # they go at once: the next working day, Monday
])
def test_r4_the_default_deadline_is_valid_for_the_next_working_window(wb, sandbox_state, now, deadline):
    at(wb, now)
    client = as_user(wb, sandbox_state, "zhangwei")
    html = client.get("/directives/new").text
    assert f'value="{deadline:%Y-%m-%d}"' in html and f'value="{deadline:%H:%M}"' in html
    answer = client.post("/directives/new", data={
        "csrf_token": csrf_of(html), "title": "周报", "body": "请提交周报。", "users": ["zhuxia"],
        "deadline_date": f"{deadline:%Y-%m-%d}", "deadline_time": f"{deadline:%H:%M}", "require": "ack",
        "summary_group": ""})
    assert answer.status_code == 302
    flashed = client.get(answer.location).text
    assert ("（立即发送）" in flashed) == (now == FRIDAY_1759)
    assert ("发出（非工作时间，R4））" in flashed) == (now == SATURDAY_20)


def test_r4_the_default_deadline_skips_a_holiday_from_the_overrides(wb, sandbox_state):
    with rt(wb).sessions.begin() as db:
        db.add(CalendarOverride(day=date(2026, 3, 10), workday=False, note="调休", set_by="zhangwei",
                                set_at=FRIDAY_10))
    at(wb, SATURDAY_20)
    html = as_user(wb, sandbox_state, "zhangwei").get("/directives/new").text
    assert 'value="2026-03-11"' in html and 'value="18:00"' in html  # Tuesday is off: Wednesday


def test_r4_a_held_announcement_shows_one_send_time(wb, sandbox_state):
    with rt(wb).sessions.begin() as db:
        db.add(Group(kind="managed", chat_id="companynotice", name="全员通知群", owner="wangfang", custodian="pengfei"))
    at(wb, SATURDAY_20)
    client = as_user(wb, sandbox_state, "zhangwei")
    form = client.get("/announcements/new").text
    with rt(wb).sessions() as db:
        group_id = db.scalar(select(Group.id))
    answer = client.post("/announcements/new", data={
        "csrf_token": csrf_of(form), "groups": [str(group_id)], "msgtype": "text", "content": "周一例会改到十点。",
        "when": "now"})
    assert answer.status_code == 302
    run_job("outbox", rt(wb))  # nothing due before Monday
    with rt(wb).sessions() as db:
        row = db.scalar(select(OutboxAction))
        goes = outbox.send_time(row, load_calendar(db, rt(wb).settings), SATURDAY_20)
    assert goes[1] and row.status == "pending"
    html = client.get(answer.location).text
    assert html.count("发出（非工作时间，R4）") == 1
    assert f'data-test="held">将于 周一 {goes[0].astimezone(SH):%H:%M} 发出（非工作时间，R4）<' in html
    assert "随公告一起发出" in html and "预计" not in html
    listed = client.get("/announcements").text  # the list says the same
    assert f'data-test="held">将于 周一 {goes[0].astimezone(SH):%H:%M} 发出（非工作时间，R4）<' in listed
