"""公告 (R17 a custodian duty, R4 quiet hours): the list (`/announcements`), compose
(`/announcements/new`) and one announcement's delivery per group
(`/announcements/<id>`), on the domain of announcements.py (the same `create` and
`view` as POST/GET /api/v1/announcements).

Admins send to any governed group and see every announcement. A custodian sends
only to the groups they are custodian of, and sees the announcements they wrote;
anything else is refused on the server whatever the form posted.

Compose says for each group how it can be reached (announcements.route): a managed
group through the app (appchat/send), a registered group through its robot
webhook, or not at all and why: such a group is still listed after sending, never
silently skipped.
"""

from __future__ import annotations

from datetime import datetime

from flask import abort, flash, redirect, render_template, request, url_for
from sqlalchemy import select
from wtforms import BooleanField, DateField, SelectField, SelectMultipleField, TextAreaField, TimeField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from wecom_app import announcements
from wecom_app.inputs import form_id
from wecom_app.labels import GROUP_KINDS, held_words
from wecom_app.models import Announcement, Group
from wecom_app.workbench.access import audit_action, current_user, forbidden, roles_required
from wecom_app.workbench.blueprint import bp, runtime
from wecom_app.workbench.forms import ZhForm, bytes_words, utf8_bytes
from wecom_app.workbench.paging import paginate

CHANNEL_NOTES = {"appchat/send": "应用管理群：由应用直接发送（appchat/send）",
                 "webhook/send": "已登记群机器人：通过机器人 webhook 发送"}
# announcements.route's reasons (English, the API's) in Chinese, by how they start
UNREACHABLE = (
    ("the group was dismissed", "群已解散"),
    ("the group was archived", "群已归档，应用不再管理"),
    ("the group is still being created", "群还在创建中，尚不能发送"),
    ("a discovered customer group", "发现的客户群尚未备案"),
    ("customer group without a robot webhook", "客户群未登记群机器人：企业微信没有向客户群发消息的接口"),
    ("internal group without a robot webhook", "内部群未登记群机器人：企业微信没有向普通内部群发消息的接口"),
    ("its robot webhook cannot be decrypted", "群机器人地址无法解密（SECRET_KEY 已更换），请重新登记"),
)


def unreachable_words(reason: str) -> str:
    for prefix, words in UNREACHABLE:
        if reason.startswith(prefix):
            return words
    return reason


class AnnouncementForm(ZhForm):
    groups = SelectMultipleField("发送到群", coerce=form_id, validate_choice=False, widget=ListWidget(prefix_label=False),
                                 option_widget=CheckboxInput())
    msgtype = SelectField("格式", choices=[SelectChoice("text", "纯文本"), SelectChoice("markdown", "Markdown")],
                          default="text")
    # the largest limit of any channel here; the domain judges the chosen groups' (textlimits.py)
    content = TextAreaField("内容", validators=[DataRequired("请填写公告内容"),
                                              utf8_bytes(announcements.CONTENT_LIMIT, "内容")])
    when = SelectField("发送", choices=[SelectChoice("now", "立即发送"), SelectChoice("at", "定时发送")], default="now")
    send_date = DateField("日期", validators=[Optional()])
    send_time = TimeField("时间", validators=[Optional()])
    urgent = BooleanField("紧急")
    retry = BooleanField("仍然尝试发送")


def _sendable(db, viewer) -> list[Group]:
    """The groups the viewer may announce to: every governed group for an admin, their own for a custodian."""
    query = select(Group).where(Group.status.notin_(("dismissed", "archived"))).order_by(Group.kind, Group.name)
    if not viewer.is_admin:
        query = query.where(Group.id.in_(viewer.custodian_of or [-1]))
    return list(db.scalars(query))


def _reach(settings, group: Group, failed=None) -> tuple[bool, str]:
    kind, _key, why = announcements.route(settings, group)
    if not kind:
        return False, f"无法送达：{unreachable_words(why)}"
    if failed is not None:  # WeCom refused the last post for good (announcements.last_failures)
        return False, f"上次发送失败（企业微信错误码 {failed.errcode}{'：' + failed.reason if failed.reason else ''}）"
    return True, CHANNEL_NOTES[kind]


def _unreachable(settings, groups: list[Group], failures: dict) -> tuple[set[int], set[int]]:
    """(no way to post at all, the last post failed): group ids."""
    blocked = {g.id for g in groups if announcements.route(settings, g)[0] is None}
    return blocked, {g for g in failures if g not in blocked}


def _nothing_reaches(form, chosen: set[int], blocked: set[int], failing: set[int]) -> None:
    """A custodian (or an admin) is told when the chosen groups would receive nothing, instead
    of "publishing" to nobody: refused when none can be posted into; when WeCom refused the
    last post to each, only with 仍然尝试发送 ticked (the custodian may have fixed it since)."""
    if not chosen or chosen - blocked - failing:
        return
    if chosen <= blocked:
        form.groups.errors = [*form.groups.errors, "所选的群都无法送达，发布了也没有人收到：请联系办公室处理（见各群的说明）"]
    elif not form.retry.data:
        form.groups.errors = [*form.groups.errors, "所选的群上次发送都失败了（见各群的说明）：如已处理，请勾选「仍然尝试发送」"]


