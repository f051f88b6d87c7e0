"""R16 directives over /api/v1/directives against the WeCom emulator:
issue (201, the directive at the top level), every refusal naming its field with nothing
written, roles, list filters and pagination, receipts after the real outbox job sent the
cards, revocation and correction."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

import jobs.outbox
from tests.plugins.world import seed_directory
from wecom_app.directives import acks as directives_acks
from wecom_app.models import AuditEntry, Directive, DirectiveReceipt, LedgerEntry, OutboxAction, User
from wecom_app.models.directory import STATUS_ACTIVE
from wecom_app.sandbox.seed import MANAGED_CHAT

from tests.plugins.api import add_group, bearer, error, issue_token

SHANGHAI = timezone(timedelta(hours=8))
MONDAY_0900 = datetime(2026, 3, 2, 9, 0, tzinfo=SHANGHAI)  # the sandbox clock's start
DEADLINE = "2026-03-05T17:00:00+08:00"
DIRECTIVE = {"title": "周五前提交季度报表",
             "body": "请各位在周五 17:00 前提交季度报表。\n逾期将通报。",
             "assignees": {"users": ["lina", "chenjing", "zhaolei"]}, "deadline": DEADLINE, "require": "ack",
             "urgent": False, "confidential": False}


@pytest.fixture
def settings(emulated_settings):
    return emulated_settings


@pytest.fixture
def runtime(emulated_runtime):
    """The app and the outbox job on the emulator's clock (tests/plugins/emulated.py)."""
    return emulated_runtime


@pytest.fixture
def admin(runtime, sandbox_state):
    """The emulator's demo company in the directory mirror, and an admin token."""
    with runtime.sessions.begin() as session:
        seed_directory(session, sandbox_state)
    return issue_token(runtime, "admin", name="office")


def issue(client, token, **changes) -> dict:
    response = client.post("/api/v1/directives", headers=bearer(token), json=dict(DIRECTIVE, **changes))
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def shown(client, token, directive_id, query="") -> dict:
    response = client.get(f"/api/v1/directives/{directive_id}{query}", headers=bearer(token))
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def counts(runtime) -> tuple[int, ...]:
    with runtime.sessions() as session:
        return tuple(session.scalar(select(func.count()).select_from(model))
                     for model in (Directive, DirectiveReceipt, OutboxAction, LedgerEntry, AuditEntry))


# -- issuing ---------------------------------------------------------------------------------------


def test_r16_admin_issues_a_directive_201_with_it_at_the_top_level(client, runtime, admin):
    response = client.post("/api/v1/directives", headers=bearer(admin), json=DIRECTIVE)
    assert response.status_code == 201
    body = response.get_json()
    assert response.headers["Location"].endswith(f"/api/v1/directives/{body['id']}")
    assert body["version"] == 1 and len(body["content_hash"]) == 64 and body["status"] == "active"
    assert body["issuer"] == "api:office" and body["require"] == "ack"
    assert datetime.fromisoformat(body["deadline"]) == datetime.fromisoformat(DEADLINE)  # UTC, as everywhere in the API
    assert body["deadline"].endswith("+00:00")
    assert body["created_at"].endswith("+00:00")
    assert body["counts"] == {"queued": 3, "delivered": 0, "undeliverable": 0, "acknowledged": 0, "completed": 0,
                              "overdue": 0, "total": 3}
    assert body["ack_rate"] == 0 and body["completion_rate"] is None
    assert [r["userid"] for r in body["receipts"]] == ["chenjing", "lina", "zhaolei"]
    assert {r["status"] for r in body["receipts"]} == {"queued"}
    assert body["receipts_page"]["total"] == 3
    with runtime.sessions() as session:
        assert session.scalar(select(AuditEntry.actor).where(AuditEntry.action == "directive.issue")) == "api:office"
        assert session.scalars(select(LedgerEntry.event)).all() == ["issued"]
        assert session.scalar(select(func.count()).select_from(OutboxAction)
                              .where(OutboxAction.kind == "message/send")) == 1


