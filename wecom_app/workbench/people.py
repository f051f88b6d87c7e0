"""The people picker: one way to choose a person wherever a form asks for one (群主,
专管人员, 范围人员, 排除人员, a directive's recipients, 我的举报's 被举报人).

- `PeopleField`: a text input of userids or names (what works without JavaScript);
  `static/wb-picker.js` turns it into a search box with removable chips and keeps
  the same input filled with the chosen userids, so the server sees one thing.
- `check_people(db, form)`: every PeopleField of the form turned into userids at
  once (directory.people.resolve); unknown names and ids are refused by name, a
  name two people share is asked about with their departments and positions.
- JSON for the picker, role-checked and paginated: `/people/search` (name, pinyin,
  initials, userid, department), `/people/departments` (the tree), `/people/lookup`
  (labels of chosen userids). Admins and issuers search the whole directory; anyone
  else only the people in their own groups (the 被举报人 of 我的举报), and no tree.
- `/people/agent-config`: wx.agentConfig's signature for a page of this site, so that
  inside the WeCom client the picker can open WeCom's own contact picker
  (selectEnterpriseContact, document/path/98138) with the same result.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from flask import abort, jsonify, request, url_for
from markupsafe import Markup
from sqlalchemy import select
from wtforms import Field
from wtforms.widgets import html_params

from wecom_app.directory import people as directory_people
from wecom_app.models import Group, GroupMember
from wecom_app.models.directory import STATUS_ACTIVE
from wecom_app.wecom import jsapi
from wecom_app.wecom.errors import WeComError
from wecom_app.workbench.access import current_user, login_required
from wecom_app.workbench.blueprint import bp, runtime

WHOLE_DIRECTORY = ("admin", "issuer")
PER_PAGE_MAX = 50


class PeopleInput:
    """<input> with what the picker needs: the chosen people's labels, the names to ask about."""

    def __call__(self, field, **kwargs):
        kwargs.setdefault("id", field.id)
        chosen = getattr(field, "chosen", None)
        if chosen is None:
            chosen = [dict(userid=u, label=u) for u in field.data or []]
        attrs = dict(type="text", name=field.name, value=" ".join(field.data or []), autocomplete="off",
                     data_picker="people", data_multiple="1" if field.multiple else "0",
                     data_search=url_for("workbench.people_search"), data_chosen=json.dumps(chosen, ensure_ascii=False),
                     data_ask=json.dumps(getattr(field, "ask", {}), ensure_ascii=False), **kwargs)
        if field.departments:
            attrs["data_departments"] = url_for("workbench.people_departments")
        return Markup(f"<input {html_params(**attrs)}>")


class PeopleField(Field):
    """People as userids or names, typed or chosen; `data` is the list of what was given.

    `multiple=False`: exactly one person. `active=True`: only active members (群主, 专管人员).
    `departments=True`: the picker offers the department tree (admins and issuers only)."""

    widget = PeopleInput()

    def __init__(self, label=None, validators=None, multiple=True, active=False, departments=True, **kwargs):
        super().__init__(label, validators, **kwargs)
        self.multiple, self.active, self.departments = multiple, active, departments
        self.data = []

    def process_formdata(self, valuelist):
        self.data = directory_people.tokens(valuelist)

    def process_data(self, value):
        self.data = directory_people.tokens(value or [])

    def _value(self):
        return " ".join(self.data or [])

    @property
    def userid(self) -> str:
        return self.data[0] if self.data else ""


def check_people(db, form, visible: set[str] | None = None) -> bool:
    """Resolve every PeopleField of `form` to userids, errors on all of them at once."""
    ok = True
    index = directory_people.index(db)
    for field in form:
        if not isinstance(field, PeopleField):
            continue
        found = directory_people.resolve(db, field.data, visible=visible)
        errors = found.errors()
        if field.active:
            inactive = [u for u in found.userids if index.people[u].status != STATUS_ACTIVE]
            if inactive:
                errors.append(f"{'、'.join(index.people[u].name or u for u in inactive)}（{'、'.join(inactive)}）"
                              "不是本企业已激活的在职成员（R1）")
        if not field.multiple and len(found.userids) + len(found.unknown) + len(found.ambiguous) > 1:
            errors.append("只能选择一个人")
        field.data = found.userids + found.unknown + list(found.ambiguous)
        field.chosen = directory_people.people(db, found.userids)
        field.ask = found.ambiguous
        if errors:
            field.errors = [*field.errors, *errors]
            ok = False
        else:
            field.data = found.userids
    return ok


def visible_to(db, viewer) -> set[str] | None:
    """Whom `viewer` may find: everyone (admin, issuer), else the members of their own groups."""
    if viewer.has(*WHOLE_DIRECTORY):
        return None
    mine = select(GroupMember.group_id).where(GroupMember.member_id == viewer.userid, GroupMember.state == "present")
    groups = select(Group.id).where((Group.id.in_(mine)) | (Group.id.in_(viewer.custodian_of or [-1])),
                                    Group.status == "active")
    return set(db.scalars(select(GroupMember.member_id).where(
        GroupMember.group_id.in_(groups), GroupMember.state == "present")))


def _int_arg(name: str, default: int | None, low: int = 1, high: int = 10**9) -> int | None:
    raw = request.args.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        abort(400)
    return int(raw)


@bp.get("/people/search")
@login_required
def people_search():
    viewer, rt = current_user(), runtime()
    page = _int_arg("page", 1)
    per_page = _int_arg("per_page", 20, high=PER_PAGE_MAX)
    department = _int_arg("department", None, low=0)
    with rt.sessions() as db:
        visible = visible_to(db, viewer)
        if department is not None and visible is not None:
            return jsonify(error="只有办公室管理员和指令发布人可以按部门浏览通讯录"), 403
        found = directory_people.search(db, request.args.get("q", "")[:64], visible=visible, department=department,
                                        sub=request.args.get("sub", "1") != "0", page=page, per_page=per_page)
    return jsonify(found)


@bp.get("/people/departments")
@login_required
def people_departments():
    viewer, rt = current_user(), runtime()
    if not viewer.has(*WHOLE_DIRECTORY):
        return jsonify(error="只有办公室管理员和指令发布人可以按部门浏览通讯录"), 403
    with rt.sessions() as db:
        return jsonify(departments=directory_people.tree(db))


@bp.get("/people/lookup")
@login_required
def people_lookup():
    """Labels for userids (WeCom's own picker returns ids): only those the asker may see."""
    viewer, rt = current_user(), runtime()
    ids = directory_people.tokens(request.args.get("ids", ""))[:200]
    with rt.sessions() as db:
        visible = visible_to(db, viewer)
        found = directory_people.people(db, [u for u in ids if visible is None or u.lower() in visible])
    return jsonify(people=[p for p in found if p["userid"]])


@bp.get("/people/agent-config")
@login_required
def people_agent_config():
    """wx.agentConfig's parameters for a page of this site (94313, signature 90506)."""
    rt = runtime()
    url = request.args.get("url", "")
    if urlsplit(url).netloc != request.host or urlsplit(url).scheme not in ("http", "https"):
        return jsonify(error="只能为本站的页面签名"), 400
    try:
        return jsonify(jsapi.agent_config(rt.client, rt.settings, url, rt.clock()))
    except WeComError:
        return jsonify(error="暂时无法连接企业微信，请直接搜索选择"), 503
