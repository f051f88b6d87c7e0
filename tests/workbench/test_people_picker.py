"""The people picker (issue 13 #1): finding people by name, pinyin, initials, userid
and department (`/people/search`), who may find whom, two people called 李娜 told
apart and asked about, unknown userids refused by name with every field's errors
at once, and, for WeCom's own picker inside the client, the app's jsapi_ticket
(cached, never logged) and the wx.agentConfig signature (90506's worked example).

Demo directory (sandbox/seed.py): lina 李娜 行政部·行政专员 and lina2 李娜 华东销售组·销售代表;
研发部 (8) holds caoyang 曹阳, pengfei 彭飞, zenglin 曾琳, xiaojian 肖剑 …"""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import func, insert, select

from tests.plugins.workbench import as_user, csrf_of, rt
from wecom_app.directory import people
from wecom_app.models import Group, GroupMember, OutboxAction, User, UserDepartment
from wecom_app.wecom import jsapi
from wecom_app.wecom.errors import WeComError


def found(client, **args):
    answer = client.get("/people/search", query_string=args)
    assert answer.status_code == 200, answer.text
    return [p["userid"] for p in answer.json["people"]], answer.json


# -- pure: pinyin matching and the signature -----------------------------------------------------


@pytest.mark.parametrize("typed", ["lina", "ln", "lin", "lna", "na", "l"])
def test_a_name_is_spelled_by_pinyin_initials_or_a_mix(typed):
    assert people.spelled(typed, tuple(people._readings(c) for c in "李娜"))


def test_a_surname_with_two_readings_matches_both_and_a_wrong_spelling_nothing():
    zeng_lin = tuple(people._readings(c) for c in "曾琳")
    assert people.spelled("zenglin", zeng_lin) and people.spelled("cenglin", zeng_lin)
    assert not people.spelled("lina", zeng_lin) and not people.spelled("zx", zeng_lin)


def test_the_agent_config_signature_is_90506s_worked_example():
    # developer.work.weixin.qq.com/document/path/90506 签名算法 示例
    ticket = "sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg"
    assert jsapi.signature(ticket, "Wm3WZYTPz0wzccnW", 1414587457, "http://mp.weixin.qq.com?params=value") \
        == "0f9de62fce790f9a083d5c99e95740ceb90c27ed"
    # the url is signed without its #fragment
    assert jsapi.signature(ticket, "Wm3WZYTPz0wzccnW", 1414587457, "http://mp.weixin.qq.com?params=value#x") \
        == "0f9de62fce790f9a083d5c99e95740ceb90c27ed"


# -- the search endpoint -------------------------------------------------------------------------


def test_search_by_name_pinyin_initials_userid_and_department(wb, sandbox_state):
    admin = as_user(wb, sandbox_state, "zhangwei")
    by_name, answer = found(admin, q="娜")
    assert set(by_name) == {"lina", "lina2"}
    labels = {p["userid"]: (p["label"], p["same_name"]) for p in answer["people"]}
    assert labels == {"lina": ("李娜（行政部 · 行政专员）", 2), "lina2": ("李娜（华东销售组 · 销售代表）", 2)}
    assert {"lina", "lina2"} <= set(found(admin, q="lina")[0]) and found(admin, q="lina")[0][0] == "lina"
    assert found(admin, q="cy")[0][0] == "caoyang" and found(admin, q="caoyang")[0][0] == "caoyang"
    assert "zenglin" in found(admin, q="zengl")[0] and "zenglin" in found(admin, q="曾")[0]
    in_department, answer = found(admin, q="研发")
    assert {"caoyang", "pengfei", "zenglin"} <= set(in_department) and answer["departments"][0]["id"] == 8
    assert "jiayun" not in in_department  # not activated: not offered
    sales = set(found(admin, department=5, per_page=50)[0])
    assert {"hujie", "lina2", "zhengming", "wujun"} <= sales and "zenglin" not in sales
    assert set(found(admin, department=5, sub=0)[0]) == {"wujun", "xuchao"}  # 销售部 alone, not its 组
    first, answer = found(admin, department=8, per_page=3)
    second, _ = found(admin, department=8, per_page=3, page=2)
    assert len(first) == 3 and answer["has_next"] and not set(first) & set(second)
    assert admin.get("/people/search?per_page=5000").status_code == 400
    tree = admin.get("/people/departments").json["departments"]
    assert (tree[0]["name"], tree[0]["depth"]) == ("云杉科技有限公司", 0)
    assert [(d["name"], d["depth"]) for d in tree if d["id"] in (5, 6)] == [("销售部", 1), ("华东销售组", 2)]