def _check(form: AnnouncementForm, allowed: set[int], tz, now: datetime) -> datetime | None:
    """Errors the fields cannot judge alone; the send time as an aware datetime (None: now)."""
    if not form.groups.data:
        form.groups.errors = [*form.groups.errors, "请至少选择一个群"]
    elif set(form.groups.data) - allowed:
        form.groups.errors = [*form.groups.errors, "只能向你担任专管人员的群发送公告"]
    if form.when.data != "at":
        return None
    if form.send_date.data is None or form.send_time.data is None:
        form.send_date.errors = [*form.send_date.errors, "定时发送请填写日期和时间"]
        return None
    send_at = datetime.combine(form.send_date.data, form.send_time.data, tzinfo=tz)
    if send_at <= now:
        form.send_date.errors = [*form.send_date.errors, "定时发送的时间须晚于现在"]
    return send_at


@bp.get("/announcements")
@roles_required("admin", "custodian")
def announcements_list():
    viewer = current_user()
    query = select(Announcement).order_by(Announcement.id.desc())
    if not viewer.is_admin:
        query = query.where(Announcement.created_by == viewer.userid)
    rt = runtime()
    now = rt.clock()
    with rt.sessions() as db:
        page = paginate(db, query)
        found = announcements.statuses(db, [a.id for a in page.items])
        held = announcements.held_times(db, rt.settings, [a.id for a in page.items], now)
    rows = [dict(announcement=a, counts={s: found[a.id].count(s) for s in announcements.DELIVERY_STATUSES},
                 total=len(found[a.id]), held=held_words(held[a.id], now, rt.settings.tz) if a.id in held else "")
            for a in page.items]
    return render_template("workbench/announcements_list.html", page=page, rows=rows)


@bp.route("/announcements/new", methods=["GET", "POST"])
@roles_required("admin", "custodian")
def announcements_new():
    viewer, rt = current_user(), runtime()
    form = AnnouncementForm()
    with rt.sessions() as db:
        groups = _sendable(db, viewer)
        form.groups.choices = [SelectChoice(g.id, g.name) for g in groups]
        failures = announcements.last_failures(db, [g.id for g in groups])
        notes = {g.id: (g, *_reach(rt.settings, g, failures.get(g.id))) for g in groups}
        blocked, failing = _unreachable(rt.settings, groups, failures)
        if request.method == "POST":
            now = rt.clock()
            valid = form.validate()
            send_at = _check(form, set(notes), rt.settings.tz, now)  # every error at once, next to its field
            _nothing_reaches(form, set(form.groups.data or ()), blocked, failing)
            if valid and not any(f.errors for f in form):
                try:
                    announcement = announcements.create(
                        db, rt.settings, groups=form.groups.data, msgtype=form.msgtype.data,
                        content=form.content.data, send_at=send_at, urgent=form.urgent.data, actor=viewer.userid,
                        now=now)
                except announcements.AnnouncementError as exc:
                    db.rollback()
                    field = form._fields.get(exc.field, form.content)
                    field.errors = [*field.errors, _words(exc, form.msgtype.data)]
                else:
                    audit_action(db, "workbench.announcement.create", f"announcement:{announcement.id}",
                                 groups=form.groups.data)
                    db.commit()
                    flash("公告已提交发送。", "ok")
                    return redirect(url_for("workbench.announcement_detail", announcement_id=announcement.id))
        # in the session: a refusal's rollback expired the groups, which the page reloads
        page = render_template("workbench/announcements_new.html", form=form, notes=notes, kind_names=GROUP_KINDS,
                               blocked=blocked, failing=failing,
                               none_reachable=bool(notes) and set(notes) <= blocked | failing)
    return page, 422 if request.method == "POST" else 200


def _words(exc: announcements.AnnouncementError, msgtype: str) -> str:
    if exc.limit is None:
        return exc.message
    where = announcements.CHANNEL_WORDS.get(exc.channel, "")
    return bytes_words("内容", exc.limit, exc.size) + (f"（{where}的 {msgtype} 上限）" if where else "")


def _goes_words(body: dict, now: datetime, tz) -> str:
    """The one sentence about when a held announcement goes (R4), or "" when none waits."""
    if not body["counts"]["queued"] or not body["held"]:
        return ""
    return held_words(datetime.fromisoformat(body["goes_at"]), now, tz)


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@bp.get("/announcements/<int:announcement_id>")
@roles_required("admin", "custodian")
def announcement_detail(announcement_id: int):
    viewer, rt = current_user(), runtime()
    with rt.sessions() as db:
        announcement = db.get(Announcement, announcement_id)
        if announcement is None:
            abort(404)
        if not viewer.is_admin and announcement.created_by != viewer.userid:
            return forbidden("admin", reason="群专管人员只能查看自己发出的公告。")
        now = rt.clock()
        body = announcements.view(db, rt.settings, announcement, now=now)
    deliveries = [dict(d, sent=_when(d["sent_at"]), next_at=_when(d.get("next_attempt_at")),
                       why=unreachable_words(d["reason"]) if d["status"] == "unreachable" else d["reason"])
                  for d in body["deliveries"]]
    shown = request.args.get("status", "") if request.args.get("status") in body["counts"] else ""  # a count's link
    return render_template("workbench/announcements_detail.html", announcement=announcement, body=body,
                           deliveries=[d for d in deliveries if not shown or d["status"] == shown], shown=shown,
                           goes_at=_when(body["goes_at"]), kind_names=GROUP_KINDS,
                           goes_words=_goes_words(body, now, rt.settings.tz),
                           unreachable=[d for d in deliveries if d["status"] == "unreachable"])
