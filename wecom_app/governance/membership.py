"""What membership events mean for governed groups (R1, R9, R11, R13): the entry
points the handlers call, with the rules themselves in rules.py.

- a directory change (change_contact 90970-90972: create/update/delete user) →
  `review_user`: the person is judged in every managed group (removed, or added
  when they came into scope) and in every registered group they are recorded in;
- a customer-group join or leave (change_external_chat add_member/del_member,
  92130) → `member_joined` / `member_left`;
- what an event cannot tell us (the inviter, a new name or owner) →
  `mark_for_reconciliation`: the reconciliation job reads groupchat/get (92122) for
  groups with `reconciled_at` unset, and a `member_version` of None means "diff in full";
- members a push does not name (no MemChangeList, a short one, a missed push, a
  change_name whose member versions moved) → `request_reread`: a prompt re-read
  (group_reread.py, seconds later) judges them; the version advances only on a
  complete push (`note_member_change`).
- a managed group with room again (a member left, the limit was raised) → `fill_group`:
  the people its size kept out (group_size.py) are added, oldest first (reconciliation).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update

from wecom_app.audit import audit
from wecom_app.db import memo
from wecom_app.governance import group_size, members, rules, scope
from wecom_app.models import Group, GroupMember, GroupReread, User
from wecom_app.models.groups import GOVERNED


def review_user(session, settings, userid: str, now: datetime, *, gone: bool = False) -> None:
    """Judge one person wherever it matters, after the directory mirror has been updated.
    `gone`: a delete_user event: departed, whatever the mirror says (R1)."""
    userid = userid.lower()
    # the person's rows in every group, read once (not one query per managed group per callback)
    rows_of = {m.group_id: m for m in session.scalars(select(GroupMember).where(GroupMember.member_id == userid))}
    for group in session.scalars(select(Group).where(Group.kind == "managed", Group.status.in_(GOVERNED))
                                 .order_by(Group.id)).all():
        member = rows_of.get(group.id)
        if member is not None and member.state in members.HERE:
            review_member(session, settings, group, member, now, gone=gone)
        elif not gone and _belongs(session, group, userid):
            rules.admit(session, settings, group, userid, now)
        elif member is not None and member.state == group_size.LEFT_OUT:  # no longer waiting for a place
            _not_waiting(session, group, member, now)
    rows = session.execute(select(Group, GroupMember).join(GroupMember, GroupMember.group_id == Group.id).where(
        GroupMember.member_id == userid, GroupMember.state == "present", Group.kind != "managed",
        Group.status == "active").order_by(Group.id)).all()
    for group, member in rows:
        review_member(session, settings, group, member, now, gone=gone)


def review_member(session, settings, group: Group, member: GroupMember, now: datetime, *, gone: bool = False) -> str:
    """Judge one member and act on the finding (rules.enforce)."""
    finding = "not_active" if gone and member.member_type == 1 else rules.judge(session, group, member, settings)
    rules.enforce(session, settings, group, member, now, finding)
    return finding


def review_group(session, settings, group: Group, now: datetime) -> None:
    """Judge every member of a (newly registered) group."""
    for member in session.scalars(select(GroupMember).where(
            GroupMember.group_id == group.id, GroupMember.state.in_(members.HERE)).order_by(GroupMember.id)):
        review_member(session, settings, group, member, now)


def fill_group(session, settings, group: Group, now: datetime) -> int:
    """Add the people a full group left out, oldest first, while it has room (R9); those who
    no longer belong stop waiting. The number added (or proposed, under approval)."""
    added = 0
    for member in session.scalars(select(GroupMember).where(
            GroupMember.group_id == group.id, GroupMember.state == group_size.LEFT_OUT).order_by(GroupMember.id)).all():
        if not _belongs(session, group, member.member_id):
            _not_waiting(session, group, member, now)
        elif group_size.room(session, settings, group, member):
            rules.admit(session, settings, group, member.member_id, now, reason="room")
            added += member.state != group_size.LEFT_OUT
    session.flush()
    group_size.close_if_done(session, group, now)
    return added


def _not_waiting(session, group: Group, member: GroupMember, now: datetime) -> None:
    member.state, member.checked_at = "removed", now
    session.flush()
    group_size.close_if_done(session, group, now)


def _belongs(session, group: Group, userid: str) -> bool:
    user = session.get(User, userid)
    if user is None or not user.active:
        return False
    return userid in (group.owner, group.custodian) or scope.in_scope(session, group.scope or {}, userid)


def member_joined(session, settings, group: Group, member_id: str, now: datetime, *, join_time: int | None = None):
    """Someone joined a customer group (add_member). Recorded always; judged once the
    group is registered. The inviter is not in the event: reconciliation adds it."""
    external = members.is_external(member_id)
    member_id = member_id if external else member_id.lower()
    member = members.member_row(session, group, member_id)
    if member is None:
        member = GroupMember(group_id=group.id, member_id=member_id, member_type=2 if external else 1)
        session.add(member)
    elif member.state not in members.HERE:  # back after leaving: a fresh judgement
        member.compliance = "unknown"
    # a join is a new membership: an inviter recorded for an earlier one is not this join's
    # (a leave we missed, then a QR-code join); groupchat/get tells the inviter, if any
    member.invitor, member.join_scene = None, None
    member.state, member.join_time = "present", join_time
    if group.status == "active":  # review_member, the verdict reached before the row is written: one INSERT
        with session.no_autoflush:  # judging reads the person, the scope and the group, never this row
            finding = rules.judge(session, group, member, settings)
        rules.enforce(session, settings, group, member, now, finding)
    session.flush()
    return member


def apply_member_info(session, settings, group: Group, member: GroupMember, info: dict, now: datetime) -> str:
    """What groupchat/get (92122) says about a member (reconciliation): group nickname, join
    time and scene (its 1/2/3 codes, not the event's 0/3: pitfall 10) and the inviter; then
    the member is judged again, the nickname included (R2)."""
    member.group_nickname = info.get("group_nickname") or ""
    member.join_time, member.join_scene = info.get("join_time", member.join_time), info.get("join_scene")
    if group.status != "active":
        return member.compliance
    finding = review_member(session, settings, group, member, now)
    rules.record_invitor(session, settings, group, member, invitor_of(info), now)
    return finding


INVITED = ("1", "2")  # groupchat/get join_scene: 1 invited directly, 2 by an invite link; 3 scanned the QR code


def invitor_of(info: dict) -> str | None:
    """Who invited this member, per groupchat/get (92122): `invitor` is returned only when a
    member of the company invited ("目前仅当是由本企业内部成员邀请入群时会返回该值"), never for a
    QR-code join. Whatever WeCom sends, nobody is taken for the inviter of a join_scene 3 join:
    no one is told they invited a stranger they never invited (R11)."""
    if str(info.get("join_scene")) not in INVITED:
        return None
    return (info.get("invitor") or {}).get("userid") or None


def member_left(session, group: Group, member_id: str, now: datetime, *, quit_scene: str = "") -> None:
    """Someone left a customer group (del_member; QuitScene 0 left, 1 removed by owner/admin)."""
    member = members.member_row(session, group, member_id if members.is_external(member_id) else member_id.lower())
    if member is None or member.state == "removed":
        return
    member.state, member.checked_at = "removed", now
    if member.compliance not in ("ok", "unknown"):  # a task done: the non-compliant member is out
        audit(session, "system", "member.left", f"group:{group.id}", now=now, userid=member.member_id,
              compliance=member.compliance, QuitScene=quit_scene)


def note_member_change(session, group: Group, now: datetime, *, listed: int, count: str, last: str,
                       current: str) -> None:
    """After an add_member or del_member push (92130): its CurMemVer pairs with groupchat/get's
    member_version, but only a push whose MemChangeList names all MemChangeCnt changed members
    told us the whole change (older pushes have no list, or a short one: the Corrections table
    of wecom-api-notes). Then, and only when its LastMemVer is the version we hold, the group
    takes its CurMemVer. Anything else (no list, a short list, no versions, a missed push:
    pitfall 8) asks for a prompt re-read, so every member is judged within seconds."""
    complete = listed > 0 and count.isdigit() and listed >= int(count)
    if complete and current and (group.member_version is None or last == group.member_version):
        group.member_version = current
        expect_version(session, group, current)
        return
    reason = ("no_list" if not listed else "partial_list" if not complete else "no_versions" if not current
              else "missed_event")
    request_reread(session, group, now, reason=reason, version=current)


def note_group_change(session, group: Group, now: datetime, *, last: str, current: str) -> None:
    """change_name / change_owner / change_notice (92130): no new value in the push. A push that
    carries member versions which moved (LastMemVer ≠ CurMemVer, or not the version we hold)
    says the member list changed too: re-read at once. Otherwise the regular reconciliation
    reads the new name and owner (a push without versions: in full, as before)."""
    if current and (current != group.member_version or (last and last != current)):
        request_reread(session, group, now, reason="version_moved", version=current)
    elif current:
        group.reconciled_at = None  # members unchanged: the version we hold stays
    else:
        mark_for_reconciliation(group)


def request_reread(session, group: Group, now: datetime, *, reason: str, version: str = "") -> GroupReread:
    """A group_reread row due now (group_reread.py reads it within seconds); the member version
    is not advanced, and the regular reconciliation reads the group too, in case this fails."""
    mark_for_reconciliation(group)
    row = session.scalar(select(GroupReread).where(GroupReread.group_id == group.id))
    if row is None:
        row = GroupReread(group_id=group.id, generation=0)
        session.add(row)
    row.reason, row.requested_at, row.due_at, row.attempts = reason, now, now, 0
    row.generation = (row.generation or 0) + 1
    row.want_version = version or row.want_version
    session.flush()
    memo(session, REREADS_MEMO)[group.id] = True
    return row


REREADS_MEMO = "rereads_waiting"  # db.memo: group id → whether a group_reread row waits for it


def note_rereads(session, group_ids) -> None:
    """Which of a dispatcher batch's groups have a re-read waiting, in one query, so that
    `expect_version` writes only where one does. Read under the groups' dispatcher locks:
    a re-read is asked for only by these handlers (`request_reread`, which notes it), so none
    appears meanwhile; one finished meanwhile (deleted by group_reread.py) needs no write."""
    known = memo(session, REREADS_MEMO)
    wanted = set(group_ids) - known.keys()
    if wanted:
        waiting = set(session.scalars(select(GroupReread.group_id).where(GroupReread.group_id.in_(wanted))))
        known.update({group_id: group_id in waiting for group_id in wanted})


def expect_version(session, group: Group, version: str) -> None:
    """A later push moved the group on: a re-read still queued should see this version."""
    if memo(session, REREADS_MEMO).get(group.id) is False:  # none waits (note_rereads)
        return
    session.execute(update(GroupReread).where(GroupReread.group_id == group.id).values(want_version=version))


def mark_for_reconciliation(group: Group) -> None:
    """The reconciliation job reads groupchat/get for this group in full on its next pass."""
    group.member_version, group.reconciled_at = None, None
