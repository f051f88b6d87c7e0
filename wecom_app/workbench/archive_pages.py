"""会话存档内容: archived group messages (issue 12 item 5), shown only to the office and the
group's custodian, each view an audit line (`archive.view`; a refusal `archive.view_refused`),
written by the domain (archive/content.py `message_for`, `messages_for`).

- `/archive/messages/<msgid>`: one message, the evidence a violation cites;
- `/groups/<id>/archive`: the group's newest archived messages, older ones by `?before=<id>`.
"""

from __future__ import annotations

from flask import abort, render_template, request
from sqlalchemy import select

from wecom_app.archive import content
from wecom_app.models import Group, User
from wecom_app.workbench.access import current_user, forbidden, roles_required
from wecom_app.workbench.blueprint import bp, runtime

REFUSED = "会话存档内容只有办公室管理员和本群的专管人员可以查看。"
PER_PAGE = 50


@bp.get("/archive/messages/<msgid>")
@roles_required("admin", "custodian")
def archive_message(msgid: str):
    rt, viewer = runtime(), current_user()
    with rt.sessions() as db:
        found = content.message_for(db, msgid[:128], viewer=viewer.userid, is_admin=viewer.is_admin, now=rt.clock())
        db.commit()  # the view (or the refusal) is in the audit log
        if found is None:
            return forbidden(reason=REFUSED)
        message, group = found
        return render_template("workbench/archive_messages.html", group=group, messages=[message],
                               names=_names(db, [message]), single=True, older=None)


@bp.get("/groups/<int:group_id>/archive")
@roles_required("admin", "custodian")
def group_archive(group_id: int):
    rt, viewer = runtime(), current_user()
    before = request.args.get("before", type=int)
    with rt.sessions() as db:
        group = db.get(Group, group_id)
        if group is None:
            abort(404)
        rows = content.messages_for(db, group, viewer=viewer.userid, is_admin=viewer.is_admin, now=rt.clock(),
                                    limit=PER_PAGE, before=before)
        db.commit()  # the view's audit line, or the refusal's
        if rows is None:
            return forbidden(reason=REFUSED)
        names = _names(db, rows)
        older = rows[-1].id if len(rows) == PER_PAGE else None
        return render_template("workbench/archive_messages.html", group=group, messages=rows, names=names,
                               single=False, older=older)


def _names(db, messages) -> dict[str, str]:
    """Sender as archived → the directory's name (the directory keys userids lower-cased)."""
    senders = {m.sender: m.sender.lower() for m in messages if m.sender}
    found = dict(db.execute(select(User.userid, User.name).where(User.userid.in_(set(senders.values()) or {""}))).all())
    return {raw: found[low] for raw, low in senders.items() if low in found}
