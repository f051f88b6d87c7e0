"""Sanctions (R6) and account suspension (R14): what happens to a person after a
confirmed violation, or after they report their account lost or stolen.

The ladder is configurable (`SANCTION_LADDER`, validated in config.py):
`warning` → `temporary_removal:<days>` → `removal`. Each confirmed violation of a person applies the next step; the last step repeats.
WeCom has no mute API (neither appchat nor 客户群 can silence a member), so the
regulation's "may warn or mute" becomes a warning here; say so wherever it shows.

Which action is possible depends on the group kind (DESIGN §1): a managed group
(appchat) loses the member through appchat/update del_user_list (98913) and the
GroupMember goes to `suspended`, which scope reviews never re-add
(rules.admit); a customer or ordinary group has no removal API, so its owner and
custodian get a task message instead. A temporary removal ends through the job
`jobs/sanctions.py` (`end_due`): the person is added back (add_user_list) unless
another sanction or an R14 suspension still keeps them out.

Every step is a `Sanction` row and an audit entry with who did it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from wecom_app.audit import audit
from wecom_app.governance import group_size, members, notify
from wecom_app.models import Group, GroupMember, Sanction, User
from wecom_app.models.groups import GOVERNED

DEFAULT_LADDER = "warning,temporary_removal:7,removal"
STEPS = ("warning", "temporary_removal", "removal")
SUSPENSION = "suspension"  # R14, not a ladder step
NO_MUTE = "（企业微信没有禁言接口，无法禁言，只能警告或移出）"


def ladder(settings) -> list[tuple[str, int]]:
    """[(step, days)] from `warning,temporary_removal:7,removal`; unknown steps are ignored."""
    steps = []
    for part in (settings.sanction_ladder or DEFAULT_LADDER).split(","):
        name, _, days = part.strip().partition(":")
        if name in STEPS:
            steps.append((name, int(days) if days.isdigit() else 7))
    return steps or [("warning", 0)]


def apply_next(session, settings, violation, actor: str, now: datetime) -> str:
    """The next step of the ladder for the violation's person; returns its name."""
    steps = ladder(settings)
    done = session.scalars(select(Sanction.violation_id).where(
        Sanction.userid == violation.userid, Sanction.kind.in_(STEPS), Sanction.violation_id != violation.id)).all()
    step, days = steps[min(len(set(done)), len(steps) - 1)]
    groups = _groups_of(session, violation)
    why = f"违反群规 {violation.rule}（违规记录 {violation.id}）"
    if step == "warning" or not groups:
        session.add(Sanction(userid=violation.userid, group_id=violation.group_id, violation_id=violation.id,
                             kind="warning", status="ended", actor=actor, started_at=now, ended_at=now))
        _tell(session, settings, [violation.userid], f"【群规警告】您{why}，经专管人员确认予以警告{NO_MUTE}。"
              "再次违反将被暂时移出群聊。", f"sanction.warning:{violation.id}", now)
        audit(session, actor, "sanction.warning", f"user:{violation.userid}", now=now, violation_id=violation.id)
        return "warning"
    ends_at = now + timedelta(days=days) if step == "temporary_removal" else None
    for group in groups:
        session.add(Sanction(userid=violation.userid, group_id=group.id, violation_id=violation.id, kind=step,
                             actor=actor, started_at=now, ends_at=ends_at))
        take_out(session, settings, group, violation.userid, now, step, actor)
    until = f"，{days} 天后自动恢复" if ends_at else ""
    names = "、".join(f"「{g.name}」" for g in groups)
    _tell(session, settings, [violation.userid], f"【群规处理】您{why}，已被移出{names}{until}。",
          f"sanction.{step}:{violation.id}", now)
    audit(session, actor, f"sanction.{step}", f"user:{violation.userid}", now=now, violation_id=violation.id,
          groups=[g.id for g in groups], ends_at=ends_at.isoformat() if ends_at else None)
    return step


def _groups_of(session, violation) -> list[Group]:
    """The violation's group; without one, every governed group the person is in."""
    if violation.group_id is not None:
        group = session.get(Group, violation.group_id)
        return [group] if group is not None else []
    return _present_in(session, violation.userid)


def _present_in(session, userid: str) -> list[Group]:
    return list(session.scalars(select(Group).join(GroupMember, GroupMember.group_id == Group.id).where(
        GroupMember.member_id == userid, GroupMember.state.in_(members.HERE), Group.status.in_(GOVERNED))
        .order_by(Group.id)))


