"""The admin pages through the Flask test client (R4, R6, R8, R15): 考核 by month and
department with its XLSX export, 设置 (read-only environment, no secret shown;
调休 overrides added and removed, audited, the 14-day strip following), 审计 with
its filters and pages; everyone else is refused on every page and POST."""

from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime, timedelta, timezone

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from tests.plugins.workbench import as_user, csrf_of, issue_directive, rt
from wecom_app.audit import audit
from wecom_app.models import Assessment, AuditEntry, CalendarOverride, Department, DirectiveReceipt, Group, User

MARCH = datetime(2026, 3, 10, 2, 0, tzinfo=timezone.utc)
ADMIN_PAGES = ("/assessments", "/assessments.xlsx?month=2026-03", "/settings", "/audit", "/audit.csv")


admin = as_user  # the office admin zhangwei unless told


@pytest.mark.parametrize("userid", ["zhuxia", "caoyang", "pengfei"])  # an employee, an issuer, a custodian
def test_r15_admin_pages_refuse_everyone_else(wb, sandbox_state, userid):
    with rt(wb).sessions() as db:
        db.add(Group(kind="internal", name="研发交流群", owner="caoyang", custodian="pengfei"))
        db.commit()
    client = admin(wb, sandbox_state, userid)
    for path in ADMIN_PAGES:
        assert client.get(path).status_code == 403, path
    token = csrf_of(client.get("/me").text)
    for path in ("/settings/overrides", "/settings/overrides/2030-12-02/delete"):
        response = client.post(path, data={"csrf_token": token, "day": "2030-12-02", "kind": "holiday"})
        assert response.status_code == 403, path
    with rt(wb).sessions() as db:
        assert db.scalar(select(func.count()).select_from(CalendarOverride)) == 0


def test_admin_pages_send_strangers_to_login(wb):
    for path in ADMIN_PAGES:
        assert "/login" in wb.test_client().get(path).headers["Location"]


# -- 考核 ------------------------------------------------------------------------------------------

@pytest.fixture
def records(wb):
    """March 2026: zhuxia (华东销售组 6) a violation and an overdue directive, zhengming (华南 7) one,
    caoyang (研发部 8) one; April: zhuxia one."""
    directive_id = issue_directive(rt(wb), ["zhuxia"])
    with rt(wb).sessions() as db:
        receipt_id = db.scalar(select(DirectiveReceipt.id).where(DirectiveReceipt.directive_id == directive_id))
        db.add_all([
            Assessment(month="2026-03", userid="zhuxia", department_id=6, source="violation", source_id=41,
                       rule="R3", note="群内辱骂同事", at=MARCH),
            Assessment(month="2026-03", userid="zhuxia", department_id=6, source="directive", source_id=receipt_id,
                       rule="R16", note="指令《消防演练》逾期未收到", at=MARCH + timedelta(days=1)),
            Assessment(month="2026-03", userid="zhengming", department_id=7, source="violation", source_id=42,
                       rule="R5", note="=HYPERLINK(\"x\")", at=MARCH),
            Assessment(month="2026-03", userid="caoyang", department_id=8, source="violation", source_id=43,
                       rule="R3", note="", at=MARCH),
            Assessment(month="2026-04", userid="zhuxia", department_id=6, source="violation", source_id=44,
                       rule="R11", note="", at=MARCH + timedelta(days=30)),
        ])
        db.commit()
    return directive_id


def test_r15_assessments_by_month_with_totals_and_links(wb, sandbox_state, records):
    html = admin(wb, sandbox_state).get("/assessments?month=2026-03").text
    rows = html.split('data-test="rows"')[1]
    assert rows.count("data-assessment=") == 4 and "朱霞" in rows and "曹阳" in rows
    assert 'href="/violations/41"' in rows and f'href="/directives/{records}/receipts"' in rows
    assert "2026-03-10 10:00" in rows  # company time
    by_rule = html.split('data-test="by-rule"')[1].split("</table>")[0]
    assert "R3" in by_rule and ">2<" in by_rule and "R16" in by_rule
    assert "华东销售组" in html.split('data-test="by-department"')[1]
    assert "2026-02" in html and "2026-04" in html  # previous / next month links


