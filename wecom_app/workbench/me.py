"""我的待办 (`/me`) and the directive page (`/directives/<id>`, the link on every
WeCom card: directives_delivery.directive_url). An assignee reads the full
content here, confidential body included (R12: only here, after login), and
acknowledges or completes it (directives_acks.act, channel `workbench`)."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from sqlalchemy import select

from wecom_app.directives import acks as directives_acks
from wecom_app.models import Directive, DirectiveReceipt, User
from wecom_app.workbench.access import current_user, forbidden, login_required
from wecom_app.workbench.blueprint import bp, runtime
from wecom_app.workbench.forms import ActForm

DONE = ("acknowledged", "completed")
REVOKED_SHOWN = 50  # the newest revoked directives on 我的: what the person did before each was withdrawn


def receipt_done(directive: Directive, receipt: DirectiveReceipt) -> bool:
    """Has this person done what the directive asks?"""
    if directive.require == "completion":
        return receipt.status == "completed"
    return receipt.status in DONE


def my_status(directive: Directive, receipt: DirectiveReceipt) -> str:
    """The receipt as its assignee reads it (labels.MY_STATUSES): what is left to do, no delivery words."""
    if receipt.status == "completed":
        return "completed"
    if receipt.status == "acknowledged":
        return "todo_completion" if directive.require == "completion" else "acknowledged"
    return "todo"


@bp.get("/me")
@login_required
def me():
    viewer = current_user()
    with runtime().sessions() as db:
        rows = db.execute(select(Directive, DirectiveReceipt)
                          .join(DirectiveReceipt, DirectiveReceipt.directive_id == Directive.id)
                          .where(DirectiveReceipt.userid == viewer.userid, Directive.status == "active")
                          .order_by(Directive.deadline, Directive.id)).all()
        # a revoked directive leaves 待办 but not the record: the person still sees what they did before it
        revoked = db.execute(select(Directive, DirectiveReceipt)
                             .join(DirectiveReceipt, DirectiveReceipt.directive_id == Directive.id)
                             .where(DirectiveReceipt.userid == viewer.userid, Directive.status == "revoked")
                             .order_by(Directive.revoked_at.desc(), Directive.id.desc()).limit(REVOKED_SHOWN)).all()
    todo = [(d, r) for d, r in rows if not receipt_done(d, r)]
    done = sorted(((d, r) for d, r in rows if receipt_done(d, r)), key=lambda x: -x[0].id)[:50]
    return render_template("workbench/me.html", todo=todo, done=done, revoked=revoked, form=ActForm(),
                           my_status=my_status)


def _load(db, directive_id: int):
    """(directive, the viewer's receipt or None, may they see it as a manager)."""
    viewer = current_user()
    directive = db.get(Directive, directive_id)
    if directive is None:
        abort(404)
    receipt = db.scalar(select(DirectiveReceipt).where(
        DirectiveReceipt.directive_id == directive.id, DirectiveReceipt.userid == viewer.userid))
    manager = viewer.is_admin or directive.issuer == viewer.userid
    return directive, receipt, manager


@bp.get("/directives/<int:directive_id>")
@login_required
def directive(directive_id: int):
    with runtime().sessions() as db:
        directive, receipt, manager = _load(db, directive_id)
        if receipt is None and not manager:
            return forbidden(reason="这条指令没有下达给你；只有接收人、发布人和办公室管理员可以查看。")
        issuer = db.get(User, directive.issuer)
    return render_template("workbench/directive.html", directive=directive, receipt=receipt, manager=manager,
                           issuer_name=issuer.name if issuer else directive.issuer,
                           done=receipt is not None and receipt_done(directive, receipt), form=ActForm(),
                           my_status=my_status(directive, receipt) if receipt is not None else None)


@bp.post("/directives/<int:directive_id>/act")
@login_required
def act(directive_id: int):
    """Only a person the directive was issued to may act on it: anyone else (its issuer and
    admins included: they do not acknowledge for others) gets the same 404 as for an id that
    does not exist, before anything is written, so the endpoint neither tells which ids exist
    nor lets a stranger add rows to a directive's evidence ledger (issue 10 item 4)."""
    viewer = current_user()
    rt = runtime()
    with rt.sessions() as db:
        directive = db.get(Directive, directive_id)
        if directive is None or not directives_acks.has_receipt(db, directive.id, viewer.userid):
            abort(404)
    form = ActForm()
    if not form.validate_on_submit():
        flash("无效操作", "error")
        return redirect(url_for("workbench.directive", directive_id=directive_id))
    with rt.sessions() as db:
        directive = db.get(Directive, directive_id)
        if directive is None:
            abort(404)
        title = directive.title
        try:
            outcome = directives_acks.act(db, rt.settings, directive, userid=viewer.userid, key=form.key.data,
                                          channel="workbench", now=rt.clock())
        except directives_acks.ActError as refused:
            db.commit()  # the refused action is recorded (click log, ledger)
            flash(refused.message, "error")
            return redirect(url_for("workbench.directive", directive_id=directive_id))
        db.commit()
    word = "已确认收到" if form.key.data == "ack" else "已办结"
    flash(f"{word}：{title}" if outcome == "counted" else f"此前已记录（{word}）", "ok")
    return redirect(url_for("workbench.directive", directive_id=directive_id))