def take_out(session, settings, group: Group, userid: str, now: datetime, reason: str, actor: str) -> None:
    """Remove from a managed group (state `suspended`); elsewhere a task for the owner and custodian."""
    member = members.member_row(session, group, userid)
    if group.kind != "managed":
        _tell(session, settings, notify.custodians(session, settings, group),
              f"【群管理任务】请将 {userid} 移出{notify.kind_word(group)}「{group.name}」（{reason}）。"
              "企业微信不提供移出该群成员的接口，请群主或专管人员在客户端操作。",
              f"sanction.task:{group.id}:{userid}:{reason}:{notify.stamp(now)}", now)
        return
    if member is None or member.state == "suspended":
        return
    if member.state == "present" and userid == group.owner:  # appchat/update needs a new owner (86207)
        audit(session, actor, "member.remove_blocked", f"group:{group.id}", now=now, userid=userid, reason=reason,
              why="the owner is sanctioned; change the owner first")
    elif member.state == "present":
        members.appchat_change(session, group, now, reason, remove=[userid])
    member.state, member.checked_at = "suspended", now
    audit(session, actor, "member.suspend", f"group:{group.id}", now=now, userid=userid, reason=reason)


def put_back(session, settings, group: Group, userid: str, now: datetime, reason: str, actor: str) -> bool:
    """Add back into a managed group, unless another active sanction keeps the person out."""
    still = session.scalar(select(Sanction.id).where(Sanction.userid == userid, Sanction.group_id == group.id,
                                                     Sanction.status == "active", Sanction.kind != "warning"))
    user = session.get(User, userid)
    if still is not None or user is None or not user.active or group.status not in GOVERNED:
        return False
    if group.kind != "managed":
        _tell(session, settings, notify.custodians(session, settings, group),
              f"【群管理任务】{userid} 在{notify.kind_word(group)}「{group.name}」的处理已结束（{reason}），可重新邀请其入群。",
              f"sanction.readd_task:{group.id}:{userid}:{notify.stamp(now)}", now)
        return False
    member = members.member_row(session, group, userid)
    if member is None or member.state != "suspended":
        return False
    if not group_size.room(session, settings, group, member):  # full meanwhile: waits for a place (86006, 90245)
        group_size.leave_out(session, settings, group, member, now, reason)
        return False
    members.appchat_change(session, group, now, reason, add=[userid])
    member.state, member.checked_at = "present", now
    audit(session, actor, "member.add", f"group:{group.id}", now=now, userid=userid, reason=reason)
    return True


def end_due(session, settings, now: datetime) -> int:
    """Temporary removals whose period is over end, and the person is added back (the job)."""
    due = session.scalars(select(Sanction).where(Sanction.kind == "temporary_removal", Sanction.status == "active",
                                                 Sanction.ends_at <= now).order_by(Sanction.id)).all()
    for sanction in due:
        sanction.status, sanction.ended_at, sanction.ended_by = "ended", now, "system"
        group = session.get(Group, sanction.group_id) if sanction.group_id else None
        if group is not None:
            put_back(session, settings, group, sanction.userid, now, "sanction_ended", "system")
        audit(session, "system", "sanction.ended", f"user:{sanction.userid}", now=now, sanction_id=sanction.id,
              group_id=sanction.group_id)
    return len(due)


# -- R14: an account reported lost or stolen ---------------------------------------------------------


def suspend_account(session, settings, userid: str, now: datetime, *, reported_by: str) -> list[int]:
    """Suspend the person in every governed group they are in, tell the custodians; the ids of
    the groups. Idempotent: groups where they are already suspended are skipped."""
    userid = userid.lower()
    groups = _present_in(session, userid)
    for group in groups:
        session.add(Sanction(userid=userid, group_id=group.id, kind=SUSPENSION, actor=reported_by, started_at=now))
        take_out(session, settings, group, userid, now, "account_compromised", reported_by)
        _tell(session, settings, notify.custodians(session, settings, group),
              f"【账号安全】{userid} 报告其企业微信账号被盗或丢失（R14），已暂停其在「{group.name}」中的成员资格，"
              "待管理员核实后恢复。期间以其名义发出的消息请勿轻信。", f"r14.custodian:{group.id}:{userid}:{notify.stamp(now)}", now)
    audit(session, reported_by, "account.suspended", f"user:{userid}", now=now, groups=[g.id for g in groups])
    return [g.id for g in groups]


def restore_account(session, settings, userid: str, actor: str, now: datetime) -> list[int]:
    """An admin restores a suspended account (R14): the person goes back into each group."""
    if not actor.startswith("api:") and actor not in getattr(settings, "admins", ()):
        raise PermissionError(f"{actor} is not an office admin")
    userid = userid.lower()
    active = session.scalars(select(Sanction).where(Sanction.userid == userid, Sanction.kind == SUSPENSION,
                                                    Sanction.status == "active").order_by(Sanction.id)).all()
    restored = []
    for sanction in active:
        sanction.status, sanction.ended_at, sanction.ended_by = "ended", now, actor
        group = session.get(Group, sanction.group_id) if sanction.group_id else None
        if group is not None and put_back(session, settings, group, userid, now, "account_restored", actor):
            restored.append(group.id)
    if active:
        _tell(session, settings, [userid], "【账号安全】管理员已恢复您的账号在各群中的成员资格（R14）。",
              f"r14.restored:{userid}:{notify.stamp(now)}", now)
    audit(session, actor, "account.restored", f"user:{userid}", now=now, groups=restored)
    return restored


def _tell(session, settings, userids, text: str, key: str, now: datetime) -> None:
    notify.tell(session, settings, userids, text, key=key, now=now)
