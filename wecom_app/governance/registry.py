"""The group registry (R7, R8): managed groups the office creates through the app
(appchat/create 90245), registration (备案) of customer groups (客户群, 92120/92122)
and ordinary internal groups, discovery of unregistered customer groups
(change_external_chat create, 92130), and the view the API and workbench show.

Every group has a name following the naming convention (naming.py), an owner, a
custodian (专管人员), a scope and an external-member policy. What the app can do
about its members depends on its kind (DESIGN §1, wecom-api-notes §3.12), and
`group_view` says so plainly under `enforced`.

A managed group is `creating` until its appchat/create has been sent:
`settle_created_groups` (run after an outbox pass) makes it `active`, so the
registry never shows a group WeCom refused as if it existed.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import select

from wecom_app.archive.coverage import coverage
from wecom_app.audit import audit
from wecom_app.db import memo
from wecom_app.governance import group_size, members, membership, naming, rules
from wecom_app.governance.scope import active_in_scope
from wecom_app.models import Department, Group, GroupMember, OutboxAction, Tag, User
from wecom_app.models.groups import JOIN_POLICIES
from wecom_app.wecom import outbox
from wecom_app.wecom.robot_keys import encrypt_robot_key

SCOPE_KEYS = {"departments": int, "tags": int, "users": str, "exclude": str}
ROBOT_KEY = re.compile(r"[A-Za-z0-9-]{8,128}")
WELCOME = "欢迎加入「{name}」。本群由{custodian}负责管理，请使用实名并遵守《公司微信群管理细则》。"
WELCOME_DELAY = timedelta(minutes=1)  # after the appchat/create, so the sender tries the create first
ENFORCED = {
    "managed": {
        "automatic": [
            "R1: departed, disabled and not-yet-activated members are removed (appchat/update) in the same dispatcher cycle",
            "R9/R11: membership follows the scope: people who come into scope are added (or proposed to the custodian "
            "when joins need approval), people who leave it are removed",
            "R13: no external contacts: WeCom admits only internal members to an app-created group",
            "R2: members without a real name are reminded",
        ],
        "custodian_tasks": ["approve or reject join requests when the join policy is approval (R6)"],
        "not_possible": [
            "WeCom sends no events for app-created groups: people added in the client are found by reconciliation "
            "(appchat/get), not at once",
            "WeCom has no mute API",
        ],
    },
    "customer": {
        "automatic": [
            "every join is judged (change_external_chat): not an active employee (R1), out of scope (R11), an external "
            "contact where none are allowed (R13), real name and group nickname (R2); each finding is recorded",
            "a push that does not name every joiner (no member list, a short one, a missed push) gets the group "
            "re-read (groupchat/get) within seconds, and those joiners are judged then",
            "the inviter of an out-of-scope member is recorded and told (R11), once reconciliation reads the inviter; "
            "WeCom names an inviter only when a member invited, so a QR-code join tells no one",
        ],
        "custodian_tasks": [
            "remove non-compliant members in the WeCom client: WeCom has no API to remove anyone from a customer group, "
            "so the owner and custodian get a task message for each one",
        ],
        "not_possible": [
            "removing or adding members, renaming, posting: WeCom offers no server API for customer groups "
            "(a group robot is reportedly not allowed in groups with external members)",
        ],
    },
    "internal": {
        "automatic": [
            "posting announcements through the group robot, when one is registered",
            "judging the members recorded for the group when the directory changes (R1, R11)",
            "with the conversation archive (会话内容存档, WECOM_ARCHIVE_*): the group is discovered from its messages, "
            "its members and join times are read (msgaudit/groupchat/get) when someone new speaks and every 15 "
            "minutes, and each is judged: not an active employee (R1), out of scope (R11), real name (R2); only "
            "members in the archive's scope are seen (the group shows how many)",
        ],
        "custodian_tasks": [
            "keep membership current in the WeCom client (R9): the app gets no events and has no API for ordinary "
            "groups, so it tells the owner and custodian when a recorded member should leave",
        ],
        "not_possible": [
            "seeing who joins or leaves without the conversation archive: WeCom sends no events for ordinary "
            "internal groups",
            "removing or adding anyone, blocking a message: WeCom has no API for internal groups, archive or not",
        ],
    },
}


class RegistryError(ValueError):
    """An invalid field: the API answers 422 with `field` and `message`."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


