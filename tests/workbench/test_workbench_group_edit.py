"""群管理's edit and archive pages (issue 13 item 6) through the Flask test client: a scope
change is previewed (names with departments) and applied only on confirm, through the
outbox (R9, R11); a confirm of a scope other than the one previewed previews again; a
second group of the same name is refused next to its field (R8); only admins edit;
archiving keeps the group as a record."""

from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import select

from tests.plugins.workbench import as_user, csrf_of, rt
from wecom_app.governance.scope import active_in_scope
from wecom_app.models import AuditEntry, Group, GroupMember, OutboxAction, User, UserDepartment
from wecom_app.models.directory import STATUS_ACTIVE

RD, HUADONG = 8, 6


@pytest.fixture
def groups(wb):
    """销售群: a managed group of 华东销售组, all of it in the group (hujie custodian); 研发交流群: internal."""
    with rt(wb).sessions() as db:
        sales = Group(kind="managed", name="销售群", owner="hujie", custodian="hujie", chat_id="c1", status="active",
                      scope={"departments": [HUADONG], "tags": [], "users": [], "exclude": []})
        rd = Group(kind="internal", name="研发交流群", owner="caoyang", custodian="pengfei", status="active",
                   scope={"departments": [RD], "tags": [], "users": [], "exclude": []})
        db.add_all([sales, rd])
        db.flush()
        db.add_all([GroupMember(group_id=sales.id, member_id=u, compliance="ok")
                    for u in sorted(active_in_scope(db, {"departments": [HUADONG]}))])
        db.commit()
        return dict(sales=sales.id, rd=rd.id)


def post_edit(client, group_id, page_html=None, **fields):
    page_html = page_html or client.get(f"/groups/{group_id}/edit").text
    data = dict(csrf_token=csrf_of(page_html), name="销售群", custodian="hujie", departments=[str(HUADONG)],
                join_policy="auto")
    previewed = re.search(r'name="preview_of" type="hidden" value="([^"]*)"', page_html)
    if previewed and previewed.group(1):
        data["preview_of"] = html.unescape(previewed.group(1))
    data.update(fields)
    return client.post(f"/groups/{group_id}/edit", data={k: v for k, v in data.items() if v is not None})


def updates(wb):
    with rt(wb).sessions() as db:
        return [a.payload for a in db.scalars(select(OutboxAction).where(OutboxAction.kind == "appchat/update"))]


def test_r9_scope_change_is_previewed_then_applied_on_confirm(wb, sandbox_state, groups):
    client = as_user(wb, sandbox_state, "zhangwei")
    shown = post_edit(client, groups["sales"], departments=[str(RD)], exclude="xuwei")
    assert shown.status_code == 200 and 'data-test="preview"' in shown.text and 'data-test="confirm"' in shown.text
    added = re.search(r'data-test="added">(.*?)</ul>', shown.text, re.S).group(1)
    removed = re.search(r'data-test="removed">(.*?)</ul>', shown.text, re.S).group(1)
    assert 'data-userid="caoyang"' in added and "曹阳 <span class=\"wb-muted\">研发部" in added
    assert 'data-userid="xuwei"' not in added and 'data-userid="jiayun"' not in added  # excluded; not activated
    assert 'data-userid="gaoping"' in removed and "高平" in removed and 'data-userid="hujie"' not in removed  # custodian
    assert updates(wb) == []  # a preview changes nothing
    done = post_edit(client, groups["sales"], shown.text, departments=[str(RD)], exclude="xuwei")
    assert done.status_code == 302
    (update,) = updates(wb)
    assert "caoyang" in update["add_user_list"] and {"gaoping", "zhuxia"} <= set(update["del_user_list"])
    assert "hujie" not in update["del_user_list"]
    with rt(wb).sessions() as db:
        assert db.get(Group, groups["sales"]).scope["departments"] == [RD]
        assert {"group.edit", "workbench.group.edit"} <= set(db.scalars(select(AuditEntry.action)))
    assert "appchat/update" in client.get(done.location).text


def test_r9_a_confirm_of_another_scope_than_the_previewed_one_previews_again(wb, sandbox_state, groups):
    client = as_user(wb, sandbox_state, "zhangwei")
    shown = post_edit(client, groups["sales"], departments=[str(RD)])
    again = post_edit(client, groups["sales"], shown.text, departments=[str(RD)], exclude="caoyang")
    assert again.status_code == 200 and 'data-test="preview"' in again.text
    assert 'data-userid="caoyang"' not in re.search(r'data-test="added">(.*?)</ul>', again.text, re.S).group(1)
    assert updates(wb) == []


