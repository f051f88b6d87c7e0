"""PATCH /api/v1/groups/{id} and POST /groups/{id}/archive (issue 13 item 6): a dry run
previews who would be added and removed and writes nothing; an edit goes through the
outbox (appchat/update, R9); one name per governed group (R8); admins only; archived
groups are kept and no longer edited."""

import pytest
from sqlalchemy import func, select

from wecom_app.models import AuditEntry, Group, GroupMember, OutboxAction

from tests.plugins.api import add_group, bearer, error, issue_token, seed_directory

SCOPE = {"departments": [2], "tags": [], "users": [], "exclude": []}


@pytest.fixture
def admin(runtime):
    seed_directory(runtime)
    return issue_token(runtime, "admin", name="office")


@pytest.fixture
def group(runtime):
    """研发部-周会, managed: zhangsan owner, lisi custodian, zhaoliu (平台组, inside 研发部) a member."""
    return add_group(runtime, chat_id="wa1", status="active", scope=SCOPE,
                     members=[("zhangsan", "ok"), ("lisi", "ok"), ("zhaoliu", "ok")])


def writes(runtime) -> tuple[int, int]:
    with runtime.sessions() as session:
        return tuple(session.scalar(select(func.count()).select_from(m)) for m in (OutboxAction, AuditEntry))


def test_r9_dry_run_previews_the_members_and_writes_nothing(client, runtime, admin, group):
    before = writes(runtime)
    response = client.patch(f"/api/v1/groups/{group}", headers=bearer(admin),
                            json={"scope": {"users": ["zhangsan"]}, "dry_run": True})
    assert response.status_code == 200
    preview = response.get_json()["preview"]
    assert preview["added"] == [] and [p["userid"] for p in preview["removed"]] == ["zhaoliu"]
    assert preview["removed"][0]["name"] == "赵六" and preview["removed"][0]["department"] == "平台组"
    assert preview["applied_by"] == "appchat" and writes(runtime) == before


def test_r9_edit_applies_the_scope_through_appchat_update(client, runtime, admin, group):
    response = client.patch(f"/api/v1/groups/{group}", headers=bearer(admin),
                            json={"scope": {"users": ["zhangsan"]}, "name": "研发部-例会"})
    assert response.status_code == 200
    body = response.get_json()
    assert body["name"] == "研发部-例会" and body["changes"]["removed"] == ["zhaoliu"]
    assert body["changes"]["name"] == ["研发部-周会", "研发部-例会"]
    with runtime.sessions() as session:
        payloads = [a.payload for a in session.scalars(select(OutboxAction).where(OutboxAction.kind == "appchat/update"))]
        assert {"chatid": "wa1", "name": "研发部-例会"} in payloads
        assert {"chatid": "wa1", "del_user_list": ["zhaoliu"]} in payloads
        assert session.scalar(select(AuditEntry).where(AuditEntry.action == "group.edit")).actor == "api:office"


def test_r8_a_name_another_group_has_is_422_on_name(client, runtime, admin, group):
    add_group(runtime, chat_id="wa2", status="active", name="华东销售群")
    response = client.patch(f"/api/v1/groups/{group}", headers=bearer(admin), json={"name": "华东销售群"})
    assert response.status_code == 422 and error(response)["field"] == "name"
    assert "already exists" in error(response)["message"]
    created = client.post("/api/v1/groups", headers=bearer(admin), json={
        "name": "研发部-周会", "owner": "zhangsan", "custodian": "lisi", "scope": SCOPE})
    assert created.status_code == 422 and error(created)["field"] == "name"


@pytest.mark.parametrize("body, field", [
    ({"custodian": "wangwu"}, "custodian"),  # left the company (R1)
    ({"scope": {"users": ["ghost1"]}}, "scope.users"),
    ({"allow_external": True}, "allow_external"),  # a managed group has internal members only
    ({"join_policy": "open"}, "join_policy"),
    ({"colour": "red"}, "colour"),
])
def test_a_bad_field_is_422_and_changes_nothing(client, runtime, admin, group, body, field):
    before = writes(runtime)
    response = client.patch(f"/api/v1/groups/{group}", headers=bearer(admin), json=body)
    assert response.status_code == 422 and error(response)["field"] == field
    assert writes(runtime) == before


def test_only_admins_edit_or_archive(client, runtime, admin, group):
    token = issue_token(runtime, "custodian", userid="lisi")
    assert client.patch(f"/api/v1/groups/{group}", headers=bearer(token), json={"name": "新名字"}).status_code == 403
    assert client.post(f"/api/v1/groups/{group}/archive", headers=bearer(token), json={}).status_code == 403


def test_archive_keeps_the_group_and_frees_its_name(client, runtime, admin, group):
    response = client.post(f"/api/v1/groups/{group}/archive", headers=bearer(admin), json={"note": "项目结束"})
    assert response.status_code == 200 and response.get_json()["status"] == "archived"
    assert [m["userid"] for m in response.get_json()["members"]] == ["zhangsan", "lisi", "zhaoliu"]
    again = client.patch(f"/api/v1/groups/{group}", headers=bearer(admin), json={"name": "研发部-例会"})
    assert again.status_code == 422 and error(again)["field"] == "status"
    assert client.post(f"/api/v1/groups/{group}/archive", headers=bearer(admin), json={}).status_code == 422
    created = client.post("/api/v1/groups", headers=bearer(admin), json={
        "name": "研发部-周会", "owner": "zhangsan", "custodian": "lisi", "scope": SCOPE})
    assert created.status_code == 201
    with runtime.sessions() as session:
        assert session.get(Group, group).status == "archived"
        assert session.scalar(select(func.count()).select_from(GroupMember).where(GroupMember.group_id == group)) == 3
