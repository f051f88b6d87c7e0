"""Messages the app sends: message/send (document/path/90236, template cards
90236/101032), message/update_template_card (94888) and appchat/send (90248).

Every send is recorded in `state.messages` with its body and, per recipient,
what really happened: "delivered", "rate_limited" (per-member quota, silently
discarded while the API answers errcode 0 — 90312) or "duplicate"
(enable_duplicate_check). Discards are also listed in `state.drops`. A text over
WeCom's limit is cut as WeCom cuts it and listed in `state.truncated` (truncation.py).
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import secrets

from flask import Flask

from wecom_app.sandbox.emulator import truncation
from wecom_app.sandbox.emulator.api import ApiError, agentid_matches, body, ids, ok
from wecom_app.sandbox.state import STATUS_ACTIVE

SEND_TYPES = {"text", "image", "voice", "video", "file", "textcard", "news", "mpnews", "markdown",
              "miniprogram_notice", "template_card"}
APPCHAT_TYPES = SEND_TYPES - {"miniprogram_notice", "template_card"}
CARD_TYPES = {"text_notice", "news_notice", "button_interaction", "vote_interaction", "multiple_interaction"}
INTERACTIVE = {"button_interaction", "vote_interaction", "multiple_interaction"}
TASK_ID = re.compile(r"[0-9A-Za-z_\-@]{1,128}")


def register(app: Flask, state) -> None:
    app.add_url_rule("/cgi-bin/message/send", "message/send", lambda: message_send(state), methods=["POST"])
    app.add_url_rule("/cgi-bin/message/update_template_card", "message/update_template_card",
                     lambda: update_template_card(state), methods=["POST"])
    app.add_url_rule("/cgi-bin/appchat/send", "appchat/send", lambda: appchat_send(state), methods=["POST"])


def message_send(state):
    data = body()
    touser, toparty, totag = ids(data.get("touser")), ids(data.get("toparty")), ids(data.get("totag"))
    if not (touser or toparty or totag):
        raise ApiError(82001)
    if len(touser) > 1000:
        raise ApiError(40032)
    if len(toparty) > 100 or len(totag) > 100:
        raise ApiError(40058, "toparty/totag at most 100")
    agentid_matches(state, data.get("agentid"))
    msgtype = data.get("msgtype")
    if msgtype not in SEND_TYPES:
        raise ApiError(40008)
    card = check_content(msgtype, data)
    truncation.apply(state, "message/send", data)
    with state.lock:
        # "同一个应用任务id不能重复" (developer.work.weixin.qq.com/document/path/90236): remembered for the
        # state's whole life, across restarts of the app and whichever database the app runs on
        if card is not None and card.get("task_id") in state.task_ids:
            raise ApiError(42014, "task_id already exists")
        recipients, invalid = _resolve(state, touser, toparty, totag)
        if not recipients and sum(map(len, invalid.values())) == len(touser) + len(toparty) + len(totag):
            raise ApiError(81013)  # every id given was invalid
        if not state.take_seat_quota(len(recipients)):
            # seats × 200 person-times a day per app (90312); WeCom's answer is UNCONFIRMED
            # (45009 expected, notes §4.2): refused whole, nothing delivered
            raise ApiError(45009, "api freq out of limit: daily message quota (seats × 200)")
        record = _record(state, "message/send", data, recipients)
        record.update({k: "|".join(v) for k, v in invalid.items()})
        duplicate_window = min(int(data.get("duplicate_check_interval", 1800)), 14400) \
            if data.get("enable_duplicate_check") in (1, "1", True) else 0
        _deliver(state, record, state.member_windows, duplicate_window)
        answer = dict({k: "|".join(v) for k, v in invalid.items()}, unlicenseduser="", msgid=record["msgid"])
        if card is not None and card.get("task_id"):
            state.task_ids.add(card["task_id"])
            delivered = [u for u, outcome in record["deliveries"].items() if outcome == "delivered"]
            shown = copy.deepcopy(card)  # one copy for all: an update replaces a member's card, never edits it
            for userid in delivered:
                state.cards[(userid, card["task_id"])] = dict(template_card=shown, msgid=record["msgid"],
                                                             clicks=[], updates=[], replace_name=None)
            if card["card_type"] in INTERACTIVE or card.get("action_menu"):
                answer["response_code"] = state.register_response_code(card["task_id"], list(recipients))
        return ok(**answer)


def check_content(msgtype: str, data: dict) -> dict | None:
    """Size and shape rules of 90236; returns the template card, if that is what is sent."""
    content = data.get(msgtype)
    if not isinstance(content, dict):
        raise ApiError(40058, f"{msgtype} missing")
    if msgtype in ("text", "markdown"):
        text = content.get("content")
        if not isinstance(text, str) or not text:
            raise ApiError(44004)  # over the limit: cut, not refused (90236; truncation.py)
    elif msgtype == "textcard":
        if not all(content.get(k) for k in ("title", "description", "url")):
            raise ApiError(40058, "textcard needs title, description and url")
        if len(content["title"].encode()) > 128 or len(content["description"].encode()) > 512:
            raise ApiError(45002)
    elif msgtype == "template_card":
        return _check_card(content)
    return None


def _check_card(card: dict) -> dict:
    card_type = card.get("card_type")
    if card_type not in CARD_TYPES:
        raise ApiError(40058, "invalid card_type")
    task_id = card.get("task_id")
    if card_type in INTERACTIVE or card.get("action_menu") or task_id is not None:
        if not isinstance(task_id, str) or len(task_id.encode()) > 128 or not TASK_ID.fullmatch(task_id):
            raise ApiError(42014)
    if card_type in INTERACTIVE and not (card.get("main_title") or {}).get("title"):
        raise ApiError(40058, "main_title required")
    if card_type == "button_interaction":
        buttons = card.get("button_list")
        if not isinstance(buttons, list) or not 1 <= len(buttons) <= 6:
            raise ApiError(40058, "button_list must have 1-6 buttons")
        for button in buttons:
            kind = int(button.get("type", 0))
            if (kind == 0 and not button.get("key")) or (kind == 1 and not button.get("url")):
                raise ApiError(40058, "button key/url missing")
    if card_type in ("vote_interaction", "multiple_interaction") and not (card.get("submit_button") or {}).get("key"):
        raise ApiError(40058, "submit_button.key required")
    return card


def _resolve(state, touser, toparty, totag):
    """(set of recipients, invalid lists) for message/send; invalid user ids come back lower-cased."""
    everyone = touser == ["@all"] or toparty or totag  # else only the named members are looked at
    visible = state.visible_users() if everyone else state.visible_among(u.lower() for u in touser)
    active = {u for u in visible if state.users[u]["status"] == STATUS_ACTIVE}
    recipients, invalid = set(), {"invaliduser": [], "invalidparty": [], "invalidtag": []}
    if touser == ["@all"]:
        recipients.update(active)
        touser = []
    for userid in touser:
        if userid.lower() in active:
            recipients.add(userid.lower())
        else:
            invalid["invaliduser"].append(userid.lower())
    departments = state.visible_departments()
    for party in toparty:
        if not party.isdigit() or int(party) not in departments:
            invalid["invalidparty"].append(party)
        else:
            recipients.update(u for u in state.members_of([int(party)]) if u in active)
    for tagid in totag:
        tag = state.tags.get(int(tagid)) if tagid.isdigit() else None
        if tag is None:
            invalid["invalidtag"].append(tagid)
        else:
            recipients.update(u for u in tag["userlist"] + state.members_of(tag["partylist"]) if u in active)
    return recipients, invalid


def _record(state, api: str, data: dict, recipients) -> dict:
    record = dict(msgid=f"sbx{state.next_id():08d}{secrets.token_hex(8)}", api=api, msgtype=data.get("msgtype"),
                  body=copy.deepcopy(data), at=state.now(), deliveries={u: None for u in sorted(recipients)})
    state.messages.append(record)
    return record


def _deliver(state, record: dict, windows, duplicate_window: int = 0) -> None:
    """Per-member quotas discard silently; nothing of it shows in the API's answer."""
    now = state.now()
    fingerprint = hashlib.sha256(json.dumps(record["body"].get(record["msgtype"]), sort_keys=True,
                                            ensure_ascii=False).encode()).hexdigest()
    seen = state.duplicate_seen
    for userid in record["deliveries"]:
        if duplicate_window and seen.get((userid, fingerprint), -1e18) > now - duplicate_window:
            outcome = "duplicate"
        elif not all(w.allowed(userid, now) for w in windows):
            outcome = "rate_limited"
        else:
            outcome = "delivered"
            for w in windows:
                w.record(userid, now)
            seen[(userid, fingerprint)] = now
        record["deliveries"][userid] = outcome
        if outcome != "delivered":
            state.drops.append(dict(msgid=record["msgid"], api=record["api"], userid=userid, reason=outcome, at=now))


