"""Instructions given in a group (R16, 第十一条: an instruction given in a group carries the
weight of a phone call, an e-mail or a paper notice; issue 12 item 6).

The archive shows what a leader or a custodian said in a group; the app never turns it into
a directive on its own. `offer` (an archive reader: archive/job.py READERS) looks at each newly
stored message and, when

- its room is a governed group (the roomid maps to a registered group of any kind: status
  `active`),
- it is a text (or markdown) being sent (`action` send),
- its sender is a leader — an office admin (WECOM_ADMINS) or a department leader in the
  directory mirror (is_leader_in_dept / department_leader), the workbench's `issuer` role
  (workbench/access.py) — or the group's custodian,
- and it @-mentions everyone or named members, or carries a directive marker
  (INSTRUCTION_MARKERS, default 「请各位」「务必」「截止」),

queues one template card to the sender through the outbox ("track this instruction?", buttons
跟踪 `track` and 不需要 `ignore`; 90236 button_interaction). `tap` (handlers/template_card.py
routes a template_card_event, 90240, whose task_id is an offer's) issues the directive with
wecom_app.directives.issue — the message's text frozen as its body, the group recorded as its
origin, to the members it named, or to the group's members when it said @所有人 or named
nobody — with the usual cards, reminders, escalation and ledger. A second tap, a tap after
the offer expired, a tap by anyone but the sender issue nothing; the card says why.

Mentions: 91774's text message carries only `text.content` (no list of whom it mentions was
found in the page's samples nor in the SDKs' models), so mentions are read from the text:
"@所有人" / "@all" and "@<name>" matched against the group's members' directory names and
group nicknames (longest first). UNCONFIRMED: that WeCom archives a mention as "@<display
name>" followed by a space (U+2005 or U+0020) or the end of the text; a name that matches no
member is kept on the offer (`unmatched`) and shown, never guessed.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from wecom_app.directives import issue as directives
from wecom_app.directives.errors import DirectiveError
from wecom_app.logs import kv
from wecom_app.models import (
    Department,
    Group,
    GroupMember,
    InstructionOffer,
    User,
    UserDepartment,
)
from wecom_app.wecom import outbox, task_ids
from wecom_app.wecom.textlimits import CARD_CHARS, clip, shorten
from wecom_app.workcal import load_calendar

log = logging.getLogger("wecom.archive.instructions")

# A response_code is valid 72 hours and single-use (94888, 90236): past that the card can no
# longer be greyed, so the offer ends with it — counted from when the card may go out (R4).
OFFER_TTL = timedelta(hours=72)
TEXTS = ("text", "markdown")
ALL = ("所有人", "all")  # UNCONFIRMED: the Chinese client writes @所有人; an English one @All
_BOUNDARY = r"(?=[\s\u2005,，。:：;；!！?？]|$)"
_TASK = re.compile(r"(?:[a-z0-9]{8}_)?i(?P<offer>\d+)(?:@.*)?")
WORDS = {  # what the clicked card's button says afterwards
    "issued": "已跟踪", "repeat": "已跟踪", "declined": "不跟踪", "expired": "已过期",
    "refused": "无法跟踪", "not_sender": "非本人",
}


def offer(session, settings, message, room, now: datetime) -> InstructionOffer | None:
    """The archive reader: offer this message to its sender when it is an instruction."""
    text = message.content
    if (room is None or room.group_id is None or message.msgtype not in TEXTS or not text
            or message.action not in (None, "send") or not message.sender):
        return None
    marker = next((m for m in settings.instruction_markers if m in text), None)
    if marker is None and "@" not in text and "＠" not in text:
        return None  # the common case: no query at all
    group = session.get(Group, room.group_id)
    if group is None or group.status != "active":
        return None
    sender = message.sender.lower()
    if sender != (group.custodian or "").lower() and not is_leader(session, settings, sender):
        return None
    mention_all, mentioned, unmatched = mentions(session, group, text)
    mentioned = [u for u in mentioned if u != sender]
    if marker is None and not (mention_all or mentioned):
        return None
    if session.scalar(select(InstructionOffer.id).where(InstructionOffer.msgid == message.msgid)) is not None:
        return None  # already offered (a message read again once its key was given)
    goes_at = load_calendar(session, settings).next_working_time(now)
    row = InstructionOffer(msgid=message.msgid, group_id=group.id, sender=sender, sent_at=message.msgtime,
                           text=shorten(text.strip(), directives.BODY_BYTES), mention_all=mention_all,
                           mentioned=mentioned, unmatched=unmatched, marker=marker, status="offered",
                           offered_at=now, expires_at=max(goes_at, now) + OFFER_TTL)
    session.add(row)
    session.flush()
    row.task_id = f"{task_ids.prefix(session)}_i{row.id}"
    outbox.enqueue(session, "message/send", {"touser": sender, "msgtype": "template_card",
                                             "template_card": card(settings, group, row)},
                   key=f"instruction-offer:{row.id}", now=now)
    log.info(kv("wecom.archive.instruction_offered", offer=row.id, group=group.id, sender=sender,
                mention_all=mention_all, mentioned=len(mentioned), marker=marker))
    return row


def is_leader(session, settings, userid: str) -> bool:
    """An office admin or a department leader: who may issue directives in the workbench
    (workbench/access.py `issuer`), read from the directory mirror — once per person per
    transaction (a page of 1,000 messages full of members' @-mentions asks once each)."""
    if userid in settings.admins:
        return True
    known = session.info.setdefault("instructions.leaders", {})
    if userid not in known:
        known[userid] = session.scalar(select(UserDepartment.userid).where(
            UserDepartment.userid == userid, UserDepartment.is_leader.is_(True)).limit(1)) is not None or any(
            # department_leader is a JSON list: read the (small) department table, not a dialect's JSON operator
            userid in (d or []) for d in session.scalars(
                select(Department.department_leader).where(Department.deleted.is_(False))))
    return known[userid]


def mentions(session, group: Group, text: str) -> tuple[bool, list[str], list[str]]:
    """(@所有人?, the members named, the "@names" that matched nobody), from the text."""
    text = text.replace("＠", "@")
    mention_all = any(re.search("@" + re.escape(word) + _BOUNDARY, text, re.IGNORECASE) for word in ALL)
    names: dict[str, str] = {}
    for member_id, nickname, name in session.execute(
            select(GroupMember.member_id, GroupMember.group_nickname, User.name)
            .outerjoin(User, User.userid == GroupMember.member_id)
            .where(GroupMember.group_id == group.id, GroupMember.member_type == 1, GroupMember.state == "present")):
        for label in (nickname, name):
            if label:
                names.setdefault(label, member_id)
    found: list[str] = []
    for label in sorted(names, key=len, reverse=True):  # 王芳芳 before 王芳
        pattern = re.compile("@" + re.escape(label) + _BOUNDARY)
        if pattern.search(text):
            found.append(names[label])
            text = pattern.sub(" ", text)
    unmatched = [m for m in re.findall(r"@([^\s\u2005@]{1,32})", text)
                 if m.lower() not in ALL and not re.fullmatch(r"[\w.-]+\.[a-z]{2,}", m)]  # not an e-mail's domain
    return mention_all, list(dict.fromkeys(found)), unmatched[:20]


def card(settings, group: Group, row: InstructionOffer) -> dict:
    """The offer's card (90236 button_interaction), to its sender alone."""
    if row.mention_all or not row.mentioned:
        who = "群内全体成员"
    else:
        who = f"你@的 {len(row.mentioned)} 人"
    sent = row.sent_at.astimezone(settings.tz).strftime("%m-%d %H:%M") if row.sent_at else ""
    return {
        "card_type": "button_interaction",
        "source": {"desc": "群内指令", "desc_color": 1},
        "main_title": {"title": clip("要把这条群消息作为指令跟踪吗？", CARD_CHARS["main_title.title"]),
                       "desc": clip(f"{group.name} {sent}", CARD_CHARS["main_title.desc"])},
        "sub_title_text": clip(row.text, CARD_CHARS["sub_title_text"]),
        "horizontal_content_list": [
            {"keyname": "下达给", "value": clip(who, CARD_CHARS["horizontal_content_list.value"])},
            {"keyname": "截止", "value": "下一个工作日下班前"},
        ],
        "task_id": row.task_id,
        "button_list": [{"type": 0, "text": "跟踪", "style": 1, "key": "track"},
                        {"type": 0, "text": "不需要", "style": 2, "key": "ignore"}],
    }


def is_offer_task(task_id: str) -> bool:
    return _TASK.fullmatch(task_id or "") is not None


def tap(session, settings, *, userid: str, task_id: str, key: str, response_code: str, now: datetime) -> str:
    """A button on an offer's card: `issued`, `declined`, or why nothing was issued
    (`repeat`, `expired`, `not_sender`, `refused`, `unknown_task`)."""
    row = session.scalar(select(InstructionOffer).where(InstructionOffer.task_id == task_ids.base(task_id))
                         .with_for_update())  # two taps at once: the second waits, then sees `issued`
    if row is None:
        return "unknown_task"
    userid = userid.lower()
    if userid != row.sender:
        outcome = "not_sender"
    elif row.status != "offered":
        outcome = "repeat" if row.status == "issued" else row.status
    elif now > _aware(row.expires_at):
        row.status, row.tapped_at, outcome = "expired", now, "expired"
    elif key == "ignore":
        row.status, row.tapped_at, outcome = "declined", now, "declined"
    elif key == "track":
        outcome = _issue(session, settings, row, now)
    else:
        outcome = "unknown_key"
    if response_code:
        outbox.enqueue(session, "message/update_template_card",
                       {"userids": [userid], "response_code": response_code,
                        "button": {"replace_name": WORDS.get(outcome, "无效操作")}},
                       key=f"card-update:{response_code}", urgent=True, now=now)
    return outcome  # handlers/template_card.py logs it


def _issue(session, settings, row: InstructionOffer, now: datetime) -> str:
    group = session.get(Group, row.group_id) if row.group_id else None
    if group is None:
        row.status, row.tapped_at, row.error = "refused", now, "the group is no longer registered"
        return "refused"
    people = row.mentioned if row.mentioned and not row.mention_all else _members(session, group)
    people = [p for p in people if p != row.sender]
    deadline = _deadline(session, settings, now)
    sent = row.sent_at.astimezone(settings.tz).strftime("%Y-%m-%d %H:%M") if row.sent_at else ""
    origin = {"group_name": group.name, "chat_id": group.chat_id, "msgid": row.msgid,
              "sent_at": row.sent_at.astimezone(timezone.utc).isoformat() if row.sent_at else None,
              "label": f"群「{group.name}」{sent} 的消息".replace("」 的", "」的")}
    try:  # issue refuses before writing anything (directives/issue.py)
        directive = directives.issue(session, settings, title=_title(row.text), body=row.text,
                                     assignees={"users": people}, deadline=deadline, issuer=row.sender, now=now,
                                     origin_group_id=group.id, origin=origin)
    except DirectiveError as refused:
        row.status, row.tapped_at, row.error = "refused", now, str(refused)[:500]
        return "refused"
    row.status, row.tapped_at, row.directive_id = "issued", now, directive.id
    return "issued"


def _members(session, group: Group) -> list[str]:
    """The group's employee members as mirrored (internal groups: msgaudit/groupchat/get), active ones."""
    return list(session.scalars(
        select(GroupMember.member_id).join(User, User.userid == GroupMember.member_id)
        .where(GroupMember.group_id == group.id, GroupMember.member_type == 1, GroupMember.state == "present",
               User.status == directives.STATUS_ACTIVE).order_by(GroupMember.member_id)))


def _deadline(session, settings, now: datetime) -> datetime:
    """The end of the next working day after the tap (the text itself says any date it meant;
    the sender may correct the directive on its page)."""
    calendar, end = load_calendar(session, settings), settings.work_hours[-1][1]
    return calendar.next_working_at(calendar.next_working_at(now, end), end)


def _title(text: str) -> str:
    first = next((line.strip() for line in text.splitlines() if line.strip()), text.strip())
    first = re.sub(r"[@＠]\S+[\s\u2005]*", "", first).strip() or first
    return shorten("群内指令：" + first, directives.TITLE_BYTES)


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)
