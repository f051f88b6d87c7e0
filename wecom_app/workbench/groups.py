"""群管理 (`/groups`): the registry on a phone (R7, R8, R9, R10, R6).

- `/groups`: admins see every group, a custodian only the groups they look after;
  filters kind, status, compliance (has non-compliant members) and name, paginated.
- `/groups/new` (admin): create a managed group (registry.create_managed_group; the
  outbox's appchat/create makes it active).
- `/groups/register` (admin): register (备案) a customer or internal group
  (registry.register_group), with the discovered customer groups awaiting it.
- `/groups/<id>/edit` (admin): name, custodian, scope and policy (governance/group_edit.py);
  a change of members is previewed first (who will be added and removed, names with
  departments) and applied on confirm: appchat/update for a managed group, one task to
  the owner and custodian for the kinds the app cannot change (R9, R11).
- `/groups/<id>/retire` (admin): archive a group (no longer governed, kept for the
  records) or record an ordinary group's dismissal; WeCom has no API to dismiss any group.
- `/groups/<id>` (admin, or that group's custodian; anyone else gets 403): members
  and their compliance, what the app enforces for its kind and what it cannot,
  pending join requests (R6), a re-check of the members, and the directives
  assigned through the group with their acknowledgment rate (R10).

Every rule lives in the domain modules; RegistryError lands next to its field
(in Chinese, `registry_message`), and a refused form writes nothing.
"""

from __future__ import annotations

import json

from flask import abort, flash, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from sqlalchemy import func, or_, select
from wtforms import BooleanField, HiddenField, SelectChoice, SelectField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from wecom_app.archive import activity as archive_activity
from wecom_app.archive.coverage import coverage
from wecom_app.archive.pull import status as pull_status
from wecom_app.directives.queries import counts
from wecom_app.directory.people import matching
from wecom_app.governance import group_edit, group_size, membership, registry, rules
from wecom_app.governance.registry_words import registry_message
from wecom_app.inputs import form_id
from wecom_app.labels import GROUP_KINDS, GROUP_STATUSES, MEMBER_STATES
from wecom_app.models import Department, Directive, Group, GroupMember, Tag, User
from wecom_app.models.groups import KINDS, STATUSES
from wecom_app.workbench.access import audit_action, can_manage_group, current_user, forbidden, roles_required
from wecom_app.workbench.blueprint import bp, runtime
from wecom_app.workbench.forms import EmptyForm
from wecom_app.workbench.paging import paginate
from wecom_app.workbench.people import PeopleField, check_people
from wecom_app.workbench.sorting import SortOption, search_arg, sorting

BAD = GroupMember.compliance.notin_(("ok", "unknown"))
COMPLIANCE = ("ok", "unknown", *rules.RULE)  # the findings a member's compliance holds
MEMBER_SORTS = (SortOption("added", "登记顺序", GroupMember.id), SortOption("name", "姓名", User.name),
                SortOption("compliance", "合规", GroupMember.compliance), SortOption("state", "状态", GroupMember.state),
                SortOption("joined", "入群时间", GroupMember.join_time, desc_first=True),
                SortOption("checked", "检查时间", GroupMember.checked_at, desc_first=True))
SHOWN = ("present", "pending_approval", "removing", "suspended", group_size.LEFT_OUT)  # what a custodian cares about
# what the app does for each kind, said plainly (DESIGN §1; registry.ENFORCED is the API's English)
ENFORCED = {
    "managed": dict(
        automatic=["离职、停用、未激活的成员由应用自动移出（R1）", "成员随范围自动加入或移出（R9、R11）；入群需审批的群由专管人员批准",
                   "只能有企业内部成员：外部联系人进不了应用创建的群（R13）", "未实名的成员会收到提醒，逾期记为违规（R2）"],
        tasks=["入群方式为「需审批」时，批准或拒绝入群申请（R6）"],
        impossible=["企业微信不推送应用群的成员变动：在客户端拉进来的人要等对账（每小时）才会发现",
                    "企业微信没有禁言接口：只能警告或移出"]),
    "customer": dict(
        automatic=["每次入群都会检查：非在职员工（R1）、不在范围内（R11）、不允许的外部联系人（R13）、实名和群昵称（R2），并留下记录",
                   "邀请不合规人员的邀请人会被记录并收到提醒（R11）"],
        tasks=["企业微信没有移出客户群成员的接口：应用不会移人，而是给群主和专管人员发任务，请在客户端移出不合规成员"],
        impossible=["应用无法为客户群加人、移人、改名或发消息"]),
    "internal": dict(
        automatic=["登记了群机器人时，公告经机器人发到群里", "通讯录变动时，检查已登记的成员（R1、R11）"],
        tasks=["在客户端维护成员（R9）：普通内部群没有事件也没有接口，应该退群的成员会以任务的形式告诉群主和专管人员"],
        impossible=["应用看不到谁进群、谁退群：企业微信不推送普通内部群的事件（仅登记备案）"]),
}


