"""The company's group size (群成员人数上限): how many members a managed group may
have, and the group's `size_limit` problem when scope asks for more (R9).

WeCom: "群成员人数不可超过管理端配置的“群成员人数上限”，且最大不可超过2000人"
(appchat/create, developer.work.weixin.qq.com/document/path/90245); the admin console
sets that size between 5 and 2000, commonly 200, and appchat/create and update answer
86006 ("invalid chat member list size") above it. The app knows it as
WECOM_GROUP_SIZE_LIMIT (`settings.group_size_limit`).

- `creation_problem`: a managed group that would start above the limit is refused
  (registry.create_managed_group → 422 on `scope`), before anything is written.
- `room`: whether an appchat/update may add people. When it may not, the people are
  left out (member state `over_limit`, `leave_out`) and the group carries an open
  problem (`Group.problem` = "size_limit", `problem_detail`, `problem_since`) that the
  group page, the dashboard and GET /api/v1/groups/{id} show with the people left out.
  When the problem is new its owner and custodian are told (a message/send), once per
  problem, not once per event; the office sees it on the dashboard.
- an 86006 answer (the company's size is below our setting) is recorded with its
  errcode and the size WeCom refused (`settle_appchat_answers`, the outbox settler of
  appchat/create and of appchat/update rows that add people, subject `group:<id>`,
  in wecom_app/settlers.py);
  the people that update would have added are left out, and until the problem is
  resolved the refused size, less one, is the group's limit, so nothing WeCom will
  refuse is queued again.
- `close_if_done`: the problem ends when nobody is left out any more (they were added
  when room appeared, or left the scope) and no refused appchat/create waits.

Members counted are those `present` in our rows: what the group holds, or will hold
once the queued updates are sent.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from wecom_app.audit import audit
from wecom_app.models import Group, GroupMember, OutboxAction, User
from wecom_app.wecom import outbox

MAX_MEMBERS = 2000  # appchat: 2-2000 members whatever the console says (90245)
TOO_MANY = 86006  # appchat/create, appchat/update: "invalid chat member list size"
SIZE_LIMIT = "size_limit"  # Group.problem
LEFT_OUT = "over_limit"  # GroupMember.state of someone in scope that the full group could not take
SUBJECT = "group"  # outbox subject of a managed group's appchat/create and adding appchat/update


def subject(group: Group) -> str:
    return f"{SUBJECT}:{group.id}"


def limit(settings, group: Group) -> int:
    """The most members this group may have: our setting, or less once WeCom refused a smaller size."""
    return _cap(creation_limit(settings), group.problem_detail if group.problem == SIZE_LIMIT else None)


def _cap(setting: int, detail: dict | None) -> int:
    refused = (detail or {}).get("refused_size")
    return min(setting, int(refused) - 1) if refused else setting


def creation_limit(settings) -> int:
    """The most members a new managed group may start with (the company's size, at most 2000)."""
    return min(MAX_MEMBERS, int(settings.group_size_limit))


def creation_problem(settings, count: int) -> str | None:
    """Why a new managed group of `count` members cannot be created, or None."""
    cap = creation_limit(settings)
    if count < 2:
        return f"a managed group has at least 2 members; this one would have {count}"
    if count > cap:
        return (f"this group would have {count} members (owner, custodian and everyone in scope), more than the "
                f"company's group size of {cap} (WECOM_GROUP_SIZE_LIMIT; WeCom refuses a larger group with 86006)")
    return None


def present(session, group: Group, *, other_than: str | None = None) -> int:
    query = select(func.count()).select_from(GroupMember).where(
        GroupMember.group_id == group.id, GroupMember.state == "present")
    if other_than is not None:
        query = query.where(GroupMember.member_id != other_than)
    return session.scalar(query) or 0


def room(session, settings, group: Group, member: GroupMember) -> bool:
    """Whether the group can hold `member` as well as everyone else present (the member's
    own row, new or re-added, is not counted twice). The group row is locked first, so two
    transactions adding to the same group cannot both take its last place."""
    session.execute(select(Group.id).where(Group.id == group.id).with_for_update())
    return present(session, group, other_than=member.member_id) + 1 <= limit(settings, group)


def leave_out(session, settings, group: Group, member: GroupMember, now: datetime, reason: str) -> None:
    """Someone who belongs in a managed group that is full: WeCom would answer 86006 above the
    company's group size (90245), so nothing is queued; they are listed on the group's
    problem (its owner and custodian are told once) and added when room appears."""
    if member.state != LEFT_OUT:
        member.state, member.checked_at = LEFT_OUT, now
        audit(session, "system", "member.left_out", f"group:{group.id}", now=now, userid=member.member_id,
              reason=reason, limit=limit(settings, group))
    open_problem(session, group, now, setting=settings.group_size_limit)


def left_out(session, group: Group) -> list[str]:
    """The people in scope that the full group could not take, oldest first."""
    return list(session.scalars(select(GroupMember.member_id).where(
        GroupMember.group_id == group.id, GroupMember.state == LEFT_OUT).order_by(GroupMember.id)))


def open_problem(session, group: Group, now: datetime, *, setting: int | None = None, **detail) -> bool:
    """Record (or update) the group's size problem. A new one is audited and its owner
    and custodian are told, once; True when it is new."""
    new = group.problem != SIZE_LIMIT
    values = {} if new else dict(group.problem_detail or {})
    if detail.get("refused_size") and values.get("refused_size"):  # the smallest size WeCom refused
        detail["refused_size"] = min(int(detail["refused_size"]), int(values["refused_size"]))
    values.update({k: v for k, v in detail.items() if v is not None})
    if setting is not None:
        values["limit"] = min(MAX_MEMBERS, int(setting))
    group.problem, group.problem_detail = SIZE_LIMIT, values
    if new:
        group.problem_since = now
        session.flush()
        audit(session, "system", "group.problem", f"group:{group.id}", now=now, problem=SIZE_LIMIT,
              left_out=left_out(session, group), **values)
        _tell(session, group, now)
    return new


def _tell(session, group: Group, now: datetime) -> None:
    """The owner and the custodian who can still be told (message/send, waits for working time: R4)."""
    people = [u for u in dict.fromkeys([group.owner, group.custodian]) if u]
    active = set(session.scalars(select(User.userid).where(User.userid.in_(people or [""]), User.status == 1)))
    people = [u for u in people if u in active]
    if not people:
        return  # nobody to tell: the office sees the problem on the dashboard
    info = view(session, group)
    outbox.enqueue(session, "message/send", {"touser": "|".join(people), "msgtype": "text",
                                             "text": {"content": "【群人数上限】" + info["message"]}},
                   key=f"group.problem:{group.id}:{SIZE_LIMIT}:{now.strftime('%Y%m%dT%H%M%S.%f')}", now=now)


def close_if_done(session, group: Group, now: datetime, *, create_sent: bool = False) -> bool:
    """End the problem once nobody is left out and no refused appchat/create waits."""
    if group.problem != SIZE_LIMIT or left_out(session, group):
        return False
    detail = group.problem_detail or {}
    if detail.get("api") == "appchat/create" and group.status == "creating" and not create_sent:
        return False
    audit(session, "system", "group.problem_resolved", f"group:{group.id}", now=now, problem=SIZE_LIMIT,
          since=group.problem_since.isoformat() if group.problem_since else None)
    group.problem = group.problem_detail = group.problem_since = None
    return True


def view(session, group: Group) -> dict | None:
    """The problem as the API and the workbench show it, or None."""
    if group.problem != SIZE_LIMIT:
        return None
    detail = group.problem_detail or {}
    people = left_out(session, group)
    names = dict(session.execute(select(User.userid, User.name).where(User.userid.in_(people or [""]))).all())
    cap = _cap(int(detail.get("limit") or MAX_MEMBERS), detail)
    return {
        "code": SIZE_LIMIT, "since": group.problem_since.isoformat() if group.problem_since else None,
        "limit": cap, "setting": detail.get("limit"), "members": present(session, group),
        "errcode": detail.get("errcode"), "errmsg": detail.get("errmsg"), "api": detail.get("api"),
        "refused_size": detail.get("refused_size"),
        "left_out": [{"userid": u, "name": names.get(u, "")} for u in people],
        "message": message(group, detail, len(people), cap),
    }


def message(group: Group, detail: dict, left: int, cap: int) -> str:
    """What the custodian reads (in the message and on the group page)."""
    if detail.get("errcode") == TOO_MANY:
        what = "建群" if detail.get("api") == "appchat/create" else "加人"
        setting = f"={detail['limit']}" if detail.get("limit") else ""
        head = (f"企业微信拒绝了「{group.name}」的{what}请求（错误码 {TOO_MANY}：群成员人数超过企业的「群成员人数上限」，"
                f"请求的人数为 {detail.get('refused_size')}），说明管理后台设置的上限低于应用设置的 "
                f"WECOM_GROUP_SIZE_LIMIT{setting}。")
    else:
        head = f"「{group.name}」已达到群人数上限 {cap} 人（管理后台「群成员人数上限」/ WECOM_GROUP_SIZE_LIMIT）。"
    tail = f"有 {left} 人符合成员范围但未能入群，名单见工作台的群详情。" if left else ""
    return (head + tail + "请缩小成员范围或拆分群；若管理员在管理后台提高了上限，请同步修改 WECOM_GROUP_SIZE_LIMIT，"
            "群有空位时应用会自动补加未能入群的人。")


# -- WeCom's answers (outbox settler) ----------------------------------------------------------


def settle_appchat_answers(session, rows: list[OutboxAction], now: datetime) -> None:
    """An appchat/create or adding appchat/update of a managed group, answered: 86006 is
    recorded on the group with its errcode; a sent row may end the problem."""
    for row in rows:
        group = session.get(Group, int(row.subject.partition(":")[2]))
        if group is None:
            continue
        if row.status == "sent":
            _accepted(session, group, row, now)
            close_if_done(session, group, now, create_sent=row.kind == "appchat/create")
        elif row.errcode == TOO_MANY:
            _refused(session, group, row, now)


def _accepted(session, group: Group, row: OutboxAction, now: datetime) -> None:
    """A sent appchat/update's people are in the group, also those an earlier 86006 left out
    (an operator retried the row after the console's size was raised); and once WeCom took a
    group at least as large as one it refused, the refusal no longer limits the group."""
    if row.kind == "appchat/update":
        adding = [str(u).lower() for u in (row.payload or {}).get("add_user_list") or ()]
        for member in session.scalars(select(GroupMember).where(
                GroupMember.group_id == group.id, GroupMember.member_id.in_(adding or [""]),
                GroupMember.state == LEFT_OUT)):
            member.state, member.checked_at = "present", now
            audit(session, "system", "member.add", f"group:{group.id}", now=now, userid=member.member_id,
                  reason="retried", outbox=row.id)
        session.flush()
    detail = dict(group.problem_detail or {})
    if group.problem != SIZE_LIMIT or not detail.get("refused_size"):
        return
    size = len((row.payload or {}).get("userlist") or ()) if row.kind == "appchat/create" else present(session, group)
    if size >= int(detail["refused_size"]):
        audit(session, "system", "group.size_accepted", f"group:{group.id}", now=now, size=size,
              refused_size=detail["refused_size"], outbox=row.id)
        for key in ("errcode", "errmsg", "refused_size", "api", "outbox"):
            detail.pop(key, None)
        group.problem_detail = detail


def _refused(session, group: Group, row: OutboxAction, now: datetime) -> None:
    payload = row.payload or {}
    if row.kind == "appchat/create":
        size = len(payload.get("userlist") or ())
    else:  # the people this update would have added are left out (they are not in the group)
        adding = [str(u).lower() for u in payload.get("add_user_list") or ()]
        for member in session.scalars(select(GroupMember).where(
                GroupMember.group_id == group.id, GroupMember.member_id.in_(adding or [""]),
                GroupMember.state == "present")):
            member.state, member.checked_at = LEFT_OUT, now
            audit(session, "system", "member.left_out", f"group:{group.id}", now=now, userid=member.member_id,
                  errcode=TOO_MANY, outbox=row.id)
        session.flush()
        size = present(session, group) + len(adding)
    open_problem(session, group, now, errcode=TOO_MANY, errmsg=row.errmsg, api=row.kind, refused_size=size,
                 outbox=row.id)
