"""GET /api/v1/violations (filters, pagination, custodian isolation) and
POST /api/v1/violations/{id}/decision (R6: the group's custodian or an admin; 403 for
another custodian; 422 naming the field; 409 when already decided)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from wecom_app.violations import records as violations

from tests.plugins.api import add_group, bearer, error, issue_token, seed_directory

NOW = datetime(2026, 3, 2, 2, 0, tzinfo=timezone.utc)


@pytest.fixture
def admin(runtime):
    return issue_token(runtime, "admin", name="office")


@pytest.fixture
def groups(runtime):
    seed_directory(runtime)
    return add_group(runtime, chat_id="wa1", custodian="lisi"), add_group(runtime, chat_id="wa2", custodian="zhaoliu")


def open_one(runtime, rule, userid, group_id, detected_by="system"):
    with runtime.sessions.begin() as session:
        return violations.open_violation(session, rule, userid, group_id, evidence={"reason": "test"},
                                         detected_by=detected_by, now=NOW)[0].id


def test_list_filters_and_pagination(client, runtime, admin, groups):
    mine, theirs = groups
    ids = [open_one(runtime, "R3", "zhangsan", mine), open_one(runtime, "R5", "zhangsan", theirs),
           open_one(runtime, "R11", "zhaoliu", mine)]
    everything = client.get("/api/v1/violations", headers=bearer(admin)).get_json()
    assert everything["total"] == 3 and [v["id"] for v in everything["items"]] == ids[::-1]
    for query, expected in ((f"group={mine}", {ids[0], ids[2]}), ("userid=ZhangSan", {ids[0], ids[1]}),
                            ("rule=R5", {ids[1]}), ("status=open", set(ids)), ("status=dismissed", set())):
        page = client.get(f"/api/v1/violations?{query}", headers=bearer(admin)).get_json()
        assert {v["id"] for v in page["items"]} == expected, query
    page = client.get("/api/v1/violations?per_page=2&rule=R3", headers=bearer(admin)).get_json()
    assert page["next"] is None and page["items"][0]["detected_by"] == "system"
    page = client.get("/api/v1/violations?per_page=2", headers=bearer(admin)).get_json()
    assert "per_page=2" in page["next"]


@pytest.mark.parametrize("query, field", [("group=x", "group"), ("rule=3", "rule"), ("status=closed", "status"),
                                          ("userid=a%20b", "userid"), ("per_page=0", "per_page")])
def test_bad_filters_are_422_naming_them(client, admin, query, field):
    response = client.get(f"/api/v1/violations?{query}", headers=bearer(admin))
    assert response.status_code == 422 and error(response)["field"] == field


def test_r10_a_custodian_sees_only_their_groups_violations(client, runtime, groups):
    mine, theirs = groups
    own, other = open_one(runtime, "R3", "zhangsan", mine), open_one(runtime, "R3", "zhangsan", theirs)
    token = issue_token(runtime, "custodian", userid="lisi")
    listed = client.get("/api/v1/violations", headers=bearer(token)).get_json()
    assert [v["id"] for v in listed["items"]] == [own]
    assert client.get(f"/api/v1/violations/{other}", headers=bearer(token)).status_code == 404
    assert client.get(f"/api/v1/violations/{own}", headers=bearer(token)).get_json()["group"] == mine


def test_r6_custodian_decides_own_violation_and_not_anothers(client, runtime, groups):
    mine, theirs = groups
    own, other = open_one(runtime, "R3", "zhangsan", mine), open_one(runtime, "R3", "zhangsan", theirs)
    token = issue_token(runtime, "custodian", userid="lisi")
    forbidden = client.post(f"/api/v1/violations/{other}/decision", json={"decision": "confirm"},
                            headers=bearer(token))
    assert forbidden.status_code == 403 and error(forbidden)["code"] == "forbidden"
    decided = client.post(f"/api/v1/violations/{own}/decision", json={"decision": "confirm", "text": "属实"},
                          headers=bearer(token))
    assert decided.status_code == 200
    body = decided.get_json()
    assert (body["status"], body["decided_by"], body["decision"], body["sanction"]) == (
        "confirmed", "custodian:lisi", "属实", "warning")
    again = client.post(f"/api/v1/violations/{own}/decision", json={"decision": "dismiss"}, headers=bearer(token))
    assert again.status_code == 409


def test_admin_decides_anything_and_unknown_id_is_404(client, runtime, admin, groups):
    other = open_one(runtime, "R3", "zhangsan", groups[1])
    response = client.post(f"/api/v1/violations/{other}/decision", json={"decision": "dismiss"}, headers=bearer(admin))
    assert response.get_json()["status"] == "dismissed" and response.get_json()["decided_by"] == "api:office"
    missing = client.post("/api/v1/violations/9999/decision", json={"decision": "dismiss"}, headers=bearer(admin))
    assert missing.status_code == 404


@pytest.mark.parametrize("body, field", [({}, "decision"), ({"decision": "mute"}, "decision"),
                                         ({"decision": "confirm", "text": "x" * 501}, "text"),
                                         ({"decision": "confirm", "why": "x"}, "why")])
def test_decision_body_is_validated_naming_the_field(client, runtime, admin, groups, body, field):
    vid = open_one(runtime, "R3", "zhangsan", groups[0])
    response = client.post(f"/api/v1/violations/{vid}/decision", json=body, headers=bearer(admin))
    assert response.status_code == 422 and error(response)["field"] == field


def test_readonly_may_list_but_not_decide(client, runtime, groups):
    vid = open_one(runtime, "R3", "zhangsan", groups[0])
    token = issue_token(runtime, "readonly")
    assert client.get("/api/v1/violations", headers=bearer(token)).status_code == 200
    assert client.post(f"/api/v1/violations/{vid}/decision", json={"decision": "dismiss"},
                       headers=bearer(token)).status_code == 403
    assert client.get("/api/v1/violations").status_code == 401


def test_r6_custodian_reports_in_own_group_once(client, runtime, groups):
    mine, theirs = groups
    token = issue_token(runtime, "custodian", userid="lisi")
    body = {"rule": "R3", "userid": "ZhaoLiu", "group": mine, "note": "在群里骂人"}
    first = client.post("/api/v1/violations", json=body, headers=bearer(token))
    assert first.status_code == 201 and first.headers["Location"].endswith(f"/violations/{first.get_json()['id']}")
    assert (first.get_json()["detected_by"], first.get_json()["userid"]) == ("custodian:lisi", "zhaoliu")
    again = client.post("/api/v1/violations", json=body, headers=bearer(token))
    assert again.status_code == 200 and again.get_json()["id"] == first.get_json()["id"]
    elsewhere = client.post("/api/v1/violations", json=dict(body, group=theirs), headers=bearer(token))
    assert elsewhere.status_code == 403


@pytest.mark.parametrize("body, field", [({"rule": "R99", "userid": "zhaoliu"}, "rule"),
                                         ({"rule": "R3", "userid": "nobody"}, "userid"),
                                         ({"rule": "R3", "userid": "zhaoliu", "group": 9999}, "group"),
                                         ({"rule": "R3"}, "userid")])
def test_report_body_is_validated_naming_the_field(client, admin, groups, body, field):
    response = client.post("/api/v1/violations", json=body, headers=bearer(admin))
    assert response.status_code == 422 and error(response)["field"] == field


def test_r14_admin_suspends_and_restores_an_account(client, runtime, admin):
    from sqlalchemy import select

    from wecom_app.models import OutboxAction

    seed_directory(runtime)
    group = add_group(runtime, chat_id="wa1", members=[("zhaoliu", "ok")])
    suspended = client.post("/api/v1/accounts/zhaoliu/suspend", headers=bearer(admin)).get_json()
    restored = client.post("/api/v1/accounts/zhaoliu/restore", headers=bearer(admin)).get_json()
    assert suspended["groups"] == restored["groups"] == [group]
    with runtime.sessions() as session:
        changes = [a.payload for a in session.scalars(select(OutboxAction).where(
            OutboxAction.kind == "appchat/update").order_by(OutboxAction.id))]
    assert changes == [{"chatid": "wa1", "del_user_list": ["zhaoliu"]}, {"chatid": "wa1", "add_user_list": ["zhaoliu"]}]
    assert client.post("/api/v1/accounts/nobody/restore", headers=bearer(admin)).status_code == 404
    custodian = issue_token(runtime, "custodian", userid="lisi")
    assert client.post("/api/v1/accounts/zhaoliu/suspend", headers=bearer(custodian)).status_code == 403
