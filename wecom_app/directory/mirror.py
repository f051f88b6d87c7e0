"""Applying WeCom's directory data to the mirror (directory.py): pure functions over a session.

Data comes from user/get (90196), user/list (90201), department/list (90208),
tag/get (90213) or a change_contact event (90970-90972, converted with
`user_data_from_event` / `department_data_from_event`). Every write is keyed by
`event_time` (the event's CreateTime, or the moment of a read): data older than
the row is ignored, so events that arrive out of order never undo a newer state,
and a delete leaves a tombstone that a late, older create_user cannot revive.
Userids are lower-cased (pitfall 25). The full sync lives in directory/full_sync.py.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone

from sqlalchemy import delete, select

from wecom_app import session_generations
from wecom_app.governance.scope import invalidate
from wecom_app.logs import kv
from wecom_app.models import Department, Tag, TagMember, User, UserDepartment
from wecom_app.models.directory import STATUS_ACTIVE, STATUS_LEFT, STATUS_NOT_ACTIVATED

log = logging.getLogger("wecom.directory")

# change_contact element → user/get field (only these matter to the mirror)
EVENT_USER_FIELDS = dict(Name="name", Department="department", MainDepartment="main_department",
                         IsLeaderInDept="is_leader_in_dept", DirectLeader="direct_leader", Position="position",
                         Status="status", Alias="alias")
EVENT_DEPARTMENT_FIELDS = dict(Id="id", Name="name", ParentId="parentid", Order="order")


def stamp(now: datetime) -> int:
    """The event_time of a read made at `now` (unix seconds, as WeCom's CreateTime)."""
    return int(now.timestamp())


def _ints(value) -> list[int]:
    items = value.split(",") if isinstance(value, str) else (value or [])
    return [int(item) for item in items if str(item).strip() != ""]


def _userids(value) -> list[str]:
    items = value.split(",") if isinstance(value, str) else (value or [])
    return [str(item).strip().lower() for item in items if str(item).strip()]


def user_data_from_event(event) -> dict:
    """The user/get-shaped part of a create_user / update_user event: only the fields it carries."""
    data = {"userid": event.get("UserID")}
    data.update({key: event.get(element) for element, key in EVENT_USER_FIELDS.items() if element in event.fields})
    return data


def department_data_from_event(event) -> dict:
    return {key: event.get(element) for element, key in EVENT_DEPARTMENT_FIELDS.items() if element in event.fields}


def is_minimal(data: dict) -> bool:
    """A 通讯录同步 callback configured after 2022-08-15 carries only UserID and Department."""
    return not (set(data) - {"userid", "department"})


def _too_old(row, event_time: int, what: str, key) -> bool:
    if row is not None and event_time < row.event_time:
        log.info(kv("wecom.directory.ignored_old", what=what, id=key, event_time=event_time, row_time=row.event_time))
        return True
    return False


# -- users ---------------------------------------------------------------------------------------

def apply_user(session, data: dict, event_time: int, *, now: datetime | None = None,
               stale: bool | None = None) -> User | None:
    """Apply the fields present in `data` (user/get shape). `stale`: True marks the row for a
    re-read, False clears the mark (a full read), None leaves it (a partial update; a new
    row made from partial data is stale). Returns None when the data is older than the row."""
    userid = data["userid"].strip().lower()
    user = session.get(User, userid)
    if _too_old(user, event_time, "user", userid):
        return None
    if user is None:
        user = User(userid=userid, status=STATUS_NOT_ACTIVATED, direct_leader=[], extra={}, event_time=0)
        session.add(user)
        if stale is None:
            stale = not {"name", "status"} <= set(data)
    for key in ("name", "position", "alias"):
        if key in data:
            setattr(user, key, str(data[key] or ""))
    if "direct_leader" in data:
        user.direct_leader = _userids(data["direct_leader"])
    if "status" in data and str(data["status"]).strip():
        _set_status(session, user, int(data["status"]), event_time, now)
    if "department" in data:
        _set_departments(session, user, _ints(data["department"]), data.get("is_leader_in_dept"))
    if data.get("main_department") not in (None, ""):
        user.main_department = int(data["main_department"])
    if stale is not None:
        user.stale = stale
    if stale is False and now is not None:
        user.synced_at = now
    user.event_time = max(user.event_time or 0, event_time)
    return user


def _set_status(session, user: User, status: int, event_time: int, now: datetime | None) -> None:
    if user.status == STATUS_ACTIVE and status != STATUS_ACTIVE:  # left or disabled: their sessions end now
        session_generations.bump(session, user.userid,
                                 now=now or datetime.fromtimestamp(event_time, timezone.utc))
    user.status = status
    if status != STATUS_LEFT:
        user.left_at = None
    elif user.left_at is None:
        user.left_at = now or datetime.fromtimestamp(event_time, timezone.utc)


def _set_departments(session, user: User, departments: list[int], leaders) -> None:
    """Replace the user's departments; leader flags from `is_leader_in_dept` (parallel to
    `department`) or, when the event does not carry them, kept for departments kept."""
    flags = dict(zip(departments, (bool(int(f)) for f in _ints(leaders)))) if leaders not in (None, "") else {}
    existing = {row.department_id: row for row in
                session.scalars(select(UserDepartment).where(UserDepartment.userid == user.userid))}
    for department_id, row in existing.items():
        if department_id not in departments:
            session.delete(row)
    for department_id in departments:
        row = existing.get(department_id)
        if row is None:
            row = UserDepartment(userid=user.userid, department_id=department_id, is_leader=False)
            session.add(row)
        if department_id in flags:
            row.is_leader = flags[department_id]
    if departments and user.main_department not in departments:
        user.main_department = departments[0]


def delete_user(session, userid: str, event_time: int, now: datetime | None = None) -> User | None:
    """delete_user, or a user WeCom no longer knows: status 5 and left_at, the row kept for the
    records. An unknown userid gets a tombstone so that a late, older create_user stays dead."""
    userid = userid.strip().lower()
    user = session.get(User, userid)
    if _too_old(user, event_time, "user", userid):
        return None
    if user is None:
        user = User(userid=userid, direct_leader=[], extra={}, event_time=0)
        session.add(user)
    _set_status(session, user, STATUS_LEFT, event_time, now)
    user.stale = False
    user.event_time = max(user.event_time or 0, event_time)
    return user


# A userid rename (update_user with NewUserID) moves far more than the mirror: directory/rename.py.


# -- departments ---------------------------------------------------------------------------------------

def apply_department(session, data: dict, event_time: int) -> Department | None:
    """department/list entry or create_party / update_party fields (only those present)."""
    department_id = int(data["id"])
    department = session.get(Department, department_id)
    if _too_old(department, event_time, "department", department_id):
        return None
    if department is None:
        department = Department(id=department_id, department_leader=[], event_time=0)
        session.add(department)
    if "name" in data:
        department.name = str(data["name"] or "")
    if data.get("parentid") not in (None, ""):
        department.parentid = int(data["parentid"])
    if data.get("order") not in (None, ""):
        department.sort_order = int(data["order"])
    if "department_leader" in data:
        department.department_leader = _userids(data["department_leader"])
    department.deleted = False
    department.event_time = max(department.event_time or 0, event_time)
    return department


def delete_department(session, department_id: int, event_time: int) -> Department | None:
    department = session.get(Department, int(department_id))
    if _too_old(department, event_time, "department", department_id):
        return None
    if department is None:
        department = Department(id=int(department_id), department_leader=[], event_time=0)
        session.add(department)
    department.deleted = True
    department.event_time = max(department.event_time or 0, event_time)
    return department


# -- tags -------------------------------------------------------------------------------------------

def mark_tag_stale(session, tagid: int) -> Tag:
    """update_tag: re-read with tag/get, since tag and member events arrive in any order (pitfall 11)."""
    tag = session.get(Tag, int(tagid))
    if tag is None:
        tag = Tag(id=int(tagid), name="")
        session.add(tag)
    tag.stale = True
    return tag


def apply_tag(session, tagid: int, data: dict) -> Tag:
    """tag/get's answer: the name, and members replaced by `userlist` and `partylist`."""
    tag = session.get(Tag, int(tagid)) or Tag(id=int(tagid))
    session.add(tag)
    tag.name, tag.stale = str(data.get("tagname", tag.name or "")), False
    wanted = {(u["userid"].lower() if isinstance(u, dict) else str(u).lower(), None) for u in data.get("userlist", [])}
    wanted |= {(None, int(d)) for d in data.get("partylist", [])}
    rows = session.scalars(select(TagMember).where(TagMember.tag_id == tag.id)).all()
    for row in rows:
        if (row.userid, row.department_id) not in wanted:
            session.delete(row)
    for userid, department_id in wanted - {(row.userid, row.department_id) for row in rows}:
        session.add(TagMember(tag_id=tag.id, userid=userid, department_id=department_id))
    return tag


def delete_tag(session, tagid: int) -> None:
    session.execute(delete(TagMember).where(TagMember.tag_id == int(tagid)))
    session.execute(delete(Tag).where(Tag.id == int(tagid)))
    invalidate(session)
