"""Who is looking: login (WeCom OAuth2 in the client, Web login on a desktop, a user
picker in the sandbox only) and the session; the roles every page checks are
computed in workbench/access.py.

OAuth2 in WeCom: document/path/91022 (authorize, `snsapi_base`), 91023
(auth/getuserinfo: a code is single use, 42022, and lives 5 minutes, 40029).
Web login (QR): 98171. Both come back to `/auth/callback?code=&state=`; `state`
is a random value bound to this browser's session, compared in constant time
and used once. The code is exchanged on the server; the browser only ever holds
our own signed session cookie with the userid.

Roles are computed on every request from the directory mirror and the group
registry (`current_user()`), so a change in WeCom (a departure, a new tag member,
a custodian handed over) takes effect at the next click, not at the next login.

Sessions are revocable (session_generations.py): the cookie carries the person's
session generation from login, and every request compares it with the server's
(one primary-key read). Logging out bumps it, which ends that person's sessions on
every device; so do an admin's 强制下线 (`POST /settings/sessions/revoke`) and the
directory when the person leaves or is disabled. A cookie without a generation (made
before this check existed) is refused: one more login.
"""

from __future__ import annotations

import logging
import secrets
from urllib.parse import urlencode, urlsplit

from flask import g, redirect, render_template, request, session, url_for
from sqlalchemy import select

from wecom_app import session_generations
from wecom_app.audit import audit
from wecom_app.labels import ROLE_NAMES
from wecom_app.logs import kv
from wecom_app.models import User
from wecom_app.models.directory import STATUS_ACTIVE
from wecom_app.wecom.errors import WeComError
from wecom_app.workbench.access import ROLES, current_user, roles_of
from wecom_app.workbench.blueprint import bp, runtime

log = logging.getLogger("wecom.workbench")

AUTHORIZE_URL = "https://open.weixin.qq.com/connect/oauth2/authorize"
WEB_LOGIN_URL = "https://login.work.weixin.qq.com/wwlogin/sso/login"
# WeCom's errcodes a login can meet, in words for the person at the door
CODE_ERRORS = {
    40029: "登录码无效或已过期（5 分钟内有效），请重新登录。",
    42022: "登录码已被使用过，请重新登录。",
}


# -- login -----------------------------------------------------------------------------------------

def safe_next(value: str | None) -> str:
    """Only a local path: `/x?y`. Never `//host`, `/\\host`, a scheme or a host."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or any(ord(c) < 32 for c in value):
        return "/"
    return value


def _new_state() -> str:
    """A fresh state for one login attempt (WeCom allows a-zA-Z0-9, ≤128 bytes)."""
    state = secrets.token_hex(16)
    session["oauth_state"] = state
    session["oauth_next"] = safe_next(request.args.get("next"))
    return state


def _redirect_uri(settings) -> str:
    return f"{settings.public_url}/auth/callback"


def oauth_url(settings, state: str) -> str:
    query = urlencode(dict(appid=settings.corp_id, redirect_uri=_redirect_uri(settings), response_type="code",
                           scope="snsapi_base", state=state, agentid=settings.agent_id))
    return f"{AUTHORIZE_URL}?{query}#wechat_redirect"


def web_login_url(settings, state: str) -> str:
    query = urlencode(dict(login_type="CorpApp", appid=settings.corp_id, agentid=settings.agent_id,
                           redirect_uri=_redirect_uri(settings), state=state, lang="zh"))
    return f"{WEB_LOGIN_URL}?{query}"


def picker_url(settings, userid: str, state: str) -> str:
    """The emulator's authorize stand-in (sandbox only): it redirects back with a real one-time code."""
    emulator = settings.api_base.removesuffix("/").removesuffix("/cgi-bin")
    query = urlencode(dict(userid=userid, redirect_uri=_redirect_uri(settings), state=state))
    return f"{emulator}/connect/oauth2/authorize?{query}"


