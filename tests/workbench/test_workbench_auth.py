"""Workbench login, sessions, CSRF and roles through the Flask test client, with the
emulator (over real HTTP) exchanging the OAuth codes: state checks, WeCom's code
errors, who may log in, `next`, cookie flags, ProxyFix, role checks, the picker."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from tests.conftest import replace
from tests.plugins.workbench import csrf_of, issue_directive, login, make_wb_app
from wecom_app.config import load_settings
from wecom_app.models import AuditEntry, DirectiveReceipt, Group, User
from wecom_app.workbench.access import Viewer, can_manage_group
from wecom_app.workbench.auth import safe_next


def _app(settings, engine, synced=True):
    return make_wb_app(settings, engine, synced)


def start(client) -> str:
    """GET /login and the state it put in the session."""
    client.get("/login")
    with client.session_transaction() as s:
        return s["oauth_state"]


def test_login_with_the_right_state_and_code_opens_a_session(wb, sandbox_state):
    client = wb.test_client()
    answer = login(client, sandbox_state, "zhangwei")
    assert answer.status_code == 302 and answer.location == "/"
    assert "张伟" in client.get("/").text
    with wb.extensions["wecom"].sessions() as db:
        assert db.scalar(select(AuditEntry).where(AuditEntry.action == "workbench.login")).actor == "zhangwei"


def test_state_mismatch_or_absent_is_refused_and_the_state_is_used_once(wb, sandbox_state):
    client = wb.test_client()
    state = start(client)
    code = sandbox_state.issue_oauth_code("zhangwei")
    wrong = client.get("/auth/callback", query_string={"code": code, "state": state[:-1] + "x"})
    assert wrong.status_code == 400 and "state 不匹配" in wrong.text
    again = client.get("/auth/callback", query_string={"code": code, "state": state})  # popped by the first try
    assert again.status_code == 400
    start(client)
    absent = client.get("/auth/callback", query_string={"code": sandbox_state.issue_oauth_code("zhangwei")})
    assert absent.status_code == 400
    with client.session_transaction() as s:
        assert "userid" not in s


def test_state_is_bound_to_the_browser_session(wb, sandbox_state):
    attacker, victim = wb.test_client(), wb.test_client()
    state = start(attacker)
    answer = victim.get("/auth/callback", query_string={"code": sandbox_state.issue_oauth_code("zhuxia"),
                                                        "state": state})
    assert answer.status_code == 400


def test_code_errors_40029_and_42022_are_a_clear_page(wb, sandbox_state, sandbox_clock):
    client = wb.test_client()
    state = start(client)
    unknown = client.get("/auth/callback", query_string={"code": "never-issued", "state": state})
    assert unknown.status_code == 400 and "登录码无效或已过期" in unknown.text and "Traceback" not in unknown.text
    code = sandbox_state.issue_oauth_code("zhuxia")
    assert client.get("/auth/callback", query_string={"code": code, "state": start(client)}).status_code == 302
    client.post("/logout", data={"csrf_token": csrf_of(client.get("/me").text)})
    reused = client.get("/auth/callback", query_string={"code": code, "state": start(client)})
    assert reused.status_code == 400 and "已被使用" in reused.text
    expired = sandbox_state.issue_oauth_code("zhuxia")
    sandbox_clock.advance(301)
    late = client.get("/auth/callback", query_string={"code": expired, "state": start(client)})
    assert late.status_code == 400 and "已过期" in late.text


@pytest.mark.parametrize("userid", ["jiayun", "weiqiang", "zhongwen"])  # not activated, disabled, left
def test_inactive_users_are_refused(wb, sandbox_state, userid):
    client = wb.test_client()
    answer = login(client, sandbox_state, userid)
    assert answer.status_code == 403 and "未激活/已停用" in answer.text
    assert client.get("/me").status_code == 302


def test_unknown_user_is_refused(wb, sandbox_state):
    with wb.extensions["wecom"].sessions() as db:
        db.delete(db.get(User, "zhuxia"))
        db.commit()
    assert login(wb.test_client(), sandbox_state, "zhuxia").status_code == 403


def test_a_user_who_leaves_after_login_is_logged_out(wb, sandbox_state):
    client = wb.test_client()
    login(client, sandbox_state, "zhuxia")
    assert client.get("/me").status_code == 200
    with wb.extensions["wecom"].sessions() as db:
        db.get(User, "zhuxia").status = 5
        db.commit()
    assert client.get("/me").status_code == 302


def test_external_visitors_with_only_an_openid_are_refused(wb, monkeypatch):
    client = wb.test_client()
    state = start(client)
    monkeypatch.setattr(type(wb.extensions["wecom"].client), "auth_getuserinfo",
                        lambda self, code: {"openid": "oAbc", "external_userid": "wmXyz"})
    answer = client.get("/auth/callback", query_string={"code": "c", "state": state})
    assert answer.status_code == 403 and "仅限本企业成员" in answer.text


@pytest.mark.parametrize("target, landed", [
    ("/me?x=1", "/me?x=1"), ("//evil.example/", "/"), ("https://evil.example/", "/"),
    ("/\\evil.example", "/"), ("javascript:alert(1)", "/"), ("/%0d%0aSet-Cookie:x", "/%0d%0aSet-Cookie:x"),
])
def test_next_is_only_ever_a_local_path(wb, sandbox_state, target, landed):
    answer = login(wb.test_client(), sandbox_state, "zhangwei", next_url=target)
    assert answer.status_code == 302 and answer.location == landed
    assert safe_next("/ok\x00") == "/"


def test_login_rotates_the_session(wb, sandbox_state):
    client = wb.test_client()
    with client.session_transaction() as s:
        s["planted"] = "by an attacker"
    login(client, sandbox_state, "zhuxia")
    with client.session_transaction() as s:
        assert "planted" not in s and s["userid"] == "zhuxia" and s.permanent


def test_posts_without_a_csrf_token_are_refused(wb, sandbox_state, sessions):
    directive_id = issue_directive(wb.extensions["wecom"], ["zhuxia"])
    client = wb.test_client()
    login(client, sandbox_state, "zhuxia")
    assert client.post(f"/directives/{directive_id}/act", data={"key": "ack"}).status_code == 400
    assert client.post("/logout").status_code == 400
    token = csrf_of(client.get("/me").text)
    assert client.post(f"/directives/{directive_id}/act", data={"key": "ack", "csrf_token": token}).status_code == 302
    with sessions() as db:
        receipt = db.scalar(select(DirectiveReceipt).where(DirectiveReceipt.directive_id == directive_id))
    assert receipt.status == "acknowledged" and receipt.ack_channel == "workbench"


def test_the_api_and_callbacks_stay_outside_csrf(wb):
    client = wb.test_client()
    assert client.post("/api/v1/groups", json={}).status_code == 401  # bearer auth, not a CSRF 400
    assert client.get("/healthz").status_code == 200
    assert client.post("/wecom/callback?msg_signature=x&timestamp=1&nonce=n", data=b"<xml/>").status_code == 403


def test_roles_are_checked_on_the_server(wb, sandbox_state):
    directive_id = issue_directive(wb.extensions["wecom"], ["zhuxia"], issuer="caoyang")
    employee = wb.test_client()
    login(employee, sandbox_state, "gaoping")
    assert employee.get("/").location == "/me"  # employees have no dashboard
    refused = employee.get(f"/directives/{directive_id}")  # not an assignee
    assert refused.status_code == 403 and "没有下达给你" in refused.text
    for userid in ("zhuxia", "caoyang", "zhangwei", "lina"):  # assignee, issuer, admin, admin by tag
        client = wb.test_client()
        login(client, sandbox_state, userid)
        assert client.get(f"/directives/{directive_id}").status_code == 200, userid
    admin = wb.test_client()
    login(admin, sandbox_state, "lina")
    page = admin.get("/")
    assert page.status_code == 200 and 'data-nav="audit"' in page.text


def test_roles_required_names_the_role_needed(wb, sandbox_state):
    from wecom_app.workbench.access import roles_required

    @roles_required("admin")
    def only_admins():
        return "ok"

    wb.add_url_rule("/_test/admin-only", view_func=only_admins)
    client = wb.test_client()
    login(client, sandbox_state, "zhuxia")
    answer = client.get("/_test/admin-only")
    assert answer.status_code == 403 and "办公室管理员" in answer.text
    login(client, sandbox_state, "zhangwei")
    assert client.get("/_test/admin-only").text == "ok"


def test_custodians_manage_only_their_groups(wb, sandbox_state):
    with wb.extensions["wecom"].sessions() as db:
        mine = Group(kind="internal", name="研发交流群", owner="caoyang", custodian="pengfei")
        other = Group(kind="internal", name="销售群", owner="hujie", custodian="hujie")
        db.add_all([mine, other])
        db.commit()
    client = wb.test_client()
    login(client, sandbox_state, "pengfei")
    page = client.get("/")
    assert page.status_code == 200 and 'data-nav="groups"' in page.text and 'data-nav="audit"' not in page.text
    viewer = Viewer("pengfei", "彭飞", frozenset({"employee", "custodian"}), frozenset({mine.id}))
    assert can_manage_group(viewer, mine) and not can_manage_group(viewer, other)
    admin = Viewer("zhangwei", "张伟", frozenset({"employee", "admin", "issuer"}))
    assert can_manage_group(admin, other)


def test_session_cookie_flags(wb_settings, engine, sandbox_state):
    for public_url, secure in (("http://127.0.0.1:8000", False), ("https://wecom.example.com", True)):
        app = _app(replace(wb_settings, public_url=public_url), engine, synced=False)
        client = app.test_client()
        cookie = client.get("/login", base_url=public_url).headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
        assert ("Secure" in cookie) is secure
    app = _app(wb_settings, engine, synced=False)
    assert app.permanent_session_lifetime == timedelta(hours=12)


def test_proxy_count_sets_up_proxyfix(wb_settings, engine):
    def seen():
        from flask import request

        return f"{request.remote_addr} {request.scheme}"

    headers = {"X-Forwarded-For": "198.51.100.7, 203.0.113.9", "X-Forwarded-Proto": "https"}
    results = {}
    for count in (0, 1, 2):
        app = _app(replace(wb_settings, proxy_count=count), engine, synced=False)
        app.add_url_rule("/_test/seen", view_func=seen)
        results[count] = app.test_client().get("/_test/seen", headers=headers,
                                               environ_base={"REMOTE_ADDR": "10.0.0.1"}).text
    # with 2 proxies a single X-Forwarded-Proto value is one hop short: not trusted
    assert results == {0: "10.0.0.1 http", 1: "203.0.113.9 https", 2: "198.51.100.7 http"}


def test_settings_for_sessions_proxies_and_the_admin_tag():
    good = dict(WECOM_CORP_ID="ww1", WECOM_AGENT_ID="1000002", WECOM_SECRET="s", WECOM_TOKEN="t",
                WECOM_AES_KEY="a" * 43, SECRET_KEY="x" * 32)
    settings = load_settings(good, env_file=None)
    assert (settings.session_hours, settings.proxy_count, settings.admin_tag) == (12, 0, None)
    settings = load_settings(dict(good, SESSION_HOURS="8", PROXY_COUNT="1", WECOM_ADMIN_TAG="3"), env_file=None)
    assert (settings.session_hours, settings.proxy_count, settings.admin_tag) == (8, 1, 3)
    with pytest.raises(Exception) as refused:
        load_settings(dict(good, SESSION_HOURS="0", PROXY_COUNT="-1", WECOM_ADMIN_TAG="admins"), env_file=None)
    assert [p.split(":")[0] for p in refused.value.problems] == ["WECOM_ADMIN_TAG", "SESSION_HOURS", "PROXY_COUNT"]


def test_the_picker_exists_only_in_sandbox_mode(wb_settings, engine, sandbox_state):
    sandbox = _app(wb_settings, engine).test_client()
    page = sandbox.get("/login")
    assert page.status_code == 200 and 'data-test="picker"' in page.text and 'data-userid="zhangwei"' in page.text
    link = re.search(r'href="([^"]+)" data-userid="zhuxia"', page.text).group(1).replace("&amp;", "&")
    query = parse_qs(urlsplit(link).query)
    assert link.startswith(wb_settings.api_base.removesuffix("cgi-bin/") + "connect/oauth2/authorize")
    assert query["redirect_uri"] == [f"{wb_settings.public_url}/auth/callback"] and query["userid"] == ["zhuxia"]

    production = _app(replace(wb_settings, sandbox=False), engine, synced=False).test_client()
    desktop = production.get("/login")
    assert "data-test=\"picker\"" not in desktop.text and "wwlogin/sso/login?login_type=CorpApp" in desktop.text
    assert "/sandbox" not in [r.rule for r in production.application.url_map.iter_rules()]
    inside = production.get("/login", headers={"User-Agent": "Mozilla/5.0 wxwork/4.1.22 MicroMessenger/7.0.1"})
    assert inside.status_code == 302
    target = urlsplit(inside.location)
    assert target.netloc == "open.weixin.qq.com" and target.fragment == "wechat_redirect"
    assert parse_qs(target.query)["scope"] == ["snsapi_base"]


def test_no_environment_variable_turns_the_sandbox_on():
    good = dict(WECOM_CORP_ID="ww1", WECOM_AGENT_ID="1000002", WECOM_SECRET="s", WECOM_TOKEN="t",
                WECOM_AES_KEY="a" * 43, SECRET_KEY="x" * 32)
    tries = {name: "1" for name in ("SANDBOX", "WECOM_SANDBOX", "sandbox", "WORKBENCH_PICKER", "DEBUG", "FLASK_DEBUG")}
    assert load_settings(dict(good, **tries), env_file=None).sandbox is False
