"""指令 for the people who issue them (R16, R12): the list (`/directives`), compose
(`/directives/new`), the live receipt matrix (`/directives/<id>/receipts`) with
立即提醒, 撤回 and 更正, and the receipt sheet (签收单) as PDF and XLSX.

Admins see every directive; an issuer sees the ones they issued. The matrix, its
actions and the sheet are for an admin or the directive's issuer only (the sheet
carries confidential bodies, R12): anyone else gets 403, whatever the id.

The domain does the work (directives.issue / correct / revoke, receipt_sheet,
directives_followup.remind_now); a DirectiveError comes back next to its field and
nothing is written.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from flask import Response, abort, flash, redirect, render_template, request, url_for
from sqlalchemy import or_, select
from wtforms import (
    BooleanField,
    DateField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
    TimeField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from wecom_app.directives import delivery as directives_delivery
from wecom_app.directives import followup as directives_followup
from wecom_app.directives import issue as directives
from wecom_app.directives import receipt_sheet
from wecom_app.directives.queries import counts
from wecom_app.directory.people import matching
from wecom_app.governance.scope import subtree
from wecom_app.inputs import bounded_int, form_id
from wecom_app.labels import CHANNELS, GROUP_KINDS, RECEIPT_STATUSES, REQUIRES, held_words, when_words
from wecom_app.models import Department, Directive, DirectiveReceipt, DirectiveVersion, Group, User, UserDepartment
from wecom_app.models.directives import done_column
from wecom_app.workbench.access import audit_action, current_user, forbidden, login_required, roles_required
from wecom_app.workbench.blueprint import bp, runtime
from wecom_app.workbench.forms import EmptyForm, ZhForm, bytes_words, utf8_bytes
from wecom_app.workbench.paging import paginate
from wecom_app.workbench.people import PeopleField, check_people
from wecom_app.workbench.sorting import SortOption, search_arg, sorting
from wecom_app.workcal import WorkCalendar, load_calendar

MATRIX_PER_PAGE = 50
DIRECTIVE_SORTS = (SortOption("created", "下达时间", Directive.created_at, desc_first=True),
                   SortOption("deadline", "截止时间", Directive.deadline, desc_first=True),
                   SortOption("title", "标题", Directive.title))
# DirectiveError's field → the form field it is shown next to
FIELD_OF = {"title": "title", "body": "body", "assignees": "users", "assignees.users": "users",
            "assignees.departments": "departments", "assignees.groups": "groups", "deadline": "deadline_date",
            "require": "require", "summary_group": "summary_group", "reason": "reason", "reminder_plan": "title"}
# the domain speaks English (it is the API's too): the workbench says it in Chinese
MESSAGES = (
    ("name at least one", "请至少选择一位人员、一个部门或一个群"),
    ("nobody active is named", "所选部门和群里没有在职员工"),
    ("not in the directory: ", "通讯录中没有："),
    ("not active employees", "不是在职员工（未激活、已停用或已离职）："),
    ("unknown departments: ", "部门不存在："),
    ("unknown groups: ", "群不存在："),
    ("must be more than 5 minutes from now", "截止时间须晚于现在 5 分钟以上"),
    ("needs a time zone", "截止时间无效"),
    ("a summary goes only to an active managed group", "汇总只能发到正常状态的应用管理群（appchat）"),
    ("no group ", "群不存在："),
    ("nothing changed", "更正须修改标题或正文"),
    ("say why", "请填写撤回原因（会记入签收记录）"),
    ("required", "必填"),
    ("at most ", "超出长度上限"),
)


REMINDED = re.compile(r"reminded already: the last reminder (goes|went) at (\S+); again from (\S+)")
LATE = re.compile(r"the cards would go out only at (\d{4}-\d\d-\d\d \d\d:\d\d)")
TOO_LONG = re.compile(r"must be at most (\d+) bytes in UTF-8 .*; this is (\d+)")
FIELD_WORDS = {"title": "标题", "body": "正文"}


def zh(exc: directives.DirectiveError) -> str:
    """The refusal in Chinese, keeping what it names (userids, ids) after the colon."""
    if exc.field == "status":
        return "指令已撤回，不能再操作"
    if reminded := REMINDED.match(exc.message):
        return reminded_words(*reminded.groups())
    if too_long := TOO_LONG.match(exc.message):
        return bytes_words(FIELD_WORDS.get(exc.field, ""), int(too_long.group(1)), int(too_long.group(2)))
    late = LATE.match(exc.message)
    if late:
        return f"非紧急指令要到 {late.group(1)}（下一个工作时段，R4）才会发出，已晚于截止时间：请推后截止时间或勾选「紧急」"
    for prefix, words in MESSAGES:
        if exc.message.startswith(prefix):
            named = exc.message.split(": ", 1)[1] if ": " in exc.message else ""
            return words + named if words.endswith("：") else words
    return exc.message


def reminded_words(verb: str, last: str, again: str) -> str:
    rt = runtime()
    now, tz = rt.clock(), rt.settings.tz
    went = when_words(datetime.fromisoformat(last), now, tz)
    said = f"将于 {went} 发出" if verb == "goes" else f"已于 {went} 发出"
    return f"刚提醒过，不重复提醒：上一次提醒{said}，{when_words(datetime.fromisoformat(again), now, tz)} 起可再次提醒。"


def default_deadline(calendar: WorkCalendar, now: datetime) -> datetime:
    """The compose form's deadline: the end of the working day after the one the cards go
    out on (R4), so it is valid on a weekend evening too (Tuesday 10:00 → Wednesday 18:00,
    Saturday 20:00 → Tuesday 18:00, Friday 17:59 → Monday 18:00)."""
    goes = calendar.next_working_time(now)
    day = goes.astimezone(calendar.tz).date() + timedelta(days=1)
    while not calendar.is_workday(day):
        day += timedelta(days=1)
    return calendar.windows(day)[-1][1]


def show_error(form, exc: directives.DirectiveError) -> None:
    """Put the domain's refusal next to its field (or the first field when it names none of ours)."""
    name = FIELD_OF.get(exc.field, exc.field)
    field = form._fields.get(name) or next(f for f in form if f.name != "csrf_token")
    field.errors = [*field.errors, zh(exc)]


