"""change_contact (通讯录变更, 90970-90972): keeps the directory mirror current.

Each handler applies what the event carries (wecom_app/directory/mirror.py) and
never calls WeCom. An event older than the row it touches is ignored there, so
WeCom's unordered delivery cannot undo a newer state. What the event does not
say is re-read by the directory_sync job: a user marked stale (the 通讯录同步
callback sends only UserID and Department since 2022-08-15) and a tag marked
stale on update_tag (tag and member events arrive in any order, pitfall 11).
"""

from __future__ import annotations

from wecom_app.callbacks.router import Router
from wecom_app.directory import mirror
from wecom_app.directory import rename as directory_rename
from wecom_app.logs import kv

router = Router()


@router.register("change_contact", ChangeType="create_user")
def create_user(event, ctx):
    data = mirror.user_data_from_event(event)
    mirror.apply_user(ctx.session, data, event.create_time, now=ctx.now, stale=mirror.is_minimal(data))


@router.register("change_contact", ChangeType="update_user")
def update_user(event, ctx):
    """Only the changed fields come; NewUserID renames the user everywhere first
    (directives, violations, sanctions, assessments too: directory/rename.py)."""
    data = mirror.user_data_from_event(event)
    new_userid = event.get("NewUserID").strip().lower()
    if new_userid:
        directory_rename.rename_user(ctx.session, data["userid"], new_userid, ctx.now)
        data["userid"] = new_userid
    # a minimal callback (or a rename alone) says nothing about the rest: re-read it
    stale = True if mirror.is_minimal(data) else None
    mirror.apply_user(ctx.session, data, event.create_time, now=ctx.now, stale=stale)


@router.register("change_contact", ChangeType="delete_user")
def delete_user(event, ctx):
    user = mirror.delete_user(ctx.session, event.get("UserID"), event.create_time, ctx.now)
    if user is not None:
        ctx.log.info(kv("wecom.handler.user_left", userid=user.userid))


@router.register("change_contact", ChangeType="create_party")
@router.register("change_contact", ChangeType="update_party")
def apply_party(event, ctx):
    mirror.apply_department(ctx.session, mirror.department_data_from_event(event), event.create_time)


@router.register("change_contact", ChangeType="delete_party")
def delete_party(event, ctx):
    mirror.delete_department(ctx.session, int(event.get("Id")), event.create_time)


@router.register("change_contact", ChangeType="update_tag")
def update_tag(event, ctx):
    mirror.mark_tag_stale(ctx.session, int(event.get("TagId")))
