"""Content rules after the fact (issue 12 item 5; R3 conduct, R5 business only, R12 classified
information): the office's word lists applied to every archived text in a governed group of
any kind (managed, customer, internal), as the pull stores it (`read_words`, a reader of
archive/job.py READERS).

- The lists: every live sensitive-word rule the office keeps for WeCom's intercept rules
  (governance/sensitive_words.py: R3; WeCom applies those only to employees' own messages in
  chats with customers, the archive sees every group) plus the lists kept for archive use only
  (`ArchiveWordList`, e.g. classified project names, each with its rule: R12, R3 or R5),
  edited on the workbench's settings page. A word matches case-insensitively anywhere in the
  text.
- A hit is one violation per message (not per word; the most serious rule a message hits:
  R12, then R3, then R5) for the group's custodian, `detected_by` "archive", with the message
  as evidence (its msgid, sender, time, the words and lists that matched — not the text: the
  text is read through `message_for`, audited). The message is marked `cited_by` the
  violation, so retention (retention.py) keeps it. The custodian is told by a text (no
  content in it). Never a sanction: the custodian rules on it (violations/decisions.py).
- A group registered after its messages were stored: the archive job judges its retained
  messages not yet judged (`judge_backlog`, after each pull, under the pull's lease), so a
  newly registered internal group's classified word is caught too. `judged` marks a message
  read, so nothing is judged twice (a decided violation frees its key).
- Who sees archived content: the office (admins) and the group's custodian only; every view is
  an audit line `archive.view` (`message_for`, `messages_for`).
"""

from __future__ import annotations

import logging
import re
from datetime import datetime

from sqlalchemy import select

from wecom_app.audit import audit
from wecom_app.governance.members import is_external
from wecom_app.logs import kv
from wecom_app.models import ArchivedMessage, ArchiveRoom, ArchiveWordList, Group, SensitiveWordRule, User
from wecom_app.models.archive import WORD_LIST_RULES
from wecom_app.models.groups import GOVERNED
from wecom_app.violations.records import open_violation
from wecom_app.wecom import outbox
from wecom_app.wecom.textlimits import clip

log = logging.getLogger("wecom.archive.content")

SEVERITY = ("R12", "R3", "R5")  # one violation per message: the most serious rule it breaks
SENSITIVE_LIST_RULE = "R3"  # the intercept rules' words: insults, adverts, ... (R3 conduct)
NAME_MAX, WORDS_MAX, WORD_MAX = 40, 500, 32
_CACHE = "archive.content.lists"  # session.info: the lists, compiled once per page's transaction


