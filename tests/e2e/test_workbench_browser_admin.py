"""In a real browser, as the office admin: 考核 for a month with a record linked to
its violation (R15), 设置 where a 调休 override added in the form shows at once in
the 14-day strip and goes again when removed (R4), and 审计 listing both in words, then one person picked by name with its CSV link (R6)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from wecom_app.models import Assessment

pytestmark = pytest.mark.browser


def test_admin_walks_assessments_settings_and_audit(page, login_as, live_app, shot):
    runtime = live_app.runtime
    now = runtime.clock()
    month = now.astimezone(runtime.settings.tz).strftime("%Y-%m")
    with runtime.sessions() as db:
        db.add(Assessment(month=month, userid="zhuxia", department_id=6, source="violation", source_id=1,
                          rule="R3", note="群内辱骂同事（已确认）", at=now - timedelta(minutes=5)))
        db.commit()
    login_as(page, "zhangwei")

    page.click("[data-tab=more]")  # on a phone: 更多, then the page (issue 13 #3)
    page.click("[data-more=assessments]")
    page.wait_for_url("**/assessments")
    rows = page.locator("[data-test=rows]")
    assert "朱霞" in rows.inner_text() and "群内辱骂同事" in rows.inner_text()
    assert page.locator("[data-test=rows] a[href='/violations/1']").is_visible()
    page.select_option("#department", "5")  # 销售部 includes 华东销售组
    page.click("[data-test=apply]")
    assert "销售部" in page.locator("[data-test=export]").inner_text()
    shot(page, "assessments")

    page.click("[data-tab=more]")  # on a phone: 更多, then the page (issue 13 #3)
    page.click("[data-more=settings]")
    page.wait_for_url("**/settings")
    day = page.locator("[data-test=strip] [data-workday=yes]").first.get_attribute("data-day")
    page.fill("#day", day)
    page.select_option("#kind", "holiday")
    page.fill("#note", "公司周年庆")
    page.click("[data-test=add-override]")
    page.wait_for_url("**/settings#calendar")
    cell = page.locator(f"[data-test=strip] [data-day='{day}']")
    assert cell.get_attribute("data-workday") == "no" and cell.get_attribute("data-override") == "yes"
    assert "公司周年庆" in page.locator("[data-test=overrides]").inner_text()
    page.evaluate("window.scrollTo(0, 0)")
    shot(page, "settings")
    page.click(f"[data-test=delete-{day}]")  # and back: the day follows the calendar again
    page.wait_for_url("**/settings#calendar")
    assert cell.get_attribute("data-workday") == "yes" and cell.get_attribute("data-override") is None

    page.click("[data-tab=more]")  # on a phone: 更多, then the page (issue 13 #3)
    page.click("[data-more=audit]")
    page.wait_for_url("**/audit")
    page.click("[data-test=families] a:has-text('日历')")  # the quick filter: action=calendar.
    page.wait_for_url("**/audit?action=calendar.*")
    assert page.locator("#action").input_value() == "calendar."  # the (folded) filter holds what is applied
    entries = page.locator("[data-test=entries]").inner_text()
    assert f"日期 {day}" in entries and "设置调休" in entries and "删除调休" in entries  # in words (issue 13 #7)
    assert "张伟（zhangwei）" in entries and "calendar.override.set" not in entries
    assert page.locator("[data-test=export-csv]").get_attribute("href") == "/audit.csv?action=calendar."
    page.goto("/audit")  # by person, picked by part of the name as everywhere (issue 13 #7)
    page.click(".wb-filter summary")
    page.locator("#person").press_sequentially("张")
    page.locator("[data-test=picker-person] [role=option][data-userid=zhangwei]").click()
    page.click("[data-test=apply]")
    page.wait_for_url("**/audit?*person=zhangwei*")
    actors = page.locator("[data-test=entries] .wb-item__meta").all_inner_texts()
    assert actors and all("张伟（zhangwei）" in a for a in actors)
    assert "person=zhangwei" in page.locator("[data-test=export-csv]").get_attribute("href")
    shot(page, "audit-person")
    shot(page, "audit")