def test_an_employee_finds_only_the_people_of_their_own_groups(wb, sandbox_state):
    with rt(wb).sessions() as db:
        chat = Group(kind="managed", name="研发交流群", owner="caoyang", custodian="pengfei", chat_id="rd1",
                     status="active", scope={"departments": [8]})
        db.add(chat)
        db.flush()
        db.add_all([GroupMember(group_id=chat.id, member_id=u, compliance="ok") for u in ("zenglin", "xiaojian")])
        db.commit()
    employee = as_user(wb, sandbox_state, "xiaojian")
    assert found(employee, q="zl")[0] == ["zenglin"]
    assert found(employee, q="李娜")[0] == [] and found(employee, q="研发")[1]["departments"] == []
    assert employee.get("/people/search?department=8").status_code == 403
    assert employee.get("/people/departments").status_code == 403
    assert employee.get("/people/lookup?ids=zenglin,lina").json["people"][0]["userid"] == "zenglin"
    assert len(employee.get("/people/lookup?ids=zenglin,lina").json["people"]) == 1
    anonymous = wb.test_client().get("/people/search?q=li")
    assert anonymous.status_code == 302 and "/login" in anonymous.location


# -- the forms: names resolved, unknowns refused, every error at once ----------------------------------


def test_r11_unknown_userids_and_a_shared_name_are_refused_together_and_nothing_is_written(wb, sandbox_state):
    admin = as_user(wb, sandbox_state, "zhangwei")
    token = csrf_of(admin.get("/groups/new").text)
    answer = admin.post("/groups/new", data={"csrf_token": token, "name": "", "owner": "李娜", "custodian": "ghost0",
                                             "users": "ghost1, ghost2 zenglin", "exclude": "曾琳", "join_policy": "auto"})
    assert answer.status_code == 422

    def error(field):
        return answer.text.split(f'data-error="{field}">', 1)[1].split("</div>", 1)[0]

    assert "请填写群名称" in error("name")
    assert "有 2 位「李娜」" in error("owner") and "行政部 · 行政专员" in error("owner") and "lina2" in error("owner")
    assert "不是本企业已激活的在职成员" not in answer.text
    assert "通讯录中没有：ghost0" in error("custodian") and "通讯录中没有：ghost1、ghost2" in error("users")
    assert 'data-error="exclude"' not in answer.text  # 曾琳 is one person: fine
    with rt(wb).sessions() as db:
        assert db.scalar(select(func.count()).select_from(Group)) == 0
        assert db.scalar(select(func.count()).select_from(OutboxAction)) == 0


def test_r7_names_typed_without_javascript_become_userids(wb, sandbox_state):
    admin = as_user(wb, sandbox_state, "zhangwei")
    token = csrf_of(admin.get("/groups/new").text)
    answer = admin.post("/groups/new", data={"csrf_token": token, "name": "研发部-周会", "owner": "曹阳",
                                             "custodian": "PengFei", "departments": ["8"], "exclude": "许伟、lina",
                                             "users": "lina2", "join_policy": "auto"})
    assert answer.status_code == 302, answer.text
    with rt(wb).sessions() as db:
        group = db.scalar(select(Group))
    assert (group.owner, group.custodian) == ("caoyang", "pengfei")
    assert group.scope["users"] == ["lina2"] and group.scope["exclude"] == ["xuwei", "lina"]


def test_r3_a_report_names_one_of_two_people_called_the_same(wb, sandbox_state):
    with rt(wb).sessions() as db:
        chat = Group(kind="managed", name="综合群", owner="caoyang", custodian="pengfei", chat_id="all1",
                     status="active", scope={"departments": [1]})
        db.add(chat)
        db.flush()
        db.add_all([GroupMember(group_id=chat.id, member_id=u, compliance="ok") for u in ("lina", "lina2", "zhuxia")])
        db.commit()
        chat_id = chat.id
    client = as_user(wb, sandbox_state, "zhuxia")
    token = csrf_of(client.get("/reports").text)
    data = {"csrf_token": token, "group": str(chat_id), "rule": "R3", "text": "在群里骂人"}
    asked = client.post("/reports", data={**data, "person": "李娜"})
    assert asked.status_code == 422 and "有 2 位「李娜」，请选择是哪一位" in asked.text
    assert "销售代表" in asked.text and 'data-ask="{&#34;李娜&#34;' in asked.text  # the picker's question
    assert client.post("/reports", data={**data, "person": "lina2"}).status_code == 302


