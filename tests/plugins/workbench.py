"""Fast workbench fixtures (Flask test client; the emulator over real HTTP exchanges
the OAuth codes), for page tests that need no browser.

- `wb_settings`: settings pointing at the emulator, admins=("zhangwei",), WECOM_ADMIN_TAG=1
  (wangfang, lina), sandbox mode.
- `wb`: the app on those settings, the directory mirror synced from the emulator.
- `make_wb_app(settings, engine, synced=True)`: another app (e.g. with `replace(wb_settings, ...)`).
- `login(client, sandbox_state, userid, next_url=None)`: /login then /auth/callback with a
  fresh emulator code; returns the callback's response.
- `as_user(wb, sandbox_state, userid="zhangwei")`: a test client logged in as `userid`.
- `rt(wb)`: the app's Runtime (sessions, settings, clock, client).
- `csrf_of(html)`: the CSRF token of a rendered workbench page, for POSTs.
- `issue_directive(runtime, userids, ...)`: a directive issued the way the API does it.

Demo people (wecom_app/sandbox/seed.py): zhangwei admin (WECOM_ADMINS); wangfang, lina admins
by tag; caoyang, hujie department leaders (issuers); zhuxia, gaoping employees; jiayun not
activated, weiqiang disabled, zhongwen left. Custodians: add a Group with custodian=<userid>.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from tests.conftest import make_settings
from tests.plugins.sandbox import CONTACT_SECRET
from wecom_app.app import Runtime, create_app


@pytest.fixture
def wb_settings(db_url, emulator_url):
    return make_settings(database_url=db_url, api_base=emulator_url, contact_secret=CONTACT_SECRET,
                         admins=("zhangwei",), admin_tag=1)


def make_wb_app(settings, engine, synced: bool = True):
    from wecom_app.directory.full_sync import full_sync

    runtime = Runtime(settings, engine=engine)
    if synced:
        full_sync(runtime.sessions, runtime.client, runtime.clock())
    app = create_app(settings, runtime=runtime)
    app.config["TESTING"] = True
    return app


@pytest.fixture
def wb(wb_settings, engine):
    return make_wb_app(wb_settings, engine)


def login(client, sandbox_state, userid: str, next_url: str | None = None):
    client.get("/login", query_string={"switch": 1, **({"next": next_url} if next_url else {})})
    with client.session_transaction() as s:
        state = s["oauth_state"]
    return client.get("/auth/callback", query_string={"code": sandbox_state.issue_oauth_code(userid), "state": state})


def as_user(wb, sandbox_state, userid: str = "zhangwei"):
    client = wb.test_client()
    login(client, sandbox_state, userid)
    return client


def rt(wb):
    return wb.extensions["wecom"]


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)


def issue_directive(runtime, userids, *, issuer: str = "zhangwei", title: str = "关于周五消防演练的通知",
                    body: str = "周五 15:00 全员参加消防演练，请提前安排工作。", require: str = "ack",
                    confidential: bool = False, hours: int = 24 * 14) -> int:
    """Issue a directive to `userids` (as POST /api/v1/directives does) and return its id.
    The tests run on the real clock: the deadline is two weeks out so that a run on a
    Friday evening or before 国庆 still has the cards go before it (a non-urgent
    directive whose cards would go after its deadline is refused)."""
    from wecom_app.directives import issue as directives

    now = runtime.clock()
    with runtime.sessions() as db:
        directive = directives.issue(db, runtime.settings, title=title, body=body, assignees={"users": list(userids)},
                                     deadline=now + timedelta(hours=hours), issuer=issuer, now=now,
                                     require=require, confidential=confidential)
        db.commit()
        return directive.id
