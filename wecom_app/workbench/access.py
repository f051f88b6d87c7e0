"""Who may see a workbench page: the viewer's roles and the decorators every page uses
(`@login_required`, `@roles_required(...)`), the 403 page and the audit of an action.
Not a page itself: pages import it, and the login pages (auth.py) too.

Roles are computed on every request from the directory mirror and the group
registry (`current_user()`), so a change in WeCom (a departure, a new tag member,
a custodian handed over) takes effect at the next click, not at the next login.
The session check (its generation, session_generations.py) is described in auth.py.
"""

from __future__ import annotations

import dataclasses
import functools

from flask import g, redirect, render_template, request, session, url_for
from sqlalchemy import select

from wecom_app import session_generations
from wecom_app.audit import audit
from wecom_app.labels import ROLE_NAMES
from wecom_app.models import Department, Group, TagMember, User, UserDepartment
from wecom_app.models.directory import STATUS_ACTIVE
from wecom_app.workbench.blueprint import runtime

ROLES = ("admin", "custodian", "issuer", "employee")


@dataclasses.dataclass(frozen=True)
class Viewer:
    """The logged-in person and what they may do, computed per request."""

    userid: str
    name: str
    roles: frozenset[str]
    custodian_of: frozenset[int] = frozenset()  # ids of the groups they are custodian of

    def has(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles


def roles_of(db, settings, user: User) -> Viewer:
    """The roles of an active directory user (see the module docstring for the sources)."""
    userid = user.userid
    roles = {"employee"}
    if userid in settings.admins or _in_admin_tag(db, settings, userid):
        roles.add("admin")
    custodian_of = frozenset(db.scalars(
        select(Group.id).where(Group.custodian == userid, Group.status != "dismissed")).all())
    if custodian_of:
        roles.add("custodian")
    if "admin" in roles or _is_leader(db, userid):
        roles.add("issuer")
    return Viewer(userid=userid, name=user.name or userid, roles=frozenset(roles), custodian_of=custodian_of)


def _in_admin_tag(db, settings, userid: str) -> bool:
    if settings.admin_tag is None:
        return False
    members = db.execute(select(TagMember.userid, TagMember.department_id).where(
        TagMember.tag_id == settings.admin_tag)).all()
    if any(m.userid == userid for m in members):
        return True
    departments = {m.department_id for m in members if m.department_id is not None}
    return bool(departments) and db.scalar(select(UserDepartment.userid).where(
        UserDepartment.userid == userid, UserDepartment.department_id.in_(departments)).limit(1)) is not None


def _is_leader(db, userid: str) -> bool:
    if db.scalar(select(UserDepartment.userid).where(
            UserDepartment.userid == userid, UserDepartment.is_leader.is_(True)).limit(1)) is not None:
        return True
    # department_leader is a JSON list: read the (small) department table rather than a dialect's JSON operator
    return any(userid in (d.department_leader or []) for d in db.scalars(
        select(Department).where(Department.deleted.is_(False))))


def current_user() -> Viewer | None:
    """The Viewer of this request (None when nobody is logged in, or they are no longer an active employee)."""
    if "viewer" in g:
        return g.viewer
    viewer = None
    userid = session.get("userid")
    if userid:
        rt = runtime()
        with rt.sessions() as db:
            generation = session.get("generation")
            # revoked since login (logout, 强制下线, left or disabled) or from before generations
            if isinstance(generation, int) and generation == session_generations.current(db, userid):
                user = db.get(User, userid)
                if user is not None and user.status == STATUS_ACTIVE:  # left or disabled since login
                    viewer = roles_of(db, rt.settings, user)
        if viewer is None:
            session.clear()
    g.viewer = viewer
    return viewer


def can_manage_group(viewer: Viewer, group: Group) -> bool:
    """Admins manage every group; a custodian only their own."""
    return viewer.is_admin or group.id in viewer.custodian_of


def forbidden(*roles: str, reason: str = ""):
    """The 403 page naming the role needed."""
    needed = "、".join(ROLE_NAMES[r] for r in roles) if roles else ""
    return render_template("workbench/403.html", needed=needed, reason=reason), 403


def login_required(view):
    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        if current_user() is None:
            return _to_login()
        return view(*args, **kwargs)

    return wrapped


def roles_required(*roles: str):
    """`@roles_required("admin", "custodian")`: any one of the roles; else the 403 page."""
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown roles {sorted(unknown)}")

    def decorator(view):
        @functools.wraps(view)
        def wrapped(*args, **kwargs):
            viewer = current_user()
            if viewer is None:
                return _to_login()
            if not viewer.has(*roles):
                return forbidden(*roles)
            return view(*args, **kwargs)

        return wrapped

    return decorator


def audit_action(db, action: str, target: str = "", **details):
    """Append the viewer's action to the audit log (in the caller's transaction)."""
    viewer = current_user()
    return audit(db, viewer.userid if viewer else "anonymous", action, target, now=runtime().clock(),
                 channel="workbench", **details)


def _here() -> str:
    return request.full_path.rstrip("?") if request.query_string else request.path


def _to_login():
    """To the login page, coming back here afterwards (as the card's /directives/<id> link needs)."""
    here = _here()
    return redirect(url_for("workbench.login", next=here) if here != "/" else url_for("workbench.login"))
