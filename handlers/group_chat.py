"""change_external_chat (客户群变更, 92130): customer groups, their members and joins.

create → the group is discovered and queued for registration (R7); add_member →
each member in MemChangeList (both WeCom forms) is recorded and, in a registered
group, judged (R1, R11, R13, R2); del_member → recorded; change_owner,
change_name and pushes without a member list → reconciliation reads groupchat/get
(the event carries no new value, and never the inviter: pitfalls 8-10); dismiss.
"""

from wecom_app import membership, registry

from . import router

JOIN_SCENES = {"0": "invited by a member", "3": "scanned the group QR code"}  # ≠ groupchat/get join_scene (pitfall 10)


@router.register("change_external_chat", ChangeType="create")
def discover_group(event, ctx):
    registry.discover_customer_group(ctx.session, event.get("ChatId"), ctx.now)


@router.register("change_external_chat", ChangeType="update", UpdateDetail="add_member")
def judge_joined_members(event, ctx):
    group = registry.discover_customer_group(ctx.session, event.get("ChatId"), ctx.now)
    if event.get("JoinScene") not in JOIN_SCENES:
        ctx.log.info("wecom.group_chat.join_scene unknown=%r chat_id=%s", event.get("JoinScene"), group.chat_id)
    membership.note_member_version(group, event.get("LastMemVer"), event.get("CurMemVer"))
    for member_id in event.items("MemChangeList"):
        membership.member_joined(ctx.session, ctx.settings, group, member_id, ctx.now, join_time=event.create_time)


@router.register("change_external_chat", ChangeType="update", UpdateDetail="del_member")
def record_departed_members(event, ctx):
    group = registry.discover_customer_group(ctx.session, event.get("ChatId"), ctx.now)
    membership.note_member_version(group, event.get("LastMemVer"), event.get("CurMemVer"))
    for member_id in event.items("MemChangeList"):
        membership.member_left(ctx.session, group, member_id, ctx.now, quit_scene=event.get("QuitScene"))


@router.register("change_external_chat", ChangeType="update", UpdateDetail="change_owner")
@router.register("change_external_chat", ChangeType="update", UpdateDetail="change_name")
def reread_group(event, ctx):
    membership.mark_for_reconciliation(registry.discover_customer_group(ctx.session, event.get("ChatId"), ctx.now))


@router.register("change_external_chat", ChangeType="dismiss")
def dismiss_group(event, ctx):
    registry.dismiss_group(ctx.session, event.get("ChatId"), ctx.now)
