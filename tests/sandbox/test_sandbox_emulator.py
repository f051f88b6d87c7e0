"""The WeCom emulator over real HTTP: shapes, validation errcodes, tokens, quotas."""

from __future__ import annotations

import pytest
import requests

from tests.plugins.sandbox import AGENT_ID, CONTACT_SECRET, CORP_ID, SECRET, Api, card


# -- gettoken and tokens (91039) --------------------------------------------------------------------

def test_gettoken_shape_and_counter(emulator_url, sandbox_state):
    answer = requests.get(emulator_url + "gettoken", params=dict(corpid=CORP_ID, corpsecret=SECRET), timeout=5).json()
    assert answer["errcode"] == 0 and answer["errmsg"] == "ok" and answer["expires_in"] == 7200
    assert len(answer["access_token"]) >= 64
    assert sandbox_state.gettoken_calls == 1


@pytest.mark.parametrize("params, errcode", [(dict(corpid=CORP_ID, corpsecret="wrong"), 40001),
                                             (dict(corpid="wwother", corpsecret=SECRET), 40013),
                                             (dict(corpid=CORP_ID), 41004)])
def test_gettoken_refuses_bad_credentials(emulator_url, params, errcode):
    assert requests.get(emulator_url + "gettoken", params=params, timeout=5).json()["errcode"] == errcode


def test_missing_invalid_and_expired_token(emulator_url, api, sandbox_clock, sandbox_state):
    assert Api(emulator_url, None).get("user/get", userid="zhangwei")["errcode"] == 41001
    assert Api(emulator_url, "nonsense").get("user/get", userid="zhangwei")["errcode"] == 40014
    sandbox_clock.advance(7199)
    assert api.get("user/get", userid="zhangwei")["errcode"] == 0
    sandbox_clock.advance(1)
    assert api.get("user/get", userid="zhangwei")["errcode"] == 42001


def test_token_ttl_is_configurable_and_tokens_can_be_invalidated_early(emulator_url, sandbox_state):
    sandbox_state.token_ttl = 60
    answer = requests.get(emulator_url + "gettoken", params=dict(corpid=CORP_ID, corpsecret=SECRET), timeout=5).json()
    assert answer["expires_in"] == 60
    sandbox_state.invalidate_tokens()
    assert Api(emulator_url, answer["access_token"]).get("user/get", userid="zhangwei")["errcode"] == 40014