# -- inside the WeCom client: the app's jsapi_ticket and wx.agentConfig --------------------------------


def test_agent_config_is_signed_with_the_cached_app_ticket_which_is_never_logged(wb, sandbox_state, caplog):
    caplog.set_level(logging.DEBUG)
    admin = as_user(wb, sandbox_state, "zhangwei")
    url = "http://localhost/groups/new?x=1"
    first = admin.get("/people/agent-config", query_string={"url": url + "#frag"}).json
    second = admin.get("/people/agent-config", query_string={"url": url}).json
    (ticket,) = sandbox_state.jsapi_tickets
    assert sandbox_state.ticket_calls == 1  # the second page reuses the cached ticket (90506: fetches are limited)
    for config in (first, second):
        assert config["corpid"] == rt(wb).settings.corp_id and config["agentid"] == rt(wb).settings.agent_id
        assert config["signature"] == jsapi.signature(ticket, config["nonceStr"], config["timestamp"], url)
    assert ticket not in caplog.text and ticket not in str(sandbox_state.faults.calls())
    assert admin.get("/people/agent-config", query_string={"url": "https://evil.example/x"}).status_code == 400
    with pytest.raises(WeComError) as refused:  # 90506: type=agent_config is the app's ticket
        rt(wb).client.get("ticket/get", {"type": "jsapi"})
    assert refused.value.errcode == 40058


# -- 10,000 people --------------------------------------------------------------------------------------


def test_the_index_of_10000_people_is_built_once_and_finds_them(engine, db_url):
    """At 10,000 people the index is built once per directory state and still finds by
    name, pinyin, initials and userid. Its speed is printed by `./dev bench people_search`."""
    from sqlalchemy.orm import sessionmaker

    sessions = sessionmaker(engine)
    surnames, given = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田", "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英"
    with sessions() as db:
        db.execute(insert(User), [
            dict(userid=f"u{i:05d}", name=surnames[i % len(surnames)] + given[i // len(surnames) % len(given)]
                 + given[i % len(given)], status=1, main_department=1, position="职员") for i in range(10000)])
        db.execute(insert(UserDepartment), [dict(userid=f"u{i:05d}", department_id=1) for i in range(10000)])
        db.commit()
        first = people.index(db)
        assert people.index(db) is first  # nothing changed: not rebuilt
        hits = {q: people.search(db, q, per_page=50) for q in ("李娜", "lina", "ln", "u09999")}
        db.execute(insert(User), [dict(userid="newcomer", name="李娜娜", status=1, main_department=1)])
        db.commit()
        assert people.index(db) is not first  # the directory changed: rebuilt
    assert hits["u09999"]["people"][0]["userid"] == "u09999"
    assert all("李" in p["name"] and "娜" in p["name"] for p in hits["李娜"]["people"])
    assert 0 < hits["李娜"]["total"] <= hits["lina"]["total"] <= hits["ln"]["total"]  # each a looser spelling


# -- freshness: one read of the directory's version decides (directory/version.py) ------------------------


@pytest.mark.both_databases  # the version is bumped by a trigger per dialect
def test_the_index_is_rebuilt_after_a_change_by_another_process_and_kept_otherwise(engine, db_url):
    from sqlalchemy import text
    from sqlalchemy.orm import sessionmaker

    from wecom_app.db import make_engine

    sessions = sessionmaker(engine)
    with sessions.begin() as db:
        db.add_all([User(userid="lina", name="李娜", status=1, main_department=1),
                    UserDepartment(userid="lina", department_id=1)])
    with sessions() as db:
        first = people.index(db)
    with sessions() as db:
        assert people.index(db) is first
    other = make_engine(db_url)  # another process, raw SQL
    with other.begin() as conn:
        conn.execute(text("UPDATE wecom_user SET name = '李娜娜' WHERE userid = 'lina'"))
    other.dispose()
    with sessions() as db:
        assert people.search(db, "李娜娜")["people"][0]["userid"] == "lina"
        assert people.index(db) is not first


def test_a_transaction_s_own_directory_write_is_searched_but_not_kept_for_others(engine):
    from sqlalchemy.orm import sessionmaker

    sessions = sessionmaker(engine)
    with sessions() as db:
        kept = people.index(db)
    with sessions() as db:
        db.add(User(userid="ghost", name="幽灵", status=1, main_department=1))
        assert people.search(db, "幽灵")["total"] == 1
        db.rollback()
    with sessions() as db:
        assert people.search(db, "幽灵")["total"] == 0 and people.index(db) is kept