class WordListError(ValueError):
    """A word list the office cannot save: `field` and a message in the workbench's words."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field, self.message = field, message


# -- the lists ----------------------------------------------------------------------------------


def parse_words(text: str) -> list[str]:
    """Words from what the office typed: one per line, or separated by commas, 、 or spaces."""
    words = [w.strip() for w in re.split(r"[\n\r,，、;；\s]+", text or "")]
    return list(dict.fromkeys(w for w in words if w))


def save_list(session, *, name: str, rule: str, words: list[str], actor: str, now: datetime) -> ArchiveWordList:
    """Create the list, or replace the words and rule of the list of that name; audited."""
    name = (name or "").strip()
    if not name or len(name) > NAME_MAX:
        raise WordListError("name", f"请填写词表名称（最多 {NAME_MAX} 个字）")
    if rule not in WORD_LIST_RULES:
        raise WordListError("rule", f"规则只能是 {'、'.join(WORD_LIST_RULES)}")
    if not words:
        raise WordListError("words", "请至少填写一个词")
    if len(words) > WORDS_MAX or any(len(w) > WORD_MAX for w in words):
        raise WordListError("words", f"最多 {WORDS_MAX} 个词，每个词最多 {WORD_MAX} 个字")
    row = session.scalar(select(ArchiveWordList).where(ArchiveWordList.name == name))
    new = row is None
    if new:
        row = ArchiveWordList(name=name, created_by=actor, created_at=now)
        session.add(row)
    row.rule, row.words, row.updated_at = rule, list(words), now
    session.flush()
    audit(session, actor, "archive_words.create" if new else "archive_words.update", f"archive_words:{row.id}", now=now,
          name=name, rule=rule, words=len(words))
    return row


def delete_list(session, list_id: int, *, actor: str, now: datetime) -> bool:
    row = session.get(ArchiveWordList, list_id)
    if row is None:
        return False
    audit(session, actor, "archive_words.delete", f"archive_words:{row.id}", now=now, name=row.name)
    session.delete(row)
    return True


def lists(session) -> list[tuple[str, str, list[str]]]:
    """(name, rule, words) of every list the archive applies: the sensitive-word rules, then
    the lists for archive use only."""
    found = [(f"敏感词：{r.name}", SENSITIVE_LIST_RULE, list(r.words or ())) for r in session.scalars(
        select(SensitiveWordRule).where(SensitiveWordRule.sync_status != "deleted").order_by(SensitiveWordRule.id))]
    found += [(w.name, w.rule, list(w.words or ())) for w in session.scalars(
        select(ArchiveWordList).order_by(ArchiveWordList.id))]
    return [(name, rule, kept) for name, rule, words in found
            if (kept := [w.strip() for w in words if isinstance(w, str) and w.strip()])]


def _compiled(session) -> list[tuple[str, str, re.Pattern]]:
    cached = session.info.get(_CACHE)
    if cached is None:
        cached = [(name, rule, re.compile("|".join(re.escape(w.casefold()) for w in sorted(words, key=len,
                                                                                            reverse=True))))
                  for name, rule, words in lists(session)]
        session.info[_CACHE] = cached
    return cached


def forget_lists(session) -> None:
    """After a list changes in this session: read them again."""
    session.info.pop(_CACHE, None)


def matches(session, text: str) -> list[dict]:
    """[{list, rule, word}] for each list the text hits (each word once)."""
    folded = text.casefold()
    hits = []
    for name, rule, pattern in _compiled(session):
        for word in dict.fromkeys(m.group(0) for m in pattern.finditer(folded)):
            hits.append({"list": name, "rule": rule, "word": word})
    return hits


# -- the reader ---------------------------------------------------------------------------------


def governed_group(session, room) -> Group | None:
    """The governed group (registered, any kind) an archived message's room is, else None."""
    if room is None or room.group_id is None:
        return None
    group = session.get(Group, room.group_id)
    return group if group is not None and group.status in GOVERNED else None


def read_words(session, settings, message: ArchivedMessage, room, now: datetime) -> None:
    """A reader (archive/pull.py): the word lists against a newly stored text."""
    if message.state != "stored" or message.judged:
        return
    group = governed_group(session, room)
    if group is None:
        return
    message.judged = True
    if not message.content or not message.sender:
        return
    hits = matches(session, message.content)
    if not hits:
        return
    # WeCom's `from` as archived; the directory, members, sanctions and assessments key employees by
    # the lower-cased userid (directory/mirror.py), so the violation must too; external ids stay as they are
    sender = message.sender if is_external(message.sender) else message.sender.lower()
    rule = min((h["rule"] for h in hits), key=SEVERITY.index)
    evidence = {"source": "archive", "archive_msgid": message.msgid, "roomid": message.roomid,
                "msgtime": message.msgtime.isoformat() if message.msgtime else None, "msgtype": message.msgtype,
                "matched": hits[:20], "reason": f"会话存档中的消息命中词表：{'、'.join(dict.fromkeys(h['list'] for h in hits))}"}
    violation, new = open_violation(session, rule, sender, group.id, evidence=evidence, detected_by="archive",
                                    now=now, ref=message.msgid)
    message.cited_by = violation.id
    if new:
        log.info(kv("wecom.archive.content_hit", rule=rule, group=group.id, violation=violation.id))
        _tell_custodian(session, settings, group, sender, rule, violation.id, hits, now)