def test_r15_assessments_department_includes_sub_departments(wb, sandbox_state, records):
    client = admin(wb, sandbox_state)
    sales = client.get("/assessments?month=2026-03&department=5").text  # 销售部: 华东 6 + 华南 7
    rows = sales.split('data-test="rows"')[1]
    assert rows.count("data-assessment=") == 3 and "曹阳" not in rows
    assert "导出 2026-03（销售部） Excel" in sales
    east = client.get("/assessments?month=2026-03&department=6").text.split('data-test="rows"')[1]
    assert east.count("data-assessment=") == 2 and "郑明" not in east


def test_r15_assessments_default_month_and_empty_state(wb, sandbox_state):
    html = admin(wb, sandbox_state).get("/assessments").text
    this_month = rt(wb).clock().astimezone(rt(wb).settings.tz).strftime("%Y-%m")
    assert f'value="{this_month}"' in html and "本月没有考核记录" in html


def test_r15_bad_month_or_department_is_shown_next_to_the_field(wb, sandbox_state, records):
    client = admin(wb, sandbox_state)
    for query, field, message in (("month=2026-13", "month", "月份格式为 YYYY-MM"),
                                  ("month=march", "month", "月份格式为 YYYY-MM"),
                                  ("month=0000-01", "month", "月份超出范围"),
                                  ("month=2026-03&department=999", "department", "没有这个部门"),
                                  ("month=2026-03&department=abc", "department", "没有这个部门")):
        for path in ("/assessments", "/assessments.xlsx"):
            response = client.get(f"{path}?{query}")
            assert response.status_code == 400, query
            assert f'data-error="{field}">{message}' in response.text


def test_r15_assessments_export_the_whole_month(wb, sandbox_state, records):
    response = admin(wb, sandbox_state).get("/assessments.xlsx?month=2026-03")
    assert response.status_code == 200 and response.mimetype.endswith("spreadsheetml.sheet")
    assert "assessments-2026-03.xlsx" in response.headers["Content-Disposition"]
    details = list(load_workbook(io.BytesIO(response.data))["明细"].iter_rows(values_only=True))
    assert len(details) == 5 and ("2026-03", "华东销售组", "朱霞", "zhuxia", "R3 言行不当（辱骂、歧视、谣言等）") == details[1][:5]
    assert details[2][5] == "指令逾期未落实" and details[2][9] == datetime(2026, 3, 11, 10, 0)  # company time, a date
    departments = list(load_workbook(io.BytesIO(response.data))["部门汇总"].iter_rows(values_only=True))
    assert departments[-1][1] == "合计" and departments[-1][3] == 3 and departments[-1][-1] == 4
    with rt(wb).sessions() as db:
        entry = db.scalar(select(AuditEntry).where(AuditEntry.action == "assessment.export"))
    assert (entry.actor, entry.target) == ("zhangwei", "month:2026-03")


def test_r15_assessments_export_survives_a_control_character_and_formula_names(wb, sandbox_state):
    """Issue 10: a report with \x01 confirmed without a comment made /assessments.xlsx
    answer 500 for the whole month; a name starting with = was a live formula."""
    from tests.endpoints.test_r15_assessments import LINK, reported_and_confirmed

    with rt(wb).sessions() as db:
        group = Group(kind="internal", name="研发交流群", owner="caoyang", custodian="lisi")
        db.add(group)
        db.get(User, "zhuxia").name = LINK
        db.get(Department, 6).name = "-1+2"
        db.commit()
        group_id = group.id
    reported_and_confirmed(rt(wb), "caoyang", "zhuxia", group_id, "辱骂\x01同事", MARCH)
    response = admin(wb, sandbox_state).get("/assessments.xlsx?month=2026-03")
    assert response.status_code == 200
    book = load_workbook(io.BytesIO(response.data))
    detail = next(row for row in book["明细"].iter_rows(values_only=True) if row[3] == "zhuxia")
    assert detail[1:3] == ("'-1+2", "'" + LINK) and detail[7] == "辱骂同事"
    assert not any(c.data_type == "f" for sheet in book for line in sheet.iter_rows() for c in line)


