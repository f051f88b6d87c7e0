"""Groups: managed groups the app creates (appchat create 90245, update 98913,
get 98914; send is in emulator_messages.py) and customer groups (客户群:
externalcontact/groupchat/list 92120, groupchat/get 92122).

appchat needs an app visible to the whole corp (48002 otherwise), members who are
active internal members, 2–2000 of them and no more than the company's own group
size (`state.group_size_limit`, below), and counts against the corp's quotas of
1000 creates per day and 1000 updates per hour (45009).

The group size: "群成员人数不可超过管理端配置的“群成员人数上限”，且最大不可超过2000人"
(appchat/create, developer.work.weixin.qq.com/document/path/90245; the admin console
sets it between 5 and 2000, commonly 200). Above it WeCom answers 86006 "invalid chat
member list size" (errmsg as reported on developers.weixin.qq.com for appchat/create).
UNCONFIRMED: the update page (98913) names only the 2000 ceiling, not the admin-set
size; the emulator applies the company's size to an update that makes the group
larger (an update cannot grow a group beyond what the console allows), while a group
already above it (the size lowered in the console later) may still be renamed or
shrink. The app relies on neither answer: it keeps groups within
WECOM_GROUP_SIZE_LIMIT and records an 86006 when it gets one. UNCONFIRMED too: 90245
says the 2000 ceiling includes the app ("含应用"); whether the app also counts against
the admin-set size is not said, and the emulator counts members only.
"""

from __future__ import annotations

import copy
import re

from flask import Flask, request

from wecom_app.sandbox.emulator.api import ApiError, body, ok
from wecom_app.sandbox.emulator.control import decode_cursor, encode_cursor
from wecom_app.sandbox.state import STATUS_ACTIVE

CHATID = re.compile(r"[0-9A-Za-z]{1,32}")
NAME_LIMIT = 50  # characters; longer names are cut, not refused
MAX_MEMBERS = 2000  # 90245 / 98913: the ceiling whatever the console says
TOO_MANY = 86006  # "invalid chat member list size"


def register(app: Flask, state) -> None:
    for path, view, method in (("appchat/create", appchat_create, "POST"), ("appchat/update", appchat_update, "POST"),
                               ("appchat/get", appchat_get, "GET"),
                               ("externalcontact/groupchat/list", groupchat_list, "POST"),
                               ("externalcontact/groupchat/get", groupchat_get, "POST")):
        app.add_url_rule(f"/cgi-bin/{path}", path, (lambda view=view: view(state)), methods=[method])


def _whole_corp(state) -> None:
    if not state.is_whole_corp_visible():
        raise ApiError(48002, "appchat needs the app visible to the root department")


def _size_limit(state) -> int:
    """The company's 群成员人数上限 (admin console, 5-2000; 90245), never above 2000."""
    return min(MAX_MEMBERS, int(state.group_size_limit))


def _members(state, userids, errcode=86216) -> list[str]:
    found = []
    for userid in userids:
        user = state.user(str(userid))
        if user is None or user["status"] != STATUS_ACTIVE:
            raise ApiError(errcode, f"{userid} is not an active member")
        if user["userid"] not in found:
            found.append(user["userid"])
    return found


def appchat_create(state):
    data = body()
    _whole_corp(state)
    userlist = data.get("userlist")
    if not isinstance(userlist, list) or not userlist:
        raise ApiError(86204 if not userlist else 40058, "userlist missing")
    chatid = data.get("chatid")
    if chatid is not None and (not isinstance(chatid, str) or not CHATID.fullmatch(chatid)):
        raise ApiError(86001)
    with state.lock:
        members = _members(state, userlist)
        if not 2 <= len(members) <= _size_limit(state):
            raise ApiError(TOO_MANY, f"invalid chat member list size: 2-{_size_limit(state)} members")
        owner = (data.get("owner") or members[0]).lower()
        if owner not in members:
            raise ApiError(86207)
        if chatid and chatid in state.appchats:
            raise ApiError(86215)
        if not state.appchat_create_window.allowed("corp", state.now()):
            raise ApiError(45009, "appchat/create at most 1000 per day")
        state.appchat_create_window.record("corp", state.now())
        chatid = chatid or f"wrc{state.next_id():029d}"
        state.appchats[chatid] = dict(chatid=chatid, name=str(data.get("name") or "")[:NAME_LIMIT], owner=owner,
                                      userlist=members, chat_type=0, agentid=state.agent_id)
        return ok(chatid=chatid)


