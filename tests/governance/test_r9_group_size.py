"""R9 within the company's group size (群成员人数上限): appchat/create and update answer
86006 above the size the admin console sets (5-2000, commonly 200; document 90245), which
the app knows as WECOM_GROUP_SIZE_LIMIT.

- the emulator refuses as WeCom does (its `group_size_limit`);
- a managed group that would start above the limit is refused with the count and the
  limit, and nothing is half-created (API and workbench);
- a new hire into a full group queues no appchat/update WeCom would refuse: they are
  left out, the group shows the problem (API view, group page, dashboard), its owner and
  custodian are told once, and a place that frees up goes to them (reconciliation);
- an 86006 answer (the company's size is below our setting) is recorded on the group
  with its errcode, shown, and nothing WeCom would refuse is queued again.
"""

from __future__ import annotations

import requests
from sqlalchemy import func, select

from tests.plugins.workbench import login
from wecom_app.governance import reconcile, registry
from wecom_app.models import AuditEntry, Department, Group, GroupMember, OutboxAction, User, UserDepartment
from wecom_app.settlers import SETTLERS
from wecom_app.wecom import outbox

from tests.plugins.api import bearer, error, issue_token, seed_directory
from tests.plugins.world import actions, deliver, failed_rows, member, push, texts_to

SURNAMES, GIVEN = "赵钱孙李周吴郑王冯陈", "一二三四五六七八九十"