def test_r15_assessments_export_keeps_to_the_department(wb, sandbox_state, records):
    response = admin(wb, sandbox_state).get("/assessments.xlsx?month=2026-03&department=5")
    assert response.status_code == 200 and "assessments-2026-03-dept5.xlsx" in response.headers["Content-Disposition"]
    book = load_workbook(io.BytesIO(response.data))
    summary = list(book["汇总"].iter_rows(values_only=True))[1:]
    assert sorted((row[4], row[5]) for row in summary) == [("zhengming", 1), ("zhuxia", 2)]
    details = list(book["明细"].iter_rows(values_only=True))[1:]
    assert next(row for row in details if row[3] == "zhengming")[7] == "'=HYPERLINK(\"x\")"  # never a formula


# -- 设置 ------------------------------------------------------------------------------------------

def today(wb) -> date:
    return rt(wb).clock().astimezone(rt(wb).settings.tz).date()


def strip_day(html: str, day: date) -> str:
    return html.split(f'data-day="{day.isoformat()}"')[1].split(">")[0]


def test_r4_settings_show_the_environment_and_no_secret(wb, sandbox_state, wb_settings):
    html = admin(wb, sandbox_state).get("/settings").text
    for variable in ("WORK_HOURS", "TIMEZONE", "GROUP_NAME_PATTERN", "REAL_NAME_PATTERN", "REAL_NAME_GRACE_DAYS",
                     "SANCTION_LADDER", "WECOM_ADMINS", "WECOM_ADMIN_TAG"):
        assert f'data-env="{variable}"' in html, variable
    assert "09:00-12:00，13:30-18:00" in html and "警告 → 暂时移出群 7 天 → 移出群" in html and "张伟（zhangwei）" in html
    assert "重启服务生效" in html
    markers = html.split('data-env="INSTRUCTION_MARKERS"')[1].split('data-env=')[0]
    assert "「请各位」、「务必」、「截止」" in markers  # R16: the default directive markers
    for secret in (wb_settings.secret, wb_settings.token, wb_settings.aes_key, wb_settings.secret_key,
                   wb_settings.contact_secret, wb_settings.database_url):
        assert secret and secret not in html


def test_r4_add_and_remove_an_override_changes_the_strip(wb, sandbox_state):
    client = admin(wb, sandbox_state)
    html = client.get("/settings").text
    day = next(today(wb) + timedelta(days=i) for i in range(1, 14)
               if 'data-workday="yes"' in strip_day(html, today(wb) + timedelta(days=i)))
    added = client.post("/settings/overrides", data={"csrf_token": csrf_of(html), "day": day.isoformat(),
                                                     "kind": "holiday", "note": "公司周年庆"})
    assert added.status_code == 302
    html = client.get("/settings").text
    assert 'data-workday="no" data-override="yes"' in strip_day(html, day) and "公司周年庆" in html
    with rt(wb).sessions() as db:
        row = db.get(CalendarOverride, day)
        assert (row.workday, row.set_by) == (False, "zhangwei")
        entry = db.scalar(select(AuditEntry).where(AuditEntry.action == "calendar.override.set"))
        assert (entry.actor, entry.target, entry.details["workday"]) == ("zhangwei", f"day:{day}", False)
    removed = client.post(f"/settings/overrides/{day}/delete", data={"csrf_token": csrf_of(html)})
    assert removed.status_code == 302
    html = client.get("/settings").text
    assert 'data-workday="yes"' in strip_day(html, day) and "公司周年庆" not in html
    with rt(wb).sessions() as db:
        assert db.get(CalendarOverride, day) is None
        assert db.scalar(select(AuditEntry).where(AuditEntry.action == "calendar.override.delete")).actor == "zhangwei"


