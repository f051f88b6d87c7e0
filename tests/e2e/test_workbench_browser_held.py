"""Issue 13's "done when" for items 4 and 5, in a real browser at phone size (390×844):
on a Saturday evening the issuer's 立即提醒 says whom it reminds and when the held
reminder goes (R4), and a second tap — from a page opened before the first — is
refused with when the last one goes, with one reminder queued (R16)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from tests.plugins.workbench import issue_directive
from wecom_app.models import DirectiveBatch
from wecom_app.scheduler import run_job
from wecom_app.wecom import outbox

pytestmark = pytest.mark.browser

SH = ZoneInfo("Asia/Shanghai")
FRIDAY_10 = datetime(2026, 3, 6, 10, 0, tzinfo=SH)
SATURDAY_20 = datetime(2026, 3, 7, 20, 0, tzinfo=SH)
MONDAY_9 = datetime(2026, 3, 9, 9, 0, tzinfo=SH)


def test_r4_r16_a_held_reminder_shows_its_send_time_and_a_double_tap_is_refused(page, login_as, live_app, shot):
    runtime = live_app.runtime
    runtime.clock = lambda: FRIDAY_10
    directive_id = issue_directive(runtime, ["zhuxia", "gaoping", "linfeng"], issuer="caoyang")
    run_job("outbox", runtime)  # the cards are delivered on Friday
    runtime.clock = lambda: SATURDAY_20
    monday = f"周一 {MONDAY_9 + outbox.hold_jitter(directive_id):%H:%M}"

    login_as(page, "caoyang")
    matrix = f"/directives/{directive_id}/receipts"
    page.goto(matrix)
    stale = page.context.new_page()  # the same person's second tap, before the first one's answer
    stale.goto(matrix)
    button = page.locator("[data-test=remind]")
    assert button.inner_text() == f"提醒 3 人 · {monday} 发出"
    held = page.locator("[data-test=remind-held]")
    assert held.inner_text() == f"将于 {monday} 发出（非工作时间，R4）" and held.is_visible()
    assert button.bounding_box()["x"] + button.bounding_box()["width"] <= 390  # on the phone's screen
    shot(page, "held-remind-before")

    with page.expect_navigation():
        button.click()
    assert f"已提醒 3 人：将于 {monday} 发出（非工作时间，R4）" in page.locator(".wb-flash").inner_text()
    assert page.locator("[data-test=remind]").is_disabled() and page.locator("[data-test=remind]").inner_text() == "已提醒"
    assert page.locator("[data-userid=gaoping] [data-test=reminder-goes]").inner_text() == \
        f"将于 {monday} 发出（非工作时间，R4）"
    assert f"3 人刚提醒过（将于 {monday} 发出）" in page.locator("[data-test=remind-waiting]").inner_text()
    shot(page, "held-remind-sent")

    with stale.expect_navigation():
        stale.locator("[data-test=remind]").click()
    refused = stale.locator(".wb-flash").inner_text()
    assert refused.startswith(f"刚提醒过，不重复提醒：上一次提醒将于 {monday} 发出")
    shot(stale, "held-remind-refused")
    with runtime.sessions() as db:
        assert db.scalar(select(func.count()).select_from(DirectiveBatch).where(
            DirectiveBatch.directive_id == directive_id, DirectiveBatch.kind == "reminder")) == 1
