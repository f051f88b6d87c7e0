"""In a real browser: an employee reads a directive (a confidential body only after
login, R12) and acknowledges it on 我的待办; the receipt records the workbench
channel; people it was not sent to are refused."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.plugins.workbench import issue_directive
from wecom_app.models import DirectiveReceipt

pytestmark = pytest.mark.browser


def receipt(live_app, directive_id, userid):
    with live_app.runtime.sessions() as db:
        return db.scalar(select(DirectiveReceipt).where(DirectiveReceipt.directive_id == directive_id,
                                                        DirectiveReceipt.userid == userid))


def test_r16_employee_acknowledges_on_my_todo(page, login_as, live_app, shot):
    directive_id = issue_directive(live_app.runtime, ["zhuxia", "gaoping"])
    login_as(page, "zhuxia")
    todo = page.locator(f"[data-test=todo] [data-directive='{directive_id}']")
    assert "关于周五消防演练的通知" in todo.inner_text()
    shot(page, "me-todo")
    page.click(f"[data-test=ack-{directive_id}]")
    page.wait_for_url(f"**/directives/{directive_id}")
    assert "已确认收到" in page.content()
    assert "工作台" in page.locator("[data-test=ack-at]").inner_text()
    shot(page, "directive-acknowledged")
    row = receipt(live_app, directive_id, "zhuxia")
    assert row.status == "acknowledged" and row.ack_channel == "workbench"
    page.goto("/me")
    assert page.locator(f"[data-test=done] [data-directive='{directive_id}']").is_visible()
    assert receipt(live_app, directive_id, "gaoping").status == "queued"


def test_r12_confidential_body_shows_only_after_login(page, login_as, live_app, shot):
    secret = "机密：第三季度价格调整方案见附件，不得外传。"
    directive_id = issue_directive(live_app.runtime, ["zhuxia"], title="价格调整（机密）", body=secret,
                                   confidential=True, require="completion")
    page.goto(f"/directives/{directive_id}")  # the card's link, not logged in yet
    assert "/login" in page.url and secret not in page.content()
    login_as(page, "zhuxia")  # back to the directive after login (next=)
    assert page.url.endswith(f"/directives/{directive_id}")
    assert page.locator("[data-test=body]").inner_text() == secret
    shot(page, "directive-confidential")
    page.click("[data-test=done]")
    page.wait_for_url(f"**/directives/{directive_id}")
    row = receipt(live_app, directive_id, "zhuxia")
    assert row.status == "completed" and row.complete_channel == "workbench"


def test_non_assignee_is_refused_and_the_issuer_sees_the_manage_link(page, login_as, live_app, shot):
    directive_id = issue_directive(live_app.runtime, ["zhuxia"], issuer="caoyang", body="研发部内部事项")
    login_as(page, "gaoping")
    page.goto(f"/directives/{directive_id}")
    assert page.locator("[data-test=forbidden]").is_visible() and "研发部内部事项" not in page.content()
    shot(page, "forbidden")
    login_as(page, "caoyang")
    page.goto(f"/directives/{directive_id}")
    assert page.locator("[data-test=manage]").is_visible()
    assert page.locator("[data-test=my-receipt]").count() == 0  # the issuer is not an assignee


# -- the issuer's side: compose, the live receipt matrix, the receipt sheet; announcements ------------------------

def count_of(page, status: str) -> int:
    return int(page.locator(f"[data-test=count-{status}]").inner_text())


def test_r16_admin_issues_sees_the_matrix_change_and_exports_the_sheet(page, login_as, live_app, shot):
    from wecom_app.models import DirectiveBatch
    from wecom_app.scheduler import run_job

    login_as(page, "zhangwei")
    page.goto("/directives")
    shot(page, "directives-empty")
    page.click("[data-test=new-directive]")
    page.fill("#title", "关于周五消防演练的通知")
    page.fill("#body", "周五 15:00 全员参加消防演练，请提前安排工作。")
    page.fill("#users", "zhuxia gaoping linfeng")  # typed userids, sent as typed (the picker's fallback)
    page.check("#urgent")
    shot(page, "directive-compose")
    page.click("[data-test=issue]")
    page.wait_for_url("**/receipts")
    directive_id = int(page.locator("[data-test=matrix-head]").get_attribute("data-directive"))
    assert count_of(page, "queued") == 3

    run_job("outbox", live_app.runtime)  # urgent: the cards go out at once
    with live_app.runtime.sessions() as db:
        task_id = db.scalar(select(DirectiveBatch.task_id).where(DirectiveBatch.directive_id == directive_id))
    pushed = live_app.app.extensions["wecom_pusher"].push(live_app.state.click("zhuxia", task_id, "ack"))
    assert pushed.status_code == 200  # zhuxia presses 收到 on the card
    run_job("inbox", live_app.runtime)
    run_job("outbox", live_app.runtime)

    employee = page.context.browser.new_context(base_url=live_app.url, viewport={"width": 390, "height": 844})
    other = employee.new_page()
    login_as(other, "gaoping")  # and gaoping on 我的待办
    other.click(f"[data-test=ack-{directive_id}]")
    other.wait_for_url(f"**/directives/{directive_id}")
    employee.close()

    page.reload()
    assert count_of(page, "acknowledged") == 2 and count_of(page, "delivered") == 1
    assert "67%" in page.locator("[data-test=ack-rate]").inner_text()
    assert page.locator("tr[data-userid=zhuxia]").get_attribute("data-status") == "acknowledged"
    assert "消息卡片" in page.locator("tr[data-userid=zhuxia]").inner_text()
    assert "工作台" in page.locator("tr[data-userid=gaoping]").inner_text()
    shot(page, "directive-matrix")
    assert row_status(live_app, directive_id, "gaoping") == "acknowledged"

    with page.expect_download() as download:
        page.click("[data-test=export-pdf]")
    path = download.value.path()
    with open(path, "rb") as sheet:
        assert sheet.read(5) == b"%PDF-"
    assert download.value.suggested_filename == f"directive-{directive_id}-receipts.pdf"

    page.click("[data-test=remind]")
    assert "已提醒 1 人：已发出" in page.locator(".wb-flash").inner_text()
    page.goto("/directives")
    assert "2/3 已收到" in page.locator(f"[data-directive='{directive_id}']").inner_text()
    shot(page, "directives-list")


def row_status(live_app, directive_id, userid):
    return receipt(live_app, directive_id, userid).status


def test_r17_admin_sends_an_announcement_and_sees_each_group(page, login_as, live_app, shot):
    from wecom_app.models import Group
    from wecom_app.scheduler import run_job

    with live_app.runtime.sessions.begin() as db:
        managed = Group(kind="managed", chat_id="companynotice", name="全员通知群", owner="wangfang", custodian="wangfang")
        plain = Group(kind="internal", name="研发部-闲聊群", owner="caoyang", custodian="pengfei")
        db.add_all([managed, plain])
        db.flush()
        ids = managed.id, plain.id
    login_as(page, "zhangwei")
    page.goto("/announcements")
    shot(page, "announcements-empty")
    page.click("[data-test=new-announcement]")
    for group_id in ids:
        page.check(f"[data-group='{group_id}'] input")
    page.fill("#content", "本周五下午三点消防演练，请各位准时参加。")
    page.check("#urgent")
    shot(page, "announcement-compose")
    page.click("[data-test=send]")
    page.wait_for_url("**/announcements/*")
    assert "研发部-闲聊群" in page.locator("[data-test=unreachable]").inner_text()
    run_job("outbox", live_app.runtime)
    page.reload()
    assert page.locator(f"tr[data-group='{ids[0]}']").get_attribute("data-status") == "sent"
    shot(page, "announcement-detail")