@pytest.mark.parametrize("day, kind, field, message", [
    ("2026-02-30", "holiday", "day", "日期格式为 YYYY-MM-DD"),
    ("tomorrow", "holiday", "day", "日期格式为 YYYY-MM-DD"),
    ("", "holiday", "day", "请填写日期"),
    ("2020-01-01", "holiday", "day", "只能调整今天及以后的日期"),
    ("+3", "sometimes", "kind", "请选择上班或休息"),
])
def test_r4_invalid_override_is_shown_next_to_the_field(wb, sandbox_state, day, kind, field, message):
    client = admin(wb, sandbox_state)
    if day == "+3":
        day = (today(wb) + timedelta(days=3)).isoformat()
    response = client.post("/settings/overrides", data={"csrf_token": csrf_of(client.get("/settings").text),
                                                        "day": day, "kind": kind})
    assert response.status_code == 400 and f'data-error="{field}">{message}' in response.text
    with rt(wb).sessions() as db:
        assert db.scalar(select(func.count()).select_from(CalendarOverride)) == 0
        assert db.scalar(select(func.count()).where(AuditEntry.action.like("calendar.%"))) == 0


def test_r4_duplicate_override_is_refused(wb, sandbox_state):
    client = admin(wb, sandbox_state)
    day = (today(wb) + timedelta(days=5)).isoformat()
    token = csrf_of(client.get("/settings").text)
    assert client.post("/settings/overrides", data={"csrf_token": token, "day": day, "kind": "workday"}).status_code == 302
    again = client.post("/settings/overrides", data={"csrf_token": token, "day": day, "kind": "holiday"})
    assert again.status_code == 400 and 'data-error="day">这一天已调整为上班' in again.text
    with rt(wb).sessions() as db:
        assert db.get(CalendarOverride, date.fromisoformat(day)).workday is True
        assert db.scalar(select(func.count()).where(AuditEntry.action == "calendar.override.set")) == 1


@pytest.mark.both_databases  # concurrency: the unique constraint's error per dialect
def test_r4_override_added_twice_at_once_is_refused_not_a_500(wb, sandbox_state, monkeypatch):
    from wecom_app.workbench.settings_page import OverrideForm

    client = admin(wb, sandbox_state)
    day = today(wb) + timedelta(days=6)
    with rt(wb).sessions() as db:
        db.add(CalendarOverride(day=day, workday=True, note="另一位管理员", set_by="lina"))
        db.commit()
    monkeypatch.setattr(OverrideForm, "validate_day", lambda self, field: None)  # as if it looked just before
    response = client.post("/settings/overrides", data={"csrf_token": csrf_of(client.get("/settings").text),
                                                        "day": day.isoformat(), "kind": "holiday"})
    assert response.status_code == 400 and 'data-error="day">这一天刚被其他管理员调整过' in response.text
    with rt(wb).sessions() as db:
        assert db.get(CalendarOverride, day).set_by == "lina"
        assert db.scalar(select(func.count()).where(AuditEntry.action == "calendar.override.set")) == 0


def test_r4_override_without_csrf_is_refused(wb, sandbox_state):
    client = admin(wb, sandbox_state)
    day = (today(wb) + timedelta(days=2)).isoformat()
    assert client.post("/settings/overrides", data={"day": day, "kind": "holiday"}).status_code == 400
    with rt(wb).sessions() as db:
        db.add(CalendarOverride(day=date.fromisoformat(day), workday=False, note="", set_by="cli"))
        db.commit()
    assert client.post(f"/settings/overrides/{day}/delete").status_code == 400
    with rt(wb).sessions() as db:
        assert db.get(CalendarOverride, date.fromisoformat(day)) is not None


# -- 审计 ------------------------------------------------------------------------------------------

