"""Editing a registered group and retiring it (issue 13 item 6): its name (R8), custodian
(R10), join policy (R6) and external-member policy (R13), and its scope (R9, R11);
archiving it, or recording that an ordinary group was dismissed in the client.

What WeCom lets the app do decides how a change is carried out (DESIGN §1):

| change    | managed group (appchat)                                  | customer / internal group              |
|-----------|----------------------------------------------------------|----------------------------------------|
| name      | appchat/update `name` (98913; WeCom truncates past 50)   | recorded; owner and custodian told to rename it in the client (no API renames a customer group, 92122 is read-only, or an ordinary group) |
| scope, custodian, external policy | one appchat/update with `add_user_list` and `del_user_list` (98913), within the company's group size; under join policy `approval` the newcomers are proposed to the custodian (R6) | recorded; who should leave and who should be invited go to the owner and custodian as one task (no API adds or removes anyone) |
| archive   | the app stops governing it; WeCom has no API to dismiss an appchat (90244 lists create 90245, update 98913, get 98914, send 90248 and nothing else): the group stays in WeCom and the owner is told | the same; the group stays in WeCom |

A scope change is shown first (`preview`): who will be added and who removed, names with
departments; `edit_group` applies it (the workbench after a confirm, the API unless
`dry_run`). People whom the office's own change puts out of scope are not recorded as
violations (nobody broke R11): a managed group loses them, and for the other kinds the
custodian's task names them and their compliance says `out_of_scope` (so the rules do not
tell anyone twice). Every change is audited (`group.edit`, `group.archive`, `group.dismiss`).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

from sqlalchemy import select

from wecom_app.audit import audit
from wecom_app.directory import people as directory_people
from wecom_app.governance import group_size, membership, registry, rules
from wecom_app.governance.members import HERE, appchat_change, create_key
from wecom_app.governance.notify import custodians, kind_word, stamp, tell
from wecom_app.governance.registry import RegistryError
from wecom_app.governance.scope import active_in_scope, expand_scope
from wecom_app.models import Group, GroupMember, OutboxAction, User
from wecom_app.models.groups import JOIN_POLICIES
from wecom_app.wecom import outbox

EDITABLE = ("creating", "active")
KEPT_OUT = ("rejected", "suspended")  # a scope does not bring these back (R6 refused, R14 suspended)
NAMES_IN_TASK = 30  # a task message names this many people, then says how many more


@dataclasses.dataclass
class ScopeChange:
    """Who a new scope (custodian, external policy) brings in and who it leaves out."""

    added: list[str]
    removed: list[str]
    kind: str
    group_id: int | None = None

    @property
    def by_app(self) -> bool:
        """A managed group is changed by the app; the other kinds by their owner, told in a task."""
        return self.kind == "managed"

    def __bool__(self) -> bool:
        return bool(self.added or self.removed)

    def view(self, session) -> dict:
        """Names with departments (李娜（行政部 · 行政专员）) for the page and the API."""
        return {"added": directory_people.people(session, self.added),
                "removed": _labels(session, self.removed, self.group_id), "applied_by": "appchat" if self.by_app else "custodian_task"}


def _labels(session, member_ids: list[str], group_id: int | None = None) -> list[dict]:
    """People as the picker labels them; an external contact by their group nickname (赵总（wm…）)."""
    known = {p["userid"]: p for p in directory_people.people(session, member_ids)}
    nicknames = dict(session.execute(select(GroupMember.member_id, GroupMember.group_nickname).where(
        GroupMember.group_id == group_id, GroupMember.member_id.in_([m for m in member_ids if m not in known]))).all()
        ) if group_id is not None else {}
    return [known.get(m) or dict(userid=m, name=nicknames.get(m) or m, department="", position="", same_name=0,
                                 label=f"{nicknames[m]}（{m}）" if nicknames.get(m) else m) for m in member_ids]


def preview(session, group: Group, scope: dict, *, custodian: str | None = None,
            allow_external: bool | None = None) -> ScopeChange:
    """What the group's members become under `scope` (already checked: registry.check_scope)."""
    custodian = custodian or group.custodian
    allow_external = group.allow_external if allow_external is None else allow_external
    exempt = {group.owner, custodian}
    rows = list(session.scalars(select(GroupMember).where(GroupMember.group_id == group.id)))
    here = {m.member_id: m for m in rows if m.state in HERE}
    known = {m.member_id for m in rows if m.state in (*HERE, *KEPT_OUT, group_size.LEFT_OUT)}
    active = set(session.scalars(select(User.userid).where(User.userid.in_([u for u in exempt if u]), User.status == 1)))
    wanted = active_in_scope(session, scope) | active
    in_scope = expand_scope(session, scope)
    added = sorted(u for u in wanted if u not in known)
    removed = sorted(m for m, row in here.items() if m not in exempt and (
        (row.member_type == 2 and not allow_external) or (row.member_type == 1 and m not in in_scope)))
    return ScopeChange(added=added, removed=removed, kind=group.kind, group_id=group.id)