def staff(n: int, prefix: str = "kf") -> list[tuple[str, str]]:
    """n employees with real names (R2): kf000 赵一一, kf001 赵一二, ..."""
    return [(f"{prefix}{i:03d}", SURNAMES[i // 100] + GIVEN[(i // 10) % 10] + GIVEN[i % 10]) for i in range(n)]


def add_staff(session, department: int, name: str, people, parent: int = 1) -> None:
    """A department of active employees in the directory mirror."""
    session.add(Department(id=department, name=name, parentid=parent))
    for userid, person in people:
        session.add(User(userid=userid, name=person, status=1, main_department=department))
        session.add(UserDepartment(userid=userid, department_id=department))


def counts(sessions) -> tuple[int, ...]:
    with sessions() as session:
        creations = select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "group.create")
        return (*(session.scalar(select(func.count()).select_from(model))
                  for model in (Group, GroupMember, OutboxAction)), session.scalar(creations))


# -- the emulator ------------------------------------------------------------------------------------


def test_emulator_answers_86006_above_the_company_group_size(emulator_url, emulator_token, sandbox_state):
    def post(path, body):
        return requests.post(emulator_url + path, params=dict(access_token=emulator_token), json=body,
                             timeout=5).json()

    sandbox_state.group_size_limit = 5  # the admin console's 群成员人数上限
    six = ["caoyang", "pengfei", "zenglin", "xiaojian", "tianyu", "dengchao"]
    refused = post("appchat/create", dict(userlist=six, chatid="big"))
    assert refused["errcode"] == 86006 and "invalid chat member list size" in refused["errmsg"]
    assert "big" not in sandbox_state.appchats
    assert post("appchat/create", dict(userlist=six[:5], chatid="five"))["errcode"] == 0
    assert post("appchat/update", dict(chatid="five", add_user_list=["dengchao"]))["errcode"] == 86006
    assert sandbox_state.appchats["five"]["userlist"] == six[:5]
    assert post("appchat/update", dict(chatid="five", add_user_list=["dengchao"], del_user_list=["tianyu"]))[
        "errcode"] == 0


# -- creating a group above the limit --------------------------------------------------------------------


MANAGED = {"name": "研发部-全员", "owner": "zhangsan", "custodian": "lisi", "scope": {"departments": [2]},
           "allow_external": False, "join_policy": "auto"}


def test_r9_api_refuses_a_201_person_group_under_a_limit_of_200_and_creates_nothing(client, runtime):
    seed_directory(runtime)  # zhangsan (owner), lisi, zhaoliu in 研发部 (2) ⊃ 平台组 (3)
    with runtime.sessions.begin() as session:
        add_staff(session, 4, "平台二组", staff(198), parent=2)  # 3 + 198 = 201
    admin = issue_token(runtime, "admin", name="office")
    before = counts(runtime.sessions)
    response = client.post("/api/v1/groups", headers=bearer(admin), json=MANAGED)
    assert response.status_code == 422
    problem = error(response)
    assert problem["field"] == "scope" and "201 members" in problem["message"] and "of 200" in problem["message"]
    assert counts(runtime.sessions) == before  # no group, no members, no outbox row, no audit of a creation
    one_fewer = dict(MANAGED, scope={"departments": [2], "exclude": ["kf000"]})
    created = client.post("/api/v1/groups", headers=bearer(admin), json=one_fewer)
    assert created.status_code == 201 and len(created.get_json()["members"]) == 200
    assert created.get_json()["problem"] is None


def test_r9_workbench_form_shows_the_count_and_the_limit_next_to_the_scope(wb, sandbox_state):
    runtime = wb.extensions["wecom"]
    with runtime.sessions.begin() as session:
        add_staff(session, 10, "客服部", staff(199))  # + owner caoyang + custodian pengfei = 201
    client = wb.test_client()
    login(client, sandbox_state, "zhangwei")
    page = client.get("/groups/new").text
    assert "一个群最多 200 人" in page
    before = counts(runtime.sessions)
    csrf = page.split('name="csrf_token" type="hidden" value="', 1)[1].split('"', 1)[0]
    answer = client.post("/groups/new", data=dict(csrf_token=csrf, name="客服部-全员", owner="caoyang",
                                                  custodian="pengfei", departments=["10"], join_policy="auto"))
    assert answer.status_code == 422
    message = answer.text.split('data-error="departments">', 1)[1].split("</div>", 1)[0]
    assert "将有 201 人" in message and "上限 200 人" in message
    assert counts(runtime.sessions) == before


# -- a full group ---------------------------------------------------------------------------------------


def department_of(world, department: int, name: str, n: int, prefix: str) -> None:
    """A department in the emulated company and in the mirror."""
    people = staff(n, prefix)
    world.state.add_department(department, name)
    for userid, person in people:
        world.state.add_user(userid, person, [department])
    with world.sessions.begin() as session:
        add_staff(session, department, name, people)


def create(world, name: str, department: int) -> tuple[int, str]:
    with world.sessions.begin() as session:
        group = registry.create_managed_group(
            session, world.settings, name=name, owner="zhangwei", custodian="wangfang",
            scope={"departments": [department]}, allow_external=False, join_policy="auto", actor="api:office",
            now=world.now())
        return group.id, group.chat_id


def told(session, marker="【群人数上限】") -> list[str]:
    return [t for t in texts_to(session, "wangfang") if t.startswith(marker)]


def problem_of(session, group_id: int) -> dict | None:
    return registry.group_view(session, session.get(Group, group_id))["problem"]  # GET /api/v1/groups/{id}


def test_r9_new_hire_into_a_full_group_is_left_out_shown_and_the_custodian_told_once(world):
    department_of(world, 10, "客服部", 197, "kf")  # + zhangwei + wangfang = 199
    group_id, chat = create(world, "客服部-全员", 10)
    deliver(world)
    with world.sessions.begin() as session:
        registry.settle_created_groups(session, world.now())  # the outbox job's step: the group is active
    push(world, world.state.user_create("newbie", "牛犇", [10]))  # the 200th: there is room
    push(world, world.state.user_create("newbie2", "马超", [10]), world.state.user_create("newbie3", "关羽", [10]))
    with world.sessions() as session:
        assert [a.payload["add_user_list"] for a in actions(session, "appchat/update")] == [["newbie"]]
        assert member(session, group_id, "newbie2").state == "over_limit"  # nothing WeCom would answer 86006
        problem = problem_of(session, group_id)
        assert (problem["code"], problem["members"], problem["limit"], problem["errcode"]) == ("size_limit", 200, 200, None)
        assert [p["userid"] for p in problem["left_out"]] == ["newbie2", "newbie3"]
        assert len(told(session)) == 1 and "200" in told(session)[0]  # once, not once per event
    deliver(world)
    assert len(world.state.appchats[chat]["userlist"]) == 200
    # a place frees up: someone leaves; reconciliation gives it to the first one left out
    push(world, world.state.user_delete("kf000"))
    deliver(world)
    reconcile.reconcile(world.sessions, world.client, world.settings, world.now())
    deliver(world)
    assert "newbie2" in world.state.appchats[chat]["userlist"] and "kf000" not in world.state.appchats[chat]["userlist"]
    with world.sessions() as session:
        assert [p["userid"] for p in problem_of(session, group_id)["left_out"]] == ["newbie3"]
        assert len(told(session)) == 1
    push(world, world.state.user_update("newbie3", department=[9]))  # leaves the scope: no longer waiting
    with world.sessions() as session:
        assert problem_of(session, group_id) is None


def test_r9_a_86006_from_wecom_is_recorded_on_the_group_and_not_queued_again(world):
    world.state.group_size_limit = 100  # the company's console says 100; WECOM_GROUP_SIZE_LIMIT says 200
    department_of(world, 10, "客服部", 99, "kf")  # 101 members: WeCom refuses the create
    department_of(world, 11, "售后部", 98, "sh")  # 100 members: created; a new hire is refused
    too_big, _ = create(world, "客服部-全员", 10)
    full, chat = create(world, "售后部-全员", 11)
    stats = outbox.send_due(world.sessions, world.client, world.settings, world.calendar, world.now())
    assert stats.failed == 1 and [row[2] for row in failed_rows(world)] == [86006]
    push(world, world.state.user_create("newbie", "牛犇", [11]))  # our setting has room: an update is queued
    outbox.send_due(world.sessions, world.client, world.settings, world.calendar, world.now())
    with world.sessions.begin() as session:
        assert [a.errcode for a in actions(session, "appchat/update", "failed")] == [86006]
        outbox.settle(session, world.now(), SETTLERS)
    push(world, world.state.user_create("newbie2", "马超", [11]))
    with world.sessions() as session:
        created = problem_of(session, too_big)
        assert (created["errcode"], created["api"], created["refused_size"]) == (86006, "appchat/create", 101)
        assert registry.group_view(session, session.get(Group, too_big))["creation"] == {"outbox": "failed",
                                                                                          "errcode": 86006}
        updated = problem_of(session, full)
        assert (updated["errcode"], updated["refused_size"], updated["limit"]) == (86006, 101, 100)
        assert [p["userid"] for p in updated["left_out"]] == ["newbie", "newbie2"]
        assert len(actions(session, "appchat/update")) == 1  # newbie2: nothing queued that WeCom would refuse
        assert sum("86006" in t for t in told(session)) == 2  # one per group
    assert "newbie" not in world.state.appchats[chat]["userlist"]
    world.state.group_size_limit = 200  # the console's size is raised; an operator retries what failed
    with world.sessions.begin() as session:
        for row in actions(session, "appchat/create", "failed") + actions(session, "appchat/update", "failed"):
            outbox.retry_failed(session, row.id, now=world.now())
    deliver(world)
    with world.sessions.begin() as session:
        outbox.settle(session, world.now(), SETTLERS)
    with world.sessions() as session:
        assert problem_of(session, too_big) is None
        after = problem_of(session, full)  # WeCom took 101: the refusal is gone, newbie2 waits for reconciliation
        assert (after["errcode"], after["limit"], [p["userid"] for p in after["left_out"]]) == (None, 200, ["newbie2"])
    assert "newbie" in world.state.appchats[chat]["userlist"]


# -- shown in the workbench -------------------------------------------------------------------------------


def test_r9_group_page_and_dashboard_show_the_size_problem(wb, sandbox_state):
    runtime = wb.extensions["wecom"]
    with runtime.sessions.begin() as session:
        group = Group(kind="managed", name="售后部-全员", owner="caoyang", custodian="pengfei", chat_id="full1",
                      scope={"departments": [8]}, problem="size_limit", problem_since=runtime.clock(),
                      problem_detail={"limit": 200, "errcode": 86006, "api": "appchat/update", "refused_size": 101})
        session.add(group)
        session.flush()
        session.add_all([GroupMember(group_id=group.id, member_id="caoyang", compliance="ok"),
                         GroupMember(group_id=group.id, member_id="xuwei", compliance="ok", state="over_limit")])
        group_id = group.id
    client = wb.test_client()
    login(client, sandbox_state, "pengfei")
    page = client.get(f"/groups/{group_id}").text
    shown = page.split('data-test="problem"', 1)[1].split("</div>", 1)[0]
    assert 'data-errcode="86006"' in page and "错误码 86006" in shown and "许伟" in shown and "xuwei" in shown
    assert "未能入群（群已满）" in page
    home = client.get("/").text
    assert 'data-test="group-problems"' in home and "售后部-全员" in home and "企业微信错误码 86006" in home