# ---- forms ------------------------------------------------------------------------------------------------------

class ComposeForm(ZhForm):
    # bytes, as WeCom counts them (directives.TITLE_BYTES / BODY_BYTES, textlimits.py)
    title = StringField("标题", validators=[DataRequired("请填写标题"), utf8_bytes(directives.TITLE_BYTES, "标题")])
    body = TextAreaField("正文", validators=[DataRequired("请填写正文"), utf8_bytes(directives.BODY_BYTES, "正文")])
    # the domain judges the choices (the directory may change between the page and the POST)
    users = PeopleField("人员")
    departments = SelectMultipleField("部门（含下级部门）", coerce=form_id, validate_choice=False)
    groups = SelectMultipleField("群（群内员工）", coerce=form_id, validate_choice=False)
    deadline_date = DateField("截止日期", validators=[InputRequired("请填写截止日期")])
    deadline_time = TimeField("截止时间", validators=[InputRequired("请填写截止时间")])
    require = SelectField("要求", choices=[SelectChoice(k, word) for k, word in REQUIRES.items()],
                          default="ack")
    urgent = BooleanField("紧急")
    confidential = BooleanField("机密")
    summary_group = SelectField("汇总发到群", coerce=str, default="")


class RevokeForm(ZhForm):
    reason = TextAreaField("撤回原因", validators=[DataRequired("请填写撤回原因（会记入签收记录）"),
                                                Length(max=500, message="最多 500 个字")])


