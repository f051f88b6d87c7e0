"""Issue 5's "done when", in a real browser: on the sandbox with its demo data, each
role logs in through the picker and walks every page its menu offers, and every link
on those pages that stays inside the workbench: nothing answers with a server error,
nothing the role may not use is in its menu, and every page the menu hides is
refused (403) when typed in."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from wecom_app.sandbox.demo import seed_demo_data
from wecom_app.scheduler import run_job
from wecom_app.workbench.nav import NAV

pytestmark = pytest.mark.browser

ROLES = {  # a demo person per role (wecom_app/sandbox/demo.py, seed.py)
    "admin": "zhangwei",
    "custodian": "xuchao",
    "issuer": "caoyang",
    "employee": "zhuxia",
}


@pytest.fixture
def demo(live_app):
    seed_demo_data(live_app.runtime, live_app.state, live_app.app.extensions["wecom_pusher"])
    for job in ("inbox", "outbox"):
        run_job(job, live_app.runtime)
    return live_app


def _links(page) -> list[str]:
    hrefs = page.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))")
    inside = []
    for href in hrefs:
        parts = urlsplit(href)
        if parts.netloc or not parts.path.startswith("/") or parts.path.startswith(("/_wecom", "/sandbox", "/static")):
            continue
        if parts.path.endswith((".pdf", ".xlsx", ".csv")):  # downloads (receipt sheets, the audit CSV, templates)
            continue
        inside.append(href.split("#")[0])  # /help/rules#R4 and #R11 are one page (a second goto would not load)
    return list(dict.fromkeys(inside))


def _menu_for(live_app, userid: str) -> list[str]:
    from wecom_app.models import User
    from wecom_app.workbench.access import roles_of
    from wecom_app.workbench.nav import nav_for

    with live_app.runtime.sessions() as session:
        viewer = roles_of(session, live_app.runtime.settings, session.get(User, userid))
    return [item.href for item in nav_for(viewer)]


@pytest.mark.parametrize("role", sorted(ROLES))
def test_each_role_walks_every_page_of_its_menu_without_an_error(demo, page, login_as, shot, role):
    userid = ROLES[role]
    expected = _menu_for(demo, userid)
    login_as(page, userid)
    menu = page.eval_on_selector_all("[data-nav]", "els => els.map(e => e.getAttribute('href'))")
    assert menu == expected, (role, menu)
    assert len(menu) >= 2  # every role has more than one page to go to
    seen: set[str] = set()
    for start in menu:
        response = page.goto(start)
        assert response.status == 200, (role, start, response.status)
        shot(page, f"walk-{role}-{start.strip('/').replace('/', '-') or 'home'}")
        links = [h for h in _links(page) if h not in seen][:15]
        for href in links:
            seen.add(href)
            answer = page.goto(href)
            assert answer.status < 500, (role, start, href, answer.status)
    for href in (i.href for i in NAV if i.href not in menu):
        answer = page.goto(href)
        refused = answer.status == 403 or (href == "/" and urlsplit(page.url).path == "/me")
        assert refused, (role, href, answer.status, page.url)
