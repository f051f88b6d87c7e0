"""The outbox: every state-changing WeCom call is stored before it is sent
(DESIGN §2 "nothing lost"), then sent by `send_due` from the outbox job.

`kind` is the WeCom API path: `message/send` (90236), `message/update_template_card`
(94888), `appchat/create|update|send` (90245/98913/90248) and `webhook/send` (a group
robot, 99398; payload `{"group_id": ..., "body": {...}}` — the row names the group, and
the robot's key, a bearer secret kept encrypted in the group table, is decrypted only
when the row is claimed and never written back: no secret sits in a payload).

Sending is claim → call → record. A claim (one short transaction; `FOR UPDATE SKIP
LOCKED` on PostgreSQL, `BEGIN IMMEDIATE` on SQLite) leases due rows, so concurrent
senders never send a row twice and a crashed sender's rows come back when the
lease expires. While claiming:

- a row that waits for working time (`hold` and not `urgent`, rule R4) is moved to
  the next working moment plus 1-4 minutes of jitter (pitfall 22: not on :00/:30).
  The jitter is the row's own (from its id), so `goes_at` — the one function that
  says when a row goes, used by the claim and by every page that shows a held
  message's time — gives the claim's answer before the claim; a caller that wants
  its held messages to go together (a directive's reminders, an announcement's
  posts) stores `held_until(...)` as `not_before` with its own seed;
- quotas are reserved, each API its own (quota.py, 90312). Members over WeCom's
  30/min or 1000/h are split off into a child row (`parent_id`) due when they have
  room, because WeCom would silently drop their copy (pitfall 15); so are those over
  the app's daily seats × 200 person-times (when WECOM_SEAT_LIMIT is known), due the
  next natural day and logged `wecom.outbox.seat_quota_exhausted`; an API's calls per
  minute and hour, appchat/send's person-times and a robot's 20 a minute defer the row.

The call happens outside any transaction. Then the result is recorded: WeCom's
answer (`msgid`, `invaliduser`...) on success; rate limits, busy and unreachable
WeCom back off with jitter (up to 1 h) and keep trying for OUTBOX_GIVE_UP_AFTER
(wecom/outcome.py); a permanent error fails the row with its errcode, logged
`wecom.outbox.failed` and counted, never dropped silently.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, text
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, make_transient_to_detached, sessionmaker

from wecom_app import metrics
from wecom_app.config import Settings
from wecom_app.db import utcnow
from wecom_app.logs import kv
from wecom_app.models import Group, OutboxAction
from wecom_app.wecom import quota, robot_keys, textlimits
from wecom_app.wecom.errors import WeComAuthError, WeComError, WeComRateLimited
from wecom_app.wecom.outcome import (
    BACKOFF_BASE,
    BACKOFF_CAP,
    CHAT_EXISTS,
    TASK_ID_USED,
    SendStats,
    Stop,
    _Job,
    log_failed,
    needs_token,
    outcome_values,
    record,
    released_values,
    stops_batch,
)
from wecom_app.workcal import WorkCalendar

log = logging.getLogger("wecom.outbox")

# kind → does it wait for working time by default (messages to people do; keeping
# membership right and updating a card someone just clicked do not)
KINDS = {
    "message/send": True,
    "appchat/send": True,
    "webhook/send": True,
    "message/update_template_card": False,
    "appchat/create": False,
    "appchat/update": False,
    # sensitive-word intercept rules (sensitive_words.py, 95130): configuration, never held
    "externalcontact/add_intercept_rule": False,
    "externalcontact/update_intercept_rule": False,
    "externalcontact/del_intercept_rule": False,
}
MAX_TOUSER = 1000  # 40032 beyond (90236)
MAX_TOPARTY = MAX_TOTAG = 100
# A re-send after a crash mid-call must not reach anyone twice: WeCom drops an
# identical message to the same member within the interval (4 h is its maximum,
# long enough to cover a lease expiry and a night's hold... mostly).
DUPLICATE_CHECK_INTERVAL = 14400
LEASE = timedelta(minutes=5)
HELD_MARGIN = timedelta(minutes=5)  # longer than hold_jitter's 4 minutes
# Claims reserve quota rows in the order of their outbox rows; two PostgreSQL claims
# at once would lock them in different orders and deadlock, so claims (short, no
# network) take turns. SQLite's BEGIN IMMEDIATE already serialises them.
CLAIM_LOCK = 0x7765636F  # "weco"


def enqueue(
    session: Session, kind: str, payload: dict[str, Any], *, key: str, urgent: bool = False,
    hold: bool | None = None, not_before: datetime | None = None, now: datetime | None = None,
    subject: str | None = None,
) -> OutboxAction:
    """Store one WeCom call in the caller's transaction. Idempotent on `key`: an
    existing row with that key is returned unchanged. A text, markdown or card that
    WeCom would cut raises `textlimits.TooLong` (make it fit first: textlimits.py). `subject` ("<name>:<id>") names
    the feature object whose state follows the answer: see `settle`."""
    now = now or utcnow()
    try:
        if kind not in KINDS:
            raise ValueError(f"unknown outbox kind {kind!r}; one of {', '.join(KINDS)}")
        if subject is not None and subject.partition(":")[0] not in SUBJECTS:
            raise ValueError(f"no settler registered for outbox subject {subject!r}")
        values = dict(idempotency_key=key, kind=kind, payload=_normalised(kind, payload), urgent=urgent,
                      hold=KINDS[kind] if hold is None else hold, not_before=not_before or now, created_at=now,
                      subject=subject)
    except ValueError:  # a call that is stored already is returned as it was, whatever it now asks
        if (existing := _by_key(session, key)) is not None:
            return existing
        raise
    # one statement: the row is stored unless its key is (by this transaction or another, committed,
    # process); on PostgreSQL a concurrent uncommitted one with the key is waited for first. Every
    # column is written, so the row handed back holds exactly what is stored, and no query reads it
    # back (the ORM's own INSERT … RETURNING of the entity cost twice the CPU of this)
    values = {**_BLANK, **values}
    if session.autoflush:
        session.flush()  # this transaction's pending writes first, as a query would
    stored = {name: value for name, value in values.items() if value is not None}  # NULL, not JSON's null
    new_id = session.connection().execute(_INSERTS[session.get_bind().dialect.name == "postgresql"], stored).scalar()
    if new_id is None:
        return _by_key(session, key)
    row = OutboxAction(id=new_id, **values)
    make_transient_to_detached(row)  # as if just loaded: persistent once added, nothing left to write
    session.add(row)
    return row


# built once (a statement built per call costs more than its execution): PostgreSQL's, SQLite's
_TABLE = OutboxAction.__table__
_INSERTS = {postgresql: insert(_TABLE).on_conflict_do_nothing(index_elements=[_TABLE.c.idempotency_key])
            .returning(_TABLE.c.id) for postgresql, insert in ((True, postgresql_insert), (False, sqlite_insert))}
# a new row's other columns: their scalar defaults (status, attempts) or NULL
_BLANK = {column.key: column.default.arg if column.default is not None and column.default.is_scalar else None
          for column in _TABLE.c if column.key != "id"}


def _by_key(session: Session, key: str) -> OutboxAction | None:
    return session.scalar(select(OutboxAction).where(OutboxAction.idempotency_key == key))


def _normalised(kind: str, payload: dict[str, Any]) -> dict[str, Any]:
    payload = dict(payload)
    textlimits.check(kind, payload)  # nothing WeCom would cut (90236, 90248, 99398)
    if kind == "webhook/send" and ("key" in payload or not isinstance(payload.get("group_id"), int)
                                   or not isinstance(payload.get("body"), dict)):
        # the robot's key is a bearer secret: the row names the group, the sender decrypts its key
        raise ValueError('webhook/send payload is {"group_id": the group with the robot, "body": message}')
    if kind != "message/send":
        return payload
    users = split_ids(payload.get("touser", ""))
    if len(users) > MAX_TOUSER:
        raise ValueError(f"message/send to {len(users)} members: at most {MAX_TOUSER} per call, batch them")
    for field, limit in (("toparty", MAX_TOPARTY), ("totag", MAX_TOTAG)):
        if len(split_ids(payload.get(field, ""))) > limit:
            raise ValueError(f"message/send {field}: at most {limit} per call")
    # userids are case-insensitive and come back lower-cased in invaliduser (pitfall 25)
    payload["touser"] = "@all" if users == ["@all"] else "|".join(u.lower() for u in users)
    for field in ("toparty", "totag"):
        if field in payload:
            payload[field] = "|".join(str(i) for i in split_ids(payload[field]))
    payload.setdefault("enable_duplicate_check", 1)
    payload.setdefault("duplicate_check_interval", DUPLICATE_CHECK_INTERVAL)
    return payload


def split_ids(value) -> list[str]:
    items = value if isinstance(value, (list, tuple)) else str(value or "").split("|")
    return [item for item in (str(item).strip() for item in items) if item]


def send_due(
    sessions: sessionmaker, client, settings: Settings, calendar: WorkCalendar, now: datetime,
    *, limit: int = 100, lease: timedelta = LEASE, clock: Callable[[], float] = time.monotonic,
) -> SendStats:
    """Send up to `limit` due rows once; what cannot go now is rescheduled, never dropped.

    The batch stops early, putting its uncalled rows back without using an attempt
    and giving back their quota: when WeCom is down or busy, when the app's
    credentials are refused (one gettoken per run, not one per row), and when half
    the lease is gone (another sender may soon take the rows). A 45009 stops the
    batch's other calls to that API (to that robot, for webhook/send)."""
    stats = SendStats()
    started = clock()
    with sessions() as session, session.begin():
        jobs = _claim(session, settings, calendar, now, limit, lease, stats)
        quota.prune(session, now)
    blocked: dict[str, Stop] = {}  # one 45009 stops the batch's other calls to that API or robot
    stop: Stop | None = None  # WeCom down or busy, or the lease half gone: no more calls at all
    refused: Stop | None = None  # the app's credentials refused: no more calls needing a token
    for i, job in enumerate(jobs):
        if stop is None and clock() - started >= lease.total_seconds() / 2:
            stop = Stop(None, "", now)  # due again at once, for whichever sender comes next
            log.warning(kv("wecom.outbox.lease_half_over", released=len(jobs) - i))
        skip = stop or (refused if needs_token(job) else None)
        if skip is not None or job.block_key in blocked:
            rate_limited = skip is None
            values = released_values(job, skip or blocked[job.block_key], now, stats, rate_limited=rate_limited)
            record(sessions, job, values, give_back_at=now)
            continue
        outcome = _call(client, job)
        values = outcome_values(job, outcome, settings, now, stats)
        if isinstance(outcome, WeComRateLimited):
            blocked[job.block_key] = Stop(values["errcode"], values["errmsg"],
                                          values.get("not_before") or now + timedelta(seconds=BACKOFF_BASE))
        elif stops_batch(job, outcome):
            when = values.get("not_before") or now + timedelta(seconds=BACKOFF_BASE)
            if isinstance(outcome, WeComAuthError):
                refused = Stop(values["errcode"], values["errmsg"], when)
            else:
                stop = Stop(values["errcode"], values["errmsg"], when)
            log.warning(kv("wecom.outbox.batch_stopped", id=job.id, kind=job.kind, errcode=values["errcode"]))
        give_back = values["status"] == "failed" or (values["status"] == "pending" and values["attempts"] < job.attempt
                                                      and not isinstance(outcome, WeComRateLimited))
        record(sessions, job, values, give_back_at=now if give_back else None)
    return stats