def create_managed_group(session, settings, *, name, owner, custodian, scope, allow_external, join_policy,
                         actor, now) -> Group:
    """R7: the office creates a group through the app. Members: the owner and the
    custodian (always, exempt from the scope) and every active user in scope."""
    check_name(name, settings)
    check_unique_name(session, name)
    owner, custodian = person(session, owner, "owner"), person(session, custodian, "custodian")
    scope = check_scope(session, scope)
    if allow_external:
        raise RegistryError("allow_external", "a managed group (appchat) can have internal members only")
    if join_policy not in JOIN_POLICIES:
        raise RegistryError("join_policy", f"one of {', '.join(JOIN_POLICIES)}")
    userlist = list(dict.fromkeys([owner, custodian, *sorted(active_in_scope(session, scope))]))
    too_big = group_size.creation_problem(settings, len(userlist))  # 86006 above the company's size (90245)
    if too_big:
        raise RegistryError("scope", too_big)
    group = Group(kind="managed", chat_id=new_chatid(), name=name, owner=owner, custodian=custodian, scope=scope,
                  allow_external=False, join_policy=join_policy, status="creating", created_by=actor,
                  created_at=now, registered_at=now)
    session.add(group)
    session.flush()
    for userid in userlist:
        member = GroupMember(group_id=group.id, member_id=userid, member_type=1, state="present", checked_at=now)
        member.compliance = rules.verdict(session, group, member, settings, in_scope=True)
        session.add(member)
    _enqueue_create(session, group, userlist, now)
    audit(session, actor, "group.create", f"group:{group.id}", now=now, chat_id=group.chat_id, name=name,
          members=len(userlist), scope=scope, join_policy=join_policy)
    return group


def new_chatid() -> str:
    """`[0-9a-zA-Z]`, at most 32 characters (90245): ours, so WeCom's 86215 means our own earlier attempt."""
    return "wa" + secrets.token_hex(14)


def _enqueue_create(session, group: Group, userlist: list[str], now: datetime) -> None:
    outbox.enqueue(session, "appchat/create", {"chatid": group.chat_id, "name": group.name, "owner": group.owner,
                                               "userlist": userlist}, key=members.create_key(group.chat_id), now=now,
                   subject=group_size.subject(group))  # an 86006 answer is recorded on the group
    # Pitfall 23: a new appchat may not show in members' chat lists until a message is
    # sent. A minute later than the create, so the sender tries the create first; it
    # waits for working time like any message to people (R4).
    custodian = session.get(User, group.custodian)
    text = WELCOME.format(name=group.name, custodian=custodian.name if custodian else group.custodian)
    outbox.enqueue(session, "appchat/send", {"chatid": group.chat_id, "msgtype": "text", "text": {"content": text}},
                   key=f"appchat.welcome:{group.chat_id}", now=now, not_before=now + WELCOME_DELAY)


def settle_created_groups(session, now: datetime) -> list[Group]:
    """`creating` → `active` for every managed group whose appchat/create the outbox has sent."""
    rows = session.execute(
        select(Group, OutboxAction).join(OutboxAction, OutboxAction.idempotency_key == members.CREATE_KEY + Group.chat_id)
        .where(Group.status == "creating", OutboxAction.status == "sent")
    ).all()
    for group, _action in rows:
        group.status = "active"
        audit(session, "system", "group.active", f"group:{group.id}", now=now, chat_id=group.chat_id)
    return [group for group, _action in rows]


