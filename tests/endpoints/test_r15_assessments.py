"""R15: confirmed violations become assessment records per person and month;
GET /api/v1/assessments?month=YYYY-MM groups them per department and person, and
/assessments.xlsx is the same as a workbook (opened here with openpyxl)."""

from __future__ import annotations

import io
from datetime import datetime, timezone

import pytest
from openpyxl import load_workbook

from tests.conftest import make_settings
from wecom_app.models import Department, Group, User
from wecom_app.violations import decisions
from wecom_app.violations import records as violations
from wecom_app.violations.reports import file_report

from tests.plugins.api import add_group, bearer, error, issue_token, seed_directory

LINK = '=HYPERLINK("http://x","click")'  # a live link if a spreadsheet evaluated it

MARCH = datetime(2026, 3, 2, 2, 0, tzinfo=timezone.utc)
MARCH_31_LATE = datetime(2026, 3, 31, 17, 0, tzinfo=timezone.utc)  # 2026-04-01 01:00 in Shanghai


def confirmed(runtime, userid, group_id, at, rule="R3", decision="confirm", text="属实"):
    with runtime.sessions.begin() as session:
        vid = violations.open_violation(session, rule, userid, group_id, evidence={}, detected_by="system",
                                        now=at)[0].id
        decisions.decide(session, make_settings(admins=("lisi",)), vid, decision, "custodian:lisi", at, text)


def reported_and_confirmed(runtime, reporter, userid, group_id, reason, at):
    """A member's report, confirmed by the custodian without a comment: the report's
    own text becomes the assessment's note."""
    settings = make_settings(admins=("lisi",))
    with runtime.sessions.begin() as session:
        violation = file_report(session, settings, reporter, userid=userid, group=session.get(Group, group_id),
                                rule="R3", reason=reason, text=f"举报 {userid} {reason}", now=at)
        decisions.decide(session, settings, violation.id, "confirm", "custodian:lisi", at, "")


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


def test_r15_month_xlsx_reads_in_words_with_company_time_dates_and_department_totals(client, runtime, seeded):
    """Issue 13 item 7: rules and sources in words, times real dates in the company's zone
    (10:00 in Shanghai, not 02:00 UTC text), and a 部门汇总 sheet with a 合计 row."""
    response = client.get("/api/v1/assessments.xlsx?month=2026-03", headers=bearer(issue_token(runtime, "admin")))
    book = load_workbook(io.BytesIO(response.data))
    assert book.sheetnames == ["部门汇总", "汇总", "明细"]
    header, *details = list(book["明细"].iter_rows())
    assert [c.value for c in header][4:] == ["规则", "来源", "编号", "说明", "处理", "时间"]
    first = [c.value for c in details[0]]
    assert first[2:6] == ["张三", "zhangsan", "R3 言行不当（辱骂、歧视、谣言等）", "违规确认"] and first[8] == "警告"
    assert [c.value for c in details[1]][4] == "R5 发布与工作无关的内容"
    at = details[0][9]
    assert at.is_date and at.value == datetime(2026, 3, 2, 10, 0) and at.number_format == "yyyy-mm-dd hh:mm:ss"
    sheet = list(book["部门汇总"].iter_rows(values_only=True))
    assert sheet[0] == ("月份", "部门", "部门ID", "人数", "R3 言行不当（辱骂、歧视、谣言等）", "R5 发布与工作无关的内容",
                        "处理：警告", "处理：暂时移出群", "合计")
    assert sheet[1:] == [("2026-03", "华东公司", 1, 1, 1, 1, 1, 1, 2), ("2026-03", "平台组", 3, 1, 1, 0, 1, 0, 1),
                         ("2026-03", "合计", None, 2, 2, 1, 2, 1, 3)]


def test_r15_month_xlsx_survives_a_control_character_and_formula_names(client, runtime):
    """Issue 10: one report with \x01 made the month's export answer 500 for everyone,
    and directory names went into the workbook unguarded."""
    seed_directory(runtime)
    with runtime.sessions.begin() as session:
        session.get(User, "zhangsan").name = LINK
        session.get(Department, 1).name = "@SUM(1+1)"
    group = add_group(runtime, chat_id="wa1", custodian="lisi")
    reported_and_confirmed(runtime, "lisi", "zhangsan", group, "他在群里\x01骂人", MARCH)
    response = client.get("/api/v1/assessments.xlsx?month=2026-03", headers=bearer(issue_token(runtime, "admin")))
    assert response.status_code == 200
    book = load_workbook(io.BytesIO(response.data))
    assert list(book["汇总"].iter_rows(values_only=True))[1] == (
        "2026-03", "'@SUM(1+1)", 1, "'" + LINK, "zhangsan", 1)
    detail = list(book["明细"].iter_rows(values_only=True))[1]
    assert detail[1:3] == ("'@SUM(1+1)", "'" + LINK) and detail[7] == "他在群里骂人"
    assert not any(c.data_type == "f" for sheet in book for line in sheet.iter_rows() for c in line)


@pytest.mark.parametrize("query", ["", "?month=2026-13", "?month=2026-3", "?month=march"])
def test_r15_month_is_required_and_checked(client, runtime, query):
    token = issue_token(runtime, "admin")
    for path in ("/api/v1/assessments", "/api/v1/assessments.xlsx"):
        response = client.get(path + query, headers=bearer(token))
        assert response.status_code == 422 and error(response)["field"] == "month"


def test_r15_custodian_token_may_not_read_assessments(client, runtime):
    token = issue_token(runtime, "custodian", userid="lisi")
    assert client.get("/api/v1/assessments?month=2026-03", headers=bearer(token)).status_code == 403