# -- forms -------------------------------------------------------------------------------------------


class ChoiceField(SelectField):
    """A SelectField that refuses an unknown value in Chinese."""

    def pre_validate(self, form):
        try:
            super().pre_validate(form)
        except ValidationError:
            raise ValidationError("请从列表中选择") from None


def options(*pairs) -> list[SelectChoice]:
    return [SelectChoice(value, label) for value, label in pairs]


class ScopeForm(FlaskForm):
    name = StringField("群名称", validators=[DataRequired(message="请填写群名称"), Length(max=50, message="最多 50 个字")])
    owner = PeopleField("群主", validators=[DataRequired(message="请选择群主")], multiple=False, active=True)
    custodian = PeopleField("专管人员", validators=[DataRequired(message="请选择专管人员")], multiple=False, active=True)
    departments = SelectMultipleField("范围：部门", coerce=form_id, validate_choice=False)
    tags = SelectMultipleField("范围：标签", coerce=form_id, validate_choice=False)
    users = PeopleField("范围：人员")
    exclude = PeopleField("排除人员")
    allow_external = BooleanField("允许外部联系人")

    def scope(self) -> dict:
        return dict(departments=list(self.departments.data or []), tags=list(self.tags.data or []),
                    users=list(self.users.data), exclude=list(self.exclude.data))


class CreateGroupForm(ScopeForm):
    join_policy = ChoiceField("入群方式", choices=options(("auto", "自动加入（范围内的人自动入群）"), ("approval", "需专管人员审批")))


class RegisterGroupForm(ScopeForm):
    kind = ChoiceField("群类型", choices=options(("customer", "客户群"), ("internal", "内部群（普通群，仅登记）")))
    chat_id = StringField("群 ID（chat_id）", validators=[Optional(), Length(max=64, message="最多 64 个字符")])
    name = StringField("群名称", validators=[DataRequired(message="请填写群名称"), Length(max=128, message="最多 128 个字")])
    robot_webhook = StringField("群机器人 Webhook", validators=[Optional(), Length(max=300, message="最多 300 个字符")])


class MemberForm(FlaskForm):
    userid = HiddenField(validators=[DataRequired()])


FIELD_OF = {"scope": "departments", "scope.departments": "departments", "scope.tags": "tags",
            "scope.users": "users", "scope.exclude": "exclude"}
def _attach(form, exc: registry.RegistryError) -> None:
    """The registry's refusal next to the field it names (else next to the name)."""
    field = getattr(form, FIELD_OF.get(exc.field, exc.field), None) or form.name
    field.errors = [*field.errors, registry_message(exc)]


def _scope_choices(db, form) -> None:
    departments = db.scalars(select(Department).where(Department.deleted.is_(False)).order_by(Department.id)).all()
    parents = {d.id: d.parentid for d in departments}

    def depth(department_id, seen=0):
        parent = parents.get(department_id)
        return seen if parent in (None, 0) or seen > 10 else depth(parent, seen + 1)

    form.departments.choices = options(*((d.id, "　" * depth(d.id) + (d.name or str(d.id))) for d in departments))
    form.tags.choices = options(*((t.id, t.name or str(t.id)) for t in db.scalars(select(Tag).order_by(Tag.id))))


# -- the list ----------------------------------------------------------------------------------------


def _visible(stmt, viewer):
    return stmt if viewer.is_admin else stmt.where(Group.id.in_(viewer.custodian_of or [-1]))


