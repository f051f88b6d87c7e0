"""The full directory sync (`wecom-app sync`, the nightly `directory_full` job): read
departments, users and tags from WeCom and apply them to the mirror.

Every detail is read with the app's own secret: since 2022-08-15 the 通讯录同步
secret may not call user/get, user/list, user/simplelist or department/list from
a newly added IP (48009 "api forbidden for contact assistant"; documents 90196,
90200, 90201, 90208), and the app is visible at the root anyway (appchat needs
it). The 通讯录同步 secret, when configured, is used for the one read it alone may
make: the corp's userids, user/list_id (96067, "仅支持通过通讯录同步secret调用"),
each then read with user/get on the app's token. Without it, or when list_id is
refused (an IP not trusted, a wrong secret), users come from user/list per
visible department (90201). Departments: department/list (90208); tags:
tag/list 90216 + tag/get 90213, all on the app's token. Calls are sequential
(one at a time, pitfall 26) and each department's or batch's writes commit on
their own, so an interrupted sync keeps its progress and a second run is
harmless (every write is idempotent and keyed by event_time). Users that WeCom
no longer returns are marked left only after every department and user read
succeeded; a suspiciously large number of them is marked stale instead, for the
directory_sync job to confirm one by one (60111).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select

from wecom_app.counts import Counts
from wecom_app.directory.mirror import apply_department, apply_tag, apply_user, delete_tag, delete_user, stamp
from wecom_app.logs import kv
from wecom_app.models import Department, Tag, User
from wecom_app.models.directory import STATUS_LEFT
from wecom_app.wecom.errors import WeComError, WeComRateLimited

log = logging.getLogger("wecom.directory.sync")

Progress = Callable[[str, int, int], None]  # (stage, done, total)
BATCH = 100  # users applied per transaction
# more departures than this share of the known users in one sync looks like a visible-range
# change or a partial answer, not a wave of resignations: confirm each with user/get instead
MAX_LEFT_SHARE = 0.2
MIN_LEFT_GUARD = 10
ERROR_NOT_FOUND = 60111  # userid not found
ERROR_NOT_VISIBLE = 60011  # outside the app's visible range (90196)


@dataclasses.dataclass
class SyncCounts(Counts):
    departments: int = 0  # the order of the fields is the order of summary() and of the log line
    users: int = 0
    left: int = 0
    tags: int = 0
    departments_deleted: int = 0
    tags_deleted: int = 0
    unconfirmed: int = 0  # missing users marked stale for the job to confirm
    invisible: int = 0  # listed by user/list_id but outside the app's visible range (60011): not read
    errors: list[str] = dataclasses.field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.errors


def full_sync(session_factory, client, now: datetime, progress: Progress | None = None) -> SyncCounts:
    """Departments, then users, then tags; then departures. A failed department read raises
    (nothing is changed); a failed user or tag read is recorded in `errors` and skips the
    departure step."""
    report = progress or (lambda stage, done, total: None)
    at, counts = stamp(now), SyncCounts()
    departments = client.department_list().get("department", [])
    _sync_departments(session_factory, departments, at, counts)
    report("departments", len(departments), len(departments))
    seen = None
    if client.settings.contact_secret:
        seen = _users_by_list_id(session_factory, client, at, now, counts, report)
    if seen is None:
        seen = _users_by_department(session_factory, client, departments, at, now, counts, report)
    _sync_tags(session_factory, client, counts, report)
    if not any(e.startswith("users") for e in counts.errors):
        _mark_missing_left(session_factory, seen, at, now, counts)
    log.info(kv("wecom.directory.synced", **counts.as_dict()))
    return counts


def _sync_departments(session_factory, departments: list[dict], at: int, counts: SyncCounts) -> None:
    returned = {int(d["id"]) for d in departments}
    with session_factory.begin() as session:
        for data in departments:
            apply_department(session, data, at)
        gone = session.scalars(select(Department).where(Department.deleted.is_(False))).all()
        for department in gone:
            if department.id not in returned and department.event_time <= at:
                department.deleted = True
                counts.departments_deleted += 1
    counts.departments = len(departments)


def _apply_batch(session_factory, batch: list[dict], at: int, now: datetime, counts: SyncCounts) -> None:
    with session_factory.begin() as session:
        for data in batch:
            apply_user(session, data, at, now=now, stale=False)
    counts.users += len(batch)


def _users_by_department(session_factory, client, departments, at, now, counts, report) -> set[str]:
    """user/list on the app's token for each visible department (not recursive); a user in
    several is applied once."""
    seen: set[str] = set()
    for done, department in enumerate(departments, 1):
        try:
            users = client.user_list(int(department["id"])).get("userlist", [])
        except WeComError as exc:
            counts.errors.append(f"users of department {department['id']}: {exc}")
            if isinstance(exc, WeComRateLimited):
                break
            continue
        fresh = [u for u in users if u["userid"].lower() not in seen]
        seen.update(u["userid"].lower() for u in fresh)
        _apply_batch(session_factory, fresh, at, now, counts)
        report("users", done, len(departments))
    return seen


def _users_by_list_id(session_factory, client, at, now, counts, report) -> set[str] | None:
    """user/list_id pages on the 通讯录同步 secret (the only secret that may call it, 96067),
    then user/get on the app's token for each userid. None when list_id is refused or
    fails (the caller reads the visible departments instead); a rate limit is an error."""
    userids: list[str] = []
    cursor = ""
    try:
        while True:
            page = client.user_list_id(cursor=cursor)  # routed to the 通讯录同步 secret
            userids.extend(dict.fromkeys(row["userid"].lower() for row in page.get("dept_user", [])))
            cursor = page.get("next_cursor") or ""
            if not cursor:
                break
    except WeComError as exc:
        if isinstance(exc, WeComRateLimited):
            counts.errors.append(f"users (list_id): {exc}")
            return set()
        log.warning(kv("wecom.directory.list_id_refused", errcode=exc.errcode, fallback="user/list"))
        return None
    userids = list(dict.fromkeys(userids))
    seen, batch = set(userids), []
    for done, userid in enumerate(userids, 1):
        try:
            batch.append(client.user_get(userid))  # the app's token: never the 通讯录同步 one (90196)
        except WeComError as exc:
            if exc.errcode == ERROR_NOT_VISIBLE:
                counts.invisible += 1  # in the corp, not in the app's range: kept, not read
                continue
            if exc.errcode != ERROR_NOT_FOUND:
                counts.errors.append(f"users ({userid}): {exc}")
                break
            seen.discard(userid)  # gone between the list and the get: a departure
        if len(batch) >= BATCH:
            _apply_batch(session_factory, batch, at, now, counts)
            batch = []
        report("users", done, len(userids))
    _apply_batch(session_factory, batch, at, now, counts)
    return seen


def _sync_tags(session_factory, client, counts: SyncCounts, report) -> None:
    try:
        tags = client.get("tag/list").get("taglist", [])
    except WeComError as exc:
        counts.errors.append(f"tags: {exc}")
        return
    for done, entry in enumerate(tags, 1):
        try:
            data = client.get("tag/get", {"tagid": entry["tagid"]})
        except WeComError as exc:
            counts.errors.append(f"tags ({entry['tagid']}): {exc}")
            return
        with session_factory.begin() as session:
            apply_tag(session, entry["tagid"], data)
        counts.tags += 1
        report("tags", done, len(tags))
    listed = {int(entry["tagid"]) for entry in tags}
    with session_factory.begin() as session:
        for tag in session.scalars(select(Tag)).all():
            if tag.id not in listed:
                delete_tag(session, tag.id)
                counts.tags_deleted += 1


def _mark_missing_left(session_factory, seen: set[str], at: int, now: datetime, counts: SyncCounts) -> None:
    """Users WeCom no longer returned: left, or (too many at once) stale for the job to confirm."""
    with session_factory.begin() as session:
        known = session.scalars(select(User).where(User.status != STATUS_LEFT)).all()
        missing = [u for u in known if u.userid not in seen and u.event_time <= at]
        if not missing:
            return
        if len(missing) > max(MIN_LEFT_GUARD, MAX_LEFT_SHARE * len(known)):
            log.warning(kv("wecom.directory.many_missing", missing=len(missing), known=len(known)))
            for user in missing:
                user.stale = True
            counts.unconfirmed = len(missing)
            return
        for user in missing:
            delete_user(session, user.userid, at, now)
        counts.left = len(missing)
