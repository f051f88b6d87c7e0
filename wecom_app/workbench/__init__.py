"""The workbench: the web console opened from WeCom's 工作台 (usually on a phone).

One blueprint, `bp` (wecom_app/workbench/blueprint.py, with the CSRF check, the
error pages and `runtime()`); pages live in the modules imported below (`auth` login
and roles, `home` dashboard, `me` 我的待办 and the directive page). A new page is a
module that does `from wecom_app.workbench.blueprint import bp, runtime`, decorates its
views with `@login_required` / `@roles_required(...)` from `.access`, renders a template
that extends `workbench/base.html`, and is imported and listed in `PAGES` below.

Everything here is attached to the blueprint, never to the app: the REST API
(`/api/`), the callbacks (`/wecom/`), `/healthz` `/readyz` `/metrics`, static
files and the sandbox pages see no workbench hook. CSRF (Flask-WTF) is checked
by the blueprint's own before_request; the app-wide default check is off.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

# the page modules, by name, in the order their routes are added to `bp`
from wecom_app.workbench import (
    auth, nav, home, me, people, reports, groups, violations, directives_admin, announcements, assessments, settings_page,
    archive_pages, audit_log, digest, groups_import, help_page,
)
from wecom_app.workbench.blueprint import bp, csrf

PAGES = (auth, nav, home, me, people, reports, groups, violations, directives_admin, announcements, assessments,
         settings_page, audit_log, groups_import, digest, help_page, archive_pages)


def init_workbench(app: Flask, settings) -> None:
    """Register the workbench on `app`: blueprint, sessions, CSRF, proxies, filters."""
    app.config.update(
        PERMANENT_SESSION_LIFETIME=timedelta(hours=settings.session_hours),
        WTF_CSRF_CHECK_DEFAULT=False,  # only the blueprint checks (the API uses bearer tokens)
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session
        WTF_CSRF_SSL_STRICT=True,
    )
    if settings.proxy_count:
        n = settings.proxy_count
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n, x_port=n, x_prefix=n)
    csrf.init_app(app)
    tz = settings.tz

    @app.template_filter("local")
    def local(moment: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
        """An aware datetime in the company time zone; `—` for none."""
        if moment is None:
            return "—"
        return moment.astimezone(tz).strftime(fmt)

    app.register_blueprint(bp)