def _claim(session, settings, calendar, now, limit, lease, stats) -> list[_Job]:
    t = OutboxAction
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CLAIM_LOCK})
    due = or_(
        and_(t.status == "pending", t.not_before <= now),
        and_(t.status == "sending", t.lease_until < now),  # its sender crashed
    )
    query = select(t).where(due).order_by(t.urgent.desc(), t.not_before, t.id).limit(limit)
    jobs, tally = [], quota.Tally(session, now)
    rows = session.scalars(query.with_for_update(skip_locked=True)).all()
    member_scopes = {quota.member_scope(u) for r in rows if r.kind == "message/send" for u in split_ids(r.payload.get("touser"))}
    tally.load(member_scopes - {quota.member_scope("@all")}, quota.MEMBER_LIMITS)  # one read for the batch
    for row in rows:
        if row.status == "sending" and row.attempts >= settings.outbox_max_attempts:
            _fail_row(row, None, f"lease expired after {row.attempts} attempts: the sender stopped mid-call", stats)
            continue
        robot_key = ""
        if row.kind == "webhook/send":
            robot_key, why_not = _robot_key(session, settings, row.payload)
            if not robot_key:
                _fail_row(row, None, why_not, stats)
                continue
        if row.hold and not row.urgent and not calendar.is_working_time(now):
            _reschedule(row, goes_at(row, calendar, now))
            stats.held += 1
            continue
        state = dict(row.result or {})
        free_at = _take_quota(tally, row, stats, settings, state, robot_key)
        if free_at is not None:
            _reschedule(row, free_at + _jitter(1, 10))
            stats.deferred += 1
            continue
        row.status, row.attempts, row.lease_until = "sending", row.attempts + 1, now + lease
        row.result = {**state, "calls": int(state.get("calls", 0)) + 1}  # it may go out from now on
        jobs.append(_Job(row.id, row.kind, dict(row.payload), row.attempts, state, row.failing_since, robot_key))
        stats.claimed += 1
    tally.flush()
    return jobs


