"""设置: what the app runs with, and the working-day overrides (调休) admins keep.

Read-only here: every value that comes from the environment (working hours,
time zone, naming patterns, the sanctions ladder, admins), each with its
variable's name, because they change only in the environment / `.env` and take
effect on restart (config.py builds one frozen Settings at start-up). No secret
is ever rendered: the page reads the named fields below and nothing else.

Editable: single days that beat chinese-calendar (R4; workcal.py), the same
`CalendarOverride` rows `wecom-app calendar set/unset` and
`PUT/DELETE /api/v1/calendar/overrides/<day>` write, audited with the same
actions (`calendar.override.set` / `.delete`). The next 14 days are shown from
the effective calendar (`load_calendar`), so an admin sees a change at once.

Editable too: the word lists for archive use only (archive/content.py; e.g. classified
project names, R12), applied with the sensitive-word rules to every archived text of a
governed group when the conversation archive is on; audited `archive_words.create` /
`.update` / `.delete`.
"""

from __future__ import annotations

from datetime import date, timedelta

import chinese_calendar
from flask import flash, redirect, render_template, url_for
from flask_wtf import FlaskForm
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from wtforms import SelectField, StringField, TextAreaField
from wtforms.fields import SelectChoice
from wtforms.validators import AnyOf, Length, ValidationError

from wecom_app import session_generations
from wecom_app.archive import content as archive_content
from wecom_app.governance import naming
from wecom_app.labels import SANCTIONS
from wecom_app.models import ArchiveWordList, CalendarOverride, SensitiveWordRule, Tag, User
from wecom_app.violations.sanctions import ladder
from wecom_app.workbench.access import audit_action, current_user, roles_required
from wecom_app.workbench.blueprint import bp, runtime
from wecom_app.workbench.forms import DayField, EmptyForm
from wecom_app.workbench.paging import paginate
from wecom_app.workcal import load_calendar, set_override, unset_override

WEEKDAYS = "一二三四五六日"
STRIP_DAYS = 14
KINDS = (SelectChoice("holiday", "休息（放假）"), SelectChoice("workday", "上班（调休工作日）"))
# naming.py's defaults in words (their regular expressions are unreadable on a phone)
DEFAULT_GROUP_NAMES = "默认：2-50 个字，汉字、字母、数字和常用标点（- _ · . & + / 、括号），不含表情"
DEFAULT_REAL_NAMES = "默认：2-4 个汉字"


class OverrideForm(FlaskForm):
    day = DayField("日期", format="%Y-%m-%d")
    kind = SelectField("这一天", choices=KINDS, default="holiday", validate_choice=False,
                       validators=[AnyOf([k.value for k in KINDS], message="请选择上班或休息")])
    note = StringField("说明", validators=[Length(max=200, message="说明最多 200 个字")])

    def validate_day(self, field):
        if field.data is None:
            if not field.errors:  # else the format message is there already
                raise ValidationError("请填写日期")
            return
        if field.data < _today():
            raise ValidationError("只能调整今天及以后的日期")
        with runtime().sessions() as db:
            existing = db.get(CalendarOverride, field.data)
            if existing is not None:
                raise ValidationError(f"这一天已调整为{'上班' if existing.workday else '休息'}；"
                                      "要改请先在下面的列表里删除它")


@bp.get("/settings")
@roles_required("admin")
def settings_page():
    return _render(OverrideForm())


@bp.post("/settings/overrides")
@roles_required("admin")
def add_override():
    form = OverrideForm()
    if not form.validate():
        return _render(form), 400
    rt = runtime()
    now, day, workday, note = rt.clock(), form.day.data, form.kind.data == "workday", (form.note.data or "").strip()
    with rt.sessions() as db:
        if db.get(CalendarOverride, day) is not None:  # added by another admin since validate_day looked
            db.rollback()
            form.day.errors.append("这一天刚被其他管理员调整过，请查看下面的列表")
            return _render(form), 400
        set_override(db, day, workday=workday, note=note, actor=current_user().userid, now=now, channel="workbench")
        try:
            db.commit()
        except IntegrityError:  # another admin added the same day since validate_day looked
            db.rollback()
            form.day.errors.append("这一天刚被其他管理员调整过，请查看下面的列表")
            return _render(form), 400
    flash(f"已把 {day.isoformat()} 设为{'上班' if workday else '休息'}。")
    return redirect(url_for("workbench.settings_page") + "#calendar")


@bp.post("/settings/overrides/<day>/delete")
@roles_required("admin")
def delete_override(day: str):
    form = EmptyForm()
    when = _parse_day(day)
    if not form.validate() or when is None:
        flash("无法删除：日期无效。", "error")
        return redirect(url_for("workbench.settings_page") + "#calendar")
    rt = runtime()
    with rt.sessions() as db:
        if not unset_override(db, when, actor=current_user().userid, now=rt.clock(), channel="workbench"):
            flash(f"{when.isoformat()} 没有调整，无需删除。", "error")
        else:
            db.commit()
            flash(f"已删除 {when.isoformat()} 的调整，这一天按法定日历执行。")
    return redirect(url_for("workbench.settings_page") + "#calendar")