def register_group(session, settings, *, kind, chat_id, name, owner, custodian, scope, allow_external,
                   robot_webhook, actor, now) -> Group:
    """R7 备案: a self-built customer or ordinary internal group is registered with its
    scope and custodian; a discovered customer group with this chat_id becomes registered."""
    if kind not in ("customer", "internal"):
        raise RegistryError("kind", "customer or internal (managed groups are created, not registered)")
    if kind == "customer" and not chat_id:
        raise RegistryError("chat_id", "a customer group is registered by its chat_id (groupchat/list)")
    check_name(name, settings)
    owner, custodian = person(session, owner, "owner"), person(session, custodian, "custodian")
    scope = check_scope(session, scope)
    group = session.scalar(select(Group).where(Group.chat_id == chat_id)) if chat_id else None
    check_unique_name(session, name, other_than=group.id if group is not None else None)
    if group is not None and group.status != "discovered":
        raise RegistryError("chat_id", f"already registered as group {group.id}")
    if group is not None and kind != group.kind:
        raise RegistryError("kind", f"{chat_id} is a {group.kind} group (change_external_chat)")
    if group is None:
        group = Group(chat_id=chat_id or None, created_at=now, created_by=actor)
        session.add(group)
    group.kind, group.name, group.owner, group.custodian, group.scope = kind, name, owner, custodian, scope
    group.allow_external, group.join_policy, group.status, group.registered_at = bool(allow_external), "auto", "active", now
    group.robot_webhook = encrypt_robot_key(settings, _robot_key(robot_webhook)) if robot_webhook else None
    session.flush()
    audit(session, actor, "group.register", f"group:{group.id}", now=now, kind=kind, chat_id=chat_id, name=name,
          scope=scope, robot_webhook=bool(robot_webhook))
    membership.review_group(session, settings, group, now)  # members seen while it was only discovered
    return group


GROUPS_MEMO = "groups_by_chat_id"  # db.memo: groups locked by `lock_groups`, by ChatId


def lock_groups(session, chat_ids) -> list[Group]:
    """The groups of a dispatcher batch's change_external_chat events, read and locked (FOR UPDATE,
    in ChatId order) in one query before its handlers run: `discover_customer_group` then finds
    them without a query each, and nobody changes them until the batch commits (its handlers write
    each of them anyway: the lock is only taken sooner, and in one order). The ones that exist."""
    known = memo(session, GROUPS_MEMO)
    chat_ids = set(chat_ids)
    if wanted := sorted(chat_ids - known.keys()):
        for group in session.scalars(select(Group).where(Group.chat_id.in_(wanted)).order_by(Group.chat_id)
                                     .with_for_update()):
            known[group.chat_id] = group
    return [known[chat_id] for chat_id in sorted(chat_ids) if chat_id in known]


def discover_customer_group(session, chat_id: str, now: datetime) -> Group:
    """A customer group we have not seen (change_external_chat create, or groupchat/list in
    sync) is recorded as `discovered`: the office's registration queue. Its members are
    recorded but judged only once it is registered with a scope."""
    group = memo(session, GROUPS_MEMO).get(chat_id) or session.scalar(select(Group).where(Group.chat_id == chat_id))
    if group is None:
        group = Group(kind="customer", chat_id=chat_id, name="", status="discovered", created_by="system",
                      created_at=now)
        session.add(group)
        session.flush()
        audit(session, "system", "group.discovered", f"group:{group.id}", now=now, chat_id=chat_id)
    return group


def dismiss_group(session, chat_id: str, now: datetime) -> Group | None:
    group = session.scalar(select(Group).where(Group.chat_id == chat_id))
    if group is not None and group.status != "dismissed":
        group.status = "dismissed"
        audit(session, "system", "group.dismissed", f"group:{group.id}", now=now, chat_id=chat_id)
    return group


def group_view(session, group: Group) -> dict:
    """The group as the API shows it: members with their compliance, and what is
    enforced for its kind. The robot webhook is a secret: only whether it is set."""
    view = {
        "id": group.id, "chatid": group.chat_id, "kind": group.kind, "name": group.name, "owner": group.owner,
        "custodian": group.custodian, "scope": group.scope or {}, "allow_external": group.allow_external,
        "join_policy": group.join_policy, "name_pattern": group.name_pattern, "status": group.status,
        "robot_webhook": {"configured": bool(group.robot_webhook)}, "members": _member_views(session, group),
        "enforced": ENFORCED[group.kind], "problem": group_size.view(session, group),
    }
    if group.kind == "internal":  # the conversation archive: whose messages are seen (None: archive off)
        view["archive"] = coverage(session, group)
    if group.status == "creating":
        action = session.scalar(select(OutboxAction).where(OutboxAction.idempotency_key == members.create_key(group.chat_id)))
        view["creation"] = {"outbox": action.status if action else "missing", "errcode": action and action.errcode}
    return view


