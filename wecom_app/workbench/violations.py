"""违规与举报 (`/violations`): the queue of violation records and the custodian's
ruling on each (R3, R5, R6, R11, R15).

- `/violations` (admin: all; custodian: the violations in the groups they look
  after), filtered by status, rule and group, paginated.
- `/violations/<id>`: the evidence, the person, the group; the decision form.
  Only an admin or the custodian of the violation's group may open or decide it
  (a violation without a group is the office's).
- `POST /violations/<id>/decide`: decisions.decide — a confirmation applies the
  next step of the person's sanctions ladder (violations_sanctions, R6) and writes
  an assessment record (R15); the page then shows what happened.
"""

from __future__ import annotations

import re

from flask import abort, flash, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from sqlalchemy import or_, select
from wtforms import RadioField, SelectChoice, TextAreaField
from wtforms.validators import DataRequired, Length, ValidationError

from wecom_app.directory.people import matching
from wecom_app.inputs import bounded_int
from wecom_app.labels import GROUP_KINDS, RULE_NAMES, SANCTIONS
from wecom_app.models import Assessment, Department, Group, Sanction, User, Violation
from wecom_app.violations import decisions
from wecom_app.violations.decisions import DecisionError
from wecom_app.violations.records import RULES, STATUSES
from wecom_app.violations.sanctions import NO_MUTE
from wecom_app.workbench.access import audit_action, current_user, forbidden, roles_required
from wecom_app.workbench.blueprint import bp, runtime
from wecom_app.workbench.paging import paginate
from wecom_app.workbench.sorting import SortOption, search_arg, sorting

VIOLATION_SORTS = (SortOption("created", "发现时间", Violation.created_at, desc_first=True),
                   SortOption("person", "当事人", User.name), SortOption("group", "群", Group.name),
                   SortOption("rule", "规则", Violation.rule), SortOption("status", "状态", Violation.status),
                   SortOption("decided", "处理时间", Violation.decided_at, desc_first=True))
STATUS_BADGE = {"open": "open", "confirmed": "confirmed", "dismissed": "dismissed_violation"}
EVIDENCE_NAMES = {"reason": "说明", "text": "举报原文", "reporter": "举报人", "invitor": "邀请人", "msg_id": "消息编号",
                  "member_type": "成员类型", "group_nickname": "群昵称", "source": "来源", "archive_msgid": "存档消息",
                  "roomid": "群 ID", "msgtime": "发送时间", "msgtype": "消息类型", "matched": "命中词"}


class DecideForm(FlaskForm):
    decision = RadioField("处理结果", choices=[SelectChoice("confirm", "确认违规：按处理阶梯处理，记入当月考核"),
                                           SelectChoice("dismiss", "驳回：不构成违规")],
                          validators=[DataRequired(message="请选择确认或驳回")])
    text = TextAreaField("处理意见", validators=[Length(max=500, message="最多 500 个字")])

    def validate_decision(self, field):
        if field.data not in decisions.DECISIONS:
            raise ValidationError("请选择确认或驳回")

    def validate_text(self, field):
        if self.decision.data == "dismiss" and not (field.data or "").strip():
            raise ValidationError("驳回时请写明理由，举报人和被举报人都能据此了解结果")


def decision_message(exc: DecisionError) -> str:
    """decisions.decide's refusal in Chinese."""
    match = re.search(r"is already (\w+)", exc.message)
    if match:
        word = {"confirmed": "确认", "dismissed": "驳回"}.get(match[1], match[1])
        return f"这条记录已被处理（已{word}），不能再次处理。"
    return exc.message


# -- who may see what -----------------------------------------------------------------------------------


def _mine(stmt, viewer):
    """A custodian sees only the violations in the groups they look after."""
    return stmt if viewer.is_admin else stmt.where(Violation.group_id.in_(viewer.custodian_of or [-1]))


def may_decide(viewer, violation: Violation) -> bool:
    return viewer.is_admin or (violation.group_id is not None and violation.group_id in viewer.custodian_of)


def _load(db, violation_id: int):
    """(violation, None) when the viewer may see it; (None, the 403 page) otherwise."""
    violation = db.get(Violation, violation_id)
    if violation is None:
        abort(404)
    if not may_decide(current_user(), violation):
        return None, forbidden(reason="只有办公室管理员和该群的专管人员可以查看和处理这条违规记录。")
    return violation, None


# -- the queue ----------------------------------------------------------------------------------------------