@bp.get("/groups")
@roles_required("admin", "custodian")
def groups():
    viewer = current_user()
    args = {k: request.args.get(k, "").strip() for k in ("kind", "status", "compliance", "q")}
    stmt = _visible(select(Group), viewer).order_by(Group.id.desc())
    if args["kind"] in KINDS:
        stmt = stmt.where(Group.kind == args["kind"])
    if args["status"] in STATUSES:
        stmt = stmt.where(Group.status == args["status"])
    bad_groups = select(GroupMember.group_id).where(GroupMember.state == "present", BAD)
    if args["compliance"] == "bad":
        stmt = stmt.where(Group.id.in_(bad_groups))
    elif args["compliance"] == "ok":
        stmt = stmt.where(Group.id.notin_(bad_groups))
    if args["q"]:
        stmt = stmt.where(Group.name.icontains(args["q"], autoescape=True))
    with runtime().sessions() as db:
        page = paginate(db, stmt)
        ids = [g.id for g in page.items]
        counts, bad = _member_counts(db, ids), _member_counts(db, ids, BAD)
        asking = dict(db.execute(select(GroupMember.group_id, func.count()).where(  # join requests to approve (R6)
            GroupMember.group_id.in_(ids or [-1]), GroupMember.state == "pending_approval")
            .group_by(GroupMember.group_id)).all())
        names = _names(db, {u for g in page.items for u in (g.owner, g.custodian)})
    return render_template("workbench/groups_list.html", page=page, args=args, counts=counts, bad=bad, names=names,
                           asking=asking,
                           kind_names=GROUP_KINDS, status_names=GROUP_STATUSES, filtered=any(args.values()))


def _member_counts(db, group_ids, *where) -> dict[int, int]:
    """{group id: members present} (those matching `where` too)."""
    return dict(db.execute(select(GroupMember.group_id, func.count()).where(
        GroupMember.group_id.in_(group_ids or [-1]), GroupMember.state == "present", *where)
        .group_by(GroupMember.group_id)).all())


def _names(db, userids) -> dict[str, str]:
    userids = [u for u in userids if u]
    return dict(db.execute(select(User.userid, User.name).where(User.userid.in_(userids or [""]))).all())


# -- create and register (admin) ---------------------------------------------------------------------


@bp.route("/groups/new", methods=["GET", "POST"])
@roles_required("admin")
def group_new():
    form = CreateGroupForm()
    rt = runtime()
    with rt.sessions() as db:
        _scope_choices(db, form)
        form_ok = form.validate_on_submit()
        people_ok = check_people(db, form) if form.is_submitted() else True  # every field's errors at once
    if form_ok and people_ok:
        try:
            with rt.sessions.begin() as db:
                group = registry.create_managed_group(
                    db, rt.settings, name=form.name.data.strip(), owner=form.owner.userid, custodian=form.custodian.userid,
                    scope=form.scope(), allow_external=form.allow_external.data, join_policy=form.join_policy.data,
                    actor=current_user().userid, now=rt.clock())
                audit_action(db, "workbench.group.create", f"group:{group.id}", name=group.name)
                group_id, name = group.id, group.name
        except registry.RegistryError as exc:
            _attach(form, exc)
        else:
            flash(f"已提交创建「{name}」：企业微信建群后状态会变为「正常」。", "ok")
            return redirect(url_for("workbench.group_detail", group_id=group_id))
    return render_template("workbench/groups_new.html", form=form, size_limit=group_size.creation_limit(rt.settings)), \
        422 if form.errors else 200


