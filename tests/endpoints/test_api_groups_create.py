"""POST /api/v1/groups and /groups/register (R7, R8): validation naming the field, the
registry's own refusals as 422, admins only, and nothing left behind by a rejected request."""

import pytest
from sqlalchemy import func, select

from wecom_app.models import AuditEntry, Group, GroupMember, OutboxAction

from tests.plugins.api import bearer, error, issue_token, seed_directory

KEY = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"
WEBHOOK = f"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={KEY}"
MANAGED = {"name": "研发部-周会", "owner": "zhangsan", "custodian": "lisi",
           "scope": {"departments": [2], "tags": [], "users": [], "exclude": []},
           "allow_external": False, "join_policy": "auto"}
CUSTOMER = {"kind": "customer", "chat_id": "wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA", "name": "华东客户群",
            "owner": "zhangsan", "custodian": "lisi", "scope": {"departments": [1]}, "allow_external": True}


@pytest.fixture
def admin(runtime):
    seed_directory(runtime)
    return issue_token(runtime, "admin", name="office")


def counts(runtime) -> tuple[int, int, int, int]:
    with runtime.sessions() as session:
        return tuple(session.scalar(select(func.count()).select_from(model))
                     for model in (Group, GroupMember, OutboxAction, AuditEntry))


def test_r7_admin_creates_a_managed_group_201_with_id_and_chatid(client, runtime, admin):
    response = client.post("/api/v1/groups", headers=bearer(admin), json=MANAGED)
    assert response.status_code == 201
    body = response.get_json()
    assert body["id"] and body["chatid"] and body["kind"] == "managed"
    assert response.headers["Location"].endswith(f"/api/v1/groups/{body['id']}")
    # owner and custodian always; 研发部 (2) includes 平台组 (3): 赵六 yes, 王五 (left) no
    assert {m["userid"] for m in body["members"]} == {"zhangsan", "lisi", "zhaoliu"}
    with runtime.sessions() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "group.create")).one()
    assert entry.actor == "api:office"
    assert client.get(f"/api/v1/groups/{body['id']}", headers=bearer(admin)).get_json()["id"] == body["id"]


def test_only_admin_tokens_may_create_or_register(client, runtime, admin):
    before = counts(runtime)
    for role, userid in (("readonly", None), ("issuer", "zhangsan"), ("custodian", "lisi")):
        token = issue_token(runtime, role, userid=userid)
        assert client.post("/api/v1/groups", headers=bearer(token), json=MANAGED).status_code == 403
        assert client.post("/api/v1/groups/register", headers=bearer(token), json=CUSTOMER).status_code == 403
    assert counts(runtime) == before


@pytest.mark.parametrize("change, field", [
    ({"name": None}, "name"),
    ({"name": "研" * 51}, "name"),
    ({"owner": 42}, "owner"),
    ({"custodian": "li si"}, "custodian"),
    ({"scope": [2]}, "scope"),
    ({"scope": {"departments": [2, 3, "x"]}}, "scope.departments[2]"),
    ({"scope": {"users": ["zhangsan", None]}}, "scope.users[1]"),
    ({"scope": {"users": ["caoyang", "ghost1", "ghost2"]}}, "scope.users"),  # named, not saved silently
    ({"scope": {"exclude": ["ghost1"]}}, "scope.exclude"),
    ({"scope": {"teams": [1]}}, "scope.teams"),
    ({"allow_external": "no"}, "allow_external"),
    ({"join_policy": "sometimes"}, "join_policy"),
    ({"colour": "red"}, "colour"),
])
def test_an_invalid_body_is_422_naming_the_field_and_creates_nothing(client, runtime, admin, change, field):
    body = {k: v for k, v in dict(MANAGED, **change).items() if v is not None}
    before = counts(runtime)
    response = client.post("/api/v1/groups", headers=bearer(admin), json=body)
    assert response.status_code == 422 and error(response)["field"] == field
    assert counts(runtime) == before


