"""The sandbox's home page: what the callback pipeline and the outbox are doing,
and buttons that make the emulated company change so WeCom pushes a real,
encrypted callback to this app. Registered only in sandbox mode, at `/sandbox`;
the workbench owns `/`.
"""

from __future__ import annotations

import secrets

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for
from sqlalchemy import func, select

from wecom_app.models import InboxEvent, OutboxAction

bp = Blueprint("status", __name__)

SIMULATIONS = {
    "delete_user": "成员离职（通讯录删除成员）",
    "disable_user": "成员被禁用",
    "text": "成员给应用发消息“举报 …”",
}


def _csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(24)
    return session["csrf"]


@bp.get("/sandbox")
def home():
    runtime = current_app.extensions["wecom"]
    state = current_app.extensions["wecom_sandbox"]
    with runtime.sessions() as db:
        inbox_counts = dict(db.execute(select(InboxEvent.status, func.count()).group_by(InboxEvent.status)).all())
        outbox_counts = dict(db.execute(select(OutboxAction.status, func.count()).group_by(OutboxAction.status)).all())
        events = db.scalars(select(InboxEvent).order_by(InboxEvent.id.desc()).limit(15)).all()
        actions = db.scalars(select(OutboxAction).order_by(OutboxAction.id.desc()).limit(15)).all()
    with state.lock:
        users = sorted(state.users.values(), key=lambda u: u["userid"])
        departments = len(state.departments)
    return render_template(
        "sandbox_home.html", inbox_counts=inbox_counts, outbox_counts=outbox_counts, events=events,
        actions=actions, users=users, departments=departments, simulations=SIMULATIONS, csrf=_csrf_token(),
        tz=runtime.settings.tz,
    )


@bp.post("/sandbox/simulate")
def simulate():
    if not secrets.compare_digest(request.form.get("csrf", ""), session.get("csrf", "-")):
        abort(400, "bad CSRF token")
    state = current_app.extensions["wecom_sandbox"]
    pusher = current_app.extensions["wecom_pusher"]
    kind, userid = request.form.get("kind", ""), request.form.get("userid", "").strip().lower()
    if kind not in SIMULATIONS or state.user(userid) is None:
        flash("请选择一种事件和一名仍在通讯录中的成员", "error")
        return redirect(url_for("status.home"))
    if kind == "delete_user":
        xml = state.user_delete(userid)
    elif kind == "disable_user":
        xml = state.user_update(userid, status=2)
    else:
        xml = state.member_sends_text(userid, "举报 有陌生人在销售群里发广告")
    response = pusher.push(xml)
    flash(f"企业微信推送了回调：{SIMULATIONS[kind]}（{userid}）→ HTTP {response.status_code}", "ok")
    return redirect(url_for("status.home"))