@bp.route("/groups/register", methods=["GET", "POST"])
@roles_required("admin")
def group_register():
    form = RegisterGroupForm()
    rt = runtime()
    with rt.sessions() as db:
        _scope_choices(db, form)
        if request.method == "GET" and request.args.get("chat_id"):  # the 登记 shortcut of a discovered group
            _prefill(db, form, request.args["chat_id"])
        form_ok = form.validate_on_submit()
        form_ok = (check_people(db, form) if form.is_submitted() else True) and form_ok  # all errors at once
        discovered = db.scalars(select(Group).where(Group.status == "discovered").order_by(Group.id)).all()
        members = _member_counts(db, [g.id for g in discovered])
        names = _names(db, {g.owner for g in discovered})
    if form_ok:
        try:
            with rt.sessions.begin() as db:
                group = registry.register_group(
                    db, rt.settings, kind=form.kind.data, chat_id=(form.chat_id.data or "").strip() or None,
                    name=form.name.data.strip(), owner=form.owner.userid, custodian=form.custodian.userid,
                    scope=form.scope(), allow_external=form.allow_external.data,
                    robot_webhook=(form.robot_webhook.data or "").strip() or None, actor=current_user().userid,
                    now=rt.clock())
                audit_action(db, "workbench.group.register", f"group:{group.id}", kind=group.kind, name=group.name)
                group_id, name = group.id, group.name
        except registry.RegistryError as exc:
            _attach(form, exc)
        else:
            flash(f"已登记「{name}」，其成员已按范围检查。", "ok")
            return redirect(url_for("workbench.group_detail", group_id=group_id))
    return render_template("workbench/groups_register.html", form=form, discovered=discovered, members=members,
                           names=names), 422 if form.errors else 200


def _prefill(db, form, chat_id: str) -> None:
    """What discovery already knows about the group (name and owner from groupchat/get)."""
    form.kind.data, form.chat_id.data = "customer", chat_id
    group = db.scalar(select(Group).where(Group.chat_id == chat_id, Group.status == "discovered"))
    if group is not None:
        form.name.data, form.owner.data = group.name or "", [group.owner] if group.owner else []


# -- one group -------------------------------------------------------------------------------------


def _load(db, group_id: int):
    """(group, None) when the viewer may manage it; (None, the 403 page) otherwise."""
    group = db.get(Group, group_id)
    if group is None:
        abort(404)
    viewer = current_user()
    if viewer is None or not viewer.has("admin", "custodian") or not can_manage_group(viewer, group):
        return None, forbidden(reason="只有办公室管理员和本群的专管人员可以查看和管理这个群。")
    return group, None


@bp.get("/groups/<int:group_id>")
@roles_required("admin", "custodian")
def group_detail(group_id: int):
    with runtime().sessions() as db:
        group, refused = _load(db, group_id)
        if refused:
            return refused
        only_bad = request.args.get("members") == "bad"
        # a summary count's link (名称不规范 2): the present members with that finding, as the count counts them
        finding = request.args.get("compliance", "") if request.args.get("compliance") in COMPLIANCE else ""
        order, q = sorting(MEMBER_SORTS, "added"), search_arg()
        stmt = (select(GroupMember, User.name).outerjoin(User, User.userid == GroupMember.member_id)
                .where(GroupMember.group_id == group.id, GroupMember.state.in_(SHOWN))
                .order_by(*order.order_by(GroupMember.id)))
        if q:  # a name, its pinyin or initials, a userid (an external one too), a group nickname
            stmt = stmt.where(or_(GroupMember.member_id.in_(matching(db, q) or [""]),
                                  GroupMember.member_id.icontains(q, autoescape=True),
                                  GroupMember.group_nickname.icontains(q, autoescape=True)))
        if only_bad:
            stmt = stmt.where(BAD)
        if finding:
            stmt = stmt.where(GroupMember.compliance == finding, GroupMember.state == "present")
        members = paginate(db, stmt, scalars=False, per_page=50)
        compliance = dict(db.execute(select(GroupMember.compliance, func.count()).where(
            GroupMember.group_id == group.id, GroupMember.state == "present").group_by(GroupMember.compliance)).all())
        pending = db.execute(select(GroupMember, User.name).outerjoin(User, User.userid == GroupMember.member_id)
                             .where(GroupMember.group_id == group.id, GroupMember.state == "pending_approval")
                             .order_by(GroupMember.id)).all()
        creation = _creation(db, group)
        problem = group_size.view(db, group)
        directives = directive_followup(db, group.id)
        labels = _scope_labels(db, group)
        archive = _archive_block(db, group)
        activity = _activity_block(db, group)
    return render_template("workbench/groups_detail.html", archive=archive, activity=activity, group=group, members=members, compliance=compliance,
                           pending=pending, creation=creation, problem=problem, **labels, directives=directives, only_bad=only_bad,
                           finding=finding, q=q, order=order,
                           enforced=ENFORCED[group.kind],
                           kind_names=GROUP_KINDS, state_names=MEMBER_STATES, why=rules.WHY, rule_of=rules.RULE,
                           form=MemberForm(), recheck_form=EmptyForm(), retire_form=RetireForm())


