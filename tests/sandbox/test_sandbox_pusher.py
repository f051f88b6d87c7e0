"""The callback pusher encrypts and signs as WeCom does; state changes yield the matching XML."""

from __future__ import annotations

import socket
import threading
import time
from xml.etree.ElementTree import fromstring

import pytest
import requests
from flask import Flask, request
from werkzeug.serving import make_server

from tests.plugins.sandbox import AES_KEY, AGENT_ID, CORP_ID, TOKEN
from wecom_app.callbacks.crypto import WeComCrypto
from wecom_app.sandbox import change_contact, change_external_chat, template_card_event, text_message


@pytest.fixture
def recorder():
    """A stand-in app callback URL on loopback that records what it receives. `received.script`
    holds what to do with the next requests: a status to answer, or seconds to stay silent."""
    received = Received()
    received.script = []
    app = Flask("recorder")

    @app.route("/wecom/callback", methods=["GET", "POST"])
    def callback():
        received.append(dict(method=request.method, args=dict(request.args), body=request.get_data(as_text=True)))
        action = received.script.pop(0) if received.script else 200
        if isinstance(action, float):
            time.sleep(action)  # no answer within the pusher's timeout
            return ""
        return "", action

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/wecom/callback", received
    server.shutdown()
    server.server_close()


class Received(list):
    script: list


def open_envelope(call) -> str:
    crypto = WeComCrypto(TOKEN, AES_KEY, CORP_ID)
    outer = fromstring(call["body"])
    assert outer.findtext("ToUserName") == CORP_ID and outer.findtext("AgentID") == str(AGENT_ID)
    encrypted = outer.findtext("Encrypt")
    args = call["args"]
    crypto.verify(args["msg_signature"], args["timestamp"], args["nonce"], encrypted)
    return crypto.decrypt(encrypted).decode()


def test_push_encrypts_and_signs_like_wecom(recorder, pusher_for):
    url, received = recorder
    xml = text_message("lina", "你好 <&>", 1234567890123456, ToUserName=CORP_ID, AgentID=AGENT_ID)
    answer = pusher_for(url).push(xml, timestamp=1476422779, nonce="1597212914")
    assert answer.status_code == 200
    assert received[0]["args"]["timestamp"] == "1476422779" and open_envelope(received[0]) == xml
    parsed = fromstring(xml)
    assert parsed.findtext("Content") == "你好 <&>" and parsed.findtext("MsgId") == "1234567890123456"


def test_push_never_retries_an_http_status_90930(recorder, pusher_for):
    url, received = recorder
    received.script = [503]
    pusher = pusher_for(url, retry_wait=0)
    assert pusher.push(text_message("lina", "hi", 1)).status_code == 503  # WeCom treats it as answered
    assert pusher.attempts == 1 and len(received) == 1


def test_push_retries_when_no_answer_comes_in_time_90930(recorder, pusher_for):
    url, received = recorder
    received.script = [0.5, 0.5]
    waits = []
    pusher = pusher_for(url, timeout=0.2, retry_wait=1.0, sleep=waits.append)
    event = text_message("lina", "hi", 1, CreateTime=1796482677)
    assert pusher.push(event).status_code == 200
    assert pusher.attempts == 3 and waits == [1.0, 1.0]
    assert {open_envelope(call) for call in received} == {event}  # the same event each time


def test_push_retries_a_failed_connection_three_times_then_gives_up_90930(pusher_for):
    with socket.socket() as unused:  # a port nobody listens on
        unused.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{unused.getsockname()[1]}/wecom/callback"
    waits = []
    pusher = pusher_for(url, sleep=waits.append)
    with pytest.raises(requests.ConnectionError):
        pusher.push(text_message("lina", "hi", 1))
    assert pusher.attempts == 4 and len(waits) == 3


def test_verify_url_sends_an_encrypted_echostr(recorder, pusher_for):
    url, received = recorder
    pusher_for(url).verify_url("1288432023552776189")
    args = received[0]["args"]
    crypto = WeComCrypto(TOKEN, AES_KEY, CORP_ID)
    crypto.verify(args["msg_signature"], args["timestamp"], args["nonce"], args["echostr"])
    assert crypto.decrypt(args["echostr"]) == b"1288432023552776189"


def test_change_contact_builder():
    xml = fromstring(change_contact("update_user", UserID="lisi", NewUserID="lisi2", Department=[1, 2],
                                    IsLeaderInDept=[0, 1], Status=2, CreateTime=1403610513, ToUserName=CORP_ID))
    assert xml.findtext("Event") == "change_contact" and xml.findtext("ChangeType") == "update_user"
    assert xml.findtext("FromUserName") == "sys" and xml.findtext("NewUserID") == "lisi2"
    assert xml.findtext("Department") == "1,2" and xml.findtext("IsLeaderInDept") == "0,1"
    assert xml.findtext("Status") == "2" and xml.findtext("CreateTime") == "1403610513"


def test_change_external_chat_builder():
    xml = fromstring(change_external_chat("wrX", "update", "del_member", QuitScene=1, MemChangeList=["a", "wmB"],
                                          LastMemVer="v1", CurMemVer="v2"))
    assert [i.text for i in xml.find("MemChangeList")] == ["a", "wmB"] and xml.findtext("MemChangeCnt") == "2"
    assert xml.findtext("QuitScene") == "1" and xml.findtext("CurMemVer") == "v2" and xml.find("JoinScene") is None


