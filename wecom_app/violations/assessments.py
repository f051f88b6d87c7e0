"""Assessment records (R15, and R16 later): non-compliance that goes into the
monthly performance assessment, per department and person.

A confirmed violation (violations.decide) becomes one record; an overdue
directive will too (`source="directive"`). `(source, source_id)` is unique, so
recording twice changes nothing. The month is taken in the company's time zone,
and the department is the person's main department when the record is made
(a later transfer does not move last month's record).

`month_report` is what `GET /api/v1/assessments?month=YYYY-MM` returns;
`month_xlsx` the same as a workbook (openpyxl) for the office, in words and company time.
"""

from __future__ import annotations

import io
import re
from datetime import datetime, tzinfo
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.utils import get_column_letter
from sqlalchemy import insert, select

from wecom_app import xlsx
from wecom_app.labels import ASSESSMENT_SOURCES, SANCTIONS, rule_label
from wecom_app.models import Assessment, Department, User, Violation

MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")


def record(session, settings, userid: str, *, source: str, source_id: int, rule: str, at: datetime,
           note: str = "") -> Assessment:
    """One assessment record; the existing one when this source was recorded already."""
    existing = session.scalar(select(Assessment).where(Assessment.source == source,
                                                       Assessment.source_id == source_id))
    if existing is not None:
        return existing
    user = session.get(User, userid)
    tz = ZoneInfo(getattr(settings, "timezone", "Asia/Shanghai"))
    row = Assessment(month=at.astimezone(tz).strftime("%Y-%m"), userid=userid,
                     department_id=user.main_department if user else None, source=source, source_id=source_id,
                     rule=rule, note=note or "", at=at)
    session.add(row)
    return row


def record_many(session, settings, items: list[dict]) -> int:
    """`record` for many at once (an overdue directive of 60,000 people): one read of
    the sources already recorded and of the people's departments, then one bulk
    insert. Each item: userid, source, source_id, rule, at, note. Returns how many
    were new."""
    if not items:
        return 0
    tz = ZoneInfo(getattr(settings, "timezone", "Asia/Shanghai"))
    seen: set[tuple[str, int]] = set()
    departments: dict[str, int | None] = {}
    for start in range(0, len(items), 500):
        chunk = items[start:start + 500]
        for source in {i["source"] for i in chunk}:
            ids = [i["source_id"] for i in chunk if i["source"] == source]
            seen.update((source, sid) for sid in session.scalars(select(Assessment.source_id).where(
                Assessment.source == source, Assessment.source_id.in_(ids))))
        departments.update(session.execute(select(User.userid, User.main_department).where(
            User.userid.in_({i["userid"] for i in chunk}))).all())
    rows = [dict(month=i["at"].astimezone(tz).strftime("%Y-%m"), userid=i["userid"],
                 department_id=departments.get(i["userid"]), source=i["source"], source_id=i["source_id"],
                 rule=i["rule"], note=i.get("note") or "", at=i["at"])
            for i in items if (i["source"], i["source_id"]) not in seen]
    if rows:
        session.execute(insert(Assessment), rows)
    return len(rows)


def month_report(session, month: str) -> dict:
    """{month, total, departments: [{id, name, count, people: [{userid, name, count, items}]}]}; an item
    from a confirmed violation carries the sanction that confirmation applied."""
    rows = session.scalars(select(Assessment).where(Assessment.month == month)
                           .order_by(Assessment.department_id, Assessment.userid, Assessment.at)).all()
    names = dict(session.execute(select(User.userid, User.name).where(
        User.userid.in_({r.userid for r in rows}))).all())
    departments = dict(session.execute(select(Department.id, Department.name).where(
        Department.id.in_({r.department_id for r in rows if r.department_id is not None}))).all())
    sanctions = dict(session.execute(select(Violation.id, Violation.sanction).where(
        Violation.id.in_({r.source_id for r in rows if r.source == "violation"}))).all()) if rows else {}
    grouped: dict[int | None, dict[str, list[Assessment]]] = {}
    for row in rows:
        grouped.setdefault(row.department_id, {}).setdefault(row.userid, []).append(row)
    result = []
    for department_id, people in grouped.items():
        result.append({
            "id": department_id,
            "name": departments.get(department_id, "") if department_id is not None else "",
            "count": sum(len(items) for items in people.values()),
            "people": [{"userid": userid, "name": names.get(userid, ""), "count": len(items),
                        "items": [_item(i, sanctions) for i in items]} for userid, items in people.items()],
        })
    return {"month": month, "total": len(rows), "departments": result}