def test_contact_secret_alone_reads_list_id_and_cannot_send(emulator_url, api):
    assert api.post("user/list_id", dict(limit=10))["errcode"] == 48002
    token = requests.get(emulator_url + "gettoken", params=dict(corpid=CORP_ID, corpsecret=CONTACT_SECRET),
                         timeout=5).json()["access_token"]
    contact = Api(emulator_url, token)
    assert contact.text()["errcode"] == 48002
    rows, cursor = [], ""
    while True:
        page = contact.post("user/list_id", dict(cursor=cursor, limit=20))
        rows += page["dept_user"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(rows) > 40 and {"userid": "xuchao", "department": 7} in rows
    assert [d["id"] for d in contact.get("department/simplelist")["department_id"]] == list(range(1, 10))


def contact_api(emulator_url):
    token = requests.get(emulator_url + "gettoken", params=dict(corpid=CORP_ID, corpsecret=CONTACT_SECRET),
                         timeout=5).json()["access_token"]
    return Api(emulator_url, token)


def test_contact_secret_from_a_new_ip_is_refused_details(emulator_url, sandbox_state):
    """Since 2022-08-15 the 通讯录同步 secret may not read details from a new IP (90196, 90208): 48009."""
    contact = contact_api(emulator_url)
    for api, params in (("user/get", dict(userid="hujie")), ("department/list", {}),
                        ("user/list", dict(department_id=1)), ("user/simplelist", dict(department_id=1))):
        assert contact.get(api, **params)["errcode"] == 48009, api
    assert contact.post("user/list_id", dict(limit=10))["errcode"] == 0
    assert [c["token"] for c in sandbox_state.calls("user/get")] == ["contact"]  # the call log names the secret


def test_contact_secret_of_a_grandfathered_ip_still_reads_everything(emulator_url, sandbox_state):
    sandbox_state.contact_ip_grandfathered = True
    contact = contact_api(emulator_url)
    assert contact.get("user/get", userid="hujie")["mobile"] is not None  # private fields too (90196)
    assert [d["id"] for d in contact.get("department/list")["department"]] == list(range(1, 10))


# -- directory (90196, 90200, 90201, 90208, 90227) --------------------------------------------------

def test_user_get_shape_and_errors(api):
    user = api.get("user/get", userid="HuJie")
    assert user["userid"] == "hujie" and user["department"] == [6] and user["is_leader_in_dept"] == [1]
    assert user["direct_leader"] == ["zhangwei"] and user["status"] == 1
    assert "mobile" not in user  # self-built apps after 2022-06-20 do not get private fields
    assert api.get("user/get", userid="nobody")["errcode"] == 60111


def test_user_get_outside_visible_range(api, sandbox_state):
    sandbox_state.agent["allow_partys"]["partyid"] = [8]
    assert api.get("user/get", userid="hujie")["errcode"] == 60011
    assert api.get("user/get", userid="caoyang")["errcode"] == 0


def test_user_lists_and_departments(api):
    simple = api.get("user/simplelist", department_id=6)["userlist"]
    assert {"userid": "tony", "name": "Tony", "department": [6], "open_userid": ""} in simple
    assert "xuchao" in [u["userid"] for u in api.get("user/list", department_id=7)["userlist"]]
    assert api.get("user/list", department_id=99)["errcode"] == 60123
    departments = api.get("department/list")["department"]
    sales = next(d for d in departments if d["id"] == 6)
    assert sales == {"id": 6, "name": "华东销售组", "name_en": "", "parentid": 5, "order": sales["order"],
                     "department_leader": ["hujie"]}
    assert [d["id"] for d in api.get("department/list", id=5)["department"]] == [5, 6, 7]


def test_agent_get(api):
    agent = api.get("agent/get", agentid=AGENT_ID)
    assert agent["agentid"] == AGENT_ID and agent["allow_partys"] == {"partyid": [1]}
    assert api.get("agent/get", agentid=1000003)["errcode"] == 301002


def test_oauth_code_single_use_and_five_minutes(api, sandbox_state, sandbox_clock):
    code = sandbox_state.issue_oauth_code("LiNa")
    assert api.get("auth/getuserinfo", code=code) == {"errcode": 0, "errmsg": "ok", "userid": "lina"}
    assert api.get("auth/getuserinfo", code=code)["errcode"] == 42022
    late = sandbox_state.issue_oauth_code("lina")
    sandbox_clock.advance(301)
    assert api.get("auth/getuserinfo", code=late)["errcode"] == 40029
    assert api.get("auth/getuserinfo", code="forged")["errcode"] == 40029


def test_authorize_stand_in_redirects_with_code(emulator_url, api):
    base = emulator_url.replace("/cgi-bin/", "")
    answer = requests.get(base + "/connect/oauth2/authorize", allow_redirects=False, timeout=5, params=dict(
        redirect_uri="http://app.test/auth/callback?next=/", state="xyz", userid="wangfang"))
    assert answer.status_code == 302
    location = requests.utils.urlparse(answer.headers["Location"])
    query = dict(p.split("=", 1) for p in location.query.split("&"))
    assert query["state"] == "xyz" and query["next"] == "%2F"
    assert api.get("auth/getuserinfo", code=query["code"])["userid"] == "wangfang"


# -- message/send (90236) ---------------------------------------------------------------------------

def test_text_partial_failure_answers_ok_with_lower_case_invalids(api, sandbox_state):
    answer = api.text("ZhangWei|NoSuchUser|jiayun", toparty="6|77", totag="2|99")
    assert answer["errcode"] == 0 and answer["errmsg"] == "ok"
    assert answer["invaliduser"] == "nosuchuser|jiayun"  # unknown, and not activated
    assert answer["invalidparty"] == "77" and answer["invalidtag"] == "99" and answer["msgid"]
    record = sandbox_state.messages[-1]
    assert record["body"]["text"]["content"] == "会议通知"
    assert record["deliveries"]["zhangwei"] == "delivered" and record["deliveries"]["tony"] == "delivered"
    assert "weiqiang" not in record["deliveries"]


@pytest.mark.parametrize("payload, errcode", [
    (dict(touser="nobody|ghost"), 81013),
    (dict(touser="", toparty="", totag=""), 82001),
    (dict(touser="|".join(f"u{i}" for i in range(1001))), 40032),
    (dict(content=""), 44004),
    (dict(agentid=1000003), 301002),
])
def test_text_validation(api, payload, errcode):
    body = dict(touser="zhangwei", msgtype="text", agentid=AGENT_ID, text=dict(content=payload.pop("content", "hi")))
    body.update(payload)
    assert api.post("message/send", body)["errcode"] == errcode


def test_text_at_the_2048_byte_limit_is_accepted(api, sandbox_state):
    assert api.text(content="字" * 682 + "ab")["errcode"] == 0
    assert sandbox_state.truncated == []


@pytest.mark.wecom_truncates
def test_a_text_over_2048_bytes_is_cut_silently_in_bytes_and_recorded(api, sandbox_state):
    """90236: "最长不超过2048个字节，超过将截断" — errcode 0, the member gets the first
    2,048 bytes (here 682 characters: the 683rd would be cut in half), and the emulator
    records that it cut, so the suite-wide guard can fail the test that caused it."""
    assert api.text(content="字" * 700)["errcode"] == 0  # 2,100 bytes
    got = sandbox_state.messages[-1]["body"]["text"]["content"]
    assert got == "字" * 682
    (cut,) = sandbox_state.truncated
    assert (cut["api"], cut["msgtype"], cut["bytes"], cut["limit"], cut["action"]) == (
        "message/send", "text", 2100, 2048, "truncated")


@pytest.mark.wecom_truncates
def test_an_appchat_text_over_2048_bytes_is_cut_and_recorded(api, sandbox_state):
    api.post("appchat/create", dict(name="项目群", owner="zhangwei", userlist=["zhangwei", "lina"], chatid="long1"))
    assert api.post("appchat/send", dict(chatid="long1", msgtype="text", text=dict(content="a" * 2100)))["errcode"] == 0
    assert sandbox_state.messages[-1]["body"]["text"]["content"] == "a" * 2048
    assert [(c["api"], c["bytes"]) for c in sandbox_state.truncated] == [("appchat/send", 2100)]


def test_at_all_reaches_every_active_visible_member(api, sandbox_state):
    api.post("message/send", dict(touser="@all", msgtype="markdown", agentid=AGENT_ID,
                                  markdown=dict(content="**通知**")))
    delivered = set(sandbox_state.messages[-1]["deliveries"])
    active = {u for u, user in sandbox_state.users.items() if user["status"] == 1}
    assert delivered == active


def test_per_member_limit_drops_silently(api, sandbox_state, sandbox_clock):
    answers = [api.text("lina", content=f"第{i}条") for i in range(31)]
    assert {a["errcode"] for a in answers} == {0} and all(a["invaliduser"] == "" for a in answers)
    assert len(sandbox_state.inbox("lina")) == 30
    assert sandbox_state.drops[-1]["userid"] == "lina" and sandbox_state.drops[-1]["reason"] == "rate_limited"
    sandbox_clock.advance(60)
    api.text("lina", content="一分钟后")
    assert len(sandbox_state.inbox("lina")) == 31


def test_duplicate_check_skips_identical_content(api, sandbox_state, sandbox_clock):
    for _ in range(2):
        assert api.text("lina", enable_duplicate_check=1, duplicate_check_interval=600)["errcode"] == 0
    assert len(sandbox_state.inbox("lina")) == 1 and sandbox_state.drops[-1]["reason"] == "duplicate"
    sandbox_clock.advance(601)
    api.text("lina", enable_duplicate_check=1, duplicate_check_interval=600)
    assert len(sandbox_state.inbox("lina")) == 2


def test_api_frequency_limit_answers_45009(api, sandbox_state, sandbox_clock):
    sandbox_state.api_limit_overrides["user/get"] = {"minute": 3, "hour": 100}
    assert [api.get("user/get", userid="lina")["errcode"] for _ in range(4)] == [0, 0, 0, 45009]
    assert api.get("department/list")["errcode"] == 0  # per API
    sandbox_clock.advance(60)
    assert api.get("user/get", userid="lina")["errcode"] == 0


# -- template cards (90236, 94888) --------------------------------------------------------------------

def test_template_card_task_id_rules(api):
    first = api.post("message/send", card("dir42_b1"))
    assert first["errcode"] == 0 and first["response_code"] and first["msgid"]
    assert api.post("message/send", card("dir42_b1"))["errcode"] == 42014  # unique per app for ever
    assert api.post("message/send", card("bad id!"))["errcode"] == 42014
    assert api.post("message/send", card("x" * 129))["errcode"] == 42014
    assert api.post("message/send", card("ok-id@2_" + "x" * 120))["errcode"] == 0


def test_click_and_update_template_card(api, sandbox_state, sandbox_clock):
    sandbox_state.token_ttl = 10 * 86400  # outlive the response codes
    api.token = requests.get(api.base + "gettoken", params=dict(corpid=CORP_ID, corpsecret=SECRET),
                             timeout=5).json()["access_token"]
    sent = api.post("message/send", card("dir7"))
    xml = sandbox_state.click("LiNa", "dir7", "ack")
    assert "<TaskId><![CDATA[dir7]]></TaskId>" in xml and "<FromUserName><![CDATA[lina]]>" in xml
    code = xml.split("<ResponseCode><![CDATA[")[1].split("]]>")[0]
    update = dict(userids=["lina"], agentid=AGENT_ID, response_code=code, button=dict(replace_name="已确认"))
    assert api.post("message/update_template_card", update) == {"errcode": 0, "errmsg": "ok", "invaliduser": []}
    assert sandbox_state.cards[("lina", "dir7")]["replace_name"] == "已确认"
    assert api.post("message/update_template_card", update)["errcode"] == 60140  # single use
    sandbox_clock.advance(sandbox_state.response_code_ttl)
    expired = dict(update, response_code=sent["response_code"], atall=1)
    assert api.post("message/update_template_card", expired)["errcode"] == 60140
    with pytest.raises(LookupError):
        sandbox_state.click("lina", "dir7", "nosuchkey")


# -- managed groups (appchat, 90245-90248) ---------------------------------------------------------------

def test_appchat_create_get_update_send(api, sandbox_state):
    created = api.post("appchat/create", dict(name="项目群", owner="ZhangWei", userlist=["zhangwei", "lina"],
                                              chatid="proj42"))
    assert created == {"errcode": 0, "errmsg": "ok", "chatid": "proj42"}
    assert api.post("appchat/update", dict(chatid="proj42", add_user_list=["hujie"], del_user_list=["lina"]))[
        "errcode"] == 0
    info = api.get("appchat/get", chatid="proj42")["chat_info"]
    assert info == {"chatid": "proj42", "name": "项目群", "owner": "zhangwei", "userlist": ["zhangwei", "hujie"],
                    "chat_type": 0}
    assert api.post("appchat/send", dict(chatid="proj42", msgtype="text", text=dict(content="欢迎")))["errcode"] == 0
    assert sandbox_state.messages[-1]["deliveries"] == {"hujie": "delivered", "zhangwei": "delivered"}
    assert api.post("appchat/send", card("c1") | dict(chatid="proj42"))["errcode"] == 40008


@pytest.mark.parametrize("payload, errcode", [
    (dict(userlist=["zhangwei"]), 86006),
    (dict(userlist=["zhangwei", "lina"], owner="hujie"), 86207),
    (dict(userlist=["zhangwei", "lina"], chatid="bad-id"), 86001),
    (dict(userlist=["zhangwei", "lina"], chatid="companynotice"), 86215),
    (dict(userlist=["zhangwei", "wmOgQhDgAAuXFJGwbve4g4iXknfOAAAA"]), 86216),
    (dict(userlist=["zhangwei", "weiqiang"]), 86216),  # disabled
])
def test_appchat_create_validation(api, payload, errcode):
    assert api.post("appchat/create", payload)["errcode"] == errcode


def test_appchat_errors_and_quotas(api, sandbox_state):
    assert api.get("appchat/get", chatid="nope")["errcode"] == 86003
    assert api.post("appchat/update", dict(chatid="companynotice", del_user_list=["hujie"]))["errcode"] == 86216
    assert api.post("appchat/update", dict(chatid="companynotice", del_user_list=["wangfang"]))["errcode"] == 86207
    sandbox_state.appchat_update_window.limit = 1
    assert api.post("appchat/update", dict(chatid="companynotice", name="通知群"))["errcode"] == 0
    assert api.post("appchat/update", dict(chatid="companynotice", name="通知群2"))["errcode"] == 45009
    sandbox_state.agent["allow_partys"]["partyid"] = [5]
    assert api.post("appchat/create", dict(userlist=["hujie", "zhuxia"]))["errcode"] == 48002


# -- customer groups (92120, 92122) -------------------------------------------------------------------

def test_groupchat_list_pagination_and_filters(api, sandbox_state):
    first = api.post("externalcontact/groupchat/list", dict(status_filter=0, limit=2))
    assert len(first["group_chat_list"]) == 2 and first["next_cursor"]
    rest = api.post("externalcontact/groupchat/list", dict(status_filter=0, limit=2, cursor=first["next_cursor"]))
    assert len(rest["group_chat_list"]) == 1 and rest["next_cursor"] == ""
    mine = api.post("externalcontact/groupchat/list", dict(owner_filter=dict(userid_list=["hujie"]), limit=100))
    assert mine["group_chat_list"] == [{"chat_id": "wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA", "status": 0}]
    assert api.post("externalcontact/groupchat/list", dict(limit=0))["errcode"] == 40058
    sandbox_state.external_contact_enabled = False
    assert api.post("externalcontact/groupchat/list", dict(limit=10))["errcode"] == 48002


def test_groupchat_get_need_name_and_member_version(api, sandbox_state):
    chat_id = "wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA"
    plain = api.post("externalcontact/groupchat/get", dict(chat_id=chat_id))["group_chat"]
    assert all("name" not in m for m in plain["member_list"])
    named = api.post("externalcontact/groupchat/get", dict(chat_id=chat_id, need_name=1))["group_chat"]
    external = next(m for m in named["member_list"] if m["type"] == 2)
    assert external["userid"].startswith("wm") and external["name"]
    xml = sandbox_state.groupchat_add_member(chat_id, "wmNEWCUSTOMER", group_nickname="新客户", JoinScene=3)
    after = api.post("externalcontact/groupchat/get", dict(chat_id=chat_id))["group_chat"]
    assert f"<LastMemVer><![CDATA[{plain['member_version']}]]></LastMemVer>" in xml
    assert f"<CurMemVer><![CDATA[{after['member_version']}]]></CurMemVer>" in xml
    assert api.post("externalcontact/groupchat/get", dict(chat_id="wrNOPE"))["errcode"] == 40050


def test_groupchat_get_names_an_inviter_only_when_a_member_invited(api, sandbox_state):
    """92122: `invitor` "目前仅当是由本企业内部成员邀请入群时会返回该值" (none for a QR-code join or
    an external inviter); an employee's `name` is the name they show outsiders (their alias)."""
    chat_id = "wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA"
    sandbox_state.users["linfeng"]["alias"] = "Lucky"
    sandbox_state.groupchat_add_member(chat_id, "linfeng", JoinScene=0, invitor="zhuxia")
    sandbox_state.groupchat_add_member(chat_id, "guojuan", JoinScene=3)
    sandbox_state.groupchat_add_member(chat_id, "wmOgQhDgAAfriend", invitor="wmOgQhDgAAuXFJGwbve4g4iXknfOAAAA")
    chat = api.post("externalcontact/groupchat/get", dict(chat_id=chat_id, need_name=1))["group_chat"]
    members = {m["userid"]: m for m in chat["member_list"]}
    assert (members["linfeng"]["join_scene"], members["linfeng"]["invitor"]) == (1, {"userid": "zhuxia"})
    assert members["guojuan"]["join_scene"] == 3 and "invitor" not in members["guojuan"]
    assert "invitor" not in members["wmOgQhDgAAfriend"] and "invitor" not in members["tony"]  # tony: seeded QR join
    assert (members["linfeng"]["name"], members["gaoping"]["name"]) == ("Lucky", "高平")
