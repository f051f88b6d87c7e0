"""In a real browser at phone size: the people picker (issue 13 #1). An admin creates a
managed group choosing 群主 by typing part of a Chinese name, 专管人员 by initials with
the keyboard, one of two people called 李娜 told apart by department, and a whole
department through the tree; a chip is removed; the group is saved with exactly the
chosen userids."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from wecom_app.models import Group

pytestmark = pytest.mark.browser


def option(page, field: str, userid: str):
    return page.locator(f"[data-test=picker-{field}] [role=option][data-userid={userid}]")


def chips(page, field: str) -> list[str]:
    return page.locator(f"[data-test=picker-{field}] .wb-chip").evaluate_all("els => els.map(e => e.dataset.userid)")


def test_r7_people_are_chosen_by_name_initials_and_department_as_removable_chips(page, login_as, live_app, shot):
    login_as(page, "zhangwei")
    page.goto("/groups/new")
    page.fill("#name", "研发部-周会")
    page.locator("#owner").press_sequentially("曹")  # part of 曹阳
    option(page, "owner", "caoyang").click()
    assert chips(page, "owner") == ["caoyang"]

    page.locator("#custodian").press_sequentially("pf")  # 彭飞's initials, picked with the keyboard
    option(page, "custodian", "pengfei").wait_for()
    page.keyboard.press("Enter")
    assert chips(page, "custodian") == ["pengfei"]

    page.locator("#users").press_sequentially("娜")
    both = page.locator("[data-test=picker-users] [role=option]")
    both.nth(1).wait_for()
    assert "行政部 · 行政专员" in option(page, "users", "lina").inner_text()
    assert "华东销售组 · 销售代表" in option(page, "users", "lina2").inner_text()
    option(page, "users", "lina2").click()
    page.fill("#users", "")

    page.click("[data-test=picker-users] [data-test=browse]")
    page.click("[data-test=picker-users] [data-department='8']")
    page.click("[data-test=picker-users] [data-test=add-all]")
    page.locator("[data-test=picker-users] .wb-chip[data-userid=zenglin]").wait_for()
    chosen = chips(page, "users")
    assert chosen[0] == "lina2" and {"zenglin", "xiaojian"} <= set(chosen) and "jiayun" not in chosen
    shot(page, "picker-chips")
    page.click("[data-test=picker-users] .wb-chip[data-userid=xiaojian] .wb-chip__x")
    assert "xiaojian" not in chips(page, "users")

    page.click("[data-test=submit]")
    page.wait_for_url("**/groups/*")
    with live_app.runtime.sessions() as db:
        group = db.scalar(select(Group).where(Group.name == "研发部-周会"))
    assert (group.owner, group.custodian) == ("caoyang", "pengfei")
    assert group.scope["users"] == [u for u in chosen if u != "xiaojian"]