def _member_views(session, group: Group) -> list[dict]:
    rows = session.execute(
        select(GroupMember, User.name).outerjoin(User, User.userid == GroupMember.member_id)
        .where(GroupMember.group_id == group.id, GroupMember.state.not_in(("removed", "rejected")))
        .order_by(GroupMember.id)
    ).all()
    return [{"userid": m.member_id, "type": "external" if m.member_type == 2 else "internal",
             "name": name or m.group_nickname or "", "group_nickname": m.group_nickname, "compliance": m.compliance,
             "state": m.state, "invitor": m.invitor} for m, name in rows]


# -- validation ------------------------------------------------------------------------------


def check_name(name, settings) -> None:
    problem = naming.group_name_problem(name, settings)
    if problem:
        raise RegistryError("name", problem)


NAMED = ("creating", "active")  # the statuses whose names are taken (archived and dismissed ones are not)


def name_key(name: str) -> str:
    """What makes two names the same: full-width and half-width, case and spacing aside."""
    return " ".join(unicodedata.normalize("NFKC", name or "").casefold().split())


def check_unique_name(session, name: str, *, other_than: int | None = None) -> None:
    """R8: one name, one group. A group being created or governed holds its name; an archived
    or dismissed one does not (it is kept for the records, and a successor may take its name),
    nor does a discovered customer group that nobody has registered yet."""
    key = name_key(name)
    for group_id, taken in session.execute(select(Group.id, Group.name).where(Group.status.in_(NAMED))):
        if group_id != other_than and name_key(taken) == key:
            raise RegistryError("name", f"a group named {taken} already exists (group {group_id})")


def person(session, userid, field: str) -> str:
    if not isinstance(userid, str) or not userid.strip():
        raise RegistryError(field, "a userid is required")
    user = session.get(User, userid.strip().lower())
    if user is None or not user.active:
        raise RegistryError(field, f"{userid} is not an active member of the company (R1)")
    return user.userid


def check_scope(session, scope) -> dict:
    if scope is None:
        scope = {}
    if not isinstance(scope, dict) or set(scope) - set(SCOPE_KEYS):
        raise RegistryError("scope", "an object with departments, tags, users and exclude")
    clean = {}
    for key, kind in SCOPE_KEYS.items():
        values = scope.get(key) or []
        if not isinstance(values, list) or not all(isinstance(v, kind) and not isinstance(v, bool) for v in values):
            raise RegistryError(f"scope.{key}", f"a list of {'department ids' if kind is int else 'userids'}")
        clean[key] = [v.strip().lower() for v in values] if kind is str else list(dict.fromkeys(values))
    for key, model in (("departments", Department), ("tags", Tag)):
        unknown = [v for v in clean[key] if session.get(model, v) is None]
        if unknown:
            raise RegistryError(f"scope.{key}", f"unknown {key[:-1]} {', '.join(map(str, unknown))}")
    for key in ("users", "exclude"):  # a mistyped userid is named, not saved silently (issue 13)
        unknown = [v for v in clean[key] if session.get(User, v) is None]
        if unknown:
            raise RegistryError(f"scope.{key}", f"not in the directory: {', '.join(unknown)}")
    return clean


# -- the robot webhook (99398): a bearer secret, encrypted at rest (wecom/robot_keys.py) -------


def _robot_key(webhook: str) -> str:
    """The `key` of a robot webhook URL (or a bare key)."""
    text = (webhook or "").strip()
    if text.startswith(("http://", "https://")):
        parts = urlsplit(text)
        text = (parse_qs(parts.query).get("key") or [""])[0] if parts.path.endswith("webhook/send") else ""
    if not ROBOT_KEY.fullmatch(text):
        raise RegistryError("robot_webhook", "a group robot's webhook URL (…/cgi-bin/webhook/send?key=…)")
    return text
