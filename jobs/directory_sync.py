"""Job: re-read what change_contact events left stale (`wecom-app jobs run directory_sync`);
the nightly full sync is jobs/directory_full.py.

A stale user is read with user/get (90196) on the app's own token: a 通讯录同步
callback configured after 2022-08-15 carries only UserID and Department (90970),
and the 通讯录同步 secret may no longer call user/get from a new IP (48009), so the
re-read is the app's. 60111 means WeCom no longer knows the userid: the user has
left, or was renamed by a callback that did not say so (whether a minimal callback
carries NewUserID is UNCONFIRMED, 90970). So before treating them as gone, their
departments are listed (user/list, the app's token) for exactly one member the mirror
does not know under the same name: that is the rename, and their records follow
(directory/rename.py) instead of a removal from every group. What the re-read changed (status, departments, name) is judged in the
same transaction, as the callback would have been had it carried the fields (R1,
R2, R9: membership.review_user). A stale tag is read with tag/get (90213);
40068 means the tag is gone. At most `LIMIT` reads per run, one at a time, each
applied in its own short transaction; a rate limit or an outage ends the run
and the rest waits for the next one (the rows stay stale).
"""

from __future__ import annotations

import dataclasses
import logging

from sqlalchemy import select

from wecom_app.counts import Counts
from wecom_app.directory import rename as directory_rename
from wecom_app.directory.mirror import apply_tag, apply_user, delete_tag, delete_user, stamp
from wecom_app.governance import membership
from wecom_app.logs import kv
from wecom_app.models import Tag, User, UserDepartment
from wecom_app.wecom.errors import WeComError

log = logging.getLogger("wecom.jobs.directory_sync")

LIMIT = 200
USER_NOT_FOUND = 60111
NO_PRIVILEGE = 60011  # outside the app's visible range
TAG_NOT_FOUND = 40068


@dataclasses.dataclass
class RefreshCounts(Counts):
    users: int = 0
    left: int = 0
    tags: int = 0
    errors: int = 0


def run(runtime):
    return refresh_stale(runtime.sessions, runtime.client, runtime.clock())


def refresh_stale(sessions, client, now, *, limit: int = LIMIT) -> RefreshCounts:
    counts = RefreshCounts()
    with sessions() as session:
        userids = session.scalars(select(User.userid).where(User.stale.is_(True)).order_by(User.userid).limit(limit)).all()
        tagids = session.scalars(select(Tag.id).where(Tag.stale.is_(True)).order_by(Tag.id).limit(limit)).all()
    try:
        for userid in userids:
            _refresh_user(sessions, client, userid, now, counts)
        for tagid in tagids:
            _refresh_tag(sessions, client, tagid, counts)
    except WeComError as exc:  # rate limit, outage: the rest stays stale for the next run
        counts.errors += 1
        log.warning(kv("wecom.directory.refresh_stopped", errcode=exc.errcode, api=exc.api))
    return counts


def _judged(session, userid: str) -> tuple:
    """What membership rules read about a person: status, name, departments."""
    user = session.get(User, userid)
    departments = session.scalars(select(UserDepartment.department_id).where(UserDepartment.userid == userid))
    return (user.status, user.name, user.main_department, frozenset(departments)) if user else None


def _refresh_user(sessions, client, userid: str, now, counts: RefreshCounts) -> None:
    at = stamp(now)  # taken before the read: an event newer than this still wins
    try:
        data = client.user_get(userid)  # the app's token (90196), never the 通讯录同步 one
    except WeComError as exc:
        if exc.errcode not in (USER_NOT_FOUND, NO_PRIVILEGE):
            raise
        renamed = _renamed_to(sessions, client, userid) if exc.errcode == USER_NOT_FOUND else None
        if renamed is not None:
            with sessions.begin() as session:
                directory_rename.rename_user(session, userid, renamed["userid"], now)
                apply_user(session, renamed, at, now=now, stale=False)
                session.flush()
                membership.review_user(session, client.settings, renamed["userid"].lower(), now)
            counts.users += 1
            return
        with sessions.begin() as session:
            if exc.errcode == USER_NOT_FOUND and delete_user(session, userid, at, now) is not None:
                membership.review_user(session, client.settings, userid, now, gone=True)
                counts.left += 1
            else:  # not visible to this app (60011), or our clock is behind the row: stop asking
                session.get(User, userid).stale = False
                log.info(kv("wecom.directory.refresh_skipped", userid=userid, errcode=exc.errcode))
        return
    with sessions.begin() as session:
        before = _judged(session, userid)
        apply_user(session, data, at, now=now, stale=False)
        session.flush()
        if _judged(session, userid) != before:
            membership.review_user(session, client.settings, userid, now)
    counts.users += 1


def _renamed_to(sessions, client, userid: str) -> dict | None:
    """The user/list entry of the one member, in the departments `userid` was in, whom the
    mirror does not know and who has the same name; None when there is not exactly one."""
    with sessions() as session:
        user = session.get(User, userid)
        if user is None or not user.name:
            return None
        departments = set(session.scalars(select(UserDepartment.department_id)
                                          .where(UserDepartment.userid == userid)))
        if user.main_department:
            departments.add(user.main_department)
        name = user.name
    candidates: dict[str, dict] = {}
    for department in sorted(departments):
        for data in client.user_list(department).get("userlist", []):
            if data.get("name") == name:
                candidates[data["userid"].lower()] = data
    with sessions() as session:
        unknown = [data for key, data in candidates.items() if session.get(User, key) is None]
    if len(unknown) != 1:
        return None
    log.info(kv("wecom.directory.rename_inferred", old=userid, new=unknown[0]["userid"].lower()))
    return unknown[0]


def _refresh_tag(sessions, client, tagid: int, counts: RefreshCounts) -> None:
    try:
        data = client.get("tag/get", {"tagid": tagid})
    except WeComError as exc:
        if exc.errcode != TAG_NOT_FOUND:
            raise
        data = None
    with sessions.begin() as session:
        if data is None:
            delete_tag(session, tagid)
        else:
            apply_tag(session, tagid, data)
    counts.tags += 1