def update_template_card(state):
    data = body()
    agentid_matches(state, data.get("agentid"))
    if not data.get("button") and not data.get("template_card"):
        raise ApiError(40058, "give button or template_card")
    if data.get("template_card"):
        _check_card(data["template_card"])
    with state.lock:
        code = state.response_codes.get(data.get("response_code") or "")
        if not state.response_code_valid(code):  # 72 h, single use (94888); the errcode UNCONFIRMED
            raise ApiError(60140)
        task_id = code["task_id"]
        holders = sorted(u for (u, t) in state.cards if t == task_id)
        if data.get("atall") in (1, "1"):
            targets, invaliduser = holders, []
        else:
            wanted = [u.lower() for u in data.get("userids") or []]
            for party in data.get("partyids") or []:
                wanted += state.members_of([int(party)]) if int(party) in state.departments else []
            for tagid in data.get("tagids") or []:
                wanted += state.tags.get(int(tagid), {}).get("userlist", [])
            targets = sorted({u for u in wanted if u in holders})
            invaliduser = sorted({u for u in wanted if u not in holders})
        if not targets:
            raise ApiError(81013)
        code["used"] = True
        record = _record(state, "message/update_template_card", data, targets)
        for userid in targets:
            card = state.cards[(userid, task_id)]
            card["updates"].append(dict(at=state.now(), button=data.get("button"),
                                        template_card=data.get("template_card")))
            if data.get("button"):
                card["replace_name"] = data["button"].get("replace_name")
            else:
                card["template_card"] = copy.deepcopy(data["template_card"])
            record["deliveries"][userid] = "updated"
        return ok(invaliduser=invaliduser)


def appchat_send(state):
    data = body()
    msgtype = data.get("msgtype")
    with state.lock:
        chat = state.appchats.get(data.get("chatid") or "")
        if chat is None:
            raise ApiError(86003)
    if msgtype not in APPCHAT_TYPES:
        raise ApiError(40008)
    check_content(msgtype, data)
    truncation.apply(state, "appchat/send", data)
    with state.lock:
        persons, now = len(chat["userlist"]), state.now()
        if not all(w.allowed("corp", now, persons) for w in state.appchat_person_windows):
            # 20,000 person-times a minute per corp (90248, 90454); the errcode is UNCONFIRMED (45009)
            raise ApiError(45009, "api freq out of limit: appchat person-times")
        for w in state.appchat_person_windows:
            w.record("corp", now, persons)
        record = _record(state, "appchat/send", data, chat["userlist"])
        record["chatid"] = chat["chatid"]
        _deliver(state, record, state.appchat_member_windows)
        return ok()