@pytest.fixture
def entries(wb):
    """45 group.create by zhangwei on 2026-03-01..; one directive.issue by caoyang and a workbench.group.create
    on 2026-03-20 (Shanghai); one api token entry with secrets in its details."""
    start = datetime(2026, 3, 1, 1, 0, tzinfo=timezone.utc)
    with rt(wb).sessions() as db:
        for i in range(45):
            audit(db, "zhangwei", "group.create", f"group:{i + 1}", now=start + timedelta(minutes=i), name=f"群{i + 1}")
        audit(db, "caoyang", "directive.issue", "directive:7", now=datetime(2026, 3, 19, 16, 30, tzinfo=timezone.utc),
              title="周五演练", assignees={"users": ["zhuxia", "gaoping"]}, urgent=False)
        audit(db, "wangfang", "workbench.group.create", "group:99", now=datetime(2026, 3, 20, 2, tzinfo=timezone.utc))
        audit(db, "api:ops", "group.register", "group:100", now=datetime(2026, 3, 21, 2, tzinfo=timezone.utc),
              robot_webhook="https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=robot-key-do-not-show",
              before={"access_token": "tok-do-not-show", "name": "旧名"},
              url="https://qyapi.weixin.qq.com/cgi-bin/appchat/get?access_token=tok2-do-not-show&chatid=wr1")
        db.commit()


def ids_in(html: str) -> list[str]:

    return re.findall(r'data-entry="(\d+)"', html)


def test_r6_audit_newest_first_and_paginated(wb, sandbox_state, entries):
    client = admin(wb, sandbox_state)
    first = client.get("/audit?action=group.").text
    assert "共 47 条" in first and len(ids_in(first)) == 30 and "第 1 / 2 页" in first
    assert first.index("group:100") < first.index("group:99") < first.index("group:45")
    second = client.get("/audit?action=group.&page=2").text
    assert len(ids_in(second)) == 17 and 'data-target="group:1"' in second and not set(ids_in(first)) & set(ids_in(second))


def test_r6_audit_filters(wb, sandbox_state, entries):
    client = admin(wb, sandbox_state)
    by_actor = client.get("/audit?actor=caoyang").text
    assert len(ids_in(by_actor)) == 1 and "曹阳（caoyang）" in by_actor and "标题：</b>周五演练" in by_actor
    assert "接收范围·人员：</b>朱霞（zhuxia）、高平（gaoping）" in by_actor
    directives = client.get("/audit?action=directive.").text
    assert len(ids_in(directives)) == 1 and "directive:7" in directives
    assert len(ids_in(client.get("/audit?target=group:4").text)) == 7  # group:4, group:40..45
    # 2026-03-19 16:30 UTC is 2026-03-20 00:30 in Shanghai: the 20th holds it and the workbench entry
    day = client.get("/audit?start=2026-03-20&end=2026-03-20").text
    assert len(ids_in(day)) == 2 and "directive:7" in day and "group:99" in day
    assert "没有符合条件的记录" in client.get("/audit?actor=nobody").text


def test_r6_audit_never_shows_secrets(wb, sandbox_state, entries):
    html = admin(wb, sandbox_state).get("/audit?target=group:100").text
    assert "robot-key-do-not-show" not in html and "tok-do-not-show" not in html and "tok2-do-not-show" not in html
    assert "access_token=***&amp;chatid=wr1" in html
    assert "群机器人地址：</b>（不显示）" in html and "修改前·名称：</b>旧名" in html


@pytest.mark.parametrize("query, field, message", [
    ("start=2026-02-30", "start", "日期格式为 YYYY-MM-DD"),
    ("start=2026-03-20&end=2026-03-01", "end", "截止日期不能早于起始日期"),
])
def test_r6_audit_bad_dates_are_shown_next_to_the_field(wb, sandbox_state, query, field, message):
    response = admin(wb, sandbox_state).get(f"/audit?{query}")
    assert response.status_code == 400 and f'data-error="{field}">{message}' in response.text


def test_r6_audit_records_the_admin_pages_own_actions(wb, sandbox_state):
    client = admin(wb, sandbox_state)
    day = (today(wb) + timedelta(days=4)).isoformat()
    client.post("/settings/overrides", data={"csrf_token": csrf_of(client.get("/settings").text), "day": day,
                                             "kind": "workday", "note": "调休上班"})
    html = client.get("/audit?action=calendar.").text
    assert f"日期 {day}" in html and 'data-action="calendar.override.set"' in html and "设置调休" in html
    assert "来源：</b>工作台" in html