def hold_jitter(seed: int) -> timedelta:
    """1-4 minutes past the working window's start (pitfall 22: not on :00/:30), the
    same for the same seed, spread across seeds."""
    return timedelta(seconds=60 + (seed * 7919) % 181)


def held_until(calendar: WorkCalendar, moment: datetime, *, seed: int, hold: bool = True,
               urgent: bool = False) -> datetime:
    """R4's hold rule: `moment` itself when it is working time (or the message is
    urgent or not held), else the next working window's start plus `hold_jitter(seed)`."""
    if not hold or urgent or calendar.is_working_time(moment):
        return moment
    return calendar.next_working_time(moment) + hold_jitter(seed)


def goes_at(row: OutboxAction, calendar: WorkCalendar, now: datetime) -> datetime:
    """When a pending row goes (barring WeCom's quotas and back-off): the claim's own
    rule applied to its due time. A page showing a held message's time calls this
    (or `send_time`), so the page and the outbox never disagree."""
    return send_time(row, calendar, now)[0]


def send_time(row: OutboxAction, calendar: WorkCalendar, now: datetime) -> tuple[datetime, bool]:
    """(when the pending row goes, whether it waits for working time (R4)). A row already
    moved by the hold sits within 4 minutes of a window's start: the moment 5 minutes
    before it is not working time (a row scheduled for 09:03 by its sender reads as held too)."""
    due = max(row.not_before, now) if row.not_before else now
    waits = bool(row.hold and not row.urgent)
    if waits and not calendar.is_working_time(due):
        return held_until(calendar, due, seed=row.id or 0), True
    moved = waits and row.not_before is not None and row.not_before > now \
        and not calendar.is_working_time(row.not_before - HELD_MARGIN)
    return due, moved


