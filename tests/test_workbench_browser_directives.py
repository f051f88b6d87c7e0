"""In a real browser: an employee reads a directive (a confidential body only after
login, R12) and acknowledges it on 我的待办; the receipt records the workbench
channel; people it was not sent to are refused."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.plugins.workbench import issue_directive
from wecom_app.directives_models import DirectiveReceipt

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