def size_problem(session, settings, group: Group, change: ScopeChange) -> str | None:
    """Why a managed group cannot take everyone the change adds: WeCom answers 86006 above
    the company's group size (98913, 90245), so the edit is refused like a creation is."""
    if group.kind != "managed" or group.join_policy != "auto" or not change.added:
        return None
    count = group_size.present(session, group) - len(change.removed) + len(change.added)
    return group_size.creation_problem(settings, count)


def _same_scope(a: dict, b: dict) -> bool:
    return all(sorted(map(str, a.get(k) or ())) == sorted(map(str, b.get(k) or ()))
               for k in ("departments", "tags", "users", "exclude"))


def moves_members(group: Group, scope: dict, *, custodian: str, allow_external: bool) -> bool:
    """Whether these values can change who belongs in the group: a rename alone never does
    (and does not turn the gap between a registered group's recorded members and its scope
    into a task)."""
    return (not _same_scope(scope, group.scope or {}) or custodian != group.custodian
            or bool(allow_external) != bool(group.allow_external))


def edit_group(session, settings, group: Group, *, actor: str, now: datetime, name: str | None = None,
               custodian: str | None = None, scope: dict | None = None, join_policy: str | None = None,
               allow_external: bool | None = None) -> dict:
    """Apply the fields given (None: unchanged). Returns what changed: `{field: [before, after]}`
    plus `added` and `removed` (userids) when the members change."""
    if group.status not in EDITABLE:
        raise RegistryError("status", f"a {group.status} group cannot be edited" + (
            " (register it first)" if group.status == "discovered" else ""))
    new = _checked(session, settings, group, name=name, custodian=custodian, scope=scope, join_policy=join_policy,
                   allow_external=allow_external)
    change = ScopeChange(added=[], removed=[], kind=group.kind)
    if moves_members(group, new["scope"], custodian=new["custodian"], allow_external=new["allow_external"]):
        change = preview(session, group, new["scope"], custodian=new["custodian"], allow_external=new["allow_external"])
    too_big = size_problem(session, settings, group, change)
    if too_big:
        raise RegistryError("scope", too_big)
    changed = {k: [getattr(group, k), v] for k, v in new.items() if getattr(group, k) != v}
    old_name = group.name
    for field, (_before, after) in changed.items():
        setattr(group, field, after)
    session.flush()
    if "name" in changed:
        _rename(session, settings, group, old_name, now)
    if change:
        _apply(session, settings, group, change, now)
        changed.update(added=change.added, removed=change.removed)
    if change or changed.keys() & {"scope", "custodian", "allow_external"}:
        membership.review_group(session, settings, group, now)  # those now in scope become ok again
    if changed:
        audit(session, actor, "group.edit", f"group:{group.id}", now=now, chat_id=group.chat_id, **changed)
    return changed


def _checked(session, settings, group: Group, **fields) -> dict:
    """The group's fields as they will be, each given one checked (RegistryError on the first bad one)."""
    new = dict(name=group.name, custodian=group.custodian, scope=group.scope or {}, join_policy=group.join_policy,
               allow_external=group.allow_external)
    if fields["name"] is not None and fields["name"] != group.name:
        registry.check_name(fields["name"], settings)
        registry.check_unique_name(session, fields["name"], other_than=group.id)
        new["name"] = fields["name"]
    if fields["custodian"] is not None:
        new["custodian"] = registry.person(session, fields["custodian"], "custodian")
    if fields["scope"] is not None:
        new["scope"] = registry.check_scope(session, fields["scope"])
    if fields["join_policy"] is not None and fields["join_policy"] != group.join_policy:
        if fields["join_policy"] not in JOIN_POLICIES:
            raise RegistryError("join_policy", f"one of {', '.join(JOIN_POLICIES)}")
        if group.kind != "managed":
            raise RegistryError("join_policy", "only a managed group has a join policy: nobody joins the others "
                                               "through the app")
        new["join_policy"] = fields["join_policy"]
    if fields["allow_external"] is not None:
        if fields["allow_external"] and group.kind == "managed":
            raise RegistryError("allow_external", "a managed group (appchat) can have internal members only")
        new["allow_external"] = bool(fields["allow_external"])
    return new