class CorrectForm(ZhForm):
    title = StringField("标题", validators=[DataRequired("请填写标题"), utf8_bytes(directives.TITLE_BYTES, "标题")])
    body = TextAreaField("正文", validators=[DataRequired("请填写正文"), utf8_bytes(directives.BODY_BYTES, "正文")])
    note = TextAreaField("更正说明", validators=[Optional(), Length(max=500, message="最多 500 个字")])


def _fill_choices(db, form: ComposeForm) -> None:
    """The directory mirror and the registry as the compose form's choices."""
    departments = dict(db.execute(select(Department.id, Department.name).where(Department.deleted.is_(False))
                                  .order_by(Department.id)).all())
    form.departments.choices = [SelectChoice(i, name) for i, name in departments.items()]
    groups = db.scalars(select(Group).where(Group.status == "active").order_by(Group.kind, Group.name)).all()
    form.groups.choices = [SelectChoice(g.id, f"{g.name}（{GROUP_KINDS.get(g.kind, g.kind)}）") for g in groups]
    form.summary_group.choices = [SelectChoice("", "不发送")] + [
        SelectChoice(str(g.id), g.name) for g in groups if g.kind == "managed" and g.chat_id]


# ---- list and compose -------------------------------------------------------------------------------------------

@bp.get("/directives")
@roles_required("admin", "issuer")
def directives_list():
    viewer = current_user()
    status = request.args.get("status") if request.args.get("status") in ("active", "revoked") else None
    order, q = sorting(DIRECTIVE_SORTS, "-created"), search_arg()
    query = select(Directive).order_by(*order.order_by(Directive.id.desc()))
    if not viewer.is_admin:
        query = query.where(Directive.issuer == viewer.userid)
    if status:
        query = query.where(Directive.status == status)
    with runtime().sessions() as db:
        if q:  # the title, or the issuer by name, pinyin or userid
            query = query.where(or_(Directive.title.icontains(q, autoescape=True),
                                    Directive.issuer.in_(matching(db, q) or [""])))
        page = paginate(db, query)
        counted = counts(db, page.items)
        names = dict(db.execute(select(User.userid, User.name).where(
            User.userid.in_({d.issuer for d in page.items}))).all())
    rows = [dict(directive=d, **_rates(d, counted[d.id])) for d in page.items]
    return render_template("workbench/directives_list.html", page=page, rows=rows, status=status,
                           names=names, q=q, order=order)


def _rates(directive: Directive, counted: dict) -> dict:
    total = counted["total"]
    done = counted["completed"] if directive.require == "completion" else counted["acknowledged"]
    return dict(total=total, done=done, acknowledged=counted["acknowledged"], completed=counted["completed"],
                by_status=counted["by_status"],
                ack_rate=round(100 * counted["acknowledged"] / total) if total else 0,
                done_rate=round(100 * done / total) if total else 0)


@bp.route("/directives/new", methods=["GET", "POST"])
@roles_required("admin", "issuer")
def directives_new():
    viewer, rt = current_user(), runtime()
    form = ComposeForm()
    with rt.sessions() as db:
        _fill_choices(db, form)
        if request.method == "GET":
            deadline = default_deadline(load_calendar(db, rt.settings), rt.clock()).astimezone(rt.settings.tz)
            form.deadline_date.data, form.deadline_time.data = deadline.date(), deadline.time().replace(tzinfo=None)
        form_ok = form.validate_on_submit()
        if (check_people(db, form) if form.is_submitted() else True) and form_ok:  # every field's errors at once
            now = rt.clock()
            deadline = datetime.combine(form.deadline_date.data, form.deadline_time.data, tzinfo=rt.settings.tz)
            try:
                directive = directives.issue(
                    db, rt.settings, title=form.title.data, body=form.body.data,
                    assignees={"users": form.users.data, "departments": form.departments.data,
                               "groups": form.groups.data},
                    deadline=deadline, issuer=viewer.userid, now=now, require=form.require.data,
                    urgent=form.urgent.data, confidential=form.confidential.data,
                    summary_group_id=int(form.summary_group.data) if form.summary_group.data else None)
            except directives.DirectiveError as exc:
                db.rollback()
                show_error(form, exc)
            else:
                audit_action(db, "workbench.directive.issue", f"directive:{directive.id}", title=directive.title)
                db.commit()
                queued = directives_delivery.queued_cards_send_time(db, directive, load_calendar(db, rt.settings), now)
                when = _queued_words(queued, now, rt.settings.tz) if queued and queued[2] else "立即发送"
                flash(f"已下达：{directive.title}（{when}）", "ok")
                return redirect(url_for("workbench.directive_receipts", directive_id=directive.id))
    status = 422 if request.method == "POST" else 200
    return render_template("workbench/directives_new.html", form=form), status


