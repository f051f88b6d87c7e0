"""The WeCom server API emulator: `create_emulator(state)` → a Flask app serving /cgi-bin/.

This module owns the gate every call passes (injected faults, access_token
41001/40014/42001, secret kind 48002, per-API frequency limit 45009, the call
log) and the read APIs: gettoken (91039), user/get (90196), user/list and
user/simplelist (90200/90201), user/list_id (96067), department/list (90208),
agent/get (90227), auth/getuserinfo (91023), ticket/get (the JS-SDK's app ticket, 90506). Messages live in
emulator/messages.py, groups in emulator/groups.py; /sandbox/* (faults, call
log, an OAuth authorize stand-in) in emulator/control.py; the group robot's
webhook/send (no token) in emulator/webhook.py; the conversation archive (the Finance
SDK's stand-in and msgaudit/*) in emulator/archive.py.
"""

from __future__ import annotations

import secrets
import socket
import struct

from flask import Flask, g, request

from wecom_app.sandbox.emulator import archive, control, groups, intercept, messages, tags, webhook
from wecom_app.sandbox.emulator.api import ApiError, body, ok, reply
from wecom_app.sandbox.state import SandboxState

# APIs only the app's own secret may call, and those only the 通讯录同步 secret may call
APP_ONLY = ("message/", "appchat/", "agent/", "auth/", "externalcontact/", "ticket/")
CONTACT_ONLY = ("user/list_id",)
# Since 2022-08-15 10:00 the 通讯录同步 secret may not call these from an IP added after that
# date: "从2022年8月15日10点开始，'企业管理后台 - 管理工具 - 通讯录同步'的新增IP将不能再调用此接口"
# (developer.work.weixin.qq.com/document/path/90196 user/get, /90201 user/list, /90208
# department/list; user/simplelist 90200 per the notes). WeCom answers 48009 "api forbidden for
# contact assistant" (the errcode and text as real corps report them: openscrm/api-server#26,
# opsre/go-ldap-admin#197; the error-code page 90313 does not spell out this case: UNCONFIRMED
# wording). user/list_id (96067) and department/simplelist (95350) remain. Whether tag/get and
# tag/list are refused as well is UNCONFIRMED: allowed here (the app reads tags with its own
# secret either way). `state.contact_ip_grandfathered = True`: a server whose IP was trusted before.
CONTACT_REFUSED_FROM_NEW_IP = ("user/get", "user/list", "user/simplelist", "department/list")
CONTACT_REFUSED = 48009
NO_TOKEN = ("gettoken", "webhook/send",  # a group robot's key is its credential (99398)
            *archive.SDK_PATHS)  # the Finance SDK's stand-in takes corpid + secret (91774)
# the 会话内容存档 secret's token calls only the archive's APIs (91614, 92951): UNCONFIRMED what WeCom
# answers it elsewhere; 48002 here
ARCHIVE_ONLY = ("msgaudit/",)
PRIVATE_FIELDS = ("avatar", "thumb_avatar", "gender", "mobile", "email", "biz_mail", "qr_code", "address")
REDACTED = ("access_token", "corpsecret", "key")  # key: a group robot's, a bearer secret
# the archive's secret, a decrypted random key and the ciphertext it opens (finance/*)
BODY_REDACTED = ("secret", "encrypt_key", "encrypt_msg")


def create_emulator(state: SandboxState) -> Flask:
    app = Flask("wecom_app.sandbox")
    app.extensions["wecom_sandbox"] = state
    app.before_request(lambda: _gate(state))
    app.after_request(lambda response: _log(state, response))
    app.register_error_handler(ApiError, lambda e: reply(e.errcode, e.errmsg))
    _register_directory(app, state)
    messages.register(app, state)
    groups.register(app, state)
    tags.register(app, state)
    intercept.register(app, state)
    webhook.register(app, state)
    archive.register(app, state)
    control.register(app, state)
    app.wsgi_app = _ResetMiddleware(app.wsgi_app)
    return app


