"""change_external_chat (客户群变更, 92130): customer groups, their members and joins.

create → the group is discovered and queued for registration (R7); add_member →
each member in MemChangeList (both WeCom forms) is recorded and, in a registered
group, judged (R1, R11, R13, R2); del_member → recorded. A push that does not name
every changed member (no MemChangeList, fewer items than MemChangeCnt, no versions,
a missed push) gets the group re-read within seconds (group_reread.py) and does not
advance its member version. change_owner, change_name, change_notice → the regular
reconciliation reads groupchat/get (the push carries no new value, and never the
inviter: pitfalls 8-10), at once when their member versions moved; dismiss.
"""

from wecom_app.callbacks.router import Router
from wecom_app.governance import membership, registry
from wecom_app.logs import kv

router = Router()

JOIN_SCENES = {"0": "invited by a member", "3": "scanned the group QR code"}  # ≠ groupchat/get join_scene (pitfall 10)


@router.prepare("change_external_chat")
def read_groups_once(events, ctx):
    """The batch's groups read and locked in one query, and whether a re-read waits for them in
    another, rather than two queries an event (issue 14)."""
    groups = registry.lock_groups(ctx.session, {event.get("ChatId") for event in events if event.get("ChatId")})
    membership.note_rereads(ctx.session, [group.id for group in groups])


@router.register("change_external_chat", ChangeType="create")
def discover_group(event, ctx):
    registry.discover_customer_group(ctx.session, event.get("ChatId"), ctx.now)


@router.register("change_external_chat", ChangeType="update", UpdateDetail="add_member")
def judge_joined_members(event, ctx):
    group = registry.discover_customer_group(ctx.session, event.get("ChatId"), ctx.now)
    if event.get("JoinScene") not in JOIN_SCENES:
        ctx.log.info(kv("wecom.handler.join_scene_unknown", join_scene=event.get("JoinScene"), chat_id=group.chat_id))
    listed = event.items("MemChangeList")
    for member_id in listed:
        membership.member_joined(ctx.session, ctx.settings, group, member_id, ctx.now, join_time=event.create_time)
    _note_member_change(event, ctx, group, listed)


@router.register("change_external_chat", ChangeType="update", UpdateDetail="del_member")
def record_departed_members(event, ctx):
    group = registry.discover_customer_group(ctx.session, event.get("ChatId"), ctx.now)
    listed = event.items("MemChangeList")
    for member_id in listed:
        membership.member_left(ctx.session, group, member_id, ctx.now, quit_scene=event.get("QuitScene"))
    _note_member_change(event, ctx, group, listed)


def _note_member_change(event, ctx, group, listed) -> None:
    """A push without MemChangeList, or with fewer items than MemChangeCnt, gets the group re-read at once."""
    membership.note_member_change(ctx.session, group, ctx.now, listed=len(listed), count=event.get("MemChangeCnt"),
                                  last=event.get("LastMemVer"), current=event.get("CurMemVer"))


@router.register("change_external_chat", ChangeType="update", UpdateDetail="change_owner")
@router.register("change_external_chat", ChangeType="update", UpdateDetail="change_name")
@router.register("change_external_chat", ChangeType="update", UpdateDetail="change_notice")
def reread_group(event, ctx):
    group = registry.discover_customer_group(ctx.session, event.get("ChatId"), ctx.now)
    membership.note_group_change(ctx.session, group, ctx.now, last=event.get("LastMemVer"),
                                 current=event.get("CurMemVer"))


@router.register("change_external_chat", ChangeType="dismiss")
def dismiss_group(event, ctx):
    registry.dismiss_group(ctx.session, event.get("ChatId"), ctx.now)
