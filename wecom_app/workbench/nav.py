"""The navigation bar: each entry with the roles that may use it. A new page
adds or edits its entry here; base.html shows only the entries the viewer's
roles allow (the page itself still checks with @roles_required)."""

from __future__ import annotations

import dataclasses

from flask import request

from wecom_app import labels
from wecom_app.workbench.access import current_user
from wecom_app.workbench.blueprint import bp, runtime
from wecom_app.workbench.forms import EmptyForm


@dataclasses.dataclass(frozen=True)
class NavItem:
    key: str
    label: str
    href: str
    roles: tuple[str, ...]


NAV = (
    NavItem("home", "首页", "/", ("admin", "custodian")),
    NavItem("me", "我的待办", "/me", ("employee",)),
    NavItem("reports", "我的举报", "/reports", ("employee",)),
    NavItem("groups", "群管理", "/groups", ("admin", "custodian")),
    NavItem("violations", "违规", "/violations", ("admin", "custodian")),
    NavItem("directives", "指令", "/directives", ("admin", "issuer")),
    NavItem("announcements", "公告", "/announcements", ("admin", "custodian")),
    NavItem("assessments", "考核", "/assessments", ("admin",)),
    NavItem("settings", "设置", "/settings", ("admin",)),
    NavItem("audit", "审计", "/audit", ("admin",)),
)


def nav_for(viewer) -> list[NavItem]:
    return [item for item in NAV if viewer is not None and viewer.has(*item.roles)]


def active_key() -> str:
    path = request.path
    best = max((i for i in NAV if path == i.href or (i.href != "/" and path.startswith(i.href + "/"))),
               key=lambda i: len(i.href), default=None)
    return best.key if best else ""


bp.add_app_template_global(labels, "LABELS")  # the one place for the Chinese words (badges, kinds)


@bp.context_processor
def _navigation():
    viewer = current_user()
    return dict(viewer=viewer, nav=nav_for(viewer), nav_active=active_key(), logout_form=EmptyForm(),
                company_tz=runtime().settings.timezone)
