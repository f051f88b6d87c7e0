"""我的举报 (`/reports`): every employee may report a person or a message in a group
they belong to (R3 conduct, R5 unrelated content, R11 a stranger), see what became of
their reports, and report their own account lost or stolen (R14). The same records
as a `举报 …` text to the app (violations_reports.file_report /
account_compromised); the custodian decides on the 违规 page."""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import SelectChoice, SelectField, TextAreaField
from wtforms.validators import DataRequired, Length

from wecom_app.models import Group, GroupMember, User, Violation
from wecom_app.violations import reports as violations_reports
from wecom_app.workbench.access import audit_action, current_user, login_required
from wecom_app.workbench.blueprint import bp, runtime
from wecom_app.workbench.forms import EmptyForm
from wecom_app.workbench.paging import paginate
from wecom_app.workbench.people import PeopleField, check_people, visible_to

RULES = (("R3", "不文明言论：辱骂、歧视、诽谤、谣言（R3）"), ("R5", "与工作无关的内容、广告、刷屏（R5）"),
         ("R11", "陌生人或不该在群里的人（R11）"))


class ReportForm(FlaskForm):
    group = SelectField("群", validators=[DataRequired(message="请选择群")])
    person = PeopleField("被举报人", multiple=False, departments=False)
    rule = SelectField("类别", choices=[SelectChoice(value, label) for value, label in RULES],
                       validators=[DataRequired(message="请选择类别")])
    text = TextAreaField("说明", validators=[DataRequired(message="请写明发生了什么"),
                                           Length(max=500, message="最多 500 个字")])


def _my_groups(db, userid: str) -> list[Group]:
    return list(db.scalars(select(Group).join(GroupMember, GroupMember.group_id == Group.id).where(
        GroupMember.member_id == userid, GroupMember.state == "present", Group.status == "active")
        .order_by(Group.name)))


@bp.route("/reports", methods=["GET", "POST"])
@login_required
def reports():
    viewer, rt = current_user(), runtime()
    form = ReportForm()
    with rt.sessions() as db:
        groups = _my_groups(db, viewer.userid)
        form.group.choices = [SelectChoice(str(g.id), g.name) for g in groups]
        valid = form.validate_on_submit()
        if form.is_submitted():  # a name two people share is asked about, among the people of my groups
            valid = check_people(db, form, visible=visible_to(db, viewer)) and valid
        person = form.person.userid or None
        if valid:
            group = db.get(Group, int(form.group.data))
            text = form.text.data.strip()
            violation = violations_reports.file_report(
                db, rt.settings, viewer.userid, userid=person, group=group, rule=form.rule.data, reason=text,
                text=text, now=rt.clock(), channel="workbench")
            audit_action(db, "report.file", f"violation:{violation.id}", group=group.id, rule=form.rule.data)
            db.commit()
            flash(f"举报已提交（编号 {violation.id}），已转交「{group.name}」的专管人员处理。", "ok")
            return redirect(url_for("workbench.reports"))
        page = paginate(db, select(Violation).where(Violation.detected_by == f"report:{viewer.userid}")
                        .order_by(Violation.id.desc()))
        names = {g.id: g.name for g in db.scalars(select(Group).where(
            Group.id.in_({v.group_id for v in page.items if v.group_id})))}
        people = dict(db.execute(select(User.userid, User.name).where(
            User.userid.in_({v.userid for v in page.items if v.userid}))).all())
    status = 422 if form.errors else 200
    return render_template("workbench/reports.html", form=form, groups=groups, page=page, group_names=names,
                           people=people, rules=dict(RULES), account_form=EmptyForm()), status


@bp.post("/reports/account")
@login_required
def report_account():
    """R14: my account is lost or stolen: suspended from governed groups until an admin restores it."""
    viewer, rt = current_user(), runtime()
    form = EmptyForm()
    if not form.validate_on_submit():
        flash("无效操作", "error")
        return redirect(url_for("workbench.reports"))
    with rt.sessions() as db:
        groups = violations_reports.account_compromised(db, rt.settings, viewer.userid, rt.clock())
        audit_action(db, "account.report_compromised", f"user:{viewer.userid}", groups=len(groups))
        db.commit()
    flash(f"已暂停您在 {len(groups)} 个群中的成员资格（R14），请尽快联系管理员核实身份。", "ok")
    return redirect(url_for("workbench.reports"))