@bp.get("/login")
def login():
    settings = runtime().settings
    if current_user() is not None and not request.args.get("switch"):
        return redirect(safe_next(request.args.get("next")))
    state = _new_state()
    if settings.sandbox:  # code-only flag: no environment variable sets it
        return _picker(settings, state)
    if "wxwork" in request.headers.get("User-Agent", "").lower():
        return redirect(oauth_url(settings, state))
    return render_template("workbench/login.html", web_login=web_login_url(settings, state))


def _picker(settings, state: str):
    """Sandbox: the demo company's people grouped by role, each through the emulator's OAuth."""
    groups = {role: [] for role in ROLES}
    with runtime().sessions() as db:
        for user in db.scalars(select(User).where(User.status == STATUS_ACTIVE).order_by(User.userid)):
            viewer = roles_of(db, settings, user)
            main = next(r for r in ROLES if r in viewer.roles)
            groups[main].append((viewer, picker_url(settings, user.userid, state)))
    return render_template("workbench/picker.html", groups=groups, role_names=ROLE_NAMES,
                           admins=settings.admins, admin_tag=settings.admin_tag)


@bp.get("/auth/callback")
def callback():
    rt = runtime()
    expected, next_url = session.pop("oauth_state", None), session.pop("oauth_next", "/")
    given = request.args.get("state", "")
    if not expected or not given or not secrets.compare_digest(given.encode(), expected.encode()):
        log.warning(kv("wecom.workbench.login_refused", reason="state"))
        return _refused("登录请求已失效或不是从本页面发起的（state 不匹配），请重新登录。", 400)
    code = request.args.get("code", "")
    if not code or len(code) > 512:
        return _refused("没有收到企业微信的登录码，请重新登录。", 400)
    try:
        identity = rt.client.auth_getuserinfo(code)
    except WeComError as exc:
        log.warning(kv("wecom.workbench.login_refused", reason="getuserinfo", errcode=exc.errcode))
        message = CODE_ERRORS.get(exc.errcode, "暂时无法向企业微信确认你的身份，请稍后重试。")
        return _refused(message, 400 if exc.errcode in CODE_ERRORS else 502)
    userid = (identity.get("userid") or "").lower()
    if not userid:  # an openid / external_userid: not a member of this company
        log.warning(kv("wecom.workbench.login_refused", reason="not_member"))
        return _refused("仅限本企业成员使用：企业微信未确认你是本企业的成员。", 403)
    with rt.sessions() as db:
        user = db.get(User, userid)
        if user is None or user.status != STATUS_ACTIVE:
            log.warning(kv("wecom.workbench.login_refused", reason="not_active", userid=userid))
            return _refused("你的账号不在通讯录中或未激活/已停用，无法使用工作台。如有疑问请联系办公室。", 403)
        viewer = roles_of(db, rt.settings, user)
        audit(db, userid, "workbench.login", f"user:{userid}", now=rt.clock(), roles=sorted(viewer.roles))
        generation = session_generations.current(db, userid)
        db.commit()
    session.clear()  # a new session for a new login: nothing from before survives (fixation)
    session.permanent = True
    session["userid"] = userid
    session["generation"] = generation
    log.info(kv("wecom.workbench.login", userid=userid))
    g.pop("viewer", None)
    return redirect(safe_next(next_url))


def _refused(message: str, status: int):
    return render_template("workbench/login_refused.html", message=message), status


@bp.post("/logout")
def logout():
    """Ends this person's sessions everywhere (the generation is per person): a copy of the
    cookie, or the same person logged in on another device, is logged out too."""
    viewer = current_user()
    if viewer is not None:
        rt = runtime()
        with rt.sessions() as db:
            session_generations.bump(db, viewer.userid, now=rt.clock())
            audit(db, viewer.userid, "workbench.logout", f"user:{viewer.userid}", now=rt.clock())
            db.commit()
        log.info(kv("wecom.workbench.logout", userid=viewer.userid))
    session.clear()
    g.pop("viewer", None)
    return redirect(url_for("workbench.login", out=1))