def test_r6_audit_reads_in_words_names_beside_userids_and_company_time(wb, sandbox_state, entries):
    """Issue 13 item 7: no English codes, raw keys, UTC times or bare ids."""
    client = admin(wb, sandbox_state)
    html = client.get("/audit?actor=caoyang").text
    assert 'title="directive.issue">下达指令<' in html and "2026-03-20 00:30:00" in html  # 16:30 UTC the 19th
    assert "曹阳（caoyang） → 指令 #7" in html
    html = client.get("/audit?target=group:100").text
    assert "备案群" in html and "API 令牌 ops → 群 #100" in html
    with rt(wb).sessions() as db:
        group = Group(kind="internal", name="研发交流群", owner="caoyang", custodian="pengfei")
        db.add(group)
        db.flush()
        audit(db, "custodian:pengfei", "violation.confirmed", "violation:3", now=MARCH, rule="R3", userid="zhuxia",
              group_id=group.id)
        audit(db, "system", "sanction.temporary_removal", "user:zhuxia", now=MARCH, groups=[group.id])
        db.commit()
        group_id = group.id
    html = client.get("/audit?action=violation.").text
    assert "确认违规" in html and "彭飞（pengfei） · 群专管人员 → 违规 #3" in html
    assert "规则：</b>R3 言行不当（辱骂、歧视、谣言等）" in html and "成员：</b>朱霞（zhuxia）" in html
    assert f"群：</b>「研发交流群」（#{group_id}）" in html
    html = client.get("/audit?action=sanction.").text
    assert "处理：暂时移出群" in html and "系统（自动） → 朱霞（zhuxia）" in html


@pytest.fixture
def about_people(wb, entries):
    """zhuxia acted once, was acted on three ways (target, details, as a custodian); group 12 twice."""
    with rt(wb).sessions() as db:
        audit(db, "zhuxia", "report.file", "violation:5", now=MARCH, group=12, rule="R5")
        audit(db, "lisi", "member.add", "group:12", now=MARCH, userid="zhuxia", reason="scope")
        audit(db, "system", "sanction.warning", "user:zhuxia", now=MARCH, violation_id=5)
        audit(db, "custodian:zhuxia", "violation.dismissed", "violation:6", now=MARCH, group_id=13)
        audit(db, "lisi", "member.add", "group:14", now=MARCH, userid="zhangwei")
        db.commit()


@pytest.mark.both_databases  # the details' userid and group ids are read with JSON operators
def test_r6_audit_filters_by_person_acting_or_acted_on(wb, sandbox_state, about_people):
    client = admin(wb, sandbox_state)
    by_name = client.get("/audit?person=朱霞").text  # a name, as the picker would send it or someone types it
    assert len(ids_in(by_name)) == 4 and "没有符合条件的记录" not in by_name
    assert set(re.findall(r'data-action="([^"]+)"', by_name)) == {
        "report.file", "member.add", "sanction.warning", "violation.dismissed"}
    assert ids_in(client.get("/audit?person=zhuxia").text) == ids_in(by_name)
    gone = client.get("/audit?person=someone_gone").text  # an id the directory no longer holds: still searchable
    assert gone.count("data-entry=") == 0 and "没有符合条件的记录" in gone
    combined = client.get("/audit?person=zhuxia&start=2026-03-10&end=2026-03-10&action=member.").text
    assert len(ids_in(combined)) == 1


def test_r6_audit_person_of_a_shared_name_is_asked_about(wb, sandbox_state, about_people):
    with rt(wb).sessions() as db:
        db.add(User(userid="zhuxia2", name="朱霞", status=1, main_department=8))
        db.commit()
    response = admin(wb, sandbox_state).get("/audit?person=朱霞")
    assert response.status_code == 400 and 'data-error="person">有 2 位「朱霞」' in response.text