def _gate(state: SandboxState):
    if not request.path.startswith("/cgi-bin/"):
        return None
    g.api = request.path[len("/cgi-bin/"):]
    g.errcode = None
    for fault in state.faults.take(g.api):
        response = control.apply_fault(state, fault)
        if response is not None:
            return response
    if g.api not in NO_TOKEN:
        g.token_kind = _authenticate(state, g.api)
    if g.api not in archive.LOCAL_CALLS and not state.api_allowed(g.api):
        raise ApiError(45009)
    return None


def _authenticate(state: SandboxState, api: str) -> str:
    token = request.args.get("access_token")
    if not token:
        raise ApiError(41001)
    with state.lock:
        issued = state.tokens.get(token)
        if issued is None:
            raise ApiError(40014)
        if state.now() >= issued["expires_at"]:
            raise ApiError(42001)
    kind = g.token_kind = issued["kind"]  # logged even when refused below
    if (kind == "contact" and api.startswith(APP_ONLY)) or (kind == "app" and api.startswith(CONTACT_ONLY)):
        raise ApiError(48002)
    if kind == "archive" and not api.startswith(ARCHIVE_ONLY):
        raise ApiError(48002)
    if kind == "contact" and api in CONTACT_REFUSED_FROM_NEW_IP and not state.contact_ip_grandfathered:
        raise ApiError(CONTACT_REFUSED)
    return kind


def _log(state: SandboxState, response):
    if "api" in g:
        try:
            sent = body() if request.method == "POST" else None
        except ApiError:
            sent = request.get_data(as_text=True)
        if isinstance(sent, dict) and any(k in sent for k in BODY_REDACTED):
            sent = {k: ("***" if k in BODY_REDACTED else v) for k, v in sent.items()}
        params = {k: ("***" if k in REDACTED else v) for k, v in request.args.items()}
        state.faults.log(dict(path=g.api, method=request.method, params=params, body=sent, token=g.get("token_kind"),
                              errcode=g.get("errcode"), status=response.status_code, at=state.now(),
                              reset=bool(request.environ.get("wecom_sandbox.reset"))))
    return response