def test_r9_a_confirm_after_the_directory_moved_previews_the_new_change_instead_of_applying_it(wb, sandbox_state,
                                                                                              groups):
    client = as_user(wb, sandbox_state, "zhangwei")
    shown = post_edit(client, groups["sales"], departments=[str(RD)])
    with rt(wb).sessions.begin() as db:  # a new hire in 研发部 between the preview and the confirm
        db.add_all([User(userid="xinren", name="辛任", status=STATUS_ACTIVE, main_department=RD),
                    UserDepartment(userid="xinren", department_id=RD)])
    again = post_edit(client, groups["sales"], shown.text, departments=[str(RD)])
    assert again.status_code == 200 and 'data-test="preview"' in again.text  # not applied: shown anew
    assert 'data-userid="xinren"' in re.search(r'data-test="added">(.*?)</ul>', again.text, re.S).group(1)
    assert updates(wb) == []
    assert post_edit(client, groups["sales"], again.text, departments=[str(RD)]).status_code == 302
    (update,) = updates(wb)
    assert "xinren" in update["add_user_list"]


def test_r8_rename_without_member_changes_is_saved_at_once(wb, sandbox_state, groups):
    client = as_user(wb, sandbox_state, "zhangwei")
    done = post_edit(client, groups["sales"], name="华东销售群")
    assert done.status_code == 302
    assert updates(wb) == [{"chatid": "c1", "name": "华东销售群"}]  # appchat/update name (98913)


def test_r8_a_second_group_of_the_same_name_is_refused_next_to_the_name(wb, sandbox_state, groups):
    client = as_user(wb, sandbox_state, "zhangwei")
    refused = post_edit(client, groups["sales"], name="研发交流群")
    assert refused.status_code == 422
    assert re.search(r'data-error="name">已有同名的群「研发交流群」（群 \d+）', refused.text)
    page = client.get("/groups/new").text
    created = client.post("/groups/new", data=dict(csrf_token=csrf_of(page), name="销售群", owner="caoyang",
                                                   custodian="pengfei", departments=[str(RD)], join_policy="auto"))
    assert created.status_code == 422 and 'data-error="name">已有同名的群「销售群」' in created.text


def test_r9_internal_group_scope_change_tells_the_custodian(wb, sandbox_state, groups):
    client = as_user(wb, sandbox_state, "zhangwei")
    page = client.get(f"/groups/{groups['rd']}/edit").text
    assert "企业微信不提供修改内部群（备案）名称或成员的接口" in page and 'name="join_policy"' not in page
    shown = post_edit(client, groups["rd"], page, name="研发交流群", custodian="pengfei", departments=[str(RD)],
                      exclude="zenglin")
    assert "请群主在客户端邀请" in shown.text  # nobody recorded yet: everyone in scope is to be invited
    done = post_edit(client, groups["rd"], shown.text, name="研发交流群", custodian="pengfei", departments=[str(RD)],
                     exclude="zenglin")
    assert done.status_code == 302 and updates(wb) == []
    with rt(wb).sessions() as db:
        tasks = [a.payload["text"]["content"] for a in db.scalars(select(OutboxAction).where(
            OutboxAction.kind == "message/send"))]
    assert any("成员范围已调整" in t and "请邀请入群" in t for t in tasks)


def test_only_admins_edit_or_archive(wb, sandbox_state, groups):
    client = as_user(wb, sandbox_state, "hujie")  # the custodian of 销售群
    assert client.get(f"/groups/{groups['sales']}/edit").status_code == 403
    assert 'data-test="edit-group"' not in client.get(f"/groups/{groups['sales']}").text


def test_archive_keeps_the_group_as_a_record(wb, sandbox_state, groups):
    client = as_user(wb, sandbox_state, "zhangwei")
    page = client.get(f"/groups/{groups['sales']}/edit").text
    assert "企业微信没有解散应用群的接口" in page and 'name="status" value="archived"' in page
    done = client.post(f"/groups/{groups['sales']}/retire", data=dict(csrf_token=csrf_of(page), status="archived",
                                                                        note="项目结束"))
    assert done.status_code == 302
    detail = client.get(done.location).text
    assert 'data-test="archived"' in detail and 'data-test="edit-group"' not in detail and "高平" in detail
    with rt(wb).sessions() as db:
        assert db.get(Group, groups["sales"]).status == "archived"
        assert "group.archive" in set(db.scalars(select(AuditEntry.action)))
    assert client.get(f"/groups/{groups['sales']}/edit").status_code == 302  # an archived group is not edited


def test_a_discovered_customer_group_is_archived_instead_of_registered(wb, sandbox_state):
    with rt(wb).sessions.begin() as db:
        found = Group(kind="customer", name="私人客户群", chat_id="wrFound0001", status="discovered")
        db.add(found)
        db.flush()
        found_id = found.id
    client = as_user(wb, sandbox_state, "zhangwei")
    page = client.get(f"/groups/{found_id}").text
    assert 'data-test="ignore-discovered"' in page
    done = client.post(f"/groups/{found_id}/retire", data=dict(csrf_token=csrf_of(page), status="archived"))
    assert done.status_code == 302
    assert "wrFound0001" not in client.get("/groups/register").text
    with rt(wb).sessions() as db:
        assert db.get(Group, found_id).status == "archived"