def _rename(session, settings, group: Group, old_name: str, now: datetime) -> None:
    if group.kind == "managed":
        # appchat/update name (98913); while the appchat/create still waits, its name is changed instead
        create = session.scalar(select(OutboxAction).where(
            OutboxAction.idempotency_key == create_key(group.chat_id), OutboxAction.status.in_(("pending", "failed"))))
        if create is not None:
            create.payload = {**create.payload, "name": group.name}
        else:
            outbox.enqueue(session, "appchat/update", {"chatid": group.chat_id, "name": group.name}, now=now,
                           key=f"appchat.rename:{group.chat_id}:{stamp(now)}")
        return
    text = (f"【群管理任务】{kind_word(group)}「{old_name}」在登记中已改名为「{group.name}」。企业微信不提供修改"
            f"{kind_word(group)}名称的接口，请群主在客户端把群名改为「{group.name}」。")
    tell(session, settings, custodians(session, settings, group), text, key=f"group.rename:{group.id}:{stamp(now)}",
         now=now)


def _apply(session, settings, group: Group, change: ScopeChange, now: datetime) -> None:
    rows = {m.member_id: m for m in session.scalars(select(GroupMember).where(GroupMember.group_id == group.id))}
    for member_id in change.removed:
        member = rows[member_id]
        reason = "external_not_allowed" if member.member_type == 2 else "out_of_scope"
        if member.state == "pending_approval":  # never added: the request lapses
            member.state = "removed"
        elif group.kind == "managed":
            member.state = "removing"
        member.compliance, member.checked_at = reason, now  # not a violation: the office changed the scope
    if group.kind != "managed":
        _custodian_task(session, settings, group, change, now)
        return
    adding = []
    for userid in change.added:
        member = rows.get(userid)
        if member is None:
            member = rows[userid] = GroupMember(group_id=group.id, member_id=userid, member_type=1)
            session.add(member)
        if group.join_policy == "approval" and userid not in (group.owner, group.custodian):
            rules.admit(session, settings, group, userid, now, reason="scope_edit")  # asks the custodian (R6)
            continue
        member.compliance = rules.verdict(session, group, member, settings, in_scope=True)
        member.state, member.checked_at = "present", now
        adding.append(userid)
    removing = [m for m in change.removed if rows[m].state == "removing"]
    if adding or removing:
        appchat_change(session, group, now, "scope_edit", add=adding, remove=removing)


def _custodian_task(session, settings, group: Group, change: ScopeChange, now: datetime) -> None:
    """One message for the whole change: the app can neither add nor remove anyone here."""
    def names(ids):
        shown = "、".join(p["label"] for p in _labels(session, ids[:NAMES_IN_TASK], group.id))
        return shown + (f" 等 {len(ids)} 人" if len(ids) > NAMES_IN_TASK else "")

    lines = [f"【群管理任务】{kind_word(group)}「{group.name}」的成员范围已调整（R9、R11）。企业微信不提供为该群加人或移人的接口，请在客户端处理："]
    if change.removed:
        lines.append(f"请移出（{len(change.removed)} 人）：{names(change.removed)}")
    if change.added:
        lines.append(f"请邀请入群（{len(change.added)} 人）：{names(change.added)}")
    tell(session, settings, custodians(session, settings, group), "\n".join(lines),
         key=f"group.scope_task:{group.id}:{stamp(now)}", now=now)


# -- archiving ----------------------------------------------------------------------------------

RETIRED = ("archived", "dismissed")


def retire_group(session, settings, group: Group, *, status: str, actor: str, now: datetime, note: str = "") -> Group:
    """`archived`: the app stops governing the group (no checks, no adds or removals, no
    announcements), its records stay. `dismissed`: an ordinary internal group the owner
    dismissed in the client, recorded (WeCom sends no event for those; customer groups'
    dismissals arrive as change_external_chat dismiss, managed ones are found by
    reconciliation's 86003)."""
    if status not in RETIRED:
        raise RegistryError("status", "archived or dismissed")
    if group.status in RETIRED:
        raise RegistryError("status", f"the group is already {group.status}")
    if group.status == "creating":
        raise RegistryError("status", "the group is still being created: wait for its appchat/create")
    if status == "dismissed" and group.kind != "internal":
        raise RegistryError("status", "only an ordinary internal group's dismissal is recorded by hand")
    before, group.status = group.status, status
    if before != "discovered":
        text = (f"【群管理】{kind_word(group)}「{group.name}」已{'归档' if status == 'archived' else '登记为已解散'}："
                "应用不再检查它的成员、不再向它发公告，记录保留。")
        if status == "archived":
            text += ("企业微信没有解散应用群的接口，群仍在企业微信中，如需解散请群主在客户端操作。" if group.kind == "managed"
                     else "群仍在企业微信中，如需解散请群主在客户端操作。")
        tell(session, settings, custodians(session, settings, group), text,
             key=f"group.{status}:{group.id}:{stamp(now)}", now=now)
    audit(session, actor, "group.archive" if status == "archived" else "group.dismiss", f"group:{group.id}", now=now,
          chat_id=group.chat_id, name=group.name, previous_status=before, note=note)
    return group
