"""Prompt re-reads of customer groups (externalcontact/groupchat/get, 92122) that a
change_external_chat push (92130) did not describe in full: no join left unjudged.

A push may carry no MemChangeList, or fewer items than MemChangeCnt (older pushes),
and a change_name push has been seen with member versions and no list
(developer.work.weixin.qq.com/document/path/92130). Handlers never call WeCom, so
the handler asks for a re-read (membership.request_reread): one `group_reread` row per
group, due at once.
The `group_reread` job (every 5 seconds, in every process; rows are claimed, so
each is read once) reads the group and applies it as reconciliation does
(reconcile.apply_customer_group): every member not judged yet is judged, leavers
are recorded, and only then does the group take WeCom's member_version.

groupchat/get can lag the push (wecom-api-notes pitfall 9), and applying a stale
list would record the new joiners as gone. A request remembers the newest CurMemVer
pushed (`want_version`); a read that shows another version is not applied but tried
again shortly (WAIT_BACKOFF), and after WAIT_ATTEMPTS reads WeCom's answer is applied
whatever its version (events can be lost: it may be the newer one). A failed read
backs off up to 15 minutes and stays queued; the 15-minute reconciliation reads the
group too (membership.mark_for_reconciliation), so nothing rests on this queue alone.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update

from wecom_app.counts import Counts
from wecom_app.governance import registry
from wecom_app.governance.reconcile import CUSTOMER_GONE, apply_customer_group
from wecom_app.logs import kv
from wecom_app.models import Group, GroupReread
from wecom_app.wecom.errors import WeComError, WeComRateLimited

log = logging.getLogger("wecom.group_reread")

BATCH = 50  # reads per run: far below groupchat/get's limits (90312)
LEASE = timedelta(minutes=2)  # a claimed row comes back if its process dies mid-read
WAIT_ATTEMPTS = 4  # reads that may show another version than the push before WeCom's answer is applied anyway
WAIT_BACKOFF = (timedelta(seconds=5), timedelta(seconds=10), timedelta(seconds=20))
ERROR_BACKOFF_CAP = timedelta(minutes=15)


@dataclasses.dataclass
class RereadCounts(Counts):
    read: int = 0
    applied: int = 0  # groups whose groupchat/get answer was applied
    judged: int = 0  # members applied (each judged again: R1, R2, R11, R13)
    waiting: int = 0  # the read showed another member_version than the push: tried again shortly
    dismissed: int = 0
    errors: int = 0
    rate_limited: bool = False

    @property
    def total(self) -> int:  # groups read (applied, judged, waiting and dismissed are what the reads found)
        return self.read + self.errors


@dataclasses.dataclass(frozen=True)
class _Claim:
    id: int
    group_id: int
    chat_id: str
    generation: int
    attempts: int
    want_version: str | None


def reread_due(session_factory, client, settings, now: datetime, *, limit: int = BATCH) -> RereadCounts:
    """Read every due group once: claim → groupchat/get → apply (one transaction per group)."""
    counts = RereadCounts()
    claims = _claim(session_factory, now, limit)
    for i, claim in enumerate(claims):
        try:
            _reread_one(session_factory, client, settings, claim, now, counts)
        except WeComRateLimited as exc:  # 45009/45033: the rest waits, nothing counted against it
            counts.rate_limited = True
            log.warning(kv("wecom.group_reread.rate_limited", errcode=exc.errcode, left=len(claims) - i))
            for rest in claims[i:]:
                _later(session_factory, rest, now + timedelta(seconds=exc.retry_after), error=str(exc), count=False)
            break
    if claims:
        log.info(kv("wecom.group_reread.pass", **counts.as_dict()))
    return counts


def _reread_one(session_factory, client, settings, claim: _Claim, now: datetime, counts: RereadCounts) -> None:
    try:
        chat = client.groupchat_get(claim.chat_id, need_name=True)["group_chat"]
    except WeComRateLimited:
        raise
    except WeComError as exc:
        if exc.errcode == CUSTOMER_GONE:  # dismissed, or its owner left the app's range
            with session_factory.begin() as session:
                registry.dismiss_group(session, claim.chat_id, now)
                _finish(session, claim)
            counts.dismissed += 1
            return
        counts.errors += 1
        _later(session_factory, claim, now + min(timedelta(seconds=5 * 2 ** claim.attempts), ERROR_BACKOFF_CAP),
               error=str(exc))
        log.warning(kv("wecom.group_reread.failed", chat_id=claim.chat_id, errcode=exc.errcode,
                       attempts=claim.attempts + 1))
        return
    counts.read += 1
    version = chat.get("member_version")
    if claim.want_version and version != claim.want_version and claim.attempts + 1 < WAIT_ATTEMPTS:
        counts.waiting += 1  # groupchat/get behind the push (pitfall 9): not applied, read again soon
        _later(session_factory, claim, now + WAIT_BACKOFF[min(claim.attempts, len(WAIT_BACKOFF) - 1)],
               error=f"member_version {version} is not the pushed {claim.want_version}")
        return
    with session_factory.begin() as session:
        group = session.get(Group, claim.group_id)
        if group is not None and group.kind == "customer" and group.status not in ("dismissed", "archived"):
            applied = apply_customer_group(session, settings, group, chat, now)
            counts.applied, counts.judged = counts.applied + 1, counts.judged + applied.applied
        _finish(session, claim)


def _claim(session_factory, now: datetime, limit: int) -> list[_Claim]:
    """Lease the due rows in one short transaction (SKIP LOCKED on PostgreSQL; SQLite
    serialises writers), so two processes never read the same group for one request."""
    with session_factory.begin() as session:
        rows = session.execute(
            select(GroupReread, Group.chat_id).join(Group, Group.id == GroupReread.group_id)
            .where(GroupReread.due_at <= now).order_by(GroupReread.due_at, GroupReread.id).limit(limit)
            .with_for_update(of=GroupReread, skip_locked=True)).all()
        claims = []
        for row, chat_id in rows:
            row.due_at = now + LEASE
            claims.append(_Claim(row.id, row.group_id, chat_id, row.generation, row.attempts, row.want_version))
        return claims


def _finish(session, claim: _Claim) -> None:
    """Done, unless a newer request came in while WeCom was being asked: that one was due at
    once when it was made, and is due at once again now."""
    gone = session.execute(delete(GroupReread).where(GroupReread.id == claim.id,
                                                     GroupReread.generation == claim.generation)).rowcount
    if not gone:
        session.execute(update(GroupReread).where(GroupReread.id == claim.id).values(
            due_at=GroupReread.requested_at))


def _later(session_factory, claim: _Claim, when: datetime, *, error: str, count: bool = True) -> None:
    with session_factory.begin() as session:
        row = session.get(GroupReread, claim.id)
        if row is None:
            return
        if row.generation != claim.generation:  # a newer request: due as it asked
            row.due_at = row.requested_at
            return
        row.due_at, row.last_error = when, error[:500]
        if count:
            row.attempts = claim.attempts + 1
