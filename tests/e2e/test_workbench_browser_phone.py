"""Issue 13 (#2, #3, #10) in a real browser at phone size (390×844): every page of
every role within two taps of the WeUI tab bar (更多 holding the rest), badges for
what waits on the person, lists as stacked cards with their key column on screen,
summary counts that filter, visible keyboard focus, AA contrast, labelled fields and
the favicon. The desktop keeps its full bar."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from tests.plugins.workbench import issue_directive
from wecom_app.models import Announcement, Group, GroupMember
from wecom_app.sandbox.demo import seed_demo_data
from wecom_app.scheduler import run_job

pytestmark = pytest.mark.browser

PHONE = 390
ROLES = {"admin": "zhangwei", "custodian": "xuchao", "issuer": "caoyang", "employee": "zhuxia"}
EXTERNAL = "wmOgQhDgAAexternal0123456789ab"  # an external_userid is about 30 characters
# the fields of a page that are neither labelled (<label for>, a wrapping label) nor named by aria-label
UNLABELLED = """() => [...document.querySelectorAll('input, select, textarea')]
  .filter(e => !['hidden', 'submit', 'button'].includes(e.type) && e.offsetParent !== null)
  .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
  .map(e => e.name || e.id)"""


@pytest.fixture
def demo(live_app):
    seed_demo_data(live_app.runtime, live_app.state, live_app.app.extensions["wecom_pusher"])
    for job in ("inbox", "outbox"):
        run_job(job, live_app.runtime)
    return live_app


def menu_of(live_app, userid: str) -> list:
    from wecom_app.models import User
    from wecom_app.workbench.access import roles_of
    from wecom_app.workbench.nav import nav_for

    with live_app.runtime.sessions() as db:
        return nav_for(roles_of(db, live_app.runtime.settings, db.get(User, userid)))


def within_viewport(page, locator) -> bool:
    box = locator.bounding_box()
    return box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE + 0.5


def no_sideways_scroll(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth") <= PHONE


@pytest.mark.parametrize("role", sorted(ROLES))
def test_every_page_of_each_role_is_within_two_taps_on_a_phone(demo, page, login_as, role):
    menu = menu_of(demo, ROLES[role])
    login_as(page, ROLES[role])
    landing = urlsplit(page.url).path
    tabs = page.locator("[data-test=tabbar] [data-tab]")
    assert page.locator("[data-test=tabbar]").is_visible() and not page.locator("[data-test=nav]").is_visible()
    assert 2 <= tabs.count() <= 5, role
    for i in range(tabs.count()):
        assert within_viewport(page, tabs.nth(i)), (role, i)
    for item in menu:
        page.goto(landing)
        tab = page.locator(f"[data-test=tabbar] a[href='{item.href}']")
        if tab.count():
            tab.click()  # one tap
        else:
            page.click("[data-test=tabbar] [data-tab=more]")  # two taps: 更多, then the entry
            page.click(f"[data-test=more] [data-more={item.key}]")
        page.wait_for_url(lambda url, href=item.href: urlsplit(url).path == href)
        assert no_sideways_scroll(page), (role, item.href)
        assert page.evaluate(UNLABELLED) == [], (role, item.href)
        active = "more" if not tab.count() else item.key
        assert page.locator(f"[data-test=tabbar] [data-tab={active}]").get_attribute("aria-current") == "page"


def test_the_tab_badge_counts_what_waits_on_the_person(page, login_as, live_app):
    first = issue_directive(live_app.runtime, ["zhuxia"])
    issue_directive(live_app.runtime, ["zhuxia"], title="关于填报年度培训计划的通知")
    login_as(page, "zhuxia")
    assert page.locator("[data-test=tabbar] [data-badge=me]").inner_text() == "2"
    page.click(f"[data-test=ack-{first}]")
    page.wait_for_url(f"**/directives/{first}")
    assert page.locator("[data-test=tabbar] [data-badge=me]").inner_text() == "1"


def test_r6_a_custodians_violations_and_join_requests_are_badged_under_their_tabs(demo, page, login_as):
    with demo.runtime.sessions.begin() as db:
        group = db.query(Group).filter_by(custodian="xuchao", kind="customer").first()
        db.add(GroupMember(group_id=group.id, member_id="zenglin", state="pending_approval"))
        group_id = group.id
    login_as(page, "xuchao")
    assert page.locator("[data-test=tabbar] [data-badge=groups]").inner_text() == "1"
    page.click("[data-test=tabbar] [data-tab=groups]")  # which group asks: on the list
    assert page.locator(f"[data-test=asking-{group_id}]").inner_text() == "待审批 1"
    assert int(page.locator("[data-test=tabbar] [data-badge=violations]").inner_text()) >= 1  # the demo's report


def test_the_desktop_keeps_the_full_bar(browser, live_app, login_as):
    context = browser.new_context(base_url=live_app.url, viewport={"width": 1280, "height": 800}, locale="zh-CN")
    page = context.new_page()
    login_as(page, "zhangwei")
    keys = page.locator("[data-test=nav] [data-nav]")
    assert keys.count() == len(menu_of(live_app, "zhangwei")) == 12
    assert all(keys.nth(i).is_visible() for i in range(keys.count()))
    assert not page.locator("[data-test=tabbar]").is_visible()
    context.close()


def add_group_with_findings(live_app) -> int:
    with live_app.runtime.sessions.begin() as db:
        group = Group(kind="customer", name="华东客户交流群（测试）", chat_id="wrOgQhDgAAphone000000000001",
                      owner="hujie", custodian="hujie", scope={"departments": [6]}, allow_external=False)
        db.add(group)
        db.flush()
        db.add_all([GroupMember(group_id=group.id, member_id=m, member_type=t, compliance=c)
                    for m, t, c in (("hujie", 1, "ok"), ("zhuxia", 1, "out_of_scope"), ("gaoping", 1, "bad_name"),
                                    ("pengfei", 1, "bad_name"), (EXTERNAL, 2, "external_not_allowed"))])
        return group.id


def test_the_member_list_is_stacked_cards_with_compliance_on_screen(page, login_as, live_app, shot):
    group_id = add_group_with_findings(live_app)
    login_as(page, "zhangwei")
    page.goto(f"/groups/{group_id}")
    rows = page.locator("[data-test=members] tbody tr")
    assert rows.count() == 5
    for i in range(rows.count()):
        assert within_viewport(page, rows.nth(i).locator("[data-test=compliance]")), i
        assert within_viewport(page, rows.nth(i).locator("td[data-card=name]")), i
    assert no_sideways_scroll(page)
    external = page.locator(f"tr[data-member='{EXTERNAL}'] td[data-card=name] [data-test=long-id]").first
    assert EXTERNAL not in external.locator("summary").inner_text()  # shortened …
    assert not external.locator("[data-test=full-id]").is_visible()
    external.locator("summary").click()  # … and the whole id on a tap
    assert external.locator("[data-test=full-id]").inner_text() == EXTERNAL
    assert within_viewport(page, external.locator("[data-test=full-id]"))
    shot(page, "phone-group-members-cards")


def test_a_summary_count_links_to_the_people_it_counts(page, login_as, live_app):
    group_id = add_group_with_findings(live_app)
    login_as(page, "zhangwei")
    page.goto(f"/groups/{group_id}")
    count = page.locator("[data-test=count-bad_name]")
    assert count.inner_text().split()[-1] == "2"
    count.click()
    page.wait_for_url("**?compliance=bad_name")
    shown = page.locator("[data-test=members] tbody tr")
    assert sorted(shown.evaluate_all("rs => rs.map(r => r.dataset.member)")) == ["gaoping", "pengfei"]
    page.click("[data-test=count-external_not_allowed]")
    page.wait_for_url("**?compliance=external_not_allowed")
    assert shown.evaluate_all("rs => rs.map(r => r.dataset.member)") == [EXTERNAL]


def test_r16_the_receipt_matrix_shows_done_and_reminders_on_a_phone(page, login_as, live_app, shot):
    directive_id = issue_directive(live_app.runtime, ["zhuxia", "gaoping", "pengfei"], require="completion")
    login_as(page, "zhangwei")
    page.goto(f"/directives/{directive_id}/receipts")
    rows = page.locator("[data-test=matrix] tbody tr")
    assert rows.count() == 3
    for i in range(3):
        for key in ("done", "reminders"):
            cell = rows.nth(i).locator(f"[data-test={key}]")
            assert cell.is_visible() and within_viewport(page, cell), (i, key)
    assert no_sideways_scroll(page)
    page.click("[data-test=count-queued], [data-test=count-delivered]")  # a count tile filters too
    assert "status=" in page.url
    shot(page, "phone-receipts-cards")


def test_r17_the_delivery_list_shows_why_on_a_phone_and_its_counts_filter(page, login_as, live_app):
    with live_app.runtime.sessions.begin() as db:
        db.add_all([Group(kind="managed", chat_id="companynotice", name="全员通知群", owner="wangfang", custodian="wangfang"),
                    Group(kind="internal", name="研发部-闲聊群", owner="caoyang", custodian="pengfei")])
    login_as(page, "zhangwei")
    page.goto("/announcements/new")
    for box in page.locator("[data-group] input").all():
        box.check()
    page.fill("#content", "本周五下午三点消防演练，请各位准时参加。")
    page.check("#urgent")
    page.click("[data-test=send]")
    page.wait_for_url("**/announcements/*")
    rows = page.locator("[data-test=deliveries] tbody tr")
    assert rows.count() == 2
    for i in range(2):
        assert within_viewport(page, rows.nth(i).locator("[data-test=why]"))
    assert no_sideways_scroll(page)
    page.click("[data-filter=unreachable]")
    page.wait_for_url("**?status=unreachable")
    assert rows.evaluate_all("rs => rs.map(r => r.dataset.status)") == ["unreachable"]
    with live_app.runtime.sessions() as db:
        assert db.query(Announcement).count() == 1


def test_every_form_field_is_tied_to_its_label(demo, page, login_as):
    login_as(page, "zhangwei")
    for path in ("/groups/new", "/groups/register", "/directives/new", "/announcements/new", "/reports", "/settings",
                 "/audit", "/assessments", "/violations/1", "/directives/1/receipts"):
        assert page.goto(path).status == 200, path
        assert page.evaluate(UNLABELLED) == [], path


def test_keyboard_focus_is_visible(page, login_as):
    login_as(page, "zhangwei")
    for _ in range(3):  # the logout button, then the links of the page
        page.keyboard.press("Tab")
        outline = page.evaluate("""() => { const s = getComputedStyle(document.activeElement);
            return [document.activeElement.tagName, s.outlineStyle, parseFloat(s.outlineWidth)] }""")
        assert outline[0] != "BODY" and outline[1] != "none" and outline[2] >= 2, outline


CONTRAST = """sel => { const el = document.querySelector(sel);
  const rgb = c => c.match(/[\\d.]+/g).map(Number);
  const lum = ([r, g, b]) => [r, g, b].map(v => v / 255).map(v => v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4)
    .reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
  let bg = el, back;
  while (bg) { back = rgb(getComputedStyle(bg).backgroundColor); if (back.length < 4 || back[3] > 0) break; bg = bg.parentElement; }
  if (!bg) back = [255, 255, 255];
  let fg = rgb(getComputedStyle(el).color);
  if (fg.length === 4) fg = [0, 1, 2].map(i => fg[i] * fg[3] + back[i] * (1 - fg[3]));
  const [a, b] = [lum(fg), lum(back.slice(0, 3))].sort((x, y) => y - x);
  return (a + 0.05) / (b + 0.05); }"""


def test_weui_green_and_the_hint_greys_meet_aa_contrast(page, login_as, live_app):
    add_group_with_findings(live_app)
    login_as(page, "zhangwei")
    page.goto("/groups")
    for selector in (".weui-btn_primary", ".wb-badge_green", ".wb-muted, .wb-item__meta", ".weui-cells__title",
                     "[data-test=tabbar] .weui-bar__item_on .weui-tabbar__label", ".weui-footer__text"):
        assert page.evaluate(CONTRAST, selector) >= 4.5, selector


def test_the_favicon_is_served(page, login_as):
    login_as(page, "zhuxia")
    icons = page.eval_on_selector_all("link[rel=icon]", "ls => ls.map(l => l.href)")
    assert len(icons) == 2
    svg, ico = (page.request.get(href) for href in icons)
    assert svg.status == 200 and svg.headers["content-type"].startswith("image/svg+xml") and b"<svg" in svg.body()
    assert ico.status == 200 and ico.body()[:4] == b"\x00\x00\x01\x00"  # an ICO header
