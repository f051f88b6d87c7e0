"""Telling people: the app's text messages and the words they use (R4).

The low toolbox the rules, violations, reconciliation and the registry share: it
imports the tables and the outbox, nothing of governance.

- `tell`: a text from the app (message/send, 90236) that waits for working time
  (R4); over WeCom's 2,048 bytes it goes as several messages (textlimits.split),
  never cut.
- `custodians`: who is told about a group (its owner and custodian, else the
  office admins).
- `kind_word`, `display`: how a group kind and a member read in a message.
- `stamp`: the timestamp that makes an outbox key unique to one moment.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from wecom_app.models import Group, GroupMember, User
from wecom_app.wecom import outbox, textlimits

KIND_WORDS = {"managed": "群", "customer": "客户群", "internal": "内部群"}


def tell(session, settings, userids, text: str, *, key: str, now: datetime) -> None:
    """A text from the app (message/send 90236); it waits for working time (R4). Over
    WeCom's 2,048 bytes it goes as several messages (textlimits.split), never cut."""
    userids = [u for u in dict.fromkeys(userids) if u]
    if userids:
        for i, part in enumerate(textlimits.split(text)):
            outbox.enqueue(session, "message/send", {"touser": "|".join(userids), "msgtype": "text",
                                                     "text": {"content": part}},
                           key=key + (f":{i + 1}" if i else ""), now=now)


def custodians(session, settings, group: Group) -> list[str]:
    """The owner and the custodian who can still be told; else the office admins."""
    people = [u for u in dict.fromkeys([group.owner, group.custodian]) if u]
    active = set(session.scalars(select(User.userid).where(User.userid.in_(people), User.status == 1)))
    return [u for u in people if u in active] or list(settings.admins)


def kind_word(group: Group) -> str:
    return KIND_WORDS[group.kind]


def display(session, member: GroupMember) -> str:
    """A member as a message names them: `name（userid）`, or the bare id."""
    user = session.get(User, member.member_id) if member.member_type == 1 else None
    name = (user.name if user else "") or member.group_nickname
    return f"{name}（{member.member_id}）" if name else member.member_id


def stamp(now: datetime) -> str:
    return now.strftime("%Y%m%dT%H%M%S.%f")
