"""The navigation: each entry with the roles that may use it. A new page adds or
edits its entry here; base.html shows only the entries the viewer's roles allow
(the page itself still checks with @roles_required).

Two views of the one list (issue 13):
- on a desktop, the full bar (`nav_for`);
- on a phone (below 600 px), a WeUI tab bar of at most `TABS` entries: when a
  role has more, the `phone` ranks pick the first `TABS - 1` and the last tab is
  更多 (`/more`), which lists the rest, so every page is at most two taps away.
Badges count what waits on the viewer (`waiting`): their 待办, the violations they
may decide, the join requests they may approve.
"""

from __future__ import annotations

import dataclasses

from flask import g, render_template, request, session
from sqlalchemy import and_, func, or_, select, true

from wecom_app import labels
from wecom_app.models import Directive, DirectiveReceipt, GroupMember, Violation
from wecom_app.workbench.access import current_user, login_required
from wecom_app.workbench.blueprint import bp, runtime
from wecom_app.workbench.forms import EmptyForm

TABS = 5  # WeUI's tab bar, and a thumb's reach on a 390 px phone


@dataclasses.dataclass(frozen=True)
class NavItem:
    key: str
    label: str
    href: str
    roles: tuple[str, ...]
    phone: int  # rank for a place in the phone's tab bar (lower first); the rest go under 更多
    icon: str = ""  # an SVG path (24×24 viewBox) for the tab bar and the 更多 list


NAV = (
    NavItem("home", "首页", "/", ("admin", "custodian"), 1, "M3 11l9-8 9 8v10h-6v-6H9v6H3z"),
    NavItem("me", "我的待办", "/me", ("employee",), 2, "M4 4h16v16H4zM8 12l3 3 5-6"),
    NavItem("reports", "我的举报", "/reports", ("employee",), 6, "M5 21V4h11l-1 4h5l-2 7H6"),
    NavItem("groups", "群管理", "/groups", ("admin", "custodian"), 3,
            "M9 11a4 4 0 100-8 4 4 0 000 8zM2 21c0-4 3-7 7-7s7 3 7 7M17 11a3 3 0 000-6M19 21c0-3-1-5-3-6"),
    NavItem("violations", "违规", "/violations", ("admin", "custodian"), 4, "M12 3l10 18H2zM12 10v5M12 18v1"),
    NavItem("directives", "指令", "/directives", ("admin", "issuer"), 5, "M6 3h9l4 4v14H6zM9 10h7M9 14h7M9 18h4"),
    NavItem("announcements", "公告", "/announcements", ("admin", "custodian"), 7, "M3 10v4h4l6 5V5L7 10zM16 8a5 5 0 010 8"),
    NavItem("assessments", "考核", "/assessments", ("admin",), 8, "M4 20V10M10 20V4M16 20v-7M2 20h20"),
    NavItem("settings", "设置", "/settings", ("admin",), 9,
            "M12 15a3 3 0 100-6 3 3 0 000 6zM12 2v3M12 19v3M2 12h3M19 12h3M5 5l2 2M17 17l2 2M5 19l2-2M17 7l2-2"),
    NavItem("audit", "审计", "/audit", ("admin",), 10, "M12 21a9 9 0 100-18 9 9 0 000 18zM12 7v5l3 3"),
    NavItem("digest", "汇报", "/digest", ("admin",), 11, "M5 3h14v18H5zM8 17v-3M12 17V9M16 17v-6"),
    NavItem("help", "细则", "/help/rules", ("employee",), 12,
            "M12 21a9 9 0 100-18 9 9 0 000 18zM9.5 9.5a2.5 2.5 0 115 0c0 2-2.5 2-2.5 4M12 17v1"),
)
MORE = NavItem("more", "更多", "/more", ("employee",), 99, "M4 12a1.5 1.5 0 103 0 1.5 1.5 0 10-3 0M10.5 12a1.5 1.5 0 103 0 1.5 1.5 0 10-3 0M17 12a1.5 1.5 0 103 0 1.5 1.5 0 10-3 0")


def nav_for(viewer) -> list[NavItem]:
    return [item for item in NAV if viewer is not None and viewer.has(*item.roles)]


def tabs_for(viewer) -> tuple[list[NavItem], list[NavItem]]:
    """(the phone's tabs in NAV order, the entries under 更多); 更多 is the last tab when there is a rest."""
    items = nav_for(viewer)
    if len(items) <= TABS:
        return items, []
    first = {i.key for i in sorted(items, key=lambda i: i.phone)[:TABS - 1]}
    return [i for i in items if i.key in first] + [MORE], [i for i in items if i.key not in first]


def waiting(db, viewer) -> dict[str, int]:
    """{nav key: how many things wait on the viewer there}; zeros left out."""
    counts = {}
    done = or_(and_(Directive.require == "completion", DirectiveReceipt.status == "completed"),
               and_(Directive.require != "completion", DirectiveReceipt.status.in_(("acknowledged", "completed"))))
    counts["me"] = db.scalar(select(func.count()).select_from(DirectiveReceipt).join(
        Directive, Directive.id == DirectiveReceipt.directive_id).where(
        DirectiveReceipt.userid == viewer.userid, Directive.status == "active", ~done))
    if viewer.has("admin", "custodian"):
        mine = (lambda column: true()) if viewer.is_admin else (lambda column: column.in_(viewer.custodian_of or [-1]))
        counts["violations"] = db.scalar(select(func.count()).select_from(Violation).where(
            Violation.status == "open", mine(Violation.group_id)))
        counts["groups"] = db.scalar(select(func.count()).select_from(GroupMember).where(
            GroupMember.state == "pending_approval", mine(GroupMember.group_id)))
    return {key: n for key, n in counts.items() if n}


def active_key() -> str:
    path = request.path
    best = max((i for i in NAV + (MORE,) if path == i.href or (i.href != "/" and path.startswith(i.href + "/"))),
               key=lambda i: len(i.href), default=None)
    return best.key if best else ""


bp.add_app_template_global(labels, "LABELS")  # the one place for the Chinese words (badges, kinds)


@bp.before_request
def _count_badges():
    # counted before the view opens its own session: a second one at render time would wait on
    # the view's write lock (SQLite begins IMMEDIATE). Nobody logged in: no lookup at all.
    if session.get("userid") and (viewer := current_user()) is not None:
        with runtime().sessions() as db:
            g.nav_badges = waiting(db, viewer)


@bp.context_processor
def _navigation():
    viewer = current_user()
    tabs, rest = tabs_for(viewer)
    badges = dict(g.get("nav_badges", {})) if viewer is not None else {}
    if rest:
        badges["more"] = sum(badges.get(i.key, 0) for i in rest)
    active = active_key()
    return dict(viewer=viewer, nav=nav_for(viewer), tabs=tabs, nav_more=rest, badges=badges, nav_active=active,
                tab_active="more" if any(i.key == active for i in rest) else active,
                logout_form=EmptyForm(), company_tz=runtime().settings.timezone)


@bp.get("/more")
@login_required
def more():
    return render_template("workbench/more.html")
