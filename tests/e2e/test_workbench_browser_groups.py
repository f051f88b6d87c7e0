"""In a real browser: an admin creates a managed group through the form (a refused
name first, shown next to its field) and sees it become active once the outbox
has sent appchat/create (R7); a custodian is refused on another custodian's group
(R10); a custodian confirms a report and sees the sanction and the assessment
(R6, R15)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from wecom_app.models import Group, GroupMember, Violation
from wecom_app.scheduler import run_job

pytestmark = pytest.mark.browser


def add_groups(live_app) -> dict[str, int]:
    """pengfei looks after 研发交流群 (zhuxia out of scope, an R3 report on zenglin); hujie after 华东销售群."""
    with live_app.runtime.sessions() as db:
        mine = Group(kind="internal", name="研发交流群", owner="caoyang", custodian="pengfei", scope={"departments": [8]})
        other = Group(kind="internal", name="华东销售群", owner="hujie", custodian="hujie", scope={"departments": [6]})
        found = Group(kind="customer", name="", chat_id="wrOgQhDgAAbrowser0000000001", status="discovered")
        db.add_all([mine, other, found])
        db.flush()
        db.add_all([GroupMember(group_id=mine.id, member_id=u, compliance=c)
                    for u, c in (("pengfei", "ok"), ("zenglin", "ok"), ("zhuxia", "out_of_scope"))])
        report = Violation(rule="R3", userid="zenglin", group_id=mine.id, detected_by="report:xiaojian", status="open",
                           open_key=f"R3:zenglin:{mine.id}",
                           evidence={"text": "举报 @zenglin 研发交流群 在群里辱骂同事", "reporter": "xiaojian",
                                     "reason": "在群里辱骂同事"})
        db.add(report)
        db.commit()
        return dict(mine=mine.id, other=other.id, report=report.id)


def test_r7_admin_creates_a_managed_group_and_sees_it_active(page, login_as, live_app, shot):
    add_groups(live_app)
    login_as(page, "zhangwei")
    page.goto("/groups")
    shot(page, "groups-list")
    page.goto("/groups/register")
    assert page.locator("[data-test=discovered] [data-chat]").count() == 1
    shot(page, "groups-register")
    page.goto("/groups")
    page.click("[data-test=new-group]")
    page.fill("#name", "研发部-周会🙂")
    page.fill("#owner", "caoyang")
    page.fill("#custodian", "pengfei")
    page.select_option("#departments", ["8"])
    page.click("[data-test=submit]")
    assert "不能有表情符号" in page.locator('[data-error="name"]').inner_text()
    shot(page, "groups-new-errors")
    page.fill("#name", "研发部-周会")
    page.click("[data-test=submit]")
    page.wait_for_url("**/groups/*")
    assert "已提交创建「研发部-周会」" in page.content()
    assert page.locator('[data-test=group] [data-status="creating"]').is_visible()
    with live_app.runtime.sessions() as db:
        group = db.scalar(select(Group).where(Group.name == "研发部-周会"))
    run_job("outbox", live_app.runtime)  # the sender: appchat/create goes to the emulator, the group settles
    assert group.chat_id in live_app.state.appchats
    page.reload()
    assert page.locator('[data-test=group] [data-status="active"]').is_visible()
    assert page.locator("[data-test=members] [data-member=zenglin]").is_visible()
    shot(page, "group-detail-managed")
    page.goto("/groups?kind=managed")
    assert page.locator(f"[data-test=groups] [data-group='{group.id}']").is_visible()


def test_r10_custodian_is_refused_another_custodians_group(page, login_as, live_app, shot):
    ids = add_groups(live_app)
    login_as(page, "pengfei")
    page.goto("/groups")
    assert page.locator("[data-test=groups] [data-group]").count() == 1
    page.click(f"[data-group='{ids['mine']}']")
    assert page.locator("[data-test=members] [data-member=zhuxia] [data-status=out_of_scope]").is_visible()
    shot(page, "group-detail-custodian")
    answer = page.goto(f"/groups/{ids['other']}")
    assert answer.status == 403 and page.locator("[data-test=forbidden]").is_visible()
    assert "华东销售群" not in page.content()
    shot(page, "groups-forbidden")


def test_r6_custodian_confirms_a_report(page, login_as, live_app, shot):
    ids = add_groups(live_app)
    login_as(page, "pengfei")
    page.goto("/violations")
    shot(page, "violations-list")
    page.click(f"[data-test=violations] [data-violation='{ids['report']}']")
    assert "在群里辱骂同事" in page.locator("[data-test=evidence]").inner_text()
    shot(page, "violation-detail")
    page.check("input[name=decision][value=confirm]")
    page.fill("#text", "核实属实，予以警告。")
    page.click("[data-test=decide]")
    page.wait_for_url(f"**/violations/{ids['report']}")
    assert "已确认违规；处理：警告" in page.content()
    assert page.locator("[data-test=sanction]").inner_text() == "警告"
    assert "已记入" in page.locator("[data-test=assessment]").inner_text()
    shot(page, "violation-decided")
    with live_app.runtime.sessions() as db:
        violation = db.get(Violation, ids["report"])
    assert (violation.status, violation.sanction, violation.decided_by) == ("confirmed", "warning", "custodian:pengfei")