# ---- the receipt matrix -----------------------------------------------------------------------------------------

def _managed(db, directive_id: int) -> Directive | None:
    """The directive if the viewer may manage it (admin or its issuer); None → 403. Unknown → 404."""
    directive = db.get(Directive, directive_id)
    if directive is None:
        abort(404)
    viewer = current_user()
    return directive if viewer.is_admin or directive.issuer == viewer.userid else None


def _refuse():
    return forbidden("admin", "issuer", reason="只有办公室管理员和这条指令的发布人可以查看签收情况和导出签收单。")


MATRIX_SORTS = (SortOption("name", "姓名", User.name), SortOption("department", "部门", Department.name),
                SortOption("status", "状态", DirectiveReceipt.status),
                SortOption("delivered", "送达时间", DirectiveReceipt.delivered_at, desc_first=True),
                SortOption("acknowledged", "收到时间", DirectiveReceipt.acknowledged_at, desc_first=True),
                SortOption("completed", "办结时间", DirectiveReceipt.completed_at, desc_first=True),
                SortOption("reminders", "提醒次数", DirectiveReceipt.reminders, desc_first=True))


def _matrix_query(db, directive: Directive, status: str | None, department: int | None, q: str = "",
                  order=None):
    r = DirectiveReceipt
    overdue = r.overdue_at.is_not(None) & done_column(directive).is_(None)
    query = (select(r, User.name, Department.name)
             .outerjoin(User, User.userid == r.userid)
             .outerjoin(Department, Department.id == User.main_department)
             .where(r.directive_id == directive.id)
             .order_by(*(order.order_by(r.userid) if order else [r.userid])))
    if q:  # a name (or part), its pinyin or initials, a userid, a department
        query = query.where(or_(r.userid.in_(matching(db, q) or [""]), Department.name.icontains(q, autoescape=True)))
    if status == "overdue":
        query = query.where(overdue)
    elif status:
        query = query.where(r.status == status, ~overdue)
    if department is not None:
        query = query.where(r.userid.in_(select(UserDepartment.userid).where(
            UserDepartment.department_id.in_(subtree(db, department)))))
    return query


def _int_arg(name: str) -> int | None:
    return bounded_int(request.args.get(name))  # a filter that is not an id is no filter