def test_r16_departments_and_groups_expand_to_their_active_people(client, runtime, admin):
    group = add_group(runtime, kind="managed", chat_id=MANAGED_CHAT[0], name=MANAGED_CHAT[1], status="active",
                      members=[(u, "ok") for u in MANAGED_CHAT[3][:3]])
    body = issue(client, admin, assignees={"departments": [9], "groups": [group]}, require="completion",
                 urgent=True, summary_group=group)
    people = {r["userid"] for r in body["receipts"]}
    # 人力资源部 without the not-activated xiali, the disabled daijun and the departed zhongwen; the group's three
    assert people == {"yexin", "yanli", "yuhai", "panwen", "duyan", "wangfang", "lina", "zhangwei"}
    assert body["summary_group"] == group and body["completion_rate"] == 0


def test_r16_an_admin_issues_in_the_name_of_an_employee_and_the_audit_keeps_who_sent_it(client, runtime, admin):
    body = issue(client, admin, issuer="wangfang")
    assert body["issuer"] == "wangfang"
    with runtime.sessions() as session:
        entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "directive.issue.on_behalf"))
    assert entry.actor == "api:office" and entry.details["issuer"] == "wangfang"


def test_r16_an_issuer_token_issues_in_its_own_name_and_sees_only_its_own(client, runtime, admin):
    mine = issue_token(runtime, "issuer", userid="wangfang")
    other = issue(client, admin)["id"]
    body = issue(client, mine)
    assert body["issuer"] == "wangfang"
    refused = client.post("/api/v1/directives", headers=bearer(mine), json=dict(DIRECTIVE, issuer="zhangwei"))
    assert refused.status_code == 403 and error(refused)["field"] == "issuer"
    listed = client.get("/api/v1/directives", headers=bearer(mine)).get_json()
    assert [d["id"] for d in listed["items"]] == [body["id"]]
    assert client.get(f"/api/v1/directives/{other}", headers=bearer(mine)).status_code == 404
    revoke = client.post(f"/api/v1/directives/{other}/revoke", headers=bearer(mine), json={"reason": "x"})
    assert revoke.status_code == 404


BAD = [
    ({"title": None}, "title"),
    ({"title": ""}, "title"),
    ({"title": 42}, "title"),
    ({"title": "报" * 129}, "title"),
    ({"title": "报" * 43}, "title"),  # 129 bytes
    ({"body": "报" * 1000}, "body"),  # 3,000 bytes
    ({"body": "a" * 2049}, "body"),
    ({"body": None}, "body"),
    ({"deadline": None}, "deadline"),
    ({"deadline": "2026-03-05T17:00:00"}, "deadline"),  # naive: which 17:00?
    ({"deadline": "2026-03-05"}, "deadline"),
    ({"deadline": "2026-03-01T17:00:00+08:00"}, "deadline"),  # in the past
    ({"deadline": "2026-03-02T09:03:00+08:00"}, "deadline"),  # less than 5 minutes away
    ({"require": "read"}, "require"),
    ({"urgent": "yes"}, "urgent"),
    ({"confidential": 1}, "confidential"),
    ({"assignees": ["lina"]}, "assignees"),
    ({"assignees": {}}, "assignees"),
    ({"assignees": {"users": "lina"}}, "assignees.users"),
    ({"assignees": {"users": ["lina", 7]}}, "assignees.users[1]"),
    ({"assignees": {"departments": ["3"]}}, "assignees.departments[0]"),
    ({"assignees": {"groups": [True]}}, "assignees.groups[0]"),
    ({"assignees": {"teams": [1]}}, "assignees.teams"),
    ({"assignees": {"users": ["lina", "nobody"]}}, "assignees.users"),  # not in the directory
    ({"assignees": {"users": ["jiayun"]}}, "assignees.users"),  # not activated
    ({"assignees": {"users": ["zhongwen"]}}, "assignees.users"),  # has left
    ({"assignees": {"departments": [404]}}, "assignees.departments"),
    ({"assignees": {"groups": [404]}}, "assignees.groups"),
    ({"summary_group": 404}, "summary_group"),
    ({"summary_group": "1"}, "summary_group"),
    ({"issuer": "nobody"}, "issuer"),
    ({"issuer": "zhongwen"}, "issuer"),
    ({"colour": "red"}, "colour"),
]