def _item(row: Assessment, sanctions: dict[int, str | None]) -> dict:
    sanction = sanctions.get(row.source_id) if row.source == "violation" else None
    return {"source": row.source, "source_id": row.source_id, "rule": row.rule, "note": row.note,
            "sanction": sanction, "at": row.at.isoformat()}


def month_xlsx(session, month: str, *, tz: tzinfo) -> bytes:
    """The month as a workbook, times in `tz` (the company's time zone)."""
    return report_xlsx(month_report(session, month), tz=tz)


def report_xlsx(report: dict, *, tz: tzinfo) -> bytes:
    """A `month_report` (whole, or filtered to some departments) as the workbook (issue 13 item 7):
    部门汇总 (per department: people, records by rule, sanctions, the total; a 合计 row), 汇总 (per
    person, the name beside the userid), 明细 (one record a row: the rule and source in words, the
    time a real date in the company's time zone)."""
    month = report["month"]
    book = Workbook()
    departments = book.active
    departments.title = "部门汇总"
    summary = book.create_sheet("汇总")
    summary.append(["月份", "部门", "部门ID", "姓名", "userid", "次数"])
    details = book.create_sheet("明细")
    details.append(["月份", "部门", "姓名", "userid", "规则", "来源", "编号", "说明", "处理", "时间"])
    for department in report["departments"]:
        for person in department["people"]:  # every text through xlsx: names too (issue 10)
            xlsx.append(summary, [month, department["name"], department["id"], person["name"], person["userid"],
                                  person["count"]])
            for item in person["items"]:
                xlsx.append(details, [month, department["name"], person["name"], person["userid"],
                                      rule_label(item["rule"]), ASSESSMENT_SOURCES.get(item["source"], item["source"]),
                                      item["source_id"], item["note"],
                                      SANCTIONS.get(item.get("sanction") or "", item.get("sanction") or ""),
                                      datetime.fromisoformat(item["at"])], tz)
    _department_sheet(departments, report)
    for sheet, widths in ((departments, (18, 10)), (summary, (10, 18, 8, 14, 16, 8)),
                          (details, (10, 18, 14, 16, 28, 14, 8, 40, 14, 20))):
        for column, width in enumerate(widths, start=1):
            sheet.column_dimensions[get_column_letter(column)].width = width
        sheet.freeze_panes = "A2"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _department_sheet(sheet, report: dict) -> None:
    """One row a department: 人数, one column a rule seen this month (R-number order), one a sanction
    applied, 合计; then the 合计 row over every department."""
    items = [(department, person, item) for department in report["departments"] for person in department["people"]
             for item in person["items"]]
    rules = sorted({item["rule"] for _, _, item in items}, key=lambda r: (len(r), r))
    kinds = [kind for kind in SANCTIONS if any(item.get("sanction") == kind for _, _, item in items)]
    sheet.append(["月份", "部门", "部门ID", "人数"] + [rule_label(r) for r in rules]
                 + [f"处理：{SANCTIONS[k]}" for k in kinds] + ["合计"])
    total_people = 0
    for department in report["departments"]:
        mine = [item for d, _, item in items if d is department]
        total_people += len(department["people"])
        xlsx.append(sheet, [report["month"], department["name"] or "（无部门）", department["id"],
                            len(department["people"])] + [sum(i["rule"] == r for i in mine) for r in rules]
                    + [sum(i.get("sanction") == k for i in mine) for k in kinds] + [len(mine)])
    all_items = [item for _, _, item in items]
    xlsx.append(sheet, [report["month"], "合计", None, total_people]
                + [sum(i["rule"] == r for i in all_items) for r in rules]
                + [sum(i.get("sanction") == k for i in all_items) for k in kinds] + [len(all_items)])
