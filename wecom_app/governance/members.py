"""A governed group's member rows and the one appchat/update that changes a managed group.

Low, like notify.py: the rules (rules.py), sanctions (violations/sanctions.py),
reconciliation and the registry share these; it imports the tables, the outbox and
group_size (the outbox subject of a change that adds people), nothing that decides.

- `HERE`: the states of someone the group counts as in it (or on the way in).
- `member_row`, `is_external`: finding a member, telling an external contact by id.
- `appchat_change`: one appchat/update (98913), or the change folded into the
  group's appchat/create while that still waits (`create_key`).
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import select

from wecom_app.governance import group_size
from wecom_app.governance.notify import stamp
from wecom_app.models import Group, GroupMember, OutboxAction
from wecom_app.wecom import outbox

HERE = ("present", "pending_approval")  # states of someone the group counts as in it (or on the way in)
CREATE_KEY = "appchat.create:"  # + chat_id: the outbox key of a managed group's appchat/create


def is_external(member_id: str) -> bool:
    """external_userid values start with wm or wo (92130); employees' userids do not."""
    return member_id.startswith(("wm", "wo"))


def member_row(session, group: Group, member_id: str) -> GroupMember | None:
    return session.scalar(select(GroupMember).where(GroupMember.group_id == group.id,
                                                    GroupMember.member_id == member_id))


def create_key(chat_id: str) -> str:
    return CREATE_KEY + chat_id


def appchat_change(session, group: Group, now: datetime, reason: str, *, add=(), remove=(), owner=None):
    """One appchat/update (98913). While the group's appchat/create still waits in the outbox
    (or failed, for an operator to retry) the change is folded into its userlist instead:
    an update before the create would be refused (86003)."""
    create = session.scalar(select(OutboxAction).where(
        OutboxAction.idempotency_key == create_key(group.chat_id),
        OutboxAction.status.in_(("pending", "failed"))).with_for_update())
    if create is not None:
        payload = dict(create.payload)
        payload["userlist"] = [u for u in payload["userlist"] if u not in remove] + [
            u for u in add if u not in payload["userlist"]]
        payload["owner"] = owner or payload["owner"]
        create.payload = payload
        return create
    body = {"chatid": group.chat_id, **({"add_user_list": list(add)} if add else {}),
            **({"del_user_list": list(remove)} if remove else {}), **({"owner": owner} if owner else {})}
    ids = hashlib.sha1(",".join([*add, "/", *remove]).encode()).hexdigest()[:12]
    return outbox.enqueue(session, "appchat/update", body, now=now,
                          key=f"appchat.update:{group.chat_id}:{ids}:{reason}:{stamp(now)}",
                          subject=group_size.subject(group) if add else None)  # 86006 → the group's problem
