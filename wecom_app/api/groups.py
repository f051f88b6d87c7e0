"""`/api/v1/groups`: the group registry (R7, R8) over HTTP (DESIGN §3).

- `GET /groups` (admin, readonly, issuer: all groups; custodian: their own),
  filters `kind`, `status` (`pending` = `discovered`: the registration queue), `custodian`, paginated.
- `GET /groups/{id}`: the group, its members and their compliance, and what the
  app can and cannot enforce for its kind (`registry.group_view`), with its
  `problem` (the company's group size: who is left out, WeCom's 86006) or null. Another
  custodian's group is a 404, exactly like a group that does not exist.
- `POST /groups` (admin): create a managed group (appchat/create is queued); one
  whose members would exceed WECOM_GROUP_SIZE_LIMIT is a 422 on `scope` giving the
  count and the limit (WeCom answers 86006 above the company's group size, 90245).
- `POST /groups/register` (admin): register (备案) a customer or internal group.
- `PATCH /groups/{id}` (admin): change `name`, `custodian`, `scope`, `join_policy` (managed)
  or `allow_external` (customer, internal); fields left out stay. `dry_run: true` answers
  the `preview` (who would be added and removed, names with departments) and changes
  nothing; otherwise the change is applied (governance/group_edit.py: appchat/update for a
  managed group, a task to the owner and custodian for the others) and the group comes
  back with `changes`. An archived or dismissed group is a 422 on `status`.
- `POST /groups/{id}/archive` (admin) `{status?: "archived"|"dismissed", note?}`: the app
  stops governing the group and keeps its records (WeCom has no API to dismiss any group).

A name a creating or active group already has (case and spacing aside) is a 422 on `name`;
archived, dismissed and discovered groups do not hold their names.

The bodies are checked here for shape; `wecom_app.governance.registry` judges meaning (an
unknown owner, a name against the naming convention) and raises RegistryError,
which becomes a 422 on its field. A rejected request leaves nothing behind: the
registry's writes share the request's one transaction.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from flask import request, url_for
from sqlalchemy import select

from wecom_app.api.auth import caller, require, runtime
from wecom_app.api.blueprint import bp, json_body, paginate
from wecom_app.api.errors import ApiError
from wecom_app.api.validate import (
    USERID,
    Boolean,
    Integer,
    Invalid,
    ListOf,
    Object,
    OneOf,
    String,
    optional,
    validate,
)
from wecom_app.governance import group_edit, registry
from wecom_app.governance.naming import GROUP_NAME_MAX
from wecom_app.governance.registry import ROBOT_KEY, group_view
from wecom_app.models import Group
from wecom_app.models.groups import KINDS, STATUSES

READERS = ("admin", "readonly", "issuer", "custodian")
WEBHOOK_HOST, WEBHOOK_PATH = "qyapi.weixin.qq.com", "/cgi-bin/webhook/send"

IDS = ListOf(Integer(minimum=1))
SCOPE = Object(
    departments=optional(IDS, default=list),  # a department includes its sub-departments
    tags=optional(IDS, default=list),
    users=optional(ListOf(USERID), default=list),
    exclude=optional(ListOf(USERID), default=list),
)


def _webhook_problem(url: str) -> str | None:
    """A group robot URL, checked for shape only; the message never repeats the key."""
    parts = urlsplit(url)
    query = parse_qs(parts.query, keep_blank_values=True)
    if (parts.scheme == "https" and parts.netloc == WEBHOOK_HOST and parts.path == WEBHOOK_PATH
            and not parts.fragment and list(query) == ["key"] and len(query["key"]) == 1
            and ROBOT_KEY.fullmatch(query["key"][0])):
        return None
    return f"must be a group robot URL: https://{WEBHOOK_HOST}{WEBHOOK_PATH}?key=..."


CREATE = Object(
    name=String(GROUP_NAME_MAX),
    owner=USERID,
    custodian=USERID,
    scope=SCOPE,
    allow_external=optional(Boolean(), default=False),
    join_policy=optional(OneOf("auto", "approval"), default="auto"),
)
REGISTER = Object(
    kind=OneOf("customer", "internal"),
    chat_id=optional(String(64, pattern=r"[A-Za-z0-9_-]+", pattern_message="must be a WeCom chat_id")),
    name=String(128),
    owner=USERID,
    custodian=USERID,
    scope=SCOPE,
    allow_external=optional(Boolean(), default=False),
    robot_webhook=optional(String(300, check=_webhook_problem)),
)


EDIT = Object(
    name=optional(String(128)),
    custodian=optional(USERID),
    scope=optional(SCOPE),
    join_policy=optional(OneOf("auto", "approval")),
    allow_external=optional(Boolean()),
    dry_run=optional(Boolean(), default=False),
)
ARCHIVE = Object(
    status=optional(OneOf("archived", "dismissed"), default="archived"),
    note=optional(String(200)),
)


def summary(group: Group) -> dict:
    return {
        "id": group.id,
        "chatid": group.chat_id,  # as appchat/create and DESIGN §3 name it, and as registry.group_view does
        "kind": group.kind,
        "name": group.name,
        "owner": group.owner,
        "custodian": group.custodian,
        "status": group.status,
        "allow_external": group.allow_external,
        "join_policy": group.join_policy,
        "scope": group.scope,
        "robot_webhook": {"configured": bool(group.robot_webhook)},  # the key is a secret
        "created_at": group.created_at.isoformat() if group.created_at else None,
        "registered_at": group.registered_at.isoformat() if group.registered_at else None,
        "problem": group.problem,  # "size_limit": see GET /groups/{id} for who is left out (group_size.py)
    }


def _filter(name: str, choices: tuple[str, ...]) -> str | None:
    value = request.args.get(name) or None
    return None if value is None else OneOf(*choices).clean(value, name)


@bp.get("/groups")
@require(*READERS)
def list_groups():
    kind, status = _filter("kind", KINDS), _filter("status", (*STATUSES, "pending"))
    status = "discovered" if status == "pending" else status  # pending: the registration queue (DESIGN §3)
    custodian = request.args.get("custodian") or None
    if custodian is not None:
        custodian = USERID.clean(custodian, "custodian")
    query = select(Group).order_by(Group.id)
    if caller().role == "custodian":
        query = query.where(Group.custodian == caller().userid)
    for column, value in ((Group.kind, kind), (Group.status, status), (Group.custodian, custodian)):
        if value is not None:
            query = query.where(column == value)
    with runtime().sessions() as session:
        return paginate(session, query, "api.list_groups", summary, kind=kind, status=status, custodian=custodian)


def visible_group(session, group_id: int) -> Group:
    """The group if this caller may see it; 404 otherwise (ids cannot be probed)."""
    group = session.get(Group, group_id)
    if group is None or (caller().role == "custodian" and group.custodian != caller().userid):
        raise ApiError(404, f"no group {group_id}")
    return group


@bp.get("/groups/<int:group_id>")
@require(*READERS)
def get_group(group_id: int):
    with runtime().sessions() as session:
        return group_view(session, visible_group(session, group_id))


@bp.post("/groups")
@require("admin")
def create_group():
    data = validate(CREATE, json_body())
    return _create(lambda registry, session, rt: registry.create_managed_group(
        session, rt.settings, **data, actor=caller().actor, now=rt.clock()))


@bp.post("/groups/register")
@require("admin")
def register_group():
    data = validate(REGISTER, json_body())
    return _create(lambda registry, session, rt: registry.register_group(
        session, rt.settings, **data, actor=caller().actor, now=rt.clock()))


def _create(make):
    """Run a registry function in one transaction; 201 with the group at the top level."""
    rt = runtime()
    try:
        with rt.sessions.begin() as session:
            group = make(registry, session, rt)
            session.flush()
            body = registry.group_view(session, group)
    except registry.RegistryError as exc:
        raise Invalid.at(exc.field, exc.message) from None
    return body, 201, {"Location": url_for("api.get_group", group_id=group.id)}


@bp.patch("/groups/<int:group_id>")
@require("admin")
def edit_group(group_id: int):
    data = validate(EDIT, json_body())
    dry_run = data.pop("dry_run")
    rt = runtime()
    try:
        if dry_run:
            with rt.sessions() as session:  # read only: nothing is written, nothing committed
                return {"preview": _preview(session, visible_group(session, group_id), data)}
        with rt.sessions.begin() as session:
            group = visible_group(session, group_id)
            changes = group_edit.edit_group(session, rt.settings, group, **data, actor=caller().actor, now=rt.clock())
            session.flush()
            return {**registry.group_view(session, group), "changes": changes}
    except registry.RegistryError as exc:
        raise Invalid.at(exc.field, exc.message) from None


def _preview(session, group: Group, data: dict) -> dict:
    """What PATCH would do to the members (group_edit.preview writes nothing)."""
    if group.status not in group_edit.EDITABLE:
        raise registry.RegistryError("status", f"a {group.status} group cannot be edited")
    scope = registry.check_scope(session, data["scope"]) if data["scope"] is not None else group.scope or {}
    custodian = registry.person(session, data["custodian"], "custodian") if data["custodian"] else group.custodian
    external = group.allow_external if data["allow_external"] is None else data["allow_external"]
    if not group_edit.moves_members(group, scope, custodian=custodian, allow_external=external):
        return {"added": [], "removed": [], "applied_by": None}
    change = group_edit.preview(session, group, scope, custodian=custodian, allow_external=external)
    return change.view(session)


@bp.post("/groups/<int:group_id>/archive")
@require("admin")
def archive_group(group_id: int):
    data = validate(ARCHIVE, json_body())
    rt = runtime()
    try:
        with rt.sessions.begin() as session:
            group = visible_group(session, group_id)
            group_edit.retire_group(session, rt.settings, group, status=data["status"], note=data["note"] or "",
                                    actor=caller().actor, now=rt.clock())
            session.flush()
            return registry.group_view(session, group)
    except registry.RegistryError as exc:
        raise Invalid.at(exc.field, exc.message) from None