@pytest.mark.parametrize("change, field", BAD, ids=[f"{f}-{i}" for i, (_c, f) in enumerate(BAD)])
def test_r16_an_invalid_directive_is_422_naming_the_field_and_writes_nothing(client, runtime, admin, change, field):
    body = {k: v for k, v in dict(DIRECTIVE, **change).items() if v is not None}
    before = counts(runtime)
    response = client.post("/api/v1/directives", headers=bearer(admin), json=body)
    assert response.status_code == 422, response.get_json()
    assert error(response)["field"] == field
    assert counts(runtime) == before


@pytest.mark.parametrize("change, field, limit, size", [
    ({"body": "报" * 1000}, "body", 2048, 3000),
    ({"body": "a" * 3000}, "body", 2048, 3000),
    ({"title": "报" * 43}, "title", 128, 129),
])
def test_r16_a_text_over_wecoms_limit_is_422_naming_the_byte_limit(client, runtime, admin, change, field, limit,
                                                                    size):
    """A body is at most one WeCom text (2,048 bytes, 90236), a title what WeCom takes whole
    as a title (128 bytes): the refusal says so in bytes, whatever the characters."""
    response = client.post("/api/v1/directives", headers=bearer(admin), json=dict(DIRECTIVE, **change))
    assert response.status_code == 422 and error(response)["field"] == field
    assert error(response)["message"] == f"must be at most {limit} bytes in UTF-8 (WeCom's limit); this is {size}"


def test_r16_a_summary_goes_only_to_an_active_managed_group(client, runtime, admin):
    group = add_group(runtime, kind="internal", name="研发部-闲聊群", status="active")
    before = counts(runtime)
    response = client.post("/api/v1/directives", headers=bearer(admin), json=dict(DIRECTIVE, summary_group=group))
    assert response.status_code == 422 and error(response)["field"] == "summary_group"
    assert counts(runtime) == before


@pytest.mark.parametrize("data", [b"{not json", b'["a list"]', "标题".encode("gbk")])
def test_a_body_that_is_not_a_json_object_is_400(client, runtime, admin, data):
    before = counts(runtime)
    response = client.post("/api/v1/directives", headers={**bearer(admin), "Content-Type": "application/json"},
                           data=data)
    assert response.status_code == 400 and error(response)["code"] == "malformed_json"
    assert counts(runtime) == before


def test_without_a_token_401_and_with_the_wrong_role_403(client, runtime, admin):
    directive_id = issue(client, admin)["id"]
    before = counts(runtime)
    assert client.post("/api/v1/directives", json=DIRECTIVE).status_code == 401
    assert client.get("/api/v1/directives").status_code == 401
    assert client.get("/api/v1/directives", headers=bearer("wca_wrong")).status_code == 401
    readonly, custodian = issue_token(runtime, "readonly"), issue_token(runtime, "custodian", userid="lina")
    for token in (readonly, custodian):
        assert client.post("/api/v1/directives", headers=bearer(token), json=DIRECTIVE).status_code == 403
        assert client.post(f"/api/v1/directives/{directive_id}/revoke", headers=bearer(token),
                           json={"reason": "x"}).status_code == 403
        assert client.post(f"/api/v1/directives/{directive_id}/corrections", headers=bearer(token),
                           json={"title": "x"}).status_code == 403
    assert client.get(f"/api/v1/directives/{directive_id}", headers=bearer(readonly)).status_code == 200
    assert client.get(f"/api/v1/directives/{directive_id}", headers=bearer(custodian)).status_code == 403
    assert counts(runtime) == before


# -- reading ---------------------------------------------------------------------------------------


def test_list_is_newest_first_filtered_by_status_and_issuer_and_paginated(client, runtime, admin):
    ids = [issue(client, admin)["id"] for _ in range(3)] + [issue(client, admin, issuer="wangfang")["id"]]
    client.post(f"/api/v1/directives/{ids[0]}/revoke", headers=bearer(admin), json={"reason": "发错了"})
    page = client.get("/api/v1/directives?per_page=3", headers=bearer(admin)).get_json()
    assert [d["id"] for d in page["items"]] == ids[::-1][:3] and page["total"] == 4 and page["next"]
    assert page["items"][0]["counts"]["total"] == 3
    rest = client.get(page["next"], headers=bearer(admin)).get_json()
    assert [d["id"] for d in rest["items"]] == [ids[0]] and rest["next"] is None

    def listed(query):
        response = client.get(f"/api/v1/directives?{query}", headers=bearer(admin))
        assert response.status_code == 200, response.get_json()
        return [d["id"] for d in response.get_json()["items"]]

    assert listed("status=revoked") == [ids[0]]
    assert listed("status=active") == ids[1:][::-1]
    assert listed("issuer=wangfang") == [ids[3]]
    assert listed("issuer=api:office&status=active") == [ids[2], ids[1]]
    for query, field in (("status=deleted", "status"), ("issuer=王芳", "issuer"), ("page=0", "page"),
                         ("per_page=x", "per_page")):
        response = client.get(f"/api/v1/directives?{query}", headers=bearer(admin))
        assert response.status_code == 422 and error(response)["field"] == field


