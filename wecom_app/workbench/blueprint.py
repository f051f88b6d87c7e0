"""The workbench's blueprint `bp`, its CSRF check and error pages, and `runtime()` for
views. Every page module adds its views to `bp`; wecom_app/workbench/__init__.py
imports them and registers the blueprint on the app.
"""

from __future__ import annotations

from flask import Blueprint, current_app, render_template
from flask_wtf.csrf import CSRFError, CSRFProtect

bp = Blueprint("workbench", __name__)
csrf = CSRFProtect()


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
