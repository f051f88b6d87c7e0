"""Reconciliation (issue 3 item 5): what WeCom says a governed group holds, against
what the registry and the rules say it should hold.

- managed groups (appchat): WeCom sends no events for them (pitfall 7), so each
  pass reads appchat/get (98914) and diffs: someone added in the client is judged
  (out of scope → removed through the outbox; in scope → recorded); someone we are
  `removing` who is gone → `removed`; someone who should be there but is not → added
  again; a name or owner changed in the client → restored to the registry's values
  (appchat/update 98913). 86003 means the chat is gone → `dismissed`.
- customer groups (客户群): groupchat/get (92122). `member_version` pairs with the
  events' CurMemVer (membership.note_member_version): a group whose version is the
  one we hold, that is not marked for reconciliation and has no member we have never
  read (join_scene unset: the inviter is not in the event, pitfall 9) is not read,
  except once a day (events can be lost), and then without names (need_name=0);
  if that probe shows another member_version, or the group was marked, every
  member's inviter, nickname and join scene is applied (membership.apply_member_info)
  and members WeCom no longer lists have left. The app cannot change a customer
  group: a renamed group is recorded, a new owner is taken over.

A pass with no changes makes no write call and queues nothing: a managed group is
compared with one aggregate row (our present members joined into a string), and only
a difference loads rows and touches the outbox (bench/reconcile.py measures it).
Reads are sequential (45033 is a per-API concurrency cap) and at most `budget` per
pass; WeComRateLimited ends the pass and the rest waits for the next one. Groups are
taken oldest `reconciled_at` first and each changed group is committed on its own
(unchanged ones are stamped in batches of STAMP_BATCH, also when the pass stops), so
a crash or a rate limit resumes where it stopped. A group with an appchat call still queued is left for
the next pass: WeCom has not seen our own change yet.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import datetime, timedelta, timezone

from sqlalchemy import bindparam, case, func, select, update

from wecom_app.audit import audit
from wecom_app.counts import Counts
from wecom_app.governance import group_size, members, membership, notify, registry, rules
from wecom_app.logs import kv
from wecom_app.models import Group, GroupMember, OutboxAction
from wecom_app.wecom import outbox
from wecom_app.wecom.errors import WeComError, WeComRateLimited

log = logging.getLogger("wecom.reconcile")

BUDGET = 3000  # reads per pass: 1,000 groups every 15 minutes is ~1 call/s, far below 10,000/min (90312)
CHAT_GONE = 86003  # appchat/get: no such chatid (the group was dismissed)
CUSTOMER_GONE = 40050  # groupchat/get: not a customer group we can see (dismissed, or its owner left our range)
IN_FLIGHT = ("pending", "sending")
STAMP_BATCH = 100  # unchanged groups stamped together: a crash re-reads at most this many
PROBE_EVERY = timedelta(hours=24)  # an unchanged customer group is still read once a day: events can be lost


@dataclasses.dataclass
class ReconcileCounts(Counts):
    groups: int = 0  # read from WeCom
    unchanged: int = 0
    skipped: int = 0  # customer groups whose member_version is the one we hold (not read)
    busy: int = 0  # an appchat call of ours still queued: next pass
    added: int = 0  # found in WeCom, not in our rows (added in the client)
    removed: int = 0  # removals WeCom has carried out, or members who left
    readded: int = 0
    restored: int = 0  # name or owner put back
    dismissed: int = 0
    applied: int = 0  # customer-group members whose groupchat/get details were applied
    errors: int = 0
    rate_limited: bool = False


def reconcile(session_factory, client, settings, now: datetime, *, budget: int = BUDGET) -> ReconcileCounts:
    """One pass over the governed groups, oldest reconciled first."""
    counts, stamps = ReconcileCounts(), []
    with session_factory() as session:
        due = session.execute(select(Group.id, Group.kind, Group.chat_id, Group.name, Group.owner,
                                     Group.member_version).where(
            Group.chat_id.is_not(None),
            ((Group.kind == "managed") & (Group.status == "active"))
            | ((Group.kind == "customer") & Group.status.in_(("active", "discovered"))),
        ).order_by(Group.reconciled_at.asc().nulls_first(), Group.id)).all()
        busy = _chats_in_flight(session)
    reads = 0
    try:
        for row in due:
            if row.kind == "managed" and row.chat_id in busy:
                counts.busy += 1
                continue
            full = row.kind == "managed" or _customer_due(session_factory, row.id, now)
            if full is None:
                counts.skipped += 1
                continue
            if reads >= budget:
                break
            reads += 1
            try:
                if _reconcile_one(session_factory, client, settings, row, now, counts, full=full):
                    stamps.append(row.id)
            except WeComRateLimited as exc:
                counts.rate_limited = True
                log.warning(kv("wecom.reconcile.rate_limited", api=exc.api, errcode=exc.errcode, done=counts.groups))
                break
            except WeComError as exc:
                counts.errors += 1
                log.warning(kv("wecom.reconcile.failed", chat_id=row.chat_id, api=exc.api, errcode=exc.errcode))
            if len(stamps) >= STAMP_BATCH:
                _stamp(session_factory, stamps, now)
    finally:
        _stamp(session_factory, stamps, now)
    log.info(kv("wecom.reconcile.pass", **counts.as_dict()))
    return counts


def _stamp(session_factory, group_ids: list[int], now: datetime) -> None:
    """`reconciled_at` for groups found unchanged, one statement for a batch of them."""
    if group_ids:
        with session_factory.begin() as session:
            session.execute(update(Group).where(Group.id.in_(group_ids)).values(reconciled_at=now))
        group_ids.clear()


def _chats_in_flight(session) -> set[str]:
    """chatids with an appchat call of ours that WeCom has not answered yet."""
    payloads = session.scalars(select(OutboxAction.payload).where(
        OutboxAction.kind.in_(("appchat/create", "appchat/update")), OutboxAction.status.in_(IN_FLIGHT)))
    return {p.get("chatid") for p in payloads}


def _customer_due(session_factory, group_id: int, now: datetime) -> bool | None:
    """True: read in full (marked for reconciliation, or a member never read); False: a
    daily probe in case events were lost (its member_version decides); None: skip."""
    with session_factory() as session:
        group = session.get(Group, group_id)
        if group.reconciled_at is None or group.member_version is None:
            return True
        unread = session.scalar(select(GroupMember.id).where(
            GroupMember.group_id == group_id, GroupMember.state == "present",
            GroupMember.join_scene.is_(None)).limit(1))
        if unread is not None:
            return True
        return False if now - _aware(group.reconciled_at) >= PROBE_EVERY else None


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def _reconcile_one(session_factory, client, settings, row, now, counts, *, full=True) -> bool:
    """Read one group and set it right; True when nothing changed (stamped later, in a batch)."""
    gone = CHAT_GONE if row.kind == "managed" else CUSTOMER_GONE
    try:
        info = client.appchat_get(row.chat_id)["chat_info"] if row.kind == "managed" else \
            client.groupchat_get(row.chat_id, need_name=full)["group_chat"]
    except WeComRateLimited:
        raise
    except WeComError as exc:
        if exc.errcode != gone:
            raise
        info = None
    counts.groups += 1
    if info is not None and (_managed_unchanged(session_factory, row, info) if row.kind == "managed"
                             else not full and info.get("member_version") == row.member_version):
        counts.unchanged += 1  # a customer probe that found the version we hold, or an appchat as we left it
        return True
    with session_factory.begin() as session:
        if info is None:
            registry.dismiss_group(session, row.chat_id, now)
            counts.dismissed += 1
            return False
        group = session.get(Group, row.id)
        if row.kind == "managed" and row.chat_id in _chats_in_flight(session):
            counts.busy += 1  # a handler queued a change since the pass began: WeCom has not seen it yet
            return False
        if row.kind == "managed":
            _managed(session, settings, group, info, now, counts)
        else:
            _customer(session, settings, group, info, now, counts)
        group.reconciled_at = now
    return False


# -- managed groups (appchat) -------------------------------------------------------------------


def _managed_unchanged(session_factory, row, info: dict) -> bool:
    """The fast path of a no-change pass: the database joins our present members into one
    string (userids have no commas) instead of handing back 500 rows."""
    if info.get("name") != row.name or str(info.get("owner", "")).lower() != row.owner:
        return False
    with session_factory() as session:
        present, removing, waiting = session.connection().execute(_MEMBER_STATES, {"group_id": row.id}).one()
    if removing or waiting:  # a removal WeCom has carried out is still to be recorded; people wait for room
        return False
    here = set(present.split(",")) if present else set()
    userlist = info.get("userlist") or ()
    return len(userlist) == len(here) and {u.lower() for u in userlist} == here


_MEMBER_STATES = select(
    func.aggregate_strings(case((GroupMember.state == "present", GroupMember.member_id)), ","),
    func.count(case((GroupMember.state == "removing", 1))),
    func.count(case((GroupMember.state == group_size.LEFT_OUT, 1))),
).where(GroupMember.group_id == bindparam("group_id"))


def _managed(session, settings, group: Group, info: dict, now: datetime, counts) -> None:
    listed = {str(u).lower() for u in info.get("userlist") or ()}
    ours = dict(session.execute(select(GroupMember.member_id, GroupMember.state).where(
        GroupMember.group_id == group.id)).all())
    here = {m for m, state in ours.items() if state == "present"}
    for member_id in sorted(listed - here):
        _listed_not_present(session, settings, group, member_id, ours.get(member_id), now, counts)
    for member_id in sorted(m for m, state in ours.items() if m not in listed and state in ("present", "removing")):
        _present_not_listed(session, settings, group, members.member_row(session, group, member_id), now, counts)
    _restore_name_and_owner(session, group, info, listed, now, counts)
    if group.problem:  # people its size kept out get the places that are free now (group_size.py)
        membership.fill_group(session, settings, group, now)


def _listed_not_present(session, settings, group, member_id, state, now, counts) -> None:
    """In WeCom but not `present` with us: added in the client (or a removal still to be done)."""
    if state in ("suspended", "rejected"):  # kept out on purpose (R14, R6): out again
        members.appchat_change(session, group, now, f"reconcile.{state}", remove=[member_id])
        audit(session, "system", "member.remove", f"group:{group.id}", now=now, userid=member_id, reason=state)
        return
    member = members.member_row(session, group, member_id)
    if member is None:
        member = GroupMember(group_id=group.id, member_id=member_id, member_type=2 if members.is_external(member_id) else 1)
        session.add(member)
    if state in (None, "removed", "removing"):  # removing: our removal went out, then someone added them back
        member.compliance, member.invitor = "unknown", None
        counts.added += 1
        audit(session, "system", "member.added_in_client", f"group:{group.id}", now=now, userid=member_id)
    member.state = "present"
    session.flush()
    membership.review_member(session, settings, group, member, now)


def _present_not_listed(session, settings, group, member: GroupMember, now, counts) -> None:
    if member.state == "removing":  # WeCom has done our removal
        member.state, member.checked_at = "removed", now
        counts.removed += 1
        return
    finding = rules.judge(session, group, member, settings)
    if finding in ("ok", "bad_name") and not group_size.room(session, settings, group, member):
        group_size.leave_out(session, settings, group, member, now, "reconcile.readd")  # WeCom would answer 86006
    elif finding in ("ok", "bad_name"):  # belongs here: left or was removed in the client (R9)
        members.appchat_change(session, group, now, "reconcile.readd", add=[member.member_id])
        member.checked_at = now
        counts.readded += 1
        audit(session, "system", "member.readd", f"group:{group.id}", now=now, userid=member.member_id)
    else:  # gone, and should be: nothing to do in WeCom
        member.state, member.compliance, member.checked_at = "removed", finding, now
        counts.removed += 1


def _restore_name_and_owner(session, group, info, listed, now, counts) -> None:
    """The registry's name and owner win over the client's (R7); an owner who is not in the
    group cannot be made owner (86207): the re-add above brings them back, the next pass
    restores them."""
    body = {}
    if info.get("name") != group.name:
        body["name"] = group.name
    owner = str(info.get("owner", "")).lower()
    if owner != group.owner and group.owner in listed:
        body["owner"] = group.owner
    if not body:
        return
    outbox.enqueue(session, "appchat/update", {"chatid": group.chat_id, **body}, now=now,
                   key=f"appchat.restore:{group.chat_id}:{notify.stamp(now)}")
    counts.restored += 1
    audit(session, "system", "group.restore", f"group:{group.id}", now=now, found_name=info.get("name"),
          found_owner=owner, **body)


# -- customer groups (客户群) -------------------------------------------------------------------


def apply_customer_group(session, settings, group: Group, chat: dict, now: datetime) -> ReconcileCounts:
    """A groupchat/get answer applied to a customer group, as a full pass does (also the
    prompt re-read, group_reread.py)."""
    counts = ReconcileCounts()
    _customer(session, settings, group, chat, now, counts)
    group.reconciled_at = now
    return counts


def _customer(session, settings, group: Group, chat: dict, now: datetime, counts) -> None:
    version = chat.get("member_version")
    _name_and_owner(session, group, chat, now)
    listed = {_member_id(m["userid"]): m for m in chat.get("member_list") or ()}
    rows = {m.member_id: m for m in session.scalars(select(GroupMember).where(GroupMember.group_id == group.id))}
    for member_id, info in listed.items():
        member = rows.get(member_id)
        if member is None or member.state != "present":
            member = membership.member_joined(session, settings, group, member_id, now, join_time=info.get("join_time"))
            counts.added += 1
        membership.apply_member_info(session, settings, group, member, info, now)
        counts.applied += 1
    for member_id, member in rows.items():
        if member_id not in listed and member.state == "present":
            membership.member_left(session, group, member_id, now, quit_scene="reconcile")
            counts.removed += 1
    group.member_version = version


def _member_id(userid: str) -> str:
    return userid if members.is_external(userid) else userid.lower()


def _name_and_owner(session, group: Group, chat: dict, now: datetime) -> None:
    """No API renames a customer group or changes its owner back: a discovered group takes
    WeCom's name (the office sees it in the queue); a registered one keeps its registered
    name and the rename is recorded; the owner is whoever WeCom says (tasks go to them)."""
    name, owner = chat.get("name") or "", str(chat.get("owner") or "").lower()
    if group.status == "discovered":
        group.name = name[:128]
    elif name and name != group.name:
        audit(session, "system", "group.renamed_in_client", f"group:{group.id}", now=now, registered=group.name,
              found=name)
    if owner and owner != group.owner:
        if group.owner:
            audit(session, "system", "group.owner_changed", f"group:{group.id}", now=now, previous=group.owner,
                  owner=owner)
        group.owner = owner
