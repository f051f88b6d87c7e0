"""R15: confirmed violations become assessment records per person and month;
GET /api/v1/assessments?month=YYYY-MM groups them per department and person, and
/assessments.xlsx is the same as a workbook (opened here with openpyxl)."""

from __future__ import annotations

import io
from datetime import datetime, timezone

import pytest
from openpyxl import load_workbook

from tests.conftest import make_settings
from wecom_app import violations

from .test_api_support import add_group, bearer, error, issue_token, seed_directory

MARCH = datetime(2026, 3, 2, 2, 0, tzinfo=timezone.utc)
MARCH_31_LATE = datetime(2026, 3, 31, 17, 0, tzinfo=timezone.utc)  # 2026-04-01 01:00 in Shanghai


def confirmed(runtime, userid, group_id, at, rule="R3", decision="confirm", text="属实"):
    with runtime.sessions.begin() as session:
        vid = violations.open_violation(session, rule, userid, group_id, evidence={}, detected_by="system",
                                        now=at)[0].id
        violations.decide(session, make_settings(admins=("lisi",)), vid, decision, "custodian:lisi", at, text)


@pytest.fixture
def seeded(runtime):
    seed_directory(runtime)
    group = add_group(runtime, chat_id="wa1", custodian="lisi")
    confirmed(runtime, "zhangsan", group, MARCH)
    confirmed(runtime, "zhangsan", group, MARCH, rule="R5", text="=HYPERLINK(\"x\")")
    confirmed(runtime, "zhaoliu", group, MARCH)
    confirmed(runtime, "lisi", group, MARCH, decision="dismiss")  # dismissed: not assessed
    confirmed(runtime, "zhaoliu", group, MARCH_31_LATE, rule="R11")  # April in the company's time zone
    return group


def test_r15_month_json_per_department_and_person(client, runtime, seeded):
    token = issue_token(runtime, "readonly")
    march = client.get("/api/v1/assessments?month=2026-03", headers=bearer(token)).get_json()
    assert march["month"] == "2026-03" and march["total"] == 3
    by_department = {d["name"]: {p["userid"]: p["count"] for p in d["people"]} for d in march["departments"]}
    assert by_department == {"华东公司": {"zhangsan": 2}, "平台组": {"zhaoliu": 1}}
    person = next(p for d in march["departments"] for p in d["people"] if p["userid"] == "zhangsan")
    assert person["name"] == "张三" and [i["rule"] for i in person["items"]] == ["R3", "R5"]
    april = client.get("/api/v1/assessments?month=2026-04", headers=bearer(token)).get_json()
    assert [(p["userid"], p["items"][0]["rule"]) for d in april["departments"] for p in d["people"]] == [
        ("zhaoliu", "R11")]


def test_r15_month_xlsx_opens_with_openpyxl(client, runtime, seeded):
    token = issue_token(runtime, "admin")
    response = client.get("/api/v1/assessments.xlsx?month=2026-03", headers=bearer(token))
    assert response.status_code == 200 and response.mimetype.endswith("spreadsheetml.sheet")
    assert "assessments-2026-03.xlsx" in response.headers["Content-Disposition"]
    book = load_workbook(io.BytesIO(response.data))
    summary = list(book["汇总"].iter_rows(values_only=True))
    assert summary[0][:2] == ("月份", "部门") and len(summary) == 3
    assert ("2026-03", "华东公司", 1, "张三", "zhangsan", 2) in summary
    details = list(book["明细"].iter_rows(values_only=True))
    assert len(details) == 4 and any(str(row[7]).startswith("'=") for row in details)  # never a formula


@pytest.mark.parametrize("query", ["", "?month=2026-13", "?month=2026-3", "?month=march"])
def test_r15_month_is_required_and_checked(client, runtime, query):
    token = issue_token(runtime, "admin")
    for path in ("/api/v1/assessments", "/api/v1/assessments.xlsx"):
        response = client.get(path + query, headers=bearer(token))
        assert response.status_code == 422 and error(response)["field"] == "month"


def test_r15_custodian_token_may_not_read_assessments(client, runtime):
    token = issue_token(runtime, "custodian", userid="lisi")
    assert client.get("/api/v1/assessments?month=2026-03", headers=bearer(token)).status_code == 403