def test_r16_receipts_after_the_outbox_sent_the_cards(client, runtime, admin, sandbox_state):
    with runtime.sessions.begin() as session:  # in our directory, unknown to WeCom: invaliduser
        session.add(User(userid="ghost", name="幽灵", status=STATUS_ACTIVE, main_department=3, direct_leader=[],
                         extra={}))
    body = issue(client, admin, assignees={"users": ["lina", "chenjing", "ghost"]})
    jobs.outbox.run(runtime)  # send_due, then settle: the receipts take WeCom's answer
    assert len([m for m in sandbox_state.messages if m["api"] == "message/send"]) == 1
    with runtime.sessions.begin() as session:
        directives_acks.act(session, runtime.settings, session.get(Directive, body["id"]), userid="lina", key="ack",
                            channel="workbench", now=runtime.clock())
    got = shown(client, admin, body["id"])
    receipts = {r["userid"]: r for r in got["receipts"]}
    assert receipts["chenjing"]["status"] == "delivered" and receipts["chenjing"]["msgid"]
    assert receipts["chenjing"]["delivered_at"].endswith("+00:00")
    assert receipts["chenjing"]["acknowledged_at"] is None and receipts["chenjing"]["reminders"] == 0
    assert receipts["lina"]["status"] == "acknowledged" and receipts["lina"]["ack_channel"] == "workbench"
    assert receipts["lina"]["acknowledged_at"].endswith("+00:00") and receipts["lina"]["name"] == "李娜"
    assert receipts["ghost"]["status"] == "undeliverable" and "invaliduser" in receipts["ghost"]["undeliverable"]
    assert got["counts"] == {"queued": 0, "delivered": 1, "undeliverable": 1, "acknowledged": 1, "completed": 0,
                             "overdue": 0, "total": 3}
    assert got["ack_rate"] == round(1 / 3, 4)


def test_the_receipts_of_a_directive_are_paginated(client, admin):
    body = issue(client, admin, assignees={"departments": [8]})  # 研发部: 16, 13 of them active
    first = shown(client, admin, body["id"], "?per_page=5")
    assert len(first["receipts"]) == 5 and first["receipts_page"]["total"] == 13 == first["counts"]["total"]
    assert "page=2" in first["receipts_page"]["next"]
    last = shown(client, admin, body["id"], "?page=3&per_page=5")
    assert len(last["receipts"]) == 3 and last["receipts_page"]["next"] is None
    seen = [r["userid"] for r in first["receipts"]]
    assert seen == sorted(seen)


def test_an_unknown_directive_is_404(client, admin):
    assert error(client.get("/api/v1/directives/999", headers=bearer(admin)))["code"] == "not_found"
    for action, body in (("revoke", {"reason": "x"}), ("corrections", {"title": "新标题"})):
        response = client.post(f"/api/v1/directives/999/{action}", headers=bearer(admin), json=body)
        assert response.status_code == 404 and error(response)["code"] == "not_found"


# -- revoking and correcting --------------------------------------------------------------------------