def _archive_block(db, group: Group) -> dict | None:
    """An internal group's conversation-archive box (issue 12): whose messages are seen and how
    far behind the pull is, or — archive off — what it would add."""
    if group.kind != "internal":
        return None
    settings = runtime().settings
    if not settings.archive_enabled:
        return {"enabled": False}
    return {"enabled": True, "coverage": coverage(db, group), "pull": pull_status(db, settings, runtime().clock())}


def _activity_block(db, group: Group):
    """Any kind of group, with the archive on (R17, R4, R6): messages per week, texts outside
    working time by person, silent for 90 days."""
    settings = runtime().settings
    if not settings.archive_enabled or not group.chat_id:
        return None
    (shown,) = archive_activity.activity(db, settings, [group], runtime().clock())
    names = dict(db.execute(select(User.userid, User.name).where(
        User.userid.in_([u for u, _n in shown.off_hours] or [""]))).all())
    return {"figures": shown, "names": names, "silent_days": archive_activity.SILENT_AFTER.days}


def _scope_labels(db, group: Group) -> dict:
    """The names of the people, departments and tags the detail page shows."""
    scope = group.scope or {}
    return dict(
        names=_names(db, {group.owner, group.custodian, *scope.get("users", []), *scope.get("exclude", [])}),
        departments=dict(db.execute(select(Department.id, Department.name).where(
            Department.id.in_(scope.get("departments") or [-1]))).all()),
        tags=dict(db.execute(select(Tag.id, Tag.name).where(Tag.id.in_(scope.get("tags") or [-1]))).all()),
    )


def _creation(db, group: Group) -> dict | None:
    """Where a managed group's appchat/create stands (registry.group_view's `creation`)."""
    if group.status != "creating":
        return None
    return registry.group_view(db, group).get("creation")


def directive_followup(db, group_id: int, limit: int = 50) -> list[dict]:
    """R10: the directives assigned through this group, newest first, with their rates."""
    ids = [d_id for d_id, assignees in db.execute(select(Directive.id, Directive.assignees)
                                                  .order_by(Directive.id.desc()))
           if group_id in ((assignees or {}).get("groups") or [])][:limit]
    found = db.scalars(select(Directive).where(Directive.id.in_(ids)).order_by(Directive.id.desc())).all()
    rows = []
    for d, c in zip(found, map(counts(db, found).get, (d.id for d in found))):
        rows.append(dict(directive=d, total=c["total"], acked=c["acknowledged"], completed=c["completed"],
                         rate=round(100 * c["acknowledged"] / c["total"]) if c["total"] else 0))
    return rows


# -- actions on one group ------------------------------------------------------------------------------


@bp.post("/groups/<int:group_id>/join/<any(approve, reject):action>")
@roles_required("admin", "custodian")
def group_join(group_id: int, action: str):
    """R6: the custodian (or an admin) lets a pending member in, or keeps them out."""
    form = MemberForm()
    rt = runtime()
    viewer = current_user()
    with rt.sessions.begin() as db:
        group, refused = _load(db, group_id)
        if refused:
            return refused
        if not form.validate_on_submit():
            flash("无效操作", "error")
            return redirect(url_for("workbench.group_detail", group_id=group_id))
        decide = rules.approve_join if action == "approve" else rules.reject_join
        try:
            member = decide(db, rt.settings, group, form.userid.data, actor=viewer.userid, now=rt.clock())
        except LookupError:
            flash(f"{form.userid.data} 没有待审批的入群申请（可能已被处理）。", "error")
            return redirect(url_for("workbench.group_detail", group_id=group_id))
        audit_action(db, f"workbench.join.{action}", f"group:{group_id}", userid=form.userid.data)
    if member.state == group_size.LEFT_OUT:
        flash(f"群已达到人数上限，{form.userid.data} 暂未能入群：群有空位时应用会自动补加。", "error")
        return redirect(url_for("workbench.group_detail", group_id=group_id))
    flash(f"已{'批准' if action == 'approve' else '拒绝'} {form.userid.data} 入群。", "ok")
    return redirect(url_for("workbench.group_detail", group_id=group_id))


