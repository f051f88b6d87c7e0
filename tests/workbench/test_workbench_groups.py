"""群管理 through the Flask test client: who sees which groups (R10 custodians only
their own), filters and pages, creating a managed group (R7) with each refusal next
to its field and nothing written, registering (备案) a discovered customer group,
the detail page (403 for another custodian and for an employee), join approval
(R6), the member re-check, and the directives assigned through a group (R10)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests.plugins.workbench import as_user, csrf_of, rt
from wecom_app.directives import issue as directives
from wecom_app.models import AuditEntry, Group, GroupMember, OutboxAction

DISCOVERED = "wrOgQhDgAAdiscovered000000001"
ROBOT = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send"


@pytest.fixture
def company(wb):
    """pengfei looks after 研发交流群 (an out-of-scope member); hujie after 销售群; one discovered customer group."""
    with rt(wb).sessions() as db:
        mine = Group(kind="internal", name="研发交流群", owner="caoyang", custodian="pengfei", scope={"departments": [8]})
        other = Group(kind="managed", name="销售群", owner="hujie", custodian="hujie", chat_id="c1",
                      join_policy="approval", scope={"departments": [6]})
        found = Group(kind="customer", name="", owner="hujie", chat_id=DISCOVERED, status="discovered")
        db.add_all([mine, other, found])
        db.flush()
        db.add_all([GroupMember(group_id=mine.id, member_id="pengfei", compliance="ok"),
                    GroupMember(group_id=mine.id, member_id="zhuxia", compliance="out_of_scope"),
                    GroupMember(group_id=other.id, member_id="hujie", compliance="ok"),
                    GroupMember(group_id=other.id, member_id="gaoping", compliance="ok", state="pending_approval"),
                    GroupMember(group_id=found.id, member_id="tony")])
        db.commit()
        return dict(mine=mine.id, other=other.id, found=found.id)


def count(wb, model, *where):
    with rt(wb).sessions() as db:
        return db.scalar(select(func.count()).select_from(model).where(*where))


# -- the list -------------------------------------------------------------------------------------


def test_admin_sees_every_group(wb, sandbox_state, company):
    html = as_user(wb, sandbox_state, "zhangwei").get("/groups").text
    assert "研发交流群" in html and "销售群" in html and f'data-group="{company["found"]}"' in html
    assert 'data-test="new-group"' in html and f'data-test="bad-{company["mine"]}">不合规 1' in html


def test_r10_custodian_sees_only_their_groups(wb, sandbox_state, company):
    html = as_user(wb, sandbox_state, "pengfei").get("/groups").text
    assert "研发交流群" in html and "销售群" not in html and "我负责的群（1）" in html
    assert 'data-test="new-group"' not in html


def test_employee_is_refused_the_group_pages(wb, sandbox_state, company):
    client = as_user(wb, sandbox_state, "zhuxia")
    for url in ("/groups", f"/groups/{company['mine']}", "/groups/new", "/groups/register"):
        answer = client.get(url)
        assert answer.status_code == 403 and 'data-test="forbidden"' in answer.text


def test_filters_kind_compliance_and_name(wb, sandbox_state, company):
    client = as_user(wb, sandbox_state, "zhangwei")
    managed = client.get("/groups?kind=managed").text
    assert "销售群" in managed and "研发交流群" not in managed
    bad = client.get("/groups?compliance=bad").text
    assert "研发交流群" in bad and "销售群" not in bad
    assert "销售群" in client.get("/groups?q=销售").text and "研发交流群" not in client.get("/groups?q=销售").text
    none = client.get("/groups?q=不存在的群").text
    assert "没有符合条件的群" in none and "清除筛选" in none
    assert "待备案" in client.get("/groups?status=discovered").text


def test_list_is_paginated(wb, sandbox_state):
    with rt(wb).sessions() as db:
        db.add_all([Group(kind="internal", name=f"项目群{i:02d}", owner="caoyang", custodian="pengfei")
                    for i in range(25)])
        db.commit()
    client = as_user(wb, sandbox_state, "zhangwei")
    first, second = client.get("/groups").text, client.get("/groups?page=2").text
    assert "第 1 / 2 页，共 25 条" in first and "项目群24" in first and "项目群00" not in first
    assert "第 2 / 2 页" in second and "项目群00" in second


def test_empty_list_says_what_to_do(wb, sandbox_state):
    html = as_user(wb, sandbox_state, "zhangwei").get("/groups").text
    assert 'data-test="empty"' in html and "新建应用管理群" in html


# -- create a managed group (R7) ------------------------------------------------------------------------


def form(client, url, **fields):
    data = dict(csrf_token=csrf_of(client.get(url).text), name="研发部-周会", owner="caoyang", custodian="pengfei",
                departments=["8"], join_policy="auto")
    data.update(fields)
    return client.post(url, data={k: v for k, v in data.items() if v is not None})


def test_r7_admin_creates_a_managed_group(wb, sandbox_state):
    client = as_user(wb, sandbox_state, "lina")
    answer = form(client, "/groups/new", exclude="xuwei")
    assert answer.status_code == 302
    with rt(wb).sessions() as db:
        group = db.scalar(select(Group).where(Group.name == "研发部-周会"))
        members = set(db.scalars(select(GroupMember.member_id).where(GroupMember.group_id == group.id)))
        create = db.scalar(select(OutboxAction).where(
            OutboxAction.idempotency_key == f"appchat.create:{group.chat_id}"))
        actions = set(db.scalars(select(AuditEntry.action).where(AuditEntry.actor == "lina")))
    assert (group.kind, group.status, group.custodian, group.created_by) == ("managed", "creating", "pengfei", "lina")
    assert {"caoyang", "pengfei", "zenglin"} <= members and "xuwei" not in members and "jiayun" not in members
    assert create is not None and {"group.create", "workbench.group.create"} <= actions
    page = client.get(answer.location).text
    assert "已提交创建「研发部-周会」" in page and 'data-status="creating"' in page and "由应用移出" not in page
    assert "离职、停用、未激活的成员由应用自动移出" in page


@pytest.mark.parametrize("fields, field, message", [
    (dict(name=""), "name", "请填写群名称"),
    (dict(name="周会🙂群"), "name", "不能有表情符号"),
    (dict(owner="nobody"), "owner", "通讯录中没有：nobody"),
    (dict(custodian="zhongwen"), "custodian", "（zhongwen）不是本企业已激活的在职成员（R1）"),
    (dict(custodian="bad user!"), "custodian", "通讯录中没有：bad、user!"),
    (dict(departments=None, custodian="caoyang"), "departments", "按此范围将有 1 人"),
    (dict(departments=["999"]), "departments", "通讯录中没有部门 999"),
    (dict(users="ok bad!id"), "users", "通讯录中没有：ok、bad!id"),
    (dict(allow_external="y"), "allow_external", "应用管理群只能有企业内部成员"),
    (dict(join_policy="sometimes"), "join_policy", "请从列表中选择"),
])
def test_r7_invalid_fields_show_their_message_and_write_nothing(wb, sandbox_state, fields, field, message):
    client = as_user(wb, sandbox_state, "zhangwei")
    answer = form(client, "/groups/new", **fields)
    assert answer.status_code == 422
    error = answer.text.split(f'data-error="{field}">', 1)[1].split("</div>", 1)[0]
    assert message in error
    assert count(wb, Group) == 0 and count(wb, OutboxAction) == 0


def test_only_admins_create_or_register(wb, sandbox_state, company):
    client = as_user(wb, sandbox_state, "pengfei")
    token = csrf_of(client.get("/groups").text)
    assert client.post("/groups/new", data={"csrf_token": token, "name": "x"}).status_code == 403
    assert client.post("/groups/register", data={"csrf_token": token, "name": "x"}).status_code == 403


def test_a_form_without_its_csrf_token_is_refused(wb, sandbox_state):
    client = as_user(wb, sandbox_state, "zhangwei")
    answer = client.post("/groups/new", data=dict(name="研发部-周会", owner="caoyang", custodian="pengfei",
                                                  departments=["8"]))
    assert answer.status_code == 400 and "表单已过期" in answer.text and count(wb, Group) == 0


# -- register (备案) -----------------------------------------------------------------------------------


def test_r7_discovered_customer_group_is_registered_through_the_shortcut(wb, sandbox_state, company):
    client = as_user(wb, sandbox_state, "zhangwei")
    listing = client.get("/groups/register").text
    assert f'data-chat="{DISCOVERED}"' in listing and f"chat_id={DISCOVERED}" in listing
    prefilled = client.get(f"/groups/register?chat_id={DISCOVERED}").text
    assert f'value="{DISCOVERED}"' in prefilled and 'value="hujie"' in prefilled
    answer = form(client, "/groups/register", kind="customer", chat_id=DISCOVERED, name="华东客户答疑群",
                  owner="hujie", custodian="hujie", departments=["6"], allow_external="y")
    assert answer.status_code == 302 and answer.location == f"/groups/{company['found']}"
    with rt(wb).sessions() as db:
        group = db.get(Group, company["found"])
        tony = db.scalar(select(GroupMember).where(GroupMember.group_id == group.id, GroupMember.member_id == "tony"))
    assert (group.status, group.name, group.custodian, group.allow_external) == ("active", "华东客户答疑群", "hujie", True)
    assert tony.compliance != "unknown"  # judged once registered
    page = client.get(answer.location).text
    assert "没有移出客户群成员的接口" in page and "应用不会移人" in page


def test_register_refusals_next_to_their_fields(wb, sandbox_state, company):
    client = as_user(wb, sandbox_state, "zhangwei")
    no_chat = form(client, "/groups/register", kind="customer", chat_id="")
    assert 'data-error="chat_id">客户群须填写群 ID' in no_chat.text
    again = form(client, "/groups/register", kind="customer", chat_id="c1")
    assert 'data-error="chat_id">该群已登记' in again.text
    robot = form(client, "/groups/register", kind="internal", chat_id="", robot_webhook="https://example.com/x")
    assert 'data-error="robot_webhook">请填写群机器人的 Webhook 地址' in robot.text
    assert count(wb, Group) == 3


def test_r7_internal_group_is_registered_without_a_chat_id(wb, sandbox_state):
    client = as_user(wb, sandbox_state, "zhangwei")
    answer = form(client, "/groups/register", kind="internal", chat_id="", name="财务部-日常",
                  owner="liuqiang", custodian="yangmin", departments=["4"],
                  robot_webhook=f"{ROBOT}?key=693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa")
    assert answer.status_code == 302
    page = client.get(answer.location).text
    assert "仅登记备案" in page and "群机器人</dt><dd>已登记" in page and "693a91f6" not in page


# -- one group ---------------------------------------------------------------------------------------


def test_detail_for_admin_and_own_custodian(wb, sandbox_state, company):
    for userid in ("wangfang", "pengfei"):
        page = as_user(wb, sandbox_state, userid).get(f"/groups/{company['mine']}")
        assert page.status_code == 200
        assert 'data-member="zhuxia"' in page.text and 'data-status="out_of_scope"' in page.text
        assert "不在本群的成员范围内（R11）" in page.text and "研发部" in page.text


def test_r10_another_custodian_and_an_employee_get_403(wb, sandbox_state, company):
    for userid in ("hujie", "gaoping"):
        client = as_user(wb, sandbox_state, userid)
        page = client.get(f"/groups/{company['mine']}")
        assert page.status_code == 403 and "研发交流群" not in page.text and "zhuxia" not in page.text
    client = as_user(wb, sandbox_state, "hujie")
    token = csrf_of(client.get("/groups").text)
    assert client.post(f"/groups/{company['mine']}/recheck", data={"csrf_token": token}).status_code == 403
    assert as_user(wb, sandbox_state, "zhangwei").get("/groups/99999").status_code == 404


def test_members_filter_shows_only_the_non_compliant(wb, sandbox_state, company):
    html = as_user(wb, sandbox_state, "pengfei").get(f"/groups/{company['mine']}?members=bad").text
    assert 'data-member="zhuxia"' in html and 'data-member="pengfei"' not in html


def test_r6_custodian_approves_and_rejects_join_requests(wb, sandbox_state, company):
    client = as_user(wb, sandbox_state, "hujie")
    page = client.get(f"/groups/{company['other']}").text
    assert 'data-test="approve-gaoping"' in page
    token = csrf_of(page)
    answer = client.post(f"/groups/{company['other']}/join/approve", data={"csrf_token": token, "userid": "gaoping"})
    assert answer.status_code == 302 and "已批准 gaoping 入群" in client.get(answer.location).text
    again = client.post(f"/groups/{company['other']}/join/reject", data={"csrf_token": token, "userid": "gaoping"})
    assert "没有待审批的入群申请" in client.get(again.location).text
    with rt(wb).sessions() as db:
        member = db.scalar(select(GroupMember).where(GroupMember.member_id == "gaoping"))
        update = db.scalar(select(OutboxAction).where(OutboxAction.kind == "appchat/update"))
    assert member.state == "present" and update.payload["add_user_list"] == ["gaoping"]


def test_recheck_judges_the_members_again(wb, sandbox_state, company):
    with rt(wb).sessions() as db:
        db.get(Group, company["mine"]).scope = {"departments": [8, 6]}  # zhuxia is in scope now
        db.commit()
    client = as_user(wb, sandbox_state, "pengfei")
    token = csrf_of(client.get(f"/groups/{company['mine']}").text)
    answer = client.post(f"/groups/{company['mine']}/recheck", data={"csrf_token": token})
    assert "不合规 0 人（检查前 1 人）" in client.get(answer.location).text


def test_r10_directives_through_the_group_with_their_rate(wb, sandbox_state, company):
    runtime = rt(wb)
    with runtime.sessions() as db:
        db.add(GroupMember(group_id=company["mine"], member_id="zenglin", compliance="ok"))
        db.commit()
    now = runtime.clock()
    with runtime.sessions() as db:
        directive = directives.issue(db, runtime.settings, title="周五发版前完成自测", body="请自测后回复。",
                                     assignees={"groups": [company["mine"]]}, deadline=now + timedelta(days=2),
                                     issuer="caoyang", now=now)
        db.commit()
        directive_id = directive.id
    html = as_user(wb, sandbox_state, "pengfei").get(f"/groups/{company['mine']}").text
    row = html.split(f'data-directive="{directive_id}"', 1)[1].split("</div>\n  </div>", 1)[0]
    assert "周五发版前完成自测" in html and "0/3" in row and "width: 0%" in row
    empty = as_user(wb, sandbox_state, "hujie").get(f"/groups/{company['other']}").text
    assert "没有通过本群下达的指令" in empty