@bp.get("/violations")
@roles_required("admin", "custodian")
def violations_list():
    viewer = current_user()
    args = {k: request.args.get(k, "").strip() for k in ("status", "rule", "group")}
    order, q = sorting(VIOLATION_SORTS, "-created"), search_arg()
    stmt = (_mine(select(Violation), viewer).outerjoin(User, User.userid == Violation.userid)
            .outerjoin(Group, Group.id == Violation.group_id).order_by(*order.order_by(Violation.id.desc())))
    if args["status"] in STATUSES:
        stmt = stmt.where(Violation.status == args["status"])
    if args["rule"] in RULES:
        stmt = stmt.where(Violation.rule == args["rule"])
    if (group := bounded_int(args["group"])) is not None:
        stmt = stmt.where(Violation.group_id == group)
    with runtime().sessions() as db:
        if q:  # the person by name, pinyin or userid; the group's name; a rule id (R3)
            stmt = stmt.where(or_(Violation.userid.in_(matching(db, q) or [""]), Violation.userid == q.lower(),
                                  Group.name.icontains(q, autoescape=True), Violation.rule == q.upper()))
        page = paginate(db, stmt)
        groups_stmt = select(Group.id, Group.name).where(Group.status != "discovered").order_by(Group.name)
        if not viewer.is_admin:
            groups_stmt = groups_stmt.where(Group.id.in_(viewer.custodian_of or [-1]))
        groups = db.execute(groups_stmt).all()
        names = _names(db, {v.userid for v in page.items})
    return render_template("workbench/violations_list.html", page=page, args=args, groups=groups,
                           group_names=dict(groups), names=names, rule_names=RULE_NAMES, statuses=STATUSES,
                           status_badge=STATUS_BADGE, filtered=any(args.values()) or bool(q), q=q, order=order)


def _names(db, userids) -> dict[str, str]:
    userids = [u for u in userids if u]
    return dict(db.execute(select(User.userid, User.name).where(User.userid.in_(userids or [""]))).all())


# -- one violation ------------------------------------------------------------------------------------------


@bp.get("/violations/<int:violation_id>")
@roles_required("admin", "custodian")
def violation_detail(violation_id: int):
    return _render_detail(violation_id, DecideForm())


def _render_detail(violation_id: int, form, status: int = 200):
    with runtime().sessions() as db:
        violation, refused = _load(db, violation_id)
        if refused:
            return refused
        person = db.get(User, violation.userid) if violation.userid else None
        department = db.get(Department, person.main_department) if person and person.main_department else None
        group = db.get(Group, violation.group_id) if violation.group_id else None
        sanctions = db.execute(select(Sanction, Group.name).outerjoin(Group, Group.id == Sanction.group_id)
                               .where(Sanction.violation_id == violation.id).order_by(Sanction.id)).all()
        assessment = db.scalar(select(Assessment).where(Assessment.source == "violation",
                                                        Assessment.source_id == violation.id))
        history = db.scalars(_mine(select(Violation), current_user()).where(
            Violation.userid == violation.userid, Violation.id != violation.id, Violation.status == "confirmed")
            .order_by(Violation.id.desc()).limit(10)).all() if violation.userid else []
        evidence = dict(violation.evidence or {})
        names = _names(db, {violation.userid, evidence.get("reporter"), evidence.get("invitor"),
                            _who(violation.decided_by), _who(violation.detected_by)})
    return render_template("workbench/violations_detail.html", v=violation, person=person, department=department,
                           group=group, sanctions=sanctions, assessment=assessment, history=history,
                           evidence=evidence, evidence_names=EVIDENCE_NAMES, names=names, form=form,
                           rule_names=RULE_NAMES, status_badge=STATUS_BADGE, sanction_names=SANCTIONS,
                           kind_names=GROUP_KINDS, no_mute=NO_MUTE, who=_who), status


def _who(actor: str | None) -> str:
    """The userid inside `custodian:<userid>` / `report:<userid>`; `system` and `api:` as they are."""
    if not actor:
        return ""
    kind, _, userid = actor.partition(":")
    return userid if kind in ("custodian", "report") else actor


@bp.post("/violations/<int:violation_id>/decide")
@roles_required("admin", "custodian")
def violation_decide(violation_id: int):
    """Confirm or dismiss; a confirmation's sanction and assessment are shown on the page after."""
    viewer = current_user()
    form = DecideForm()
    rt = runtime()
    with rt.sessions() as db:
        _violation, refused = _load(db, violation_id)
        if refused:
            return refused
    if not form.validate_on_submit():
        return _render_detail(violation_id, form, 422)
    # the custodian acts as the group's custodian (as the API records it); an admin as themselves
    actor = viewer.userid if viewer.is_admin else f"custodian:{viewer.userid}"
    text = (form.text.data or "").strip()
    try:
        with rt.sessions.begin() as db:
            violation = decisions.decide(db, rt.settings, violation_id, form.decision.data, actor, rt.clock(), text)
            audit_action(db, f"workbench.violation.{form.decision.data}", f"violation:{violation_id}",
                         sanction=violation.sanction)
            status, sanction, userid = violation.status, violation.sanction, violation.userid
    except DecisionError as exc:
        form.decision.errors = [*form.decision.errors, decision_message(exc)]
        return _render_detail(violation_id, form, 409)
    if status == "confirmed":
        what = f"已确认违规；处理：{SANCTIONS.get(sanction, sanction)}" if sanction else "已确认违规（未指明个人，不处理个人）"
        flash(what + ("，并已记入当月考核。" if userid else "。"), "ok")
    else:
        flash("已驳回，不构成违规。", "ok")
    return redirect(url_for("workbench.violation_detail", violation_id=violation_id))