def _matrix(directive_id: int, *, revoke_form: RevokeForm | None = None, status_code: int = 200):
    rt = runtime()
    status = request.args.get("status") if request.args.get("status") in RECEIPT_STATUSES else None
    department = _int_arg("department")
    q = search_arg()
    with rt.sessions() as db:
        directive = _managed(db, directive_id)
        if directive is None:
            return _refuse()
        order = sorting(MATRIX_SORTS if directive.require == "completion" else  # no 办结 column to sort by
                        tuple(o for o in MATRIX_SORTS if o.key != "completed"), "name")
        page = paginate(db, _matrix_query(db, directive, status, department, q, order), per_page=MATRIX_PER_PAGE,
                        scalars=False)
        rates = _rates(directive, counts(db, [directive])[directive.id])
        issuer = db.get(User, directive.issuer)
        versions = db.scalars(select(DirectiveVersion).where(DirectiveVersion.directive_id == directive.id)
                              .order_by(DirectiveVersion.version)).all()
        departments = db.execute(
            select(Department.id, Department.name).join(User, User.main_department == Department.id)
            .join(DirectiveReceipt, DirectiveReceipt.userid == User.userid)
            .where(DirectiveReceipt.directive_id == directive.id)
            .group_by(Department.id, Department.name).order_by(Department.id)).all()
        now = rt.clock()
        calendar = load_calendar(db, rt.settings)
        remind = directives_followup.remind_plan(db, directive, calendar, now) if directive.status == "active" else None
        queued = directives_delivery.queued_cards_send_time(db, directive, calendar, now)
        rows = [dict(receipt=r, name=name or r.userid, department=dept or "—",
                     status=directives.receipt_status(directive, r),
                     reminder_goes=_reminder_goes(directive, calendar, r, now)) for r, name, dept in page.items]
    return render_template(
        "workbench/directives_receipts.html", directive=directive, page=page, rows=rows, rates=rates,
        status=status, department=department, departments=departments, status_names=RECEIPT_STATUSES, q=q, order=order,
        channels=CHANNELS, issuer_name=issuer.name if issuer else directive.issuer, versions=versions,
        remind=remind, remind_words=_remind_words(remind, now, rt.settings.tz) if remind else None,
        queued_words=_queued_words(queued, now, rt.settings.tz), form=EmptyForm(),
        revoke_form=revoke_form or RevokeForm()), status_code


def _reminder_goes(directive: Directive, calendar: WorkCalendar, receipt: DirectiveReceipt, now: datetime) -> str:
    """A person's last reminder that has not gone yet: when it goes (R4); "" otherwise."""
    if receipt.last_reminded_at is None:
        return ""
    goes = directives_followup.reminder_goes_at(directive, calendar, receipt.last_reminded_at)
    return held_words(goes, now, calendar.tz) if goes > now else ""


def _remind_words(plan: directives_followup.RemindPlan, now: datetime, tz) -> dict:
    """The 立即提醒 button's label (who, and when it goes) and what it leaves out."""
    n = len(plan.people)
    if n:
        label = f"提醒 {n} 人" + (f" · {when_words(plan.goes_at, now, tz)} 发出" if plan.held else "")
    else:
        label = "已提醒" if plan.waiting else "无人需要提醒"
    waiting = ""
    if plan.waiting:
        said = "将于" if plan.last_goes_at > now else "已于"
        waiting = (f"{plan.waiting} 人刚提醒过（{said} {when_words(plan.last_goes_at, now, tz)} 发出），"
                   f"{when_words(plan.again_at, now, tz)} 起可再次提醒")
    return dict(label=label, count=n, held=held_words(plan.goes_at, now, tz) if plan.held and n else "",
                waiting=waiting)


def _queued_words(queued, now: datetime, tz) -> str:
    """The 待送达 tile's time: when the cards not gone yet go."""
    if queued is None:
        return ""
    first, last, held = queued
    if first.astimezone(tz).strftime("%H:%M") != last.astimezone(tz).strftime("%H:%M"):
        when = f"{when_words(first, now, tz)}–{last.astimezone(tz):%H:%M}"
    else:
        when = when_words(first, now, tz)
    return f"将于 {when} 发出（非工作时间，R4）" if held else f"将于 {when} 发出"


@bp.get("/directives/<int:directive_id>/receipts")
@login_required
def directive_receipts(directive_id: int):
    return _matrix(directive_id)


# ---- actions ----------------------------------------------------------------------------------------------------