@pytest.mark.parametrize("change, field", [
    ({"owner": "nobody"}, "owner"),  # not in the directory
    ({"custodian": "wangwu"}, "custodian"),  # has left (R1)
    ({"scope": {"departments": [404]}}, "scope.departments"),
    ({"name": "周会🎉"}, "name"),  # the naming convention (R8)
    ({"allow_external": True}, "allow_external"),  # an appchat has internal members only
])
def test_r8_the_registry_refusing_is_422_on_its_field_with_no_partial_state(client, runtime, admin, change, field):
    before = counts(runtime)
    response = client.post("/api/v1/groups", headers=bearer(admin), json=dict(MANAGED, **change))
    assert response.status_code == 422 and error(response)["field"] == field
    assert counts(runtime) == before


def test_defaults_for_allow_external_and_join_policy(client, admin):
    body = {k: v for k, v in MANAGED.items() if k not in ("allow_external", "join_policy")}
    created = client.post("/api/v1/groups", headers=bearer(admin), json=body).get_json()
    assert created["allow_external"] is False and created["join_policy"] == "auto"


def test_r7_register_a_customer_group_201(client, admin):
    response = client.post("/api/v1/groups/register", headers=bearer(admin), json=CUSTOMER)
    assert response.status_code == 201
    body = response.get_json()
    assert body["kind"] == "customer" and body["chatid"] == CUSTOMER["chat_id"] and body["id"]
    again = client.post("/api/v1/groups/register", headers=bearer(admin), json=CUSTOMER)
    assert again.status_code == 422 and error(again)["field"] == "chat_id"


def test_register_an_internal_group_with_a_robot_whose_key_is_never_shown(client, admin):
    body = dict(CUSTOMER, kind="internal", chat_id=None, robot_webhook=WEBHOOK, allow_external=False)
    response = client.post("/api/v1/groups/register", headers=bearer(admin), json=body)
    assert response.status_code == 201
    assert response.get_json()["robot_webhook"] == {"configured": True} and KEY not in response.get_data(as_text=True)


@pytest.mark.parametrize("url", [
    f"http://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={KEY}",
    f"https://qyapi.weixin.qq.com.evil.example/cgi-bin/webhook/send?key={KEY}",
    f"https://qyapi.weixin.qq.com/cgi-bin/message/send?key={KEY}",
    f"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={KEY}&debug=1",
    f"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={KEY}#x",
    "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=",
    KEY,
])
def test_a_robot_webhook_of_the_wrong_shape_is_422_without_echoing_the_key(client, runtime, admin, url):
    before = counts(runtime)
    body = dict(CUSTOMER, kind="internal", chat_id=None, robot_webhook=url)
    response = client.post("/api/v1/groups/register", headers=bearer(admin), json=body)
    assert response.status_code == 422 and error(response)["field"] == "robot_webhook"
    assert KEY not in response.get_data(as_text=True)
    assert counts(runtime) == before


@pytest.mark.parametrize("change, field", [
    ({"kind": "managed"}, "kind"),
    ({"chat_id": "wr/../x"}, "chat_id"),
    ({"join_policy": "auto"}, "join_policy"),  # not a registration field
    ({"scope": {"exclude": ["ok", 3]}}, "scope.exclude[1]"),
])
def test_register_validation_names_the_field(client, runtime, admin, change, field):
    before = counts(runtime)
    response = client.post("/api/v1/groups/register", headers=bearer(admin), json=dict(CUSTOMER, **change))
    assert response.status_code == 422 and error(response)["field"] == field
    assert counts(runtime) == before


def test_a_customer_group_needs_its_chat_id(client, admin):
    body = {k: v for k, v in CUSTOMER.items() if k != "chat_id"}
    response = client.post("/api/v1/groups/register", headers=bearer(admin), json=body)
    assert response.status_code == 422 and error(response)["field"] == "chat_id"


@pytest.mark.parametrize("path", ["/api/v1/groups", "/api/v1/groups/register"])
def test_a_body_that_is_not_an_object_is_400(client, admin, path):
    response = client.post(path, headers=bearer(admin), json=[MANAGED])
    assert response.status_code == 400 and error(response)["code"] == "malformed_json"
