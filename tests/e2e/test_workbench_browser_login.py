"""In a real browser: each role logs in through the sandbox picker, the emulator's
OAuth page and the real callback, and sees its own navigation; a forged or absent
state is refused; logout ends the session."""

from __future__ import annotations

import pytest

from wecom_app.models import Group

pytestmark = pytest.mark.browser


def nav_keys(page) -> list[str]:
    return page.locator("[data-test=nav] [data-nav]").evaluate_all("els => els.map(e => e.dataset.nav)")


def test_admin_logs_in_and_sees_every_menu(page, login_as, shot):
    login_as(page, "zhangwei")
    assert page.url.endswith("/")
    assert page.locator("[data-test=dashboard]").is_visible()
    assert nav_keys(page) == ["home", "me", "reports", "groups", "violations", "directives", "announcements",
                              "assessments", "settings", "audit", "digest", "help"]
    shot(page, "dashboard-admin")


def test_admin_by_tag_is_an_admin(page, login_as):
    login_as(page, "wangfang")  # in tag 1 (应用管理员), WECOM_ADMIN_TAG=1 in the sandbox
    assert "audit" in nav_keys(page)


def test_custodian_sees_their_group_pages_and_announcements(page, login_as, live_app, shot):
    with live_app.runtime.sessions() as db:
        db.add(Group(kind="internal", name="研发交流群", owner="caoyang", custodian="pengfei"))
        db.commit()
    login_as(page, "pengfei")
    assert page.locator("[data-test=dashboard]").is_visible()
    assert nav_keys(page) == ["home", "me", "reports", "groups", "violations", "announcements", "help"]
    shot(page, "dashboard-custodian")


def test_employee_lands_on_my_todo(page, login_as, shot):
    login_as(page, "zhuxia")
    assert page.url.endswith("/me")
    assert nav_keys(page) == ["me", "reports", "help"]
    assert page.locator("[data-test=empty]").first.is_visible()
    page.goto("/")
    assert page.url.endswith("/me")  # employees have no dashboard
    shot(page, "me-empty")


def test_picker_groups_people_by_role(page, shot):
    page.goto("/login")
    assert page.locator('[data-role=admin] a[data-userid="zhangwei"]').is_visible()
    assert page.locator('[data-role=admin] a[data-userid="lina"]').is_visible()
    assert page.locator('[data-role=issuer] a[data-userid="caoyang"]').is_visible()  # 研发部 leader
    assert page.locator('[data-role=employee] a[data-userid="zhuxia"]').is_visible()
    assert page.locator('a[data-userid="jiayun"]').count() == 0  # not activated: cannot log in
    shot(page, "login-picker")


def test_a_bad_or_absent_state_is_refused(page, live_app):
    page.goto("/login")  # a state in this browser's session
    code = live_app.state.issue_oauth_code("zhangwei")
    page.goto(f"/auth/callback?code={code}&state=forged0123456789")
    assert page.locator("[data-test=login-refused]").is_visible()
    assert "state 不匹配" in page.content()
    page.goto(f"/auth/callback?code={live_app.state.issue_oauth_code('zhangwei')}")
    assert page.locator("[data-test=login-refused]").is_visible()
    page.goto("/me")
    assert "/login" in page.url


def test_logout_ends_the_session(page, login_as):
    login_as(page, "zhuxia")
    page.click("[data-test=logout]")
    page.wait_for_url("**/login?out=1")
    page.goto("/me")
    assert "/login" in page.url
