"""考核 (R15, R16): the month's assessment records for the office, by department
(a department includes its sub-departments) and person, with totals per
department and per rule, and the same month as a workbook.

Admins only. Each record links to its source: a confirmed violation
(`/violations/<id>`) or an overdue directive (the record's source_id is the
receipt; the link is the directive's receipt matrix). The export is the
domain's `month_xlsx` for the whole month; with a department chosen, the same
sheets are built here from `month_report`, kept to that department's subtree.
Exports are audited: they carry people's performance records.
"""

from __future__ import annotations

from datetime import date

from flask import Response, render_template, request
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from wtforms import SelectField, StringField
from wtforms.fields import SelectChoice
from wtforms.validators import Optional, Regexp, ValidationError

from wecom_app.governance.scope import subtree
from wecom_app.inputs import bounded_int
from wecom_app.labels import RULE_NAMES
from wecom_app.models import Assessment, Department, DirectiveReceipt, User
from wecom_app.violations.assessments import MONTH, month_report, month_xlsx, report_xlsx
from wecom_app.workbench.access import audit_action, roles_required
from wecom_app.workbench.blueprint import bp, runtime
from wecom_app.workbench.paging import paginate

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class AssessmentFilter(FlaskForm):
    """The page's GET filter (no CSRF: it changes nothing)."""

    class Meta:
        csrf = False

    month = StringField("月份", validators=[Optional(), Regexp(MONTH.pattern + "$", message="月份格式为 YYYY-MM，例如 2026-03")])
    department = SelectField("部门", coerce=lambda v: -1 if (d := bounded_int(str(v))) is None else d, validate_choice=False)

    def validate_month(self, field):
        if field.data and MONTH.fullmatch(field.data) and not 2000 <= int(field.data[:4]) <= 2199:
            raise ValidationError("月份超出范围（2000-2199 年）")

    def validate_department(self, field):
        if field.data and field.data not in {choice.value for choice in field.choices}:
            raise ValidationError("没有这个部门，请从列表中选择")


@bp.get("/assessments")
@roles_required("admin")
def assessments():
    rt = runtime()
    with rt.sessions() as db:
        form = _filter(db)
        valid = form.validate()
        month = form.month.data if valid else _this_month()
        departments = _departments_in(db, form.department.data) if valid else None
        data = dict(rows=None, by_department=[], by_rule=[])
        if valid:
            data = dict(rows=_rows(db, month, departments), by_department=_by_department(db, month, departments),
                        by_rule=_by_rule(db, month, departments))
        return render_template("workbench/assessments.html", form=form, month=month, valid=valid,
                               prev_month=_shift(month, -1), next_month=_shift(month, 1),
                               department_name=_name_of(form), rule_names=RULE_NAMES, **data), 200 if valid else 400


@bp.get("/assessments.xlsx")
@roles_required("admin")
def assessments_xlsx():
    rt = runtime()
    with rt.sessions() as db:
        form = _filter(db)
        if not form.validate():
            body = None
        else:
            month, department = form.month.data, form.department.data
            if department:
                body = report_xlsx(_report_for(db, month, _departments_in(db, department)), tz=rt.settings.tz)
            else:
                body = month_xlsx(db, month, tz=rt.settings.tz)
            audit_action(db, "assessment.export", f"month:{month}", department=department or None)
            db.commit()
    if body is None:  # the page, with the message next to the field
        return assessments()
    name = f"assessments-{month}" + (f"-dept{department}" if department else "") + ".xlsx"
    return Response(body, mimetype=XLSX, headers={"Content-Disposition": f'attachment; filename="{name}"'})


# -- the filter ------------------------------------------------------------------------------------

def _filter(db) -> AssessmentFilter:
    form = AssessmentFilter(formdata=request.args)
    form.department.choices = [SelectChoice(0, "全部部门")] + _department_choices(db)
    if not form.month.data:
        form.month.data = _this_month()
    return form


def _department_choices(db) -> list[SelectChoice]:
    """Every department, each under its parent, indented by depth."""
    rows = db.execute(select(Department.id, Department.name, Department.parentid)
                      .where(Department.deleted.is_(False)).order_by(Department.sort_order.desc(), Department.id)).all()
    children: dict[int, list] = {}
    ids = {r.id for r in rows}
    for row in rows:
        children.setdefault(row.parentid if row.parentid in ids else 0, []).append(row)
    choices, stack = [], [(row, 0) for row in reversed(children.get(0, []))]
    while stack:
        row, depth = stack.pop()
        choices.append(SelectChoice(row.id, "　" * depth + (row.name or f"部门 {row.id}")))
        stack.extend((child, depth + 1) for child in reversed(children.get(row.id, [])))
    return choices


def _departments_in(db, department_id: int | None) -> set[int] | None:
    return subtree(db, department_id) if department_id else None


def _name_of(form) -> str:
    return next((choice.label.strip("　") for choice in form.department.choices
                 if choice.value and choice.value == form.department.data), "")


def _this_month() -> str:
    rt = runtime()
    return rt.clock().astimezone(rt.settings.tz).strftime("%Y-%m")


def _shift(month: str, by: int) -> str:
    year, number = int(month[:4]), int(month[5:]) - 1 + by
    return date(year + number // 12, number % 12 + 1, 1).strftime("%Y-%m")


# -- the page's data -------------------------------------------------------------------------------

def _scoped(stmt, month: str, departments: set[int] | None):
    stmt = stmt.where(Assessment.month == month)
    return stmt if departments is None else stmt.where(Assessment.department_id.in_(departments))


def _rows(db, month, departments):
    """One page of records with the person's name, the department's and the directive behind a receipt."""
    stmt = (select(Assessment, User.name.label("person"), Department.name.label("department"),
                   DirectiveReceipt.directive_id)
            .outerjoin(User, User.userid == Assessment.userid)
            .outerjoin(Department, Department.id == Assessment.department_id)
            .outerjoin(DirectiveReceipt, (Assessment.source == "directive")
                       & (DirectiveReceipt.id == Assessment.source_id))
            .order_by(Assessment.department_id, Assessment.userid, Assessment.at, Assessment.id))
    return paginate(db, _scoped(stmt, month, departments), scalars=False)


def _by_department(db, month, departments):
    stmt = (select(Assessment.department_id, Department.name, func.count(), func.count(Assessment.userid.distinct()))
            .outerjoin(Department, Department.id == Assessment.department_id)
            .group_by(Assessment.department_id, Department.name).order_by(func.count().desc(), Assessment.department_id))
    return db.execute(_scoped(stmt, month, departments)).all()


def _by_rule(db, month, departments):
    stmt = (select(Assessment.rule, func.count()).group_by(Assessment.rule)
            .order_by(func.count().desc(), Assessment.rule))
    return db.execute(_scoped(stmt, month, departments)).all()


# -- the export with a department ------------------------------------------------------------------

def _report_for(db, month: str, departments: set[int]) -> dict:
    report = month_report(db, month)
    kept = [d for d in report["departments"] if d["id"] in departments]
    return dict(report, departments=kept, total=sum(d["count"] for d in kept))
