"""The workbench: the web console opened from WeCom's 工作台 (usually on a phone).

One blueprint, `bp`; pages live in the modules imported at the bottom
(`auth` login and roles, `home` dashboard, `me` 我的待办 and the directive page).
A new page is a module that does `from . import bp`, decorates its views with
`@login_required` / `@roles_required(...)` from `.auth`, renders a template that
extends `workbench/base.html`, and is imported in `_PAGES` below.

Everything here is attached to the blueprint, never to the app: the REST API
(`/api/`), the callbacks (`/wecom/`), `/healthz` `/readyz` `/metrics`, static
files and the sandbox pages see no workbench hook. CSRF (Flask-WTF) is checked
by the blueprint's own before_request; the app-wide default check is off.
"""

from __future__ import annotations

import importlib
from datetime import datetime, timedelta

from flask import Blueprint, Flask, current_app, render_template
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

bp = Blueprint("workbench", __name__)
csrf = CSRFProtect()

# the page modules, in the order their routes are registered
_PAGES = ("auth", "nav", "home", "me", "people", "reports", "groups", "violations", "directives_admin", "announcements",
          "assessments", "settings_page", "audit_log")


def runtime():
    """The process's Runtime (settings, sessions, client, clock) for a workbench view."""
    return current_app.extensions["wecom"]


@bp.before_request
def _check_csrf():
    # GET/HEAD/OPTIONS pass; any other method needs the form's (or X-CSRFToken) token → 400
    csrf.protect()


@bp.errorhandler(CSRFError)
def _csrf_refused(_exc):
    return render_template("workbench/error.html", title="页面已过期",
                           message="表单已过期或不是从本页面提交的，请返回刷新后重试。"), 400


@bp.errorhandler(404)
def _not_found(_exc):
    return render_template("workbench/error.html", title="找不到页面",
                           message="要找的内容不存在或已被删除。"), 404


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

    for name in _PAGES:
        importlib.import_module(f"{__name__}.{name}")
    app.register_blueprint(bp)
