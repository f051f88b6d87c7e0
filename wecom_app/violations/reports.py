"""Reports from members, typed to the app (MsgType text, 90239): `举报 …` for
conduct (R3), unrelated content (R5) and strangers (R11), and `账号被盗` /
`账号丢失` for an account lost or stolen (R14).

A report is read leniently. The suggested form is `举报 @userid 群名 说明`; the
person may also be named by userid without `@` or by their directory name, and
the group by its registered name anywhere in the text. The category follows the
words used (陌生人/外部/无关人员 → R11, 广告/无关/刷屏 → R5, else R3). A report that
names neither a known person nor a known group gets a polite reply asking for
details. Otherwise it becomes a violation detected by `report:<userid>` for the
group's custodian to rule on (or the office admins when no group is known), and
the reporter is told its number. Replies are message/send rows (R4 applies).
"""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import select

from wecom_app.governance import notify
from wecom_app.models import Group, GroupMember, User, Violation
from wecom_app.models.groups import GOVERNED
from wecom_app.violations import sanctions
from wecom_app.violations.records import open_violation

REPORT = "举报"
ACCOUNT = ("账号被盗", "账号丢失", "帐号被盗", "帐号丢失")
HOW = "请按「举报 @userid 群名 说明」发送，例如：举报 @zhangsan 研发部-周会 发布与工作无关的广告。"
CATEGORIES = (("R11", ("陌生人", "外部人员", "无关人员", "不认识")), ("R5", ("广告", "无关", "刷屏", "链接")))
_TOKEN = re.compile(r"[\s,，:：;；]+")


def is_report(content: str) -> bool:
    return content.strip().startswith(REPORT)


def is_account_report(content: str) -> bool:
    return any(word in content for word in ACCOUNT)


def category(text: str) -> str:
    for rule, words in CATEGORIES:
        if any(word in text for word in words):
            return rule
    return "R3"


def parse(session, reporter: str, content: str) -> tuple[str | None, Group | None, str]:
    """(userid, group, remaining text) named by a report; None for what it does not name."""
    text = content.strip()[len(REPORT):].strip()
    group = _group_named(session, text)
    rest = text.replace(group.name, " ") if group else text
    userid = None
    for token in _TOKEN.split(rest):
        candidate = token.lstrip("@＠").strip()
        if candidate and (userid := person(session, candidate)):
            rest = rest.replace(token, " ", 1)
            break
    if userid and group is None:
        group = _shared_group(session, reporter, userid)
    return userid, group, " ".join(rest.split())


def _group_named(session, text: str) -> Group | None:
    """The governed group whose name appears in the text (the longest such name)."""
    groups = session.scalars(select(Group).where(Group.status.in_(GOVERNED))).all()
    named = [g for g in groups if g.name and g.name in text]
    return max(named, key=lambda g: len(g.name)) if named else None


def person(session, token: str) -> str | None:
    """The userid a report names: a userid, or a directory name held by one person only."""
    user = session.get(User, token.lower())
    if user is not None:
        return user.userid
    by_name = session.scalars(select(User.userid).where(User.name == token)).all()
    return by_name[0] if len(by_name) == 1 else None


def _shared_group(session, reporter: str, userid: str) -> Group | None:
    """The one governed group both people are in, if there is exactly one."""
    mine = select(GroupMember.group_id).where(GroupMember.member_id == reporter, GroupMember.state == "present")
    groups = session.scalars(select(Group).join(GroupMember, GroupMember.group_id == Group.id).where(
        GroupMember.member_id == userid, GroupMember.state == "present", Group.id.in_(mine),
        Group.status.in_(GOVERNED))).all()
    return groups[0] if len(groups) == 1 else None


def report(session, settings, reporter: str, content: str, now: datetime, *, msg_id: str = "") -> Violation | None:
    """A member's 举报: a violation for the custodian, or a reply asking for details."""
    reporter = reporter.lower()
    userid, group, rest = parse(session, reporter, content)
    key = msg_id or notify.stamp(now)
    if userid is None and group is None:
        notify.tell(session, settings, [reporter], f"【举报】收到您的举报，但没能确认被举报的人或群。{HOW}",
                   key=f"report.unclear:{reporter}:{key}", now=now)
        return None
    return file_report(session, settings, reporter, userid=userid, group=group, rule=category(content), reason=rest,
                       text=content.strip(), now=now, msg_id=msg_id, key=key)


def file_report(session, settings, reporter: str, *, userid: str | None, group: Group | None, rule: str, reason: str,
                text: str, now: datetime, msg_id: str = "", key: str = "", channel: str = "message") -> Violation:
    """A report whose person, group and rule are known (parsed from a text, or chosen on
    the workbench's form): a violation for the custodian (or the admins), the reporter
    told its number, the deciders told once."""
    reporter, key = reporter.lower(), key or msg_id or notify.stamp(now)
    evidence = {"text": text, "reporter": reporter, "reason": reason, "msg_id": msg_id, "channel": channel}
    violation, new = open_violation(session, rule, userid or "", group.id if group else None, evidence=evidence,
                                    detected_by=f"report:{reporter}", now=now)
    where = f"「{group.name}」的专管人员" if group else "管理员"
    notify.tell(session, settings, [reporter], f"【举报】已收到（编号 {violation.id}），已转交{where}处理，谢谢您维护群秩序。",
               key=f"report.ack:{reporter}:{key}", now=now)
    if new:
        deciders = notify.custodians(session, settings, group) if group else list(settings.admins)
        who = userid or "（未指明，请核实）"
        notify.tell(session, settings, [d for d in deciders if d != userid],
                   f"【举报待处理】{reporter} 举报 {who}" + (f" 在「{group.name}」" if group else "")
                   + f"：{reason or '（无说明）'}（{rule}，编号 {violation.id}）。请在工作台确认或驳回。",
                   key=f"report.custodian:{violation.id}", now=now)
    return violation


def account_compromised(session, settings, userid: str, now: datetime, *, msg_id: str = "") -> list[int]:
    """R14: suspend the sender in every governed group and tell them what happens next."""
    groups = sanctions.suspend_account(session, settings, userid, now, reported_by=userid.lower())
    notify.tell(session, settings, [userid.lower()],
               f"【账号安全】已暂停您在 {len(groups)} 个群中的成员资格，以免他人冒用您的账号（R14）。"
               "请尽快联系管理员核实身份，恢复后将自动重新入群。",
               key=f"r14.ack:{userid.lower()}:{msg_id or notify.stamp(now)}", now=now)
    return groups