@bp.post("/groups/<int:group_id>/recheck")
@roles_required("admin", "custodian")
def group_recheck(group_id: int):
    """Judge every member again against the directory and the scope (and act on it, as the kind allows)."""
    rt = runtime()
    with rt.sessions.begin() as db:
        group, refused = _load(db, group_id)
        if refused:
            return refused
        if not EmptyForm().validate_on_submit():
            abort(400)
        if group.status not in membership.GOVERNED:
            flash("该群尚未备案、已解散或已归档，不检查成员。", "error")
            return redirect(url_for("workbench.group_detail", group_id=group_id))
        before = _bad_count(db, group.id)
        membership.review_group(db, rt.settings, group, rt.clock())
        db.flush()
        after = _bad_count(db, group.id)
        audit_action(db, "workbench.group.recheck", f"group:{group_id}", noncompliant=after)
    flash(f"已重新检查成员：不合规 {after} 人（检查前 {before} 人）。", "ok")
    return redirect(url_for("workbench.group_detail", group_id=group_id))


def _bad_count(db, group_id: int) -> int:
    return db.scalar(select(func.count()).select_from(GroupMember).where(
        GroupMember.group_id == group_id, GroupMember.state == "present", BAD)) or 0


# -- editing and retiring (admin; governance/group_edit.py) -------------------------------------------


class EditGroupForm(FlaskForm):
    # the fields of the create and register forms, shared (an unbound field binds per form)
    name = RegisterGroupForm.name  # up to 128: a registered group's name is WeCom's; a managed one is checked to 50
    custodian = ScopeForm.custodian
    departments, tags, users, exclude = ScopeForm.departments, ScopeForm.tags, ScopeForm.users, ScopeForm.exclude
    allow_external = ScopeForm.allow_external
    join_policy = CreateGroupForm.join_policy
    preview_of = HiddenField()  # the change the person saw in the preview: a confirm applies only that
    scope = ScopeForm.scope


def _fill(form: EditGroupForm, group: Group) -> None:
    scope = group.scope or {}
    form.name.data, form.custodian.data = group.name, [group.custodian] if group.custodian else []
    form.departments.data, form.tags.data = list(scope.get("departments") or []), list(scope.get("tags") or [])
    form.users.data, form.exclude.data = list(scope.get("users") or []), list(scope.get("exclude") or [])
    form.allow_external.data, form.join_policy.data = group.allow_external, group.join_policy


def _fingerprint(form: EditGroupForm, scope: dict, change) -> str:
    """What the preview showed: the inputs and who joins and leaves (the directory may move between
    the preview and the confirm; then the person sees the new preview instead of a different change)."""
    return json.dumps([scope, form.custodian.userid, bool(form.allow_external.data),
                       sorted(change.added), sorted(change.removed)], sort_keys=True)