def test_template_card_event_builder():
    xml = fromstring(template_card_event("lina", "dir42", "ack", "RC1", AgentID=AGENT_ID))
    assert [xml.findtext(k) for k in ("Event", "FromUserName", "TaskId", "EventKey", "ResponseCode", "CardType")] == [
        "template_card_event", "lina", "dir42", "ack", "RC1", "button_interaction"]


def test_state_changes_return_their_events(sandbox_state):
    sandbox_state.contact_callback_minimal = False  # a receiver configured before 2022-08-15 (90970)
    created = fromstring(sandbox_state.user_create("XiaoMing", "小明", [6], position="销售代表"))
    assert created.findtext("ChangeType") == "create_user" and created.findtext("UserID") == "xiaoming"
    assert created.findtext("ToUserName") == CORP_ID and created.findtext("Department") == "6"
    updated = fromstring(sandbox_state.user_update("xiaoming", new_userid="xiaoming2", status=2))
    assert updated.findtext("NewUserID") == "xiaoming2" and updated.findtext("Status") == "2"
    assert updated.find("Name") is None and sandbox_state.user("xiaoming2")["status"] == 2
    assert fromstring(sandbox_state.user_delete("xiaoming2")).findtext("ChangeType") == "delete_user"
    assert sandbox_state.user("xiaoming2") is None
    party = fromstring(sandbox_state.party_create(10, "西南销售组", parentid=5))
    assert party.findtext("ParentId") == "5" and party.findtext("Name") == "西南销售组"


def test_contact_callbacks_default_to_the_minimal_form(sandbox_state):
    """A 通讯录同步 receiver configured today gets only UserID and Department (90970)."""
    created = fromstring(sandbox_state.user_create("XiaoMing", "小明", [6], position="销售代表"))
    assert sorted(e.tag for e in created) == sorted(
        ["ToUserName", "FromUserName", "CreateTime", "MsgType", "Event", "ChangeType", "UserID", "Department"])
    updated = fromstring(sandbox_state.user_update("xiaoming", new_userid="xiaoming2", status=2, department=[5]))
    assert (updated.findtext("NewUserID"), updated.findtext("Department")) == ("xiaoming2", "5")
    assert updated.find("Status") is None and sandbox_state.user("xiaoming2")["status"] == 2


def test_groupchat_changes(sandbox_state):
    chat_id = "wrOgQhDgAAcwMTB7YmDkbeBsgT_AAAAA"
    removed = fromstring(sandbox_state.groupchat_remove_member(chat_id, "xiaoshouli", QuitScene=1))
    assert removed.findtext("UpdateDetail") == "del_member" and removed.findtext("QuitScene") == "1"
    assert "xiaoshouli" not in [m["userid"] for m in sandbox_state.groupchats[chat_id]["member_list"]]
    renamed = fromstring(sandbox_state.groupchat_update(chat_id, name="华南客户群"))
    assert renamed.findtext("UpdateDetail") == "change_name" and sandbox_state.groupchats[chat_id]["name"] == "华南客户群"
    assert fromstring(sandbox_state.groupchat_dismiss(chat_id)).findtext("ChangeType") == "dismiss"


def test_groupchat_add_members_in_each_push_form(sandbox_state):
    """92130: MemChangeCnt with the full MemChangeList, without it, with fewer items, without versions."""
    chat_id = "wrOgQhDgAAcwMTB7YmDkbeBsgT_AAAAA"
    full = fromstring(sandbox_state.groupchat_add_members(chat_id, ["hanmei", "tangyu"]))
    assert [i.text for i in full.find("MemChangeList")] == ["hanmei", "tangyu"] and full.findtext("MemChangeCnt") == "2"
    bare = fromstring(sandbox_state.groupchat_add_members(chat_id, ["fengli", "dongbin", "wmOgQhDgAAnew"], listed=0))
    assert bare.findtext("MemChangeCnt") == "3" and bare.find("MemChangeList") is None
    assert bare.findtext("LastMemVer") == full.findtext("CurMemVer") != bare.findtext("CurMemVer")
    short = fromstring(sandbox_state.groupchat_add_members(chat_id, ["songgang", "xiehui"], JoinScene=3, listed=1))
    assert [i.text for i in short.find("MemChangeList")] == ["songgang"] and short.findtext("MemChangeCnt") == "2"
    old = fromstring(sandbox_state.groupchat_add_members(chat_id, ["wmOgQhDgAAold"], versions=False))
    assert old.find("LastMemVer") is None and old.find("CurMemVer") is None and old.findtext("MemChangeCnt") == "1"
    renamed = fromstring(sandbox_state.groupchat_update(chat_id, name="华南客户群", versions=True))
    version = sandbox_state.groupchats[chat_id]["member_version"]
    assert renamed.findtext("LastMemVer") == renamed.findtext("CurMemVer") == version
    assert renamed.find("MemChangeList") is None and renamed.find("MemChangeCnt") is None


def test_member_text_to_app(sandbox_state):
    first, second = (fromstring(sandbox_state.member_sends_text("lina", "查询")) for _ in range(2))
    assert first.findtext("MsgType") == "text" and first.findtext("MsgId") != second.findtext("MsgId")