@pytest.mark.both_databases  # the details' userid and group ids are read with JSON operators
def test_r6_audit_filters_by_group_number_or_name(wb, sandbox_state, about_people):
    client = admin(wb, sandbox_state)
    by_number = client.get("/audit?group=12").text
    assert set(re.findall(r'data-action="([^"]+)"', by_number)) == {"group.create", "report.file", "member.add"}
    assert len(ids_in(by_number)) == 3 and len(ids_in(client.get("/audit?group=%2313").text)) == 2  # + group.create
    with rt(wb).sessions() as db:
        db.add(Group(id=12, kind="internal", name="华东销售群", owner="caoyang", custodian="pengfei"))
        db.commit()
    assert ids_in(client.get("/audit?group=华东销售").text) == ids_in(by_number)
    missing = client.get("/audit?group=没有这个群")
    assert missing.status_code == 400 and 'data-error="group">没有名称包含「没有这个群」的群' in missing.text
    for odd in ("²", "99999999999"):  # not a number it can use: looked for as a name
        assert client.get(f"/audit?group={odd}").status_code == 400, odd


def read_csv(response) -> list[list[str]]:
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.data.startswith("\ufeff".encode())  # the BOM: Excel opens the Chinese
    return list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))


def test_r6_audit_csv_is_the_filtered_rows_in_words_and_audited(wb, sandbox_state, about_people):
    client = admin(wb, sandbox_state)
    html = client.get("/audit?person=zhuxia").text
    assert 'href="/audit.csv?person=zhuxia"' in html
    header, *rows = read_csv(client.get("/audit.csv?person=zhuxia"))
    assert header == ["编号", "时间", "操作", "操作代码", "操作人", "对象", "详情"]
    assert [row[0] for row in rows] == ids_in(html)
    report = next(row for row in rows if row[3] == "report.file")
    assert report[1:3] == ["2026-03-10 10:00:00", "举报"] and report[4] == "朱霞（zhuxia）"
    assert "规则：R5 发布与工作无关的内容" in report[6]
    with rt(wb).sessions() as db:
        entry = db.scalar(select(AuditEntry).where(AuditEntry.action == "audit.export"))
    assert (entry.actor, entry.details["filters"], entry.details["rows"]) == ("zhangwei", {"person": "zhuxia"}, 4)


def test_r6_audit_csv_neutralises_formulas(wb, sandbox_state):
    with rt(wb).sessions() as db:
        db.get(User, "zhuxia").name = '=HYPERLINK("http://x","click")'
        audit(db, "zhuxia", "report.file", "-1+2", now=MARCH, note="@SUM(1)")
        db.commit()
    header, row = read_csv(admin(wb, sandbox_state).get("/audit.csv?actor=zhuxia"))
    assert row[4] == "'=HYPERLINK(\"http://x\",\"click\")（zhuxia）" and row[5] == "'-1+2"
    assert row[6] == "备注：@SUM(1)"  # not at the start of the cell: text in every reader


def test_r6_audit_csv_reads_the_log_a_page_at_a_time(wb, sandbox_state, entries, monkeypatch):
    from wecom_app.workbench import audit_log

    monkeypatch.setattr(audit_log, "CSV_BATCH", 10)
    client = admin(wb, sandbox_state)
    _, *rows = read_csv(client.get("/audit.csv?action=group."))
    ids = [int(row[0]) for row in rows]
    assert len(ids) == 47 and ids == sorted(set(ids), key=lambda i: -i)  # newest first, each once
    assert [row[5] for row in read_csv(client.get("/audit.csv?start=2026-03-20&end=2026-03-20"))[1:]] == [
        "群 #99", "指令 #7"]


def test_r6_audit_csv_with_a_bad_filter_is_the_page_with_the_message(wb, sandbox_state):
    response = admin(wb, sandbox_state).get("/audit.csv?start=2026-03-20&end=2026-03-01")
    assert response.status_code == 400 and 'data-error="end">截止日期不能早于起始日期' in response.text
    with rt(wb).sessions() as db:
        assert db.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "audit.export")) == 0