class RevokeSessionsForm(FlaskForm):
    userid = StringField("成员账号（userid）", validators=[Length(min=1, max=64, message="请填写成员的 userid")])


@bp.post("/settings/sessions/revoke")
@roles_required("admin")
def revoke_sessions():
    """强制下线: end every workbench session of one person (a lost phone, a shared computer),
    audited `workbench.sessions.revoke` (session_generations.py)."""
    form = RevokeSessionsForm()
    userid = (form.userid.data or "").strip().lower()
    if not form.validate() or not userid:
        flash("无法强制下线：请填写成员的 userid。", "error")
        return redirect(url_for("workbench.settings_page") + "#sessions")
    rt = runtime()
    with rt.sessions() as db:
        user = db.get(User, userid)
        if user is None:
            flash(f"通讯录中没有 {userid}。", "error")
            return redirect(url_for("workbench.settings_page") + "#sessions")
        generation = session_generations.bump(db, userid, now=rt.clock())
        audit_action(db, "workbench.sessions.revoke", f"user:{userid}", generation=generation)
        db.commit()
        name = user.name or userid
    flash(f"已让 {name}（{userid}）在所有设备上退出工作台，需重新登录。")
    return redirect(url_for("workbench.settings_page") + "#sessions")


WORD_LIST_RULES = (SelectChoice("R12", "R12 涉密信息"), SelectChoice("R3", "R3 言行不当"),
                   SelectChoice("R5", "R5 与工作无关"))


class WordListForm(FlaskForm):
    name = StringField("词表名称", validators=[Length(min=1, max=archive_content.NAME_MAX,
                                                       message=f"请填写词表名称（最多 {archive_content.NAME_MAX} 个字）")])
    rule = SelectField("违反的规则", choices=WORD_LIST_RULES, default="R12", validate_choice=False,
                       validators=[AnyOf([c.value for c in WORD_LIST_RULES], message="请选择规则")])
    words = TextAreaField("词语", validators=[Length(max=20000, message="词语太多")])


@bp.post("/settings/archive-words")
@roles_required("admin")
def save_word_list():
    """Add a list, or replace the words and rule of the list of that name."""
    form = WordListForm()
    if form.validate():
        rt = runtime()
        with rt.sessions() as db:
            try:
                row = archive_content.save_list(db, name=form.name.data, rule=form.rule.data,
                                                words=archive_content.parse_words(form.words.data),
                                                actor=current_user().userid, now=rt.clock())
            except archive_content.WordListError as exc:
                getattr(form, exc.field).errors.append(exc.message)
            else:
                db.commit()
                flash(f"已保存词表「{row.name}」（{len(row.words)} 个词）。")
                return redirect(url_for("workbench.settings_page") + "#archive-words")
    return _render(OverrideForm(), words_form=form), 400


@bp.post("/settings/archive-words/<int:list_id>/delete")
@roles_required("admin")
def delete_word_list(list_id: int):
    form = EmptyForm()
    rt = runtime()
    with rt.sessions() as db:
        if not form.validate() or not archive_content.delete_list(db, list_id, actor=current_user().userid,
                                                                  now=rt.clock()):
            flash("无法删除：词表不存在。", "error")
        else:
            db.commit()
            flash("已删除词表。")
    return redirect(url_for("workbench.settings_page") + "#archive-words")


def _render(form: OverrideForm, words_form: WordListForm | None = None):
    rt = runtime()
    settings = rt.settings
    today = _today()
    with rt.sessions() as db:
        overrides = paginate(db, select(CalendarOverride).where(CalendarOverride.day >= today)
                             .order_by(CalendarOverride.day))
        calendar = load_calendar(db, settings)
        data = dict(environment=_environment(db, settings), overrides=overrides,
                    strip=[_day_info(calendar, today + timedelta(days=i)) for i in range(STRIP_DAYS)],
                    coverage=[(year, _covered(year)) for year in (today.year, today.year + 1)],
                    word_lists=db.scalars(select(ArchiveWordList).order_by(ArchiveWordList.id)).all(),
                    sensitive_rules=db.scalars(select(SensitiveWordRule).where(
                        SensitiveWordRule.sync_status != "deleted").order_by(SensitiveWordRule.id)).all(),
                    archive_on=settings.archive_enabled)
    return render_template("workbench/settings.html", form=form, delete_form=EmptyForm(),
                           revoke_form=RevokeSessionsForm(), words_form=words_form or WordListForm(), **data)


# -- the environment, read-only --------------------------------------------------------------------