@bp.post("/directives/<int:directive_id>/remind")
@login_required
def directive_remind(directive_id: int):
    rt = runtime()
    with rt.sessions() as db:
        directive = _managed(db, directive_id)
        if directive is None:
            return _refuse()
        now = rt.clock()
        try:
            plan = directives_followup.remind_now(db, rt.settings, directive, actor=current_user().userid, now=now)
        except directives.DirectiveError as exc:
            db.rollback()
            flash(zh(exc), "error")
        else:
            n = len(plan.people)
            audit_action(db, "directive.remind", f"directive:{directive.id}", people=n)
            db.commit()
            if n == 0:
                flash("没有需要提醒的人：都已完成，或卡片尚未送达。", "ok")
            else:
                when = held_words(plan.goes_at, now, rt.settings.tz) if plan.held else "已发出"
                flash(f"已提醒 {n} 人：{when}", "ok")
    return redirect(url_for("workbench.directive_receipts", directive_id=directive_id))


@bp.post("/directives/<int:directive_id>/revoke")
@login_required
def directive_revoke(directive_id: int):
    rt = runtime()
    form = RevokeForm()
    with rt.sessions() as db:
        directive = _managed(db, directive_id)
        if directive is None:
            return _refuse()
        if form.validate_on_submit():
            try:
                directives.revoke(db, rt.settings, directive, actor=current_user().userid, reason=form.reason.data,
                                  now=rt.clock())
            except directives.DirectiveError as exc:
                db.rollback()
                show_error(form, exc)
            else:
                audit_action(db, "workbench.directive.revoke", f"directive:{directive.id}", reason=form.reason.data)
                db.commit()
                flash("已撤回：卡片会显示「已撤回」，提醒已停止。", "ok")
                return redirect(url_for("workbench.directive_receipts", directive_id=directive_id))
    return _matrix(directive_id, revoke_form=form, status_code=422)


@bp.route("/directives/<int:directive_id>/correct", methods=["GET", "POST"])
@login_required
def directive_correct(directive_id: int):
    rt = runtime()
    with rt.sessions() as db:
        directive = _managed(db, directive_id)
        if directive is None:
            return _refuse()
        form = CorrectForm(data=dict(title=directive.title, body=directive.body) if request.method == "GET" else None)
        if directive.status != "active":
            flash("指令已撤回，不能再更正。", "error")
            return redirect(url_for("workbench.directive_receipts", directive_id=directive_id))
        if form.validate_on_submit():
            try:
                directives.correct(db, rt.settings, directive, title=form.title.data, body=form.body.data,
                                   note=form.note.data or "", actor=current_user().userid, now=rt.clock())
            except directives.DirectiveError as exc:
                db.rollback()
                show_error(form, exc)
            else:
                audit_action(db, "workbench.directive.correct", f"directive:{directive.id}",
                             version=directive.version)
                db.commit()
                flash(f"已更正为第 {directive.version} 版：所有人需重新确认。", "ok")
                return redirect(url_for("workbench.directive_receipts", directive_id=directive_id))
        page = render_template("workbench/directives_correct.html", directive=directive, form=form)
    return page, 422 if request.method == "POST" else 200


@bp.get("/directives/<int:directive_id>/receipts.<any(pdf, xlsx):fmt>")
@login_required
def directive_sheet(directive_id: int, fmt: str):
    """The 签收单 (directives/receipt_sheet.py): admin or the issuer only (confidential bodies are on it, R12)."""
    rt = runtime()
    with rt.sessions() as db:
        directive = _managed(db, directive_id)
        if directive is None:
            return _refuse()
        make = receipt_sheet.receipt_pdf if fmt == "pdf" else receipt_sheet.receipt_xlsx
        data = make(db, rt.settings, directive_id, now=rt.clock())
        audit_action(db, "directive.export", f"directive:{directive_id}", format=fmt)
        db.commit()
    name = f"directive-{directive_id}-receipts.{fmt}"
    return Response(data, mimetype=receipt_sheet.SHEET_TYPES[fmt], headers={"Content-Disposition": f'attachment; filename="{name}"'})