def _robot_key(session, settings: Settings, payload: dict) -> tuple[str, str]:
    """(the robot's key, "") for a webhook/send row, decrypted from its group now; or
    ("", why not) — the row then fails with that reason, which the announcement's
    delivery shows. An operator fixes the group (registers the robot again) and retries."""
    group_id = payload.get("group_id")
    group = session.get(Group, group_id) if isinstance(group_id, int) else None
    if group is None:
        return "", f"group {group_id} is gone: there is no robot to post with"
    if not group.robot_webhook:
        return "", f"group {group_id} has no robot webhook any more: register one, then retry"
    key = robot_keys.robot_key(settings, group)
    if key is None:
        return "", (f"group {group_id}'s robot webhook cannot be decrypted (SECRET_KEY changed since): "
                    "register it again, then retry")
    return key, ""


def _reschedule(row: OutboxAction, when: datetime) -> None:
    row.status, row.lease_until, row.not_before = "pending", None, when


def _take_quota(tally: quota.Tally, row: OutboxAction, stats: SendStats, settings: Settings, state: dict,
                robot_key: str = "") -> datetime | None:
    """Take what the row needs under its API's own limits (quota.py); None when it may
    go now, else when to look again. Person-times taken are noted in `state` (the job's),
    so that a call that never reached WeCom gives them back."""
    state.pop("persons", None)  # an earlier claim's
    if row.kind == "webhook/send":
        return tally.take([quota.webhook_scope(robot_key)], quota.WEBHOOK_LIMITS).next_free  # stored hashed
    if row.kind not in quota.API_LIMITS:
        return None
    call = [quota.api_scope(row.kind)], quota.API_LIMITS[row.kind]
    waited = tally.take(*call).next_free
    if waited is None and row.kind == "message/send":
        waited = _take_member_quota(tally, row, stats, settings, state)
    elif waited is None and row.kind == "appchat/send":
        waited = _take_appchat_quota(tally, row, state)
    else:
        return waited
    if waited is not None:
        tally.give_back(*call)
        state.pop("persons", None)
    return waited