class _ResetMiddleware:
    """A 'reset' fault: abort with TCP RST instead of answering (SO_LINGER 0, then werkzeug closes)."""

    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        result = self.wsgi_app(environ, start_response)
        if environ.get("wecom_sandbox.reset"):
            sock = environ.get("werkzeug.socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.shutdown(socket.SHUT_RDWR)  # else keep-alive waits for the next request on this socket
            if hasattr(result, "close"):
                result.close()
            raise ConnectionResetError("sandbox fault: connection reset")
        return result


def _register_directory(app: Flask, state: SandboxState) -> None:
    def route(path, methods=("GET",)):
        def decorate(view):
            app.add_url_rule(f"/cgi-bin/{path}", path, view, methods=list(methods))
            return view
        return decorate

    @route("gettoken")
    def gettoken():
        with state.lock:
            state.gettoken_calls += 1
        corpid, secret = request.args.get("corpid"), request.args.get("corpsecret")
        if not corpid or corpid != state.corp_id:
            raise ApiError(40013)
        if not secret:
            raise ApiError(41004)
        kind = state.secrets.get(secret)
        if kind is None:
            raise ApiError(40001)
        return ok(**state.issue_token(kind))

    @route("user/get")
    def user_get():
        with state.lock:
            user = _visible_user(state, request.args.get("userid"))
            return ok(**_user_view(user, g.token_kind))

    @route("user/simplelist")
    def user_simplelist():
        with state.lock:
            users = _department_users(state)
            return ok(userlist=[dict(userid=u["userid"], name=u["name"], department=u["department"],
                                     open_userid="") for u in users])

    @route("user/list")
    def user_list():
        with state.lock:
            return ok(userlist=[_user_view(u, g.token_kind) for u in _department_users(state)])

    @route("user/list_id", methods=("POST",))
    def user_list_id():
        data = body()
        limit = data.get("limit", 1000)
        if not isinstance(limit, int) or not 1 <= limit <= 10000:
            raise ApiError(40058, "limit must be 1-10000")
        start = _cursor(data.get("cursor"))
        with state.lock:
            rows = [dict(userid=u["userid"], department=d) for u in sorted(state.users.values(), key=lambda u: u["userid"])
                    for d in u["department"]]
        page = rows[start:start + limit]
        more = start + limit < len(rows)
        return ok(next_cursor=control.encode_cursor(start + limit) if more else "", dept_user=page)

    @route("department/list")
    def department_list():
        with state.lock:
            # the 通讯录同步 secret reads the whole directory; the app only its visible range
            visible = set(state.departments) if g.token_kind == "contact" else state.visible_departments()
            wanted = request.args.get("id")
            if wanted:
                root = _int(wanted, 60123)
                if root not in state.departments:
                    raise ApiError(60123)
                if root not in visible:
                    raise ApiError(60011)
                ids = state.subtree(root)
            else:
                ids = sorted(visible)
            return ok(department=[dict(state.departments[i], department_leader=list(
                state.departments[i]["department_leader"])) for i in ids if i in visible])

    @route("agent/get")
    def agent_get():
        control.agentid_param(state, request.args.get("agentid"))
        with state.lock:
            return ok(**state.agent)

    @route("ticket/get")
    def ticket_get():
        # 获取应用的jsapi_ticket (developer.work.weixin.qq.com/document/path/90506): GET with the app's
        # access_token and type=agent_config → {ticket, expires_in: 7200}, for wx.agentConfig's signature.
        # UNCONFIRMED: the errcode for another `type`; 40001-family "invalid parameter" (40058) here.
        if request.args.get("type") != "agent_config":
            raise ApiError(40058)
        with state.lock:
            state.ticket_calls += 1
            ticket = secrets.token_urlsafe(64)
            state.jsapi_tickets[ticket] = state.now() + state.token_ttl
            return ok(ticket=ticket, expires_in=state.token_ttl)

    @route("auth/getuserinfo")
    @route("user/getuserinfo")
    def auth_getuserinfo():
        code = request.args.get("code", "")
        with state.lock:
            entry = state.oauth_codes.get(code)
            if entry is None or state.now() >= entry["expires_at"]:
                raise ApiError(40029)
            if entry["used"]:
                raise ApiError(42022)
            entry["used"] = True
            return ok(userid=entry["userid"])


def _int(value, errcode: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ApiError(errcode) from None


def _cursor(value) -> int:
    return control.decode_cursor(value)


def _visible_user(state: SandboxState, userid: str | None) -> dict:
    if not userid:
        raise ApiError(40003)
    user = state.user(userid)
    if user is None:
        raise ApiError(60111)
    if g.token_kind == "app" and user["userid"] not in state.visible_users():
        raise ApiError(60011)
    return user


def _department_users(state: SandboxState) -> list[dict]:
    department_id = _int(request.args.get("department_id"), 60123)
    if department_id not in state.departments:
        raise ApiError(60123)
    if g.token_kind == "app" and department_id not in state.visible_departments():
        raise ApiError(60011)
    recursive = request.args.get("fetch_child") == "1"  # no longer documented, still honoured here
    userids = set(state.members_of([department_id], recursive=recursive))
    return [u for u in sorted(state.users.values(), key=lambda u: u["userid"]) if u["userid"] in userids]


def _user_view(user: dict, token_kind: str) -> dict:
    """user/get fields; self-built apps created after 2022-06-20 no longer get the private ones (90196)."""
    view = {k: (list(v) if isinstance(v, list) else v) for k, v in user.items()}
    if token_kind == "app":
        for key in PRIVATE_FIELDS:
            view.pop(key, None)
    return view

