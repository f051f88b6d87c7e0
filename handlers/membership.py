"""Membership rules acting on directory changes (change_contact 90970-90972):
departures, deactivations, activations and transfers (R1, R9, R11).

These run after handlers/contact.py in the same transaction, so the directory
mirror already holds the change. A departure (delete_user) removes the person
from every managed group in this dispatcher cycle (one appchat/update each) and
becomes a custodian task in customer and ordinary groups.
"""

from wecom_app.callbacks.router import Router
from wecom_app.governance import membership

router = Router()

# update_user fields that can change whether someone belongs in a group (Name: R2)
RELEVANT = ("Status", "Department", "MainDepartment", "Name", "NewUserID")


@router.register("change_contact", ChangeType="create_user")
def admit_new_member(event, ctx):
    membership.review_user(ctx.session, ctx.settings, event.get("UserID"), ctx.now)


@router.register("change_contact", ChangeType="update_user")
def review_changed_member(event, ctx):
    """A rename (NewUserID) has already moved the group rows (directory_rename.rename_user)."""
    if any(event.get(field) for field in RELEVANT):
        userid = event.get("NewUserID") or event.get("UserID")
        membership.review_user(ctx.session, ctx.settings, userid, ctx.now)


@router.register("change_contact", ChangeType="delete_user")
def remove_departed_member(event, ctx):
    membership.review_user(ctx.session, ctx.settings, event.get("UserID"), ctx.now, gone=True)
