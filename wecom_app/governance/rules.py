"""The join and real-name rules (R1, R2, R6, R9, R11, R13): who may be in a
governed group, and what happens to someone who may not.

`judge` gives a member's compliance: `ok`, `not_active` (R1: not an activated
employee, WeCom status 1), `out_of_scope` (R11; the owner and the custodian are
exempt), `external_not_allowed` (R13) or `bad_name` (R2, naming.py).

`enforce` acts as far as the group's kind allows (DESIGN §1, wecom-api-notes
§3.12): a managed group loses the member through appchat/update del_user_list
(98913); a customer or ordinary group cannot be changed by any server API, so its
owner and custodian get a task message and the finding is recorded
(violations/records.py `record_violation`). A bad name is never a reason to remove anyone: the member
gets a grace period with reminders, then an R2 violation (real_names.py).
`admit` adds people who come into a managed group's scope, or asks the custodian
first when the group's join policy is `approval` (R6) — as long as the group has
room under the company's group size (group_size.py); someone it cannot take is left
out (`over_limit`) and listed on the group's problem instead of queuing an
appchat/update that WeCom would answer 86006.

Messages to people are `message/send` rows that wait for working time (R4);
membership changes are not held.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from wecom_app.audit import audit
from wecom_app.governance import group_size, naming, real_names, scope
from wecom_app.governance.members import HERE, appchat_change, member_row
from wecom_app.governance.notify import custodians, display, kind_word, stamp, tell
from wecom_app.models import Group, GroupMember, User
from wecom_app.violations.records import record_violation

RULE = {"not_active": "R1", "out_of_scope": "R11", "external_not_allowed": "R13", "bad_name": "R2"}
WHY = {"not_active": "不是已激活的在职员工", "out_of_scope": "不在本群的成员范围内",
       "external_not_allowed": "本群不允许外部联系人", "bad_name": "未使用实名"}


def judge(session, group: Group, member: GroupMember, settings=None) -> str:
    """The member's compliance with R1, R11, R13 and R2."""
    if member.member_type == 2:
        return "ok" if group.allow_external else "external_not_allowed"
    exempt = member.member_id in (group.owner, group.custodian)
    in_scope = exempt or scope.in_scope(session, group.scope or {}, member.member_id)
    return verdict(session, group, member, settings, in_scope=in_scope)


def verdict(session, group: Group, member: GroupMember, settings=None, *, in_scope: bool) -> str:
    """`judge` for an employee whose scope membership the caller already knows."""
    user = session.get(User, member.member_id)
    if user is None or not user.active:
        return "not_active"
    if not in_scope:
        return "out_of_scope"
    pattern = naming.real_name_pattern(settings, group)
    names = [user.name] + ([member.group_nickname] if group.kind == "customer" and member.group_nickname else [])
    return "ok" if all(naming.is_real_name(name, pattern) for name in names) else "bad_name"


def enforce(session, settings, group: Group, member: GroupMember, now: datetime, reason: str) -> None:
    """Act on a non-compliant member, once: a second call with the same finding changes nothing."""
    if reason == "ok":
        if member.compliance == "bad_name":  # R2: fixed, the grace period ends with no violation
            audit(session, "system", "member.name_fixed", f"group:{group.id}", now=now, userid=member.member_id)
        member.compliance, member.checked_at = "ok", now
    elif member.state == "pending_approval":  # never added: the request lapses
        member.state, member.compliance, member.checked_at = "removed", reason, now
    elif reason == "bad_name":
        _remind_real_name(session, settings, group, member, now)
    elif group.kind == "managed":
        _remove(session, settings, group, member, now, reason)
    else:
        _custodian_task(session, settings, group, member, now, reason)


def _remove(session, settings, group, member, now, reason) -> None:
    if member.state not in HERE:
        return
    owner = _successor(session, group, member.member_id) if member.member_id == group.owner else None
    if member.member_id == group.owner and owner is None:
        audit(session, "system", "member.remove_blocked", f"group:{group.id}", now=now, userid=member.member_id,
              reason=reason, why="the owner has no successor in the group")
        return
    if owner:
        group.owner = owner
    appchat_change(session, group, now, reason, remove=[member.member_id], owner=owner)
    member.state, member.compliance, member.checked_at = "removing", reason, now
    audit(session, "system", "member.remove", f"group:{group.id}", now=now, userid=member.member_id,
          reason=reason, rule=RULE[reason], new_owner=owner)
    _tell_invitor(session, settings, group, member, now)


def _successor(session, group: Group, leaving: str) -> str | None:
    """appchat/update needs a new owner when the owner leaves (86207): the custodian, or the longest member."""
    rows = session.execute(select(GroupMember.member_id).join(User, User.userid == GroupMember.member_id).where(
        GroupMember.group_id == group.id, GroupMember.state == "present", GroupMember.member_id != leaving,
        User.status == 1).order_by(GroupMember.id)).scalars().all()
    return group.custodian if group.custodian in rows else (rows[0] if rows else None)


