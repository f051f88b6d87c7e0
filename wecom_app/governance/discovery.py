"""Discovery of customer groups (客户群) through externalcontact/groupchat/list (92120):
every chat_id WeCom lists that the registry does not know becomes `discovered`
(registry.discover_customer_group), the office's registration queue (R7), and is
read in full by the next reconciliation pass (its `reconciled_at` is unset).

The list is paged with `cursor` (`limit` ≤ 1000). It may omit `owner_filter` only
while fewer than 1000 owners are visible (81017 otherwise): then it is asked again
per batch of ≤ 100 owners, the active users of the directory mirror. A step of
`wecom-app sync` (wecom_app/cli/sync.py) and run by the reconcile job.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

from sqlalchemy import select

from wecom_app.counts import Counts
from wecom_app.governance import registry
from wecom_app.models import Group, User
from wecom_app.wecom.errors import WeComError

LIMIT = 1000
OWNER_BATCH = 100
TOO_MANY_OWNERS = 81017


@dataclasses.dataclass
class DiscoveryCounts(Counts):
    listed: int = 0
    discovered: int = 0
    pages: int = 0


def discover(session_factory, client, now: datetime, progress=None) -> DiscoveryCounts:
    """List every customer group the app can see; record the unknown ones."""
    counts = DiscoveryCounts()
    try:
        _list(session_factory, client, now, None, counts, progress)
    except WeComError as exc:
        if exc.errcode != TOO_MANY_OWNERS:
            raise
        with session_factory() as session:
            owners = session.scalars(select(User.userid).where(User.status == 1).order_by(User.userid)).all()
        for start in range(0, len(owners), OWNER_BATCH):
            _list(session_factory, client, now, owners[start:start + OWNER_BATCH], counts, progress)
    return counts


def _list(session_factory, client, now, owners, counts, progress) -> None:
    cursor = ""
    while True:
        body = {"status_filter": 0, "cursor": cursor, "limit": LIMIT}
        if owners is not None:
            body["owner_filter"] = {"userid_list": owners}
        answer = client.groupchat_list(body)
        chat_ids = [c["chat_id"] for c in answer.get("group_chat_list") or ()]
        counts.pages += 1
        counts.listed += len(chat_ids)
        _record(session_factory, chat_ids, now, counts)
        if progress is not None:
            progress("customer groups", counts.listed, counts.listed)
        cursor = answer.get("next_cursor") or ""
        if not cursor or not chat_ids:
            return


def _record(session_factory, chat_ids: list[str], now: datetime, counts) -> None:
    if not chat_ids:
        return
    with session_factory.begin() as session:
        known = set(session.scalars(select(Group.chat_id).where(Group.chat_id.in_(chat_ids))))
        for chat_id in dict.fromkeys(chat_ids):
            if chat_id not in known:
                registry.discover_customer_group(session, chat_id, now)
                counts.discovered += 1
