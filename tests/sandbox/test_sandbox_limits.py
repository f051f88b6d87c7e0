"""The emulator's sending limits, each on its own API (90312/90454, 90248), and a
template card's response_code living 72 hours, single use (94888)."""

from __future__ import annotations

import requests

from tests.plugins.sandbox import AGENT_ID, CORP_ID, SECRET, card


def _long_token(api, sandbox_state):
    sandbox_state.token_ttl = 10 * 86400  # outlive the response codes
    api.token = requests.get(api.base + "gettoken", params=dict(corpid=CORP_ID, corpsecret=SECRET),
                             timeout=5).json()["access_token"]


def _clicked_code(sandbox_state, task_id="dir9"):
    xml = sandbox_state.click("lina", task_id, "ack")
    return xml.split("<ResponseCode><![CDATA[")[1].split("]]>")[0]


def _grey(code):
    return dict(userids=["lina"], agentid=AGENT_ID, response_code=code, button=dict(replace_name="已确认"))


def test_r16_response_code_lives_72_hours_not_24(api, sandbox_state, sandbox_clock):
    _long_token(api, sandbox_state)
    assert api.post("message/send", card("dir9"))["errcode"] == 0
    early, late = _clicked_code(sandbox_state), _clicked_code(sandbox_state)
    sandbox_clock.advance(25 * 3600)  # past the old 24 h
    assert api.post("message/update_template_card", _grey(early))["errcode"] == 0
    assert api.post("message/update_template_card", _grey(early))["errcode"] == 60140  # single use
    sandbox_clock.advance(47 * 3600)  # 72 h after the click
    assert api.post("message/update_template_card", _grey(late))["errcode"] == 60140


def test_r16_the_old_24_hours_is_a_fault(api, sandbox_state, sandbox_clock):
    _long_token(api, sandbox_state)
    sandbox_state.faults.add(kind="response_code_ttl")  # 24 h, as older copies of the docs said
    assert api.post("message/send", card("dir10"))["errcode"] == 0
    before, after = _clicked_code(sandbox_state, "dir10"), _clicked_code(sandbox_state, "dir10")
    sandbox_clock.advance(24 * 3600 - 1)
    assert api.post("message/update_template_card", _grey(before))["errcode"] == 0
    sandbox_clock.advance(1)
    assert api.post("message/update_template_card", _grey(after))["errcode"] == 60140
    assert sandbox_state.faults.list()[0]["hits"] == 0  # a setting, consumed by no call


def test_seat_quota_is_seats_times_200_a_beijing_day(api, sandbox_state, sandbox_clock):
    _long_token(api, sandbox_state)
    sandbox_state.seat_limit = 1  # 200 person-times a day for the app
    for _ in range(100):  # two people each: 200 person-times
        assert api.text("zhangwei|lina")["errcode"] == 0
    assert api.text("zhangwei")["errcode"] == 45009  # refused whole: the 201st
    assert len([m for m in sandbox_state.messages if m["api"] == "message/send"]) == 100  # nothing of it
    sandbox_clock.advance(15 * 3600 - 60)  # the clock starts 09:00 Beijing: 1 minute before midnight
    assert api.text("zhangwei")["errcode"] == 45009
    sandbox_clock.advance(60)
    assert api.text("zhangwei")["errcode"] == 0


def test_no_seat_quota_when_the_seat_cap_is_unknown(api, sandbox_state):
    assert sandbox_state.seat_limit is None
    assert all(api.text("zhangwei|lina", content=f"第{i}条")["errcode"] == 0 for i in range(110))


def test_message_send_has_no_corp_person_times_a_minute(api, sandbox_state):
    """20,000 person-times a minute is appchat/send's (90248): message/send takes more."""
    everyone = sorted(sandbox_state.visible_users())
    for i in range(21):
        sandbox_state.add_user(f"bulk{i:03d}", "员工", [1])
    sandbox_state.appchat_person_windows[0].limit = 1  # would refuse at once if it applied here
    assert api.text("|".join(everyone))["errcode"] == 0


def test_appchat_send_person_times_a_minute_per_corp(api, sandbox_state, sandbox_clock):
    chat = api.post("appchat/create", dict(name="周会", owner="zhangwei", userlist=["zhangwei", "lina", "wangfang"]))
    assert chat["errcode"] == 0
    sandbox_state.appchat_person_windows[0].limit = 7  # stand-in for 20,000: two sends of three fit
    send = dict(chatid=chat["chatid"], msgtype="text", text=dict(content="周会改到三点"))
    assert [api.post("appchat/send", send)["errcode"] for _ in range(3)] == [0, 0, 45009]
    sandbox_clock.advance(60)
    assert api.post("appchat/send", send)["errcode"] == 0