def appchat_update(state):
    data = body()
    _whole_corp(state)
    with state.lock:
        chat = state.appchats.get(data.get("chatid") or "")
        if chat is None:
            raise ApiError(86003)
        if chat["agentid"] != state.agent_id:
            raise ApiError(86008)
        if not state.appchat_update_window.allowed("corp", state.now()):
            raise ApiError(45009, "appchat/update at most 1000 per hour")
        adding = _members(state, data.get("add_user_list") or [])
        removing = [str(u).lower() for u in data.get("del_user_list") or []]
        if any(u not in chat["userlist"] for u in removing):
            raise ApiError(86216, "del_user_list has a non-member")
        userlist = [u for u in chat["userlist"] if u not in removing] + [u for u in adding if u not in chat["userlist"]]
        if len(userlist) > max(len(chat["userlist"]), _size_limit(state)):  # UNCONFIRMED: see the docstring
            raise ApiError(TOO_MANY, f"invalid chat member list size: at most {_size_limit(state)} members")
        owner = str(data.get("owner") or chat["owner"]).lower()
        if owner not in userlist:
            raise ApiError(86207, "removing the owner needs a new owner who is a member")
        state.appchat_update_window.record("corp", state.now())
        chat.update(userlist=userlist, owner=owner)
        if data.get("name"):
            chat["name"] = str(data["name"])[:NAME_LIMIT]
        return ok()


def appchat_get(state):
    with state.lock:
        chat = state.appchats.get(request.args.get("chatid") or "")
        if chat is None:
            raise ApiError(86003)
        return ok(chat_info={k: copy.deepcopy(v) for k, v in chat.items() if k != "agentid"})


def _customer_contact(state) -> None:
    if not state.external_contact_enabled:
        raise ApiError(48002, "app is not in 客户联系「可调用接口的应用」")


def groupchat_list(state):
    data = body()
    _customer_contact(state)
    status_filter = data.get("status_filter", 0)
    limit = data.get("limit")
    if status_filter not in (0, 1, 2, 3) or not isinstance(limit, int) or not 1 <= limit <= 1000:
        raise ApiError(40058, "status_filter 0-3, limit 1-1000")
    owners = (data.get("owner_filter") or {}).get("userid_list")
    if owners is not None and len(owners) > 100:
        raise ApiError(40058, "owner_filter.userid_list at most 100")
    start = decode_cursor(data.get("cursor"))
    with state.lock:
        visible = state.visible_users()
        if owners is None and len({c["owner"] for c in state.groupchats.values()}) > 1000:
            raise ApiError(81017)
        wanted = {o.lower() for o in owners} if owners is not None else None
        chats = [c for c in sorted(state.groupchats.values(), key=lambda c: (c["create_time"], c["chat_id"]))
                 if c["owner"] in visible and (wanted is None or c["owner"] in wanted)
                 and (status_filter == 0 or c["status"] == status_filter)]
    page = chats[start:start + limit]
    more = start + limit < len(chats)
    return ok(group_chat_list=[dict(chat_id=c["chat_id"], status=c["status"]) for c in page],
              next_cursor=encode_cursor(start + limit) if more else "")


def groupchat_get(state):
    data = body()
    _customer_contact(state)
    with state.lock:
        chat = state.groupchats.get(data.get("chat_id") or "")
        if chat is None or chat["owner"] not in state.visible_users():
            raise ApiError(40050)
        view = copy.deepcopy({k: v for k, v in chat.items() if k != "status"})
    if data.get("need_name") not in (1, "1", True):
        for member in view["member_list"]:
            member.pop("name", None)
    return ok(group_chat=view)
