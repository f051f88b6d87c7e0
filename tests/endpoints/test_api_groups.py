"""GET /api/v1/groups and /groups/{id}: filters, pagination, custodian isolation (R10), what is enforced per kind."""

import pytest

from tests.plugins.api import add_group, bearer, error, issue_token, seed_directory


@pytest.fixture
def admin(runtime):
    return issue_token(runtime, "admin", name="office")


def test_list_is_paginated_with_total_and_a_next_link(client, runtime, admin):
    ids = [add_group(runtime, chat_id=f"wa{i:02d}", name=f"研发部-项目{i}") for i in range(5)]
    seen, url = [], "/api/v1/groups?per_page=2"
    while url:
        page = client.get(url, headers=bearer(admin)).get_json()
        assert page["total"] == 5 and page["per_page"] == 2
        seen += [item["id"] for item in page["items"]]
        url = page["next"]
    assert seen == ids
    assert client.get("/api/v1/groups?page=9", headers=bearer(admin)).get_json()["items"] == []


@pytest.mark.parametrize("query, field", [("page=0", "page"), ("per_page=101", "per_page"), ("page=x", "page"),
                                          ("kind=secret", "kind"), ("status=gone", "status"),
                                          ("custodian=a%20b", "custodian")])
def test_bad_query_parameters_are_422_naming_them(client, admin, query, field):
    response = client.get(f"/api/v1/groups?{query}", headers=bearer(admin))
    assert response.status_code == 422 and error(response)["field"] == field


def test_filters_by_kind_status_and_custodian_and_keep_them_in_the_next_link(client, runtime, admin):
    add_group(runtime, chat_id="wa1", kind="managed")
    for n in range(3):
        add_group(runtime, chat_id=f"wr{n}", kind="customer", custodian="zhaoliu")
    add_group(runtime, chat_id="wr9", kind="customer", status="discovered", custodian="")
    page = client.get("/api/v1/groups?kind=customer&status=active&per_page=2", headers=bearer(admin)).get_json()
    assert page["total"] == 3 and {item["kind"] for item in page["items"]} == {"customer"}
    assert "kind=customer" in page["next"] and "status=active" in page["next"]
    by_custodian = client.get("/api/v1/groups?custodian=ZhaoLiu", headers=bearer(admin)).get_json()
    assert by_custodian["total"] == 3


def test_r10_a_custodian_token_sees_only_their_own_groups(client, runtime):
    mine = add_group(runtime, chat_id="wa1", custodian="lisi")
    theirs = add_group(runtime, chat_id="wa2", custodian="zhaoliu")
    token = issue_token(runtime, "custodian", userid="lisi")
    listed = client.get("/api/v1/groups", headers=bearer(token)).get_json()
    assert [item["id"] for item in listed["items"]] == [mine] and listed["total"] == 1
    assert client.get("/api/v1/groups?custodian=zhaoliu", headers=bearer(token)).get_json()["total"] == 0
    other = client.get(f"/api/v1/groups/{theirs}", headers=bearer(token))
    missing = client.get("/api/v1/groups/99999", headers=bearer(token))
    assert other.status_code == missing.status_code == 404
    assert error(other)["message"].replace(str(theirs), "N") == error(missing)["message"].replace("99999", "N")
    assert client.get(f"/api/v1/groups/{mine}", headers=bearer(token)).status_code == 200


def test_readonly_and_issuer_tokens_may_read_every_group(client, runtime):
    add_group(runtime, chat_id="wa1", custodian="lisi")
    for role, userid in (("readonly", None), ("issuer", "zhangsan")):
        token = issue_token(runtime, role, userid=userid)
        assert client.get("/api/v1/groups", headers=bearer(token)).get_json()["total"] == 1


def test_the_robot_webhook_key_is_never_shown(client, runtime, admin):
    group = add_group(runtime, chat_id=None, kind="internal", robot_webhook="encrypted-secret-key")
    listed = client.get("/api/v1/groups", headers=bearer(admin))
    assert listed.get_json()["items"][0]["robot_webhook"] == {"configured": True}
    detail = client.get(f"/api/v1/groups/{group}", headers=bearer(admin))
    assert "encrypted-secret-key" not in listed.get_data(as_text=True) + detail.get_data(as_text=True)


@pytest.mark.parametrize("kind", ["managed", "customer", "internal"])
def test_detail_has_members_with_compliance_and_says_what_is_enforced_for_the_kind(client, runtime, admin, kind):
    seed_directory(runtime)
    group = add_group(runtime, chat_id=f"c-{kind}", kind=kind,
                      members=[("zhangsan", "ok"), ("wangwu", "not_active")])
    body = client.get(f"/api/v1/groups/{group}", headers=bearer(admin)).get_json()
    assert body["id"] == group and body["kind"] == kind
    assert {(m["userid"], m["compliance"]) for m in body["members"]} == {("zhangsan", "ok"), ("wangwu", "not_active")}
    assert body["enforced"]["automatic"] and body["enforced"]["not_possible"]


def test_unknown_group_is_404(client, admin):
    response = client.get("/api/v1/groups/424242", headers=bearer(admin))
    assert response.status_code == 404 and error(response) == {"code": "not_found", "field": None,
                                                               "message": "no group 424242"}
