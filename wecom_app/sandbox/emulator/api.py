"""What every emulated endpoint shares: WeCom's error answer, the errmsg texts
(document/path/90313) and the JSON reply `{"errcode": 0, "errmsg": "ok", ...}`."""

from __future__ import annotations

import json

from flask import Response, g, request

ERRMSG = {
    -1: "system busy",
    0: "ok",
    # the Finance SDK's own codes (its header WeWorkFinanceSdk_C.h, 91552), from the emulator's stand-in
    10000: "参数错误，请求参数错误",
    10001: "网络错误，网络请求错误",
    10006: "解密失败",
    10008: "解析encrypt_key出错",
    40001: "invalid credential",
    40003: "invalid userid",
    40008: "invalid message type",
    40013: "invalid corpid",
    40014: "invalid access_token",
    40029: "invalid code",
    40032: "invalid userid list size",
    40050: "chatid not found",
    40056: "invalid agentid",
    40058: "invalid parameter",
    41001: "access_token missing",
    41004: "corpsecret missing",
    42001: "access_token expired",
    42014: "invalid template_card task_id",
    42022: "code has been used",
    44004: "empty content",
    45002: "content size out of limit",
    45009: "api freq out of limit",
    45033: "api concurrent out of limit",
    47001: "data format error",
    48002: "api forbidden",
    48009: "api forbidden for contact assistant",  # the 通讯录同步 secret from a new IP (90196, 90208)
    60011: "no privilege to access/modify contact/party/agent",
    60020: "not allow to access from your ip",
    60111: "userid not found",
    60123: "invalid party id",
    60140: "invalid response_code",
    81013: "user & party & tag all invalid",
    81017: "too many requested items",
    82001: "all touser & toparty & totag invalid",
    86001: "invalid chatid",
    86003: "chatid not exist",
    86004: "invalid chat name",
    86005: "invalid chat owner",
    86006: "invalid chat member count",
    86008: "chat not created by this app",
    86204: "chat member list missing",
    86207: "chat owner not in userlist",
    86215: "chatid already exists",
    86216: "invalid chat member",
    301002: "agentid mismatch: no privilege to access the agent",
    301059: "not an internal group",  # msgaudit/groupchat/get (shared/wecom-api-notes.md §6; wording UNCONFIRMED)
}


class ApiError(Exception):
    def __init__(self, errcode: int, detail: str = ""):
        self.errcode = errcode
        self.errmsg = ERRMSG.get(errcode, "error") + (f", {detail}" if detail else "")
        super().__init__(self.errmsg)


def reply(errcode: int = 0, errmsg: str | None = None, **fields) -> Response:
    """WeCom answers HTTP 200 with errcode/errmsg first, whatever happened."""
    g.errcode = errcode
    payload = {"errcode": errcode, "errmsg": errmsg if errmsg is not None else ERRMSG.get(errcode, "error")}
    payload.update(fields)
    return Response(json.dumps(payload, ensure_ascii=False), 200, mimetype="application/json")


def ok(**fields) -> Response:
    return reply(0, "ok", **fields)


def body() -> dict:
    """The POSTed JSON object; anything else is WeCom's 47001."""
    try:
        data = json.loads(request.get_data(as_text=True) or "null")
    except ValueError:
        raise ApiError(47001) from None
    if not isinstance(data, dict):
        raise ApiError(47001)
    return data


def ids(value) -> list[str]:
    """'a|b|c' (message/send) or ["a","b"] → a list without blanks."""
    if value is None:
        return []
    items = value.split("|") if isinstance(value, str) else [str(v) for v in value]
    return [i.strip() for i in items if i.strip()]


def agentid_matches(state, value) -> None:
    """A token acts only for its own app (301002)."""
    try:
        if int(value) != state.agent_id:
            raise ApiError(301002)
    except (TypeError, ValueError):
        raise ApiError(40056 if value not in (None, "") else 301002) from None