def judge_backlog(session_factory, settings, now: datetime, *, limit: int = 2000) -> int:
    """Stored messages of governed groups the content rules have not read (stored before the
    group was registered); one transaction; how many were read."""
    with session_factory.begin() as session:
        rooms = {r.roomid: r for r in session.scalars(
            select(ArchiveRoom).join(Group, Group.id == ArchiveRoom.group_id).where(Group.status.in_(GOVERNED)))}
        if not rooms:
            return 0
        waiting = session.scalars(select(ArchivedMessage).where(
            ArchivedMessage.roomid.in_(list(rooms)), ArchivedMessage.state == "stored",
            ArchivedMessage.judged.is_(False)).order_by(ArchivedMessage.seq).limit(limit)).all()
        for message in waiting:
            read_words(session, settings, message, rooms[message.roomid], now)
        return len(waiting)


def _tell_custodian(session, settings, group: Group, sender: str, rule: str, violation_id: int,
                    hits: list[dict], now: datetime) -> None:
    if not group.custodian:
        return
    name = session.scalar(select(User.name).where(User.userid == sender)) or sender
    lists_hit = "、".join(dict.fromkeys(h["list"] for h in hits))
    text = (f"【会话存档】群「{clip(group.name or group.chat_id or '', 30)}」中 {clip(name, 20)}（{sender}）"
            f"的一条消息命中词表「{clip(lists_hit, 60)}」（{rule}），已记为待处理违规，请在工作台查看证据并处理："
            f"{settings.public_url.rstrip('/')}/violations/{violation_id}\n"
            "系统不会自动处罚；企业微信不提供撤回他人消息或移出内部群成员的接口。")
    outbox.enqueue(session, "message/send", {"touser": group.custodian, "msgtype": "text", "text": {"content": text}},
                   key=f"archive.content:{violation_id}", now=now)


# -- who sees archived content ------------------------------------------------------------------


def may_see(viewer_userid: str, is_admin: bool, group: Group | None) -> bool:
    """The office, and the custodian of the message's group."""
    return is_admin or (group is not None and bool(group.custodian) and group.custodian == viewer_userid)


def message_for(session, msgid: str, *, viewer: str, is_admin: bool, now: datetime,
                channel: str = "workbench") -> tuple[ArchivedMessage, Group | None] | None:
    """An archived group message and its group, for someone allowed to see it (the view is
    audited); None when it does not exist or they may not see it (the refusal is audited too)."""
    message = session.scalar(select(ArchivedMessage).where(ArchivedMessage.msgid == msgid))
    if message is None or message.roomid is None:
        return None
    group = session.scalar(select(Group).where(Group.chat_id == message.roomid))
    if not may_see(viewer, is_admin, group):
        audit(session, viewer, "archive.view_refused", f"archive_message:{message.id}", now=now, channel=channel)
        return None
    audit(session, viewer, "archive.view", f"archive_message:{message.id}", now=now, channel=channel,
          group_id=group.id if group else None, msgid=msgid)
    return message, group


def messages_for(session, group: Group, *, viewer: str, is_admin: bool, now: datetime, limit: int = 50,
                 before: int | None = None, channel: str = "workbench") -> list[ArchivedMessage] | None:
    """The group's newest archived messages (stored text), for the office or its custodian;
    each view an audit line. None when the viewer may not see them."""
    if not may_see(viewer, is_admin, group):
        audit(session, viewer, "archive.view_refused", f"group:{group.id}", now=now, channel=channel)
        return None
    if not group.chat_id:
        return None
    query = select(ArchivedMessage).where(ArchivedMessage.roomid == group.chat_id, ArchivedMessage.state == "stored")
    if before is not None:
        query = query.where(ArchivedMessage.id < before)
    rows = session.scalars(query.order_by(ArchivedMessage.id.desc()).limit(limit)).all()
    audit(session, viewer, "archive.view", f"group:{group.id}", now=now, channel=channel, messages=len(rows))
    return list(rows)
