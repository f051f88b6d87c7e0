"""In a real browser at phone size (issue 13 item 6's "done when"): an admin edits a managed
group's scope, adding a department and excluding two people with the people picker, sees
the preview of who will be added and who removed (names with departments), confirms, and
the change reaches WeCom through the outbox as one appchat/update (R9, R11)."""

from __future__ import annotations

import pytest

from wecom_app.governance import registry
from wecom_app.scheduler import run_job

pytestmark = pytest.mark.browser

RD, HUADONG = 8, 6


def managed_group(live_app) -> tuple[int, str]:
    """研发部-周会: a managed group of 研发部, created in the emulator and active."""
    rt = live_app.runtime
    with rt.sessions.begin() as db:
        group = registry.create_managed_group(db, rt.settings, name="研发部-周会", owner="caoyang", custodian="pengfei",
                                              scope={"departments": [RD]}, allow_external=False, join_policy="auto",
                                              actor="zhangwei", now=rt.clock())
        ids = group.id, group.chat_id
    run_job("outbox", rt)
    with rt.sessions.begin() as db:
        registry.settle_created_groups(db, rt.clock())
    return ids


def pick(page, field: str, typed: str, userid: str) -> None:
    page.locator(f"#{field}").press_sequentially(typed)
    page.locator(f"[data-test=picker-{field}] [role=option][data-userid={userid}]").click()
    page.fill(f"#{field}", "")


def test_r9_admin_edits_a_groups_scope_with_a_preview_on_a_phone(page, login_as, live_app, shot):
    group_id, chat_id = managed_group(live_app)
    assert "zenglin" in live_app.state.appchats[chat_id]["userlist"]
    login_as(page, "zhangwei")
    page.goto(f"/groups/{group_id}")
    page.click("[data-test=edit-group]")
    page.select_option("#departments", [str(RD), str(HUADONG)])
    pick(page, "exclude", "娜", "lina2")  # one of two people called 李娜: the one in 华东销售组
    pick(page, "exclude", "曾琳", "zenglin")
    page.click("[data-test=submit]")

    preview = page.locator("[data-test=preview]")
    preview.wait_for()
    added, removed = page.locator("[data-test=added]"), page.locator("[data-test=removed]")
    assert "胡杰 华东销售组" in added.locator("[data-userid=hujie]").inner_text()
    assert added.locator("[data-userid=lina2]").count() == 0
    assert removed.locator("li").evaluate_all("els => els.map(e => e.dataset.userid)") == ["zenglin"]
    assert "曾琳 研发部" in removed.inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing off-screen on a phone
    shot(page, "group-edit-preview")
    assert "hujie" not in live_app.state.appchats[chat_id]["userlist"]  # the preview changed nothing

    page.click("[data-test=confirm]")
    page.wait_for_url(f"**/groups/{group_id}")
    assert "appchat/update" in page.content()
    run_job("outbox", live_app.runtime)
    userlist = live_app.state.appchats[chat_id]["userlist"]
    assert "hujie" in userlist and "zenglin" not in userlist and "lina2" not in userlist
    page.reload()
    assert "华东销售组" in page.locator("[data-test=scope]").inner_text()
    shot(page, "group-edited")