def _environment(db, settings) -> list[tuple[str, str, str]]:
    """(label, value, variable) for each non-secret setting an admin cares about."""
    windows = "，".join(f"{start:%H:%M}-{end:%H:%M}" for start, end in settings.work_hours)
    steps = " → ".join(SANCTIONS.get(step, step) + (f" {days} 天" if step == "temporary_removal" else "")
                       for step, days in ladder(settings))
    names = dict(db.execute(select(User.userid, User.name).where(User.userid.in_(settings.admins or [""]))).all())
    admins = "、".join(f"{names.get(a, '')}（{a}）" if names.get(a) else a for a in settings.admins) or "未设置"
    tag = "未设置"
    if settings.admin_tag is not None:
        tag_name = db.scalar(select(Tag.name).where(Tag.id == settings.admin_tag))
        tag = f"{tag_name}（标签 {settings.admin_tag}）" if tag_name else f"标签 {settings.admin_tag}"
    return [
        ("工作时间（工作日）", windows, "WORK_HOURS"),
        ("公司时区", settings.timezone, "TIMEZONE"),
        ("群名称规范", settings.group_name_pattern or DEFAULT_GROUP_NAMES, "GROUP_NAME_PATTERN"),
        ("实名规范", naming.describe_real_name(settings.real_name_pattern) if settings.real_name_pattern
         else f"{DEFAULT_REAL_NAMES}（可设 name-or-department-name 同时接受「部门-姓名」）", "REAL_NAME_PATTERN"),
        ("实名整改宽限", f"{settings.real_name_grace_days} 天", "REAL_NAME_GRACE_DAYS"),
        ("处罚阶梯", steps, "SANCTION_LADDER"),
        ("群内指令提示词（会话存档，R16）", "、".join(f"「{m}」" for m in settings.instruction_markers)
         or "未设置（只看 @所有人 和 @成员）", "INSTRUCTION_MARKERS"),
        ("办公室管理员", admins, "WECOM_ADMINS"),
        ("管理员标签（标签成员也是管理员）", tag, "WECOM_ADMIN_TAG"),
        ("企业 ID / 应用 AgentId", f"{settings.corp_id} / {settings.agent_id}", "WECOM_CORP_ID, WECOM_AGENT_ID"),
        ("对外地址", settings.public_url, "PUBLIC_URL"),
        ("数据库", _database(settings.database_url), "DATABASE_URL"),
        ("登录有效期", f"{settings.session_hours} 小时", "SESSION_HOURS"),
        ("群人数上限（管理后台设置）", f"{settings.group_size_limit} 人", "WECOM_GROUP_SIZE_LIMIT"),
        ("企业人数上限（应用消息每日额度 = 人数 × 200）",
         f"{settings.seat_limit} 人" if settings.seat_limit else "未设置（不限制）", "WECOM_SEAT_LIMIT"),
        ("企业微信不可用时持续重试", _hours(settings.outbox_give_up_after), "OUTBOX_GIVE_UP_AFTER"),
        ("会话存档内容保留", f"{settings.archive_retention_days} 天（作为违规证据的消息一直保留）", "ARCHIVE_RETENTION_DAYS"),
    ]


def _hours(seconds: int) -> str:
    return f"{seconds // 86400} 天" if seconds % 86400 == 0 else f"{seconds / 3600:g} 小时"


def _database(url: str) -> str:
    """The kind of database only: the URL may hold a password."""
    try:
        backend = make_url(url).get_backend_name()
    except Exception:  # noqa: BLE001 - a malformed URL never stopped start-up here; show nothing of it
        return "未知"
    return {"sqlite": "SQLite", "postgresql": "PostgreSQL"}.get(backend, backend)


# -- the calendar ----------------------------------------------------------------------------------

def _today() -> date:
    rt = runtime()
    return rt.clock().astimezone(rt.settings.tz).date()


def _parse_day(text: str) -> date | None:
    try:
        return date.fromisoformat(text) if len(text) == 10 else None
    except ValueError:
        return None


def _covered(year: int) -> bool:
    """Whether chinese-calendar knows the year's holidays and 调休 (it raises otherwise)."""
    try:
        chinese_calendar.is_workday(date(year, 6, 1))
    except NotImplementedError:
        return False
    return True


def _day_info(calendar, day: date) -> dict:
    """One day of the strip: working or not, and why."""
    workday = calendar.is_workday(day)
    if day in calendar.overrides:
        why = "管理员调整"
    elif _covered(day.year):
        holiday, name = chinese_calendar.get_holiday_detail(day)
        chinese = next((h.chinese for h in chinese_calendar.Holiday if h.value == name), name) if name else ""
        why = (chinese if holiday else f"{chinese}调休") if chinese else ("周末" if not workday else "")
    else:
        why = "推算" + ("（周末）" if day.weekday() >= 5 else "")
    return dict(day=day, weekday=WEEKDAYS[day.weekday()], workday=workday, why=why,
                override=day in calendar.overrides)