GROUP_MEMBERS = text("SELECT m.member_id FROM group_member m JOIN chat_group g ON m.group_id = g.id "
                     "WHERE g.chat_id = :chatid AND m.state <> 'removed'")  # groups.py imports the outbox


def _take_appchat_quota(tally: quota.Tally, row: OutboxAction, state: dict) -> datetime | None:
    """appchat/send (90248): a person-time per member of the group as last seen, and each
    member's 200 a minute / 10,000 a day — WeCom drops the excess silently, and one
    message to a group cannot leave a member out, so it waits until all have room. A
    group with no members recorded counts as one: the app posts only into groups it
    created, whose members it records."""
    members = list(tally.session.scalars(GROUP_MEMBERS, {"chatid": row.payload.get("chatid") or ""}))
    scopes = [quota.appchat_member_scope(m) for m in members]
    each = tally.take(scopes, quota.APPCHAT_MEMBER_LIMITS)
    if each.later:
        tally.give_back(each.ready, quota.APPCHAT_MEMBER_LIMITS)
        return max(each.later.values())
    persons = min(max(len(members), 1), 2000)  # 2000: WeCom's largest group
    waited = tally.take([quota.person_times_scope(row.kind)], quota.APPCHAT_PERSON_TIMES_LIMITS, persons).next_free
    if waited is not None:
        tally.give_back(scopes, quota.APPCHAT_MEMBER_LIMITS)
    else:
        state["persons"] = persons  # a call that never reaches WeCom gives these back (members' units: not)
    return waited


def _take_member_quota(tally: quota.Tally, row: OutboxAction, stats: SendStats, settings: Settings,
                       state: dict) -> datetime | None:
    users = split_ids(row.payload.get("touser", ""))
    if not users or users == ["@all"]:
        return None  # departments and tags: WeCom does not tell us who (or how many) is in them
    scopes = {quota.member_scope(u): u for u in users}
    taken = tally.take(scopes, quota.MEMBER_LIMITS)
    ready = [scopes[s] for s in taken.ready]
    later = {scopes[s]: when for s, when in taken.later.items()}
    seats = quota.seat_limits(settings.seat_limit)
    if seats and ready:
        ready = _take_seat_quota(tally, row, ready, later, seats)
        state["persons"] = len(ready)
    if not later:
        return None
    if not (ready or row.payload.get("toparty") or row.payload.get("totag")):
        return min(later.values())  # nobody can receive it now: the whole row waits
    when = min(later.values())
    try:
        with tally.session.begin_nested():  # one row's bad split must not undo the whole claim
            tally.session.add(_child(row, sorted(later), when + _jitter(1, 10), tally.now))
    except IntegrityError:
        log.exception(kv("wecom.outbox.split_failed", id=row.id))
        tally.give_back([quota.member_scope(u) for u in ready], quota.MEMBER_LIMITS)
        if seats and ready:
            tally.give_back([quota.person_times_scope(row.kind)], seats, len(ready))
        return when
    going = set(ready)
    row.payload = {**row.payload, "touser": "|".join(u for u in users if u in going)}
    stats.split += 1
    return None


