"""The group robot (群机器人, document/path/99398, older 91770): `POST
/cgi-bin/webhook/send?key=KEY`, no access_token — the key is the credential.

A member adds a robot to a group in the client (`state.add_robot(chatid)` → key);
every accepted post is recorded in `state.messages` (api "webhook/send", with the
`chatid` it went to). What WeCom answers (shared/wecom-api-notes.md §3.13, §4.4):

- a missing or unknown key (the robot was removed, or never existed): 93000;
- a msgtype other than text or markdown: 40008 (only these two are emulated);
- empty content: 44004; text over 2048 bytes is cut (UNCONFIRMED), markdown over
  4096 bytes refused with 40058 (truncation.py), both listed in `state.truncated`;
- more than 20 messages a minute to one robot: 45009 (the code is UNCONFIRMED;
  WeCom documents the limit, not the answer).
"""

from __future__ import annotations

from flask import Flask, request

from wecom_app.sandbox.emulator import truncation
from wecom_app.sandbox.emulator.api import ApiError, body, ok, reply
from wecom_app.sandbox.emulator.messages import _record

INVALID_URL = 93000
LIMITS = {"text": 2048, "markdown": 4096}  # bytes (99398); what happens beyond: truncation.py


def register(app: Flask, state) -> None:
    app.add_url_rule("/cgi-bin/webhook/send", "webhook/send", lambda: webhook_send(state), methods=["POST"])


def webhook_send(state):
    key = request.args.get("key", "")
    with state.lock:
        chatid = state.robots.get(key) if key else None
    if chatid is None:
        return reply(INVALID_URL, "invalid webhook url")
    data = body()
    msgtype = data.get("msgtype")
    if msgtype not in LIMITS:
        raise ApiError(40008)
    content = data.get(msgtype)
    text = content.get("content") if isinstance(content, dict) else None
    if not isinstance(text, str) or not text:
        raise ApiError(44004)
    truncation.apply(state, "webhook/send", data)  # text cut at 2048 bytes, markdown over 4096: 40058
    with state.lock:
        now = state.now()
        if not state.robot_window.allowed(key, now):
            raise ApiError(45009, "20 messages per minute per robot")
        state.robot_window.record(key, now)
        record = _record(state, "webhook/send", data, ())
        record["chatid"] = chatid
    return ok()
