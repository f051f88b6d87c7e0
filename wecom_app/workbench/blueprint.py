"""The workbench's blueprint `bp`, its CSRF check and error pages, and `runtime()` for
views. Every page module adds its views to `bp`; wecom_app/workbench/__init__.py
imports them and registers the blueprint on the app.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, render_template
from flask_wtf.csrf import CSRFError, CSRFProtect

from wecom_app import metrics

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



TOO_LARGE = ('<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" '
             'content="width=device-width, initial-scale=1"><title>文件太大</title></head><body>'
             '<h1 data-test="too-large">文件太大</h1><p>上传的内容超过了大小上限，请分成几个较小的文件，返回上一页重试。</p>'
             '</body></html>')


@bp.errorhandler(413)
def _too_large(_exc):
    # a body over MAX_CONTENT_LENGTH (an upload: groups_import.py) said in Chinese. A bare page: the
    # workbench's templates read the form (CSRF token, nav), which would raise the same 413 again.
    metrics.REJECTED.labels("too_large").inc()  # as the app's own 413 (app.py) counts it
    return Response(TOO_LARGE, status=413, mimetype="text/html")