def test_r16_revoke_through_the_api(client, runtime, admin, sandbox_state):
    directive_id = issue(client, admin, urgent=True)["id"]
    jobs.outbox.run(runtime)
    missing = client.post(f"/api/v1/directives/{directive_id}/revoke", headers=bearer(admin), json={})
    assert missing.status_code == 422 and error(missing)["field"] == "reason"
    response = client.post(f"/api/v1/directives/{directive_id}/revoke", headers=bearer(admin),
                           json={"reason": "时间有误，另行通知"})
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "revoked" and body["revoked_by"] == "api:office"
    assert body["revoke_reason"] == "时间有误，另行通知" and body["revoked_at"].endswith("+00:00")
    again = client.post(f"/api/v1/directives/{directive_id}/revoke", headers=bearer(admin), json={"reason": "再撤"})
    assert again.status_code == 409 and error(again)["field"] == "status"
    jobs.outbox.run(runtime)  # the cards say 已撤回
    assert {c["replace_name"] for (u, _t), c in sandbox_state.cards.items()} == {"已撤回"}
    with runtime.sessions() as session:
        assert session.scalars(select(LedgerEntry.event).order_by(LedgerEntry.seq)).all() == [
            "issued", "delivered", "revoked"]


def test_r16_a_correction_is_a_new_version_everyone_acknowledges_again(client, runtime, admin):
    first = issue(client, admin, urgent=True)
    jobs.outbox.run(runtime)
    response = client.post(f"/api/v1/directives/{first['id']}/corrections", headers=bearer(admin),
                           json={"body": "请各位在周四 17:00 前提交季度报表。",
                                 "note": "截止提前一天"})
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["id"] == first["id"] and body["version"] == 2 and body["content_hash"] != first["content_hash"]
    assert body["title"] == first["title"] and "周四" in body["body"]
    assert [(v["version"], v["note"]) for v in body["versions"]] == [(1, ""), (2, "截止提前一天")]
    assert {r["status"] for r in body["receipts"]} == {"queued"} and {r["version"] for r in body["receipts"]} == {2}
    same = client.post(f"/api/v1/directives/{first['id']}/corrections", headers=bearer(admin),
                       json={"title": first["title"]})
    assert same.status_code == 422 and error(same)["field"] == "body"  # nothing changed
    wrong = client.post(f"/api/v1/directives/{first['id']}/corrections", headers=bearer(admin), json={"title": 3})
    assert wrong.status_code == 422 and error(wrong)["field"] == "title"
    client.post(f"/api/v1/directives/{first['id']}/revoke", headers=bearer(admin), json={"reason": "作废"})
    late = client.post(f"/api/v1/directives/{first['id']}/corrections", headers=bearer(admin), json={"title": "新"})
    assert late.status_code == 409


# -- the receipt sheet (签收单) ----------------------------------------------------------------------


def test_r16_the_receipt_sheet_downloads_as_pdf_and_xlsx(client, runtime, admin):
    import io

    from openpyxl import load_workbook
    from pypdf import PdfReader

    directive_id = issue(client, admin, urgent=True)["id"]
    jobs.outbox.run(runtime)
    pdf = client.get(f"/api/v1/directives/{directive_id}/receipts.pdf", headers=bearer(admin))
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf" and pdf.data.startswith(b"%PDF")
    assert f'filename="directive-{directive_id}-receipts.pdf"' in pdf.headers["Content-Disposition"]
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.data)).pages)
    assert "chenjing" in text and "zhaolei" in text
    xlsx = client.get(f"/api/v1/directives/{directive_id}/receipts.xlsx", headers=bearer(admin))
    assert xlsx.status_code == 200 and xlsx.mimetype.endswith("spreadsheetml.sheet")
    cells = {str(c.value) for ws in load_workbook(io.BytesIO(xlsx.data)).worksheets for row in ws.iter_rows()
             for c in row}
    assert {"lina", "chenjing", "zhaolei"} <= cells


def test_the_receipt_sheet_is_for_those_who_may_read_the_directive(client, runtime, admin):
    directive_id = issue(client, admin)["id"]
    mine = issue_token(runtime, "issuer", userid="wangfang")
    custodian = issue_token(runtime, "custodian", userid="lina")
    for fmt in ("pdf", "xlsx"):
        path = f"/api/v1/directives/{directive_id}/receipts.{fmt}"
        assert client.get(path).status_code == 401
        assert client.get(path, headers=bearer(custodian)).status_code == 403
        assert client.get(path, headers=bearer(mine)).status_code == 404  # not theirs
        response = client.get(f"/api/v1/directives/999/receipts.{fmt}", headers=bearer(admin))
        assert response.status_code == 404 and error(response)["code"] == "not_found"
    assert client.get(f"/api/v1/directives/{directive_id}/receipts.csv", headers=bearer(admin)).status_code == 404
