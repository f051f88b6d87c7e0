"""Who is looking: login (WeCom OAuth2 in the client, Web login on a desktop, a user
picker in the sandbox only), the session, and the roles every page checks.

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

import dataclasses
import functools
import logging
import secrets
from urllib.parse import urlencode, urlsplit

from flask import g, redirect, render_template, request, session, url_for
from sqlalchemy import select

from wecom_app import session_generations
from wecom_app.audit import audit
from wecom_app.logs import kv
from wecom_app.models import Department, Group, TagMember, User, UserDepartment
from wecom_app.models.directory import STATUS_ACTIVE
from wecom_app.wecom.errors import WeComError
from wecom_app.workbench.blueprint import bp, runtime

log = logging.getLogger("wecom.workbench")

ROLES = ("admin", "custodian", "issuer", "employee")
ROLE_NAMES = {"admin": "办公室管理员", "custodian": "群专管人员", "issuer": "指令发布人（部门负责人）", "employee": "员工"}
AUTHORIZE_URL = "https://open.weixin.qq.com/connect/oauth2/authorize"
WEB_LOGIN_URL = "https://login.work.weixin.qq.com/wwlogin/sso/login"
# WeCom's errcodes a login can meet, in words for the person at the door
CODE_ERRORS = {
    40029: "登录码无效或已过期（5 分钟内有效），请重新登录。",
    42022: "登录码已被使用过，请重新登录。",
}


@dataclasses.dataclass(frozen=True)
class Viewer:
    """The logged-in person and what they may do, computed per request."""

    userid: str
    name: str
    roles: frozenset[str]
    custodian_of: frozenset[int] = frozenset()  # ids of the groups they are custodian of

    def has(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles


def roles_of(db, settings, user: User) -> Viewer:
    """The roles of an active directory user (see the module docstring for the sources)."""
    userid = user.userid
    roles = {"employee"}
    if userid in settings.admins or _in_admin_tag(db, settings, userid):
        roles.add("admin")
    custodian_of = frozenset(db.scalars(
        select(Group.id).where(Group.custodian == userid, Group.status != "dismissed")).all())
    if custodian_of:
        roles.add("custodian")
    if "admin" in roles or _is_leader(db, userid):
        roles.add("issuer")
    return Viewer(userid=userid, name=user.name or userid, roles=frozenset(roles), custodian_of=custodian_of)


def _in_admin_tag(db, settings, userid: str) -> bool:
    if settings.admin_tag is None:
        return False
    members = db.execute(select(TagMember.userid, TagMember.department_id).where(
        TagMember.tag_id == settings.admin_tag)).all()
    if any(m.userid == userid for m in members):
        return True
    departments = {m.department_id for m in members if m.department_id is not None}
    return bool(departments) and db.scalar(select(UserDepartment.userid).where(
        UserDepartment.userid == userid, UserDepartment.department_id.in_(departments)).limit(1)) is not None


def _is_leader(db, userid: str) -> bool:
    if db.scalar(select(UserDepartment.userid).where(
            UserDepartment.userid == userid, UserDepartment.is_leader.is_(True)).limit(1)) is not None:
        return True
    # department_leader is a JSON list: read the (small) department table rather than a dialect's JSON operator
    return any(userid in (d.department_leader or []) for d in db.scalars(
        select(Department).where(Department.deleted.is_(False))))


def current_user() -> Viewer | None:
    """The Viewer of this request (None when nobody is logged in, or they are no longer an active employee)."""
    if "viewer" in g:
        return g.viewer
    viewer = None
    userid = session.get("userid")
    if userid:
        rt = runtime()
        with rt.sessions() as db:
            generation = session.get("generation")
            # revoked since login (logout, 强制下线, left or disabled) or from before generations
            if isinstance(generation, int) and generation == session_generations.current(db, userid):
                user = db.get(User, userid)
                if user is not None and user.status == STATUS_ACTIVE:  # left or disabled since login
                    viewer = roles_of(db, rt.settings, user)
        if viewer is None:
            session.clear()
    g.viewer = viewer
    return viewer


def can_manage_group(viewer: Viewer, group: Group) -> bool:
    """Admins manage every group; a custodian only their own."""
    return viewer.is_admin or group.id in viewer.custodian_of


def forbidden(*roles: str, reason: str = ""):
    """The 403 page naming the role needed."""
    needed = "、".join(ROLE_NAMES[r] for r in roles) if roles else ""
    return render_template("workbench/403.html", needed=needed, reason=reason), 403


def login_required(view):
    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        if current_user() is None:
            return _to_login()
        return view(*args, **kwargs)

    return wrapped


def roles_required(*roles: str):
    """`@roles_required("admin", "custodian")`: any one of the roles; else the 403 page."""
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown roles {sorted(unknown)}")

    def decorator(view):
        @functools.wraps(view)
        def wrapped(*args, **kwargs):
            viewer = current_user()
            if viewer is None:
                return _to_login()
            if not viewer.has(*roles):
                return forbidden(*roles)
            return view(*args, **kwargs)

        return wrapped

    return decorator


def audit_action(db, action: str, target: str = "", **details):
    """Append the viewer's action to the audit log (in the caller's transaction)."""
    viewer = current_user()
    return audit(db, viewer.userid if viewer else "anonymous", action, target, now=runtime().clock(),
                 channel="workbench", **details)


# -- login -----------------------------------------------------------------------------------------

def _here() -> str:
    return request.full_path.rstrip("?") if request.query_string else request.path


def _to_login():
    """To the login page, coming back here afterwards (as the card's /directives/<id> link needs)."""
    here = _here()
    return redirect(url_for("workbench.login", next=here) if here != "/" else url_for("workbench.login"))


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