def _take_seat_quota(tally: quota.Tally, row: OutboxAction, ready: list[str], later: dict, seats) -> list[str]:
    """message/send's daily person-times (seats × 200, 90312): who fits today goes, the
    rest waits for the next natural day — visible (log, metric), never dropped."""
    scope = quota.person_times_scope(row.kind)
    room = tally.room(scope, seats)
    fits, over = ready[:room], ready[room:]
    if fits:
        tally.take([scope], seats, len(fits))
    if over:
        tally.give_back([quota.member_scope(u) for u in over], quota.MEMBER_LIMITS)
        tomorrow = tally.free_at(scope, seats)
        later.update(dict.fromkeys(over, tomorrow))
        metrics.OUTBOX_QUOTA_WAIT.labels("message/send", "seats").inc(len(over))
        log.warning(kv("wecom.outbox.seat_quota_exhausted", id=row.id, waiting=len(over),
                       until=tomorrow.isoformat(), quota=seats[0].limit))
    return fits


def _child(row: OutboxAction, users: list[str], when: datetime, now: datetime) -> OutboxAction:
    """The members over their quota, as a row of their own. Its key and task_id are
    new every time: `attempts` repeats (45009 and retry_failed set it back)."""
    tag = uuid.uuid4().hex[:12]
    payload = {**row.payload, "touser": "|".join(users), "toparty": "", "totag": ""}
    card = payload.get("template_card")
    if isinstance(card, dict) and card.get("task_id"):
        # task_id is unique per app forever (42014): the child's extends the parent's
        suffix = f"@{row.id}-{tag}"
        payload["template_card"] = {**card, "task_id": card["task_id"][: 128 - len(suffix)] + suffix}
    return OutboxAction(
        idempotency_key=f"split:{row.id}:{tag}", kind=row.kind, payload=payload, urgent=row.urgent,
        hold=row.hold, not_before=when, created_at=now, parent_id=row.id, subject=row.subject,
    )


def _call(client, job: _Job) -> dict | Exception:
    """The WeCom call, outside any transaction: its answer, or the exception it raised."""
    p = job.payload
    try:
        if job.kind == "message/send":
            return client.send_message(p)
        if job.kind == "message/update_template_card":
            return client.update_template_card(p)
        if job.kind == "appchat/create":
            return client.appchat_create(p)
        if job.kind == "appchat/update":
            return client.appchat_update(p)
        if job.kind == "appchat/send":
            return client.appchat_send(p)
        if job.kind.startswith("externalcontact/"):
            return client.post(job.kind, p)
        return client.webhook_send(job.robot_key, p["body"])
    except WeComError as exc:
        return exc
    except Exception as exc:  # a bug or an unexpected library error: retried, and loud
        log.exception(kv("wecom.outbox.error", id=job.id, kind=job.kind))
        return exc


def _fail_row(row: OutboxAction, errcode: int | None, errmsg: str, stats: SendStats) -> None:
    row.status, row.lease_until, row.errcode, row.errmsg = "failed", None, errcode, errmsg
    log_failed(row.id, row.kind, errcode, errmsg, row.attempts)
    stats.failed += 1


def _jitter(low: float, high: float) -> timedelta:
    return timedelta(seconds=random.uniform(low, high))


# A settler takes the answers of finished (sent or failed) rows whose subject is `<name>:<id>`:
# settler(session, rows, now). The subject names a row may carry; their settlers are one dict,
# wecom_app/settlers.py, which the outbox job hands to `settle` after each batch.
Settler = Callable[[Session, list[OutboxAction], datetime], None]
SUBJECTS = ("directive_batch", "card_retired", "announcement_delivery", "group")