def _custodian_task(session, settings, group, member, now, reason) -> None:
    if member.compliance == reason:
        return  # already told
    member.compliance, member.checked_at = reason, now
    who = display(session, member)
    text = (f"【群管理任务】{kind_word(group)}「{group.name}」中的 {who} {WHY[reason]}（{RULE[reason]}）。"
            "企业微信不提供移出该群成员的接口，请群主或专管人员在客户端将其移出，或在工作台说明情况。")
    tell(session, settings, custodians(session, settings, group), text,
         key=f"task:{group.id}:{member.member_id}:{reason}:{stamp(now)}", now=now)
    record_violation(session, group, member, RULE[reason], reason, now)
    audit(session, "system", "member.task", f"group:{group.id}", now=now, userid=member.member_id, reason=reason)
    _tell_invitor(session, settings, group, member, now)


def _remind_real_name(session, settings, group, member, now) -> None:
    """R2: a grace period with reminders (real_names.py), then a violation; never a removal."""
    if member.compliance == "bad_name":
        return
    member.compliance, member.checked_at = "bad_name", now
    real_names.start_grace(session, settings, group, member, now)


def record_invitor(session, settings, group: Group, member: GroupMember, invitor: str | None, now: datetime) -> None:
    """The inviter, as groupchat/get reports it (reconciliation): recorded, and told when the
    member should not be there (R11). None (a QR-code join, or an external inviter: 92122)
    clears what an earlier membership left."""
    invitor = (invitor or "").lower() or None
    if member.invitor != invitor:
        member.invitor = invitor
        _tell_invitor(session, settings, group, member, now)


def _tell_invitor(session, settings, group, member, now) -> None:
    if not member.invitor or member.compliance not in ("out_of_scope", "external_not_allowed"):
        return
    text = (f"【群规提醒】您邀请的 {display(session, member)} 加入了{kind_word(group)}「{group.name}」，"
            f"但其{WHY[member.compliance]}。请勿邀请无关人员入群（{RULE['out_of_scope']}）；群主和专管人员已收到通知。")
    tell(session, settings, [member.invitor], text, now=now,
         key=f"invitor:{group.id}:{member.member_id}:{member.invitor}:{member.compliance}")
    audit(session, "system", "member.invitor_told", f"group:{group.id}", now=now, userid=member.member_id,
          invitor=member.invitor, reason=member.compliance)


# -- admitting people into managed groups (R9, R6) --------------------------------------------------


def admit(session, settings, group: Group, userid: str, now: datetime, reason: str = "scope") -> GroupMember | None:
    """Add someone who belongs in a managed group; with join policy `approval`, ask the custodian."""
    if group.kind != "managed":
        return None  # customer and ordinary groups have no add API
    member = member_row(session, group, userid)
    if member is not None and member.state in (*HERE, "rejected", "suspended"):
        return member
    if member is None:
        member = GroupMember(group_id=group.id, member_id=userid, member_type=1)
        session.add(member)
    member.compliance = verdict(session, group, member, settings, in_scope=True)
    if group.join_policy == "approval" and userid not in (group.owner, group.custodian):
        if not group_size.room(session, settings, group, member):  # no point asking: the group is full
            group_size.leave_out(session, settings, group, member, now, reason)
            return member
        member.state, member.checked_at = "pending_approval", now
        tell(session, settings, custodians(session, settings, group),
             f"【入群审批】{display(session, member)} 符合「{group.name}」的成员范围，请在工作台批准或拒绝其入群。",
             key=f"join.request:{group.id}:{userid}:{stamp(now)}", now=now)
        audit(session, "system", "member.join_requested", f"group:{group.id}", now=now, userid=userid, reason=reason)
        _left_out_no_more(session, group, now)
        return member
    _add(session, settings, group, member, now, "system", reason)
    return member


def _add(session, settings, group, member, now, actor, reason) -> bool:
    """appchat/update add_user_list, if the group has room (else the member is left out)."""
    if not group_size.room(session, settings, group, member):
        group_size.leave_out(session, settings, group, member, now, reason)
        return False
    appchat_change(session, group, now, reason, add=[member.member_id])
    member.state, member.checked_at = "present", now
    audit(session, actor, "member.add", f"group:{group.id}", now=now, userid=member.member_id, reason=reason)
    _left_out_no_more(session, group, now)
    return True


def _left_out_no_more(session, group: Group, now: datetime) -> None:
    if group.problem:
        session.flush()
        group_size.close_if_done(session, group, now)


def approve_join(session, settings, group: Group, userid: str, *, actor: str, now: datetime) -> GroupMember:
    """R6: the custodian lets a pending member in (appchat/update add_user_list)."""
    member = _pending(session, group, userid)
    _add(session, settings, group, member, now, actor, "approved")  # a full group: left out instead
    return member


def reject_join(session, settings, group: Group, userid: str, *, actor: str, now: datetime) -> GroupMember:
    """R6: the custodian keeps a pending member out; the scope does not propose them again."""
    member = _pending(session, group, userid)
    member.state, member.checked_at = "rejected", now
    audit(session, actor, "member.join_rejected", f"group:{group.id}", now=now, userid=member.member_id)
    return member


def _pending(session, group, userid) -> GroupMember:
    member = member_row(session, group, userid)
    if member is None or member.state != "pending_approval":
        raise LookupError(f"{userid} has no pending join request for group {group.id}")
    return member