@bp.route("/groups/<int:group_id>/edit", methods=["GET", "POST"])
@roles_required("admin")
def group_edit_page(group_id: int):
    rt = runtime()
    form, preview = EditGroupForm(), None
    with rt.sessions() as db:
        group, refused = _load(db, group_id)
        if refused:
            return refused
        if group.status not in group_edit.EDITABLE:
            flash(f"{GROUP_STATUSES.get(group.status, group.status)}的群不能编辑。", "error")
            return redirect(url_for("workbench.group_detail", group_id=group_id))
        _scope_choices(db, form)
        if request.method == "GET":
            _fill(form, group)
        form_ok = form.validate_on_submit()
        form_ok = (check_people(db, form) if form.is_submitted() else True) and form_ok  # every error at once
        if form_ok:
            try:
                scope = registry.check_scope(db, form.scope())
                external = bool(form.allow_external.data) if group.kind != "managed" else False
                change = group_edit.moves_members(group, scope, custodian=form.custodian.userid,
                                                  allow_external=external) and group_edit.preview(
                    db, group, scope, custodian=form.custodian.userid, allow_external=external)
                too_big = change and group_edit.size_problem(db, rt.settings, group, change)
                if too_big:  # said before the preview, not after the confirm
                    raise registry.RegistryError("scope", too_big)
            except registry.RegistryError as exc:
                _attach(form, exc)
                form_ok = False
        if form_ok and change and form.preview_of.data != _fingerprint(form, scope, change):
            preview, form.preview_of.data = change.view(db), _fingerprint(form, scope, change)  # a confirm applies it
        kind, join_policy, size_limit = group.kind, group.join_policy, group_size.limit(rt.settings, group)
    if form_ok and preview is None:
        try:
            with rt.sessions.begin() as db:
                group = db.get(Group, group_id)
                changed = group_edit.edit_group(
                    db, rt.settings, group, name=form.name.data.strip(), custodian=form.custodian.userid, scope=scope,
                    join_policy=form.join_policy.data if kind == "managed" else None,
                    allow_external=form.allow_external.data if kind != "managed" else None,
                    actor=current_user().userid, now=rt.clock())
                audit_action(db, "workbench.group.edit", f"group:{group_id}", fields=sorted(changed))
        except registry.RegistryError as exc:
            _attach(form, exc)
        else:
            flash(_edited(kind, changed), "ok")
            return redirect(url_for("workbench.group_detail", group_id=group_id))
    return render_template("workbench/groups_edit.html", form=form, group_id=group_id, kind=kind, preview=preview,
                           join_policy=join_policy, size_limit=size_limit, kind_names=GROUP_KINDS,
                           retire_form=RetireForm()), 422 if form.errors else 200


def _edited(kind: str, changed: dict) -> str:
    if not changed:
        return "没有改动。"
    said = ["已保存修改"]
    if kind == "managed" and (changed.get("added") or changed.get("removed") or "name" in changed):
        said.append("加人、移人和改名已交给企业微信（appchat/update），稍后生效")
    elif changed.get("added") or changed.get("removed") or "name" in changed:
        said.append("企业微信不提供修改该群的接口：群主和专管人员已收到任务消息，请在客户端处理")
    return "；".join(said) + "。"


class RetireForm(FlaskForm):
    status = ChoiceField("处理方式", choices=options(("archived", "归档：不再管理，保留记录"),
                                                  ("dismissed", "登记为已解散（群主已在客户端解散）")))
    note = StringField("说明", validators=[Optional(), Length(max=200, message="最多 200 个字")])


@bp.post("/groups/<int:group_id>/retire")
@roles_required("admin")
def group_retire(group_id: int):
    rt = runtime()
    form = RetireForm()
    if not form.validate_on_submit():
        flash("；".join(e for errors in form.errors.values() for e in errors) or "无效操作", "error")
        return redirect(url_for("workbench.group_edit_page", group_id=group_id))
    try:
        with rt.sessions.begin() as db:
            group, refused = _load(db, group_id)
            if refused:
                return refused
            group_edit.retire_group(db, rt.settings, group, status=form.status.data, actor=current_user().userid,
                                    now=rt.clock(), note=(form.note.data or "").strip())
            audit_action(db, f"workbench.group.{form.status.data}", f"group:{group_id}")
    except registry.RegistryError as exc:
        flash(RETIRE_REFUSED.get(exc.message.split(":")[0], exc.message), "error")
        return redirect(url_for("workbench.group_detail", group_id=group_id))
    flash("已归档：应用不再管理这个群，记录保留。" if form.status.data == "archived" else "已登记为已解散，记录保留。", "ok")
    return redirect(url_for("workbench.group_detail", group_id=group_id))


RETIRE_REFUSED = {  # group_edit.retire_group's refusals, by how they start
    "the group is already archived": "这个群已经归档。",
    "the group is already dismissed": "这个群已经解散。",
    "the group is still being created": "群还在创建中：企业微信建群后才能归档。",
    "only an ordinary internal group's dismissal is recorded by hand":
        "只有内部群需要手动登记解散：客户群解散时企业微信会通知应用，应用管理群由对账发现。",
}