def settle(session: Session, now: datetime, settlers: Mapping[str, Settler], *, limit: int = 2000) -> int:
    """Hand finished rows with a subject to their feature's settler (`settlers[name]`), once
    each (a failed row an operator retries is handed over again when it finishes)."""
    t = OutboxAction
    rows = session.scalars(
        select(t).where(t.subject.is_not(None), t.settled_at.is_(None), t.status.in_(("sent", "failed")))
        .order_by(t.id).limit(limit).with_for_update(skip_locked=True)
    ).all()
    by_name: dict[str, list[OutboxAction]] = {}
    for row in rows:
        by_name.setdefault(row.subject.partition(":")[0], []).append(row)
    for name, group in by_name.items():
        fn = settlers.get(name)
        if fn is None:
            log.error(kv("wecom.outbox.no_settler", subject=name, rows=len(group)))
            continue
        fn(session, group, now)
        for row in group:
            row.settled_at = now
    return sum(len(g) for name, g in by_name.items() if name in settlers)


def retry_failed(session: Session, id: int, *, now: datetime | None = None) -> OutboxAction:  # noqa: A002
    """Put a failed row back in the queue (an operator's decision, e.g. after fixing a userid
    or after WeCom came back from an outage longer than OUTBOX_GIVE_UP_AFTER)."""
    row = session.get(OutboxAction, id)
    if row is None:
        raise LookupError(f"no outbox action {id}")
    if row.status != "failed":
        raise ValueError(f"outbox action {id} is {row.status}, not failed")
    _requeue(row, now or utcnow())
    return row


def retry_all_failed(session: Session, *, since: datetime | None = None, now: datetime | None = None) -> list[int]:
    """Put every failed row (created at or after `since`, when given) back in the queue; their ids.
    Each gets OUTBOX_GIVE_UP_AFTER afresh."""
    now = now or utcnow()
    query = select(OutboxAction).where(OutboxAction.status == "failed").order_by(OutboxAction.id)
    if since is not None:
        query = query.where(OutboxAction.created_at >= since)
    rows = session.scalars(query.with_for_update(skip_locked=True)).all()
    for row in rows:
        _requeue(row, now)
    return [row.id for row in rows]


def _requeue(row: OutboxAction, now: datetime) -> None:
    row.status, row.attempts, row.not_before, row.lease_until, row.failing_since = "pending", 0, now, None, None
    # the give-up clock (failing_since) starts again, and so does the back-off
    row.result = {**(row.result or {}), "transient": 0, "rate_limited": 0}
    row.settled_at = None  # its feature takes the new answer too


def waiting(session: Session, now: datetime, *, over: timedelta = timedelta(minutes=15)) -> dict[str, Any]:
    """Rows that WeCom has kept failing (unreachable, busy, rate-limiting, refusing the app)
    for more than `over`, and still being retried: how many, and since when the oldest
    has been failing. Rows held for working time or waiting for a quota are not late."""
    t = OutboxAction
    late = and_(t.status.in_(("pending", "sending")), t.failing_since <= now - over)
    count, oldest = session.execute(select(func.count(), func.min(t.failing_since)).where(late)).one()
    return {"count": count or 0, "oldest": oldest,
            "oldest_age_seconds": (now - oldest).total_seconds() if oldest else 0.0}


def summary(session: Session, now: datetime) -> dict[str, Any]:
    """Queue state for the CLI and /metrics: rows per status, how late the oldest due
    row is, and the failures by kind and errcode."""
    t = OutboxAction
    by_status = dict(session.execute(select(t.status, func.count()).group_by(t.status)).all())
    oldest = session.scalar(select(func.min(t.not_before)).where(t.status == "pending", t.not_before <= now))
    failures = session.execute(
        select(t.kind, t.errcode, func.count()).where(t.status == "failed").group_by(t.kind, t.errcode)
    ).all()
    return {
        "by_status": by_status,
        "due_lag_seconds": (now - oldest).total_seconds() if oldest else 0.0,
        "failed": [{"kind": k, "errcode": e, "count": n} for k, e, n in failures],
    }
