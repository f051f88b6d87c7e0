"""Recording what became of one claimed outbox row (outbox.py sends; this decides the
column values and writes them, fenced by the attempt number).

A row's own bookkeeping lives in `result` while it is not sent:

- `calls`: how many times it was handed to WeCom (counted at claim, so a sender that
  died mid-call still counts; never reset, unlike `attempts`; kept beside the answer
  once sent). A template card whose
  task_id may have gone out before answers 42014 on a later call: that is "sent".
- `rate_limited`: how many 45009s in a row it met; the back-off escalates with it
  (60 s, 2 min, 5 min... capped at 1 h) without using up attempts.
- `transient`: how many network errors, timeouts, HTTP 5xx and -1s in a row it met;
  the back-off doubles from 30 s to 1 h (with jitter), without using up attempts.

The column `failing_since` holds the first failure of the current run of them
(cleared when the row is sent or an operator requeues it). A transient failure
(WeCom unreachable, 5xx, -1, 45009/45011/45033) never fails a row until WeCom has
kept failing it for `OUTBOX_GIVE_UP_AFTER` (default 3 days): a long WeCom outage
delays directives, it does not lose them. Counting from the first failure, not from
the row's creation, keeps a message held over a week's holiday (R4) from being given
up at WeCom's first hiccup. Only then is the row failed, with the reason.
`OUTBOX_MAX_ATTEMPTS` bounds the other retryable answers only (6000 data conflict, an
unexpected error in the client, a sender that died mid-call).
"""

from __future__ import annotations

import dataclasses
import logging
import random
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import sessionmaker

from wecom_app import metrics
from wecom_app.counts import Counts
from wecom_app.logs import kv
from wecom_app.models import OutboxAction
from wecom_app.wecom import quota
from wecom_app.wecom.errors import WeComAuthError, WeComBusy, WeComError, WeComRateLimited, WeComUnavailable

log = logging.getLogger("wecom.outbox")

BACKOFF_BASE, BACKOFF_CAP = 30.0, 3600.0
RATE_LIMIT_STEPS = (60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)  # 45009, escalating; capped at 1 h
AUTH_BACKOFF = 300.0  # wrong secret / untrusted IP: one gettoken per few minutes, not one per row
CHAT_EXISTS = 86215  # appchat/create: the chatid exists, i.e. our earlier attempt went through
TASK_ID_USED = 42014  # template_card task_id already used (or invalid)
NO_TOKEN_KINDS = frozenset({"webhook/send"})  # a group robot's key is its credential
API_FORBIDDEN = 48002  # on externalcontact/*: the app is not in 客户联系「可调用接口的应用」, not bad credentials


@dataclasses.dataclass
class SendStats(Counts):
    claimed: int = 0
    sent: int = 0
    held: int = 0  # moved to the next working time
    deferred: int = 0  # waiting for a quota
    split: int = 0  # recipients over their quota split off into a child row
    retried: int = 0
    failed: int = 0
    released: int = 0  # claimed but not called (WeCom down, bad credentials, lease half over)

    @property
    def total(self) -> int:  # what became of the claimed rows (claimed and split are not outcomes)
        return self.sent + self.held + self.deferred + self.retried + self.failed + self.released


@dataclasses.dataclass(frozen=True)
class _Job:
    id: int
    kind: str
    payload: dict[str, Any]
    attempt: int
    state: dict[str, Any] = dataclasses.field(default_factory=dict)  # `result` before this claim
    failing_since: datetime | None = None  # the first failure of the current run of them
    # webhook/send: the robot's key, decrypted from its group at claim time; only in memory
    robot_key: str = dataclasses.field(default="", repr=False)

    @property
    def calls(self) -> int:
        """Calls of this row before this one (counting any that may have gone out)."""
        return int(self.state.get("calls", 0))

    @property
    def block_key(self) -> str:
        """What a 45009 blocks: one robot's key, else the API."""
        if self.kind == "webhook/send":
            return quota.webhook_scope(self.robot_key)
        return self.kind


@dataclasses.dataclass(frozen=True)
class Stop:
    """Why the rest of a batch (or of one API's part of it) is not called now."""

    errcode: int | None
    errmsg: str
    when: datetime


def needs_token(job: _Job) -> bool:
    return job.kind not in NO_TOKEN_KINDS


def api_forbidden(job: _Job, outcome) -> bool:
    """48002 on a 客户联系 API is a console permission for that API alone: the row
    fails with its errcode (an operator retries it), the rest of the batch goes on."""
    return job.kind.startswith("externalcontact/") and getattr(outcome, "errcode", None) == API_FORBIDDEN


def is_transient(outcome) -> bool:
    """WeCom could not be reached or could not take the call now (network, timeout,
    HTTP 5xx, -1, 45009/45011/45033): the same call will go through once it recovers."""
    return isinstance(outcome, (WeComUnavailable, WeComBusy, WeComRateLimited))


def is_card(job: _Job) -> bool:
    return job.kind == "message/send" and job.payload.get("msgtype") == "template_card"


def outcome_values(job: _Job, outcome: dict | Exception, settings, now: datetime, stats: SendStats) -> dict:
    """The column values that record one call's outcome."""
    if isinstance(outcome, dict):
        return _sent(job, outcome, now, stats)
    errcode = getattr(outcome, "errcode", None)
    if job.kind == "appchat/create" and errcode == CHAT_EXISTS:
        return _sent(job, {"chatid": job.payload.get("chatid"), "existed": True}, now, stats)
    if is_card(job) and errcode == TASK_ID_USED and (job.calls > 0 or job.attempt > 1):
        # this very task_id was handed to WeCom before (a timeout, a crash, a 45009 or
        # an operator's retry since): that earlier call went through
        last = job.state.get("errmsg") or "none recorded: the sender stopped mid-call"
        why = (f"42014 on call {job.calls + 1} of task_id {job.payload['template_card'].get('task_id')}: "
               f"an earlier call went through (its answer: {last})")
        return _sent(job, {"task_id_used": True, "why": why}, now, stats)
    errmsg = getattr(outcome, "errmsg", None) or type(outcome).__name__
    called = {**job.state, "calls": job.calls + 1, "errcode": errcode, "errmsg": errmsg}
    if is_transient(outcome):
        return _transient(job, outcome, settings, now, stats, called)
    if isinstance(outcome, WeComAuthError) and needs_token(job) and not api_forbidden(job, outcome):
        # the app's credentials, not this row: back off, without using up attempts
        delay = AUTH_BACKOFF * random.uniform(1.0, 1.2)
        stats.retried += 1
        log.warning(kv("wecom.outbox.auth_error", id=job.id, kind=job.kind, errcode=errcode, delay=f"{delay:.0f}"))
        return _retry_values(errcode, errmsg, now + timedelta(seconds=delay), job.attempt - 1, called,
                             failing_since=job.failing_since or now)
    # not WeCom's state but this call's (6000 data conflict, a bug in the client): OUTBOX_MAX_ATTEMPTS bounds it
    retryable = not api_forbidden(job, outcome) and (
        not isinstance(outcome, WeComError) or outcome.transient or isinstance(outcome, WeComAuthError))
    if retryable and job.attempt < settings.outbox_max_attempts:
        delay = backoff(job.attempt - 1)
        stats.retried += 1
        log.info(kv("wecom.outbox.retry", id=job.id, kind=job.kind, errcode=errcode, attempt=job.attempt, delay=f"{delay:.0f}"))
        return _retry_values(errcode, errmsg, now + timedelta(seconds=delay), job.attempt,
                             {**called, "rate_limited": 0, "transient": 0}, failing_since=job.failing_since or now)
    log_failed(job.id, job.kind, errcode, errmsg, job.attempt)
    stats.failed += 1
    return dict(status="failed", lease_until=None, errcode=errcode, errmsg=errmsg, result=called)


def backoff(n: int) -> float:
    """Seconds to wait after the n-th failure in a row (0-based): 30 s doubling, jittered ±20 %,
    never over BACKOFF_CAP (1 h)."""
    return min(BACKOFF_CAP, BACKOFF_BASE * 2 ** min(n, 16) * random.uniform(0.8, 1.2))


def _transient(job: _Job, outcome: WeComError, settings, now: datetime, stats: SendStats, called: dict) -> dict:
    """WeCom down, busy or rate-limiting: back off without using up attempts, until WeCom
    has kept failing the row for OUTBOX_GIVE_UP_AFTER; only then is it failed, with the reason."""
    errcode, errmsg = called["errcode"], called["errmsg"]
    since = job.failing_since or now
    if now - since >= timedelta(seconds=settings.outbox_give_up_after):
        waited = (now - since).total_seconds() / 3600
        reason = (f"gave up after {waited:.1f} h of transient failures (OUTBOX_GIVE_UP_AFTER="
                  f"{settings.outbox_give_up_after}s); the last: {errmsg}")
        log_failed(job.id, job.kind, errcode, reason, job.attempt)
        stats.failed += 1
        return dict(status="failed", lease_until=None, errcode=errcode, errmsg=reason, result=called)
    stats.retried += 1
    if isinstance(outcome, WeComRateLimited):
        # a quota clears with time: wait as WeCom says (longer each time)
        n = int(job.state.get("rate_limited", 0))
        step = RATE_LIMIT_STEPS[min(n, len(RATE_LIMIT_STEPS) - 1)]
        delay = min(RATE_LIMIT_STEPS[-1], max(outcome.retry_after or 0.0, step) * random.uniform(1.0, 1.5))
        state = {**called, "rate_limited": n + 1}
    else:
        n = int(job.state.get("transient", 0))
        delay = backoff(n)
        state = {**called, "transient": n + 1}
        log.info(kv("wecom.outbox.retry", id=job.id, kind=job.kind, errcode=errcode, transient=n + 1,
                    delay=f"{delay:.0f}"))
    return _retry_values(errcode, errmsg, now + timedelta(seconds=delay), job.attempt - 1, state,
                         failing_since=job.failing_since or now)


def stops_batch(job: _Job, outcome: dict | Exception) -> bool:
    """WeCom is down or busy, or the app's credentials are refused: calling the rest
    of the batch would only pile on (and 100 gettokens get the IP blocked)."""
    if isinstance(outcome, (WeComUnavailable, WeComBusy)):
        return True
    return isinstance(outcome, WeComAuthError) and needs_token(job) and not api_forbidden(job, outcome)


def released_values(job: _Job, stop: Stop, now: datetime, stats: SendStats, *, rate_limited: bool = False) -> dict:
    """A claimed row that was not called: back to pending, no attempt used."""
    if rate_limited:
        stats.retried += 1
    else:
        stats.released += 1
    when = stop.when + timedelta(seconds=random.uniform(0, 10)) if stop.when > now else stop.when
    if stop.errcode is None and not stop.errmsg:  # a lease running out says nothing about WeCom: keep the last answer
        values = _retry_values(None, "", when, job.attempt - 1, job.state or None)
        values.pop("errcode"), values.pop("errmsg"), values.pop("failing_since")
        return values
    # WeCom down, busy or refusing the app: this row waits on it as much as the one that was called
    return _retry_values(stop.errcode, stop.errmsg, when, job.attempt - 1, job.state or None,
                         failing_since=job.failing_since or now)


def _sent(job: _Job, result: dict, now: datetime, stats: SendStats) -> dict:
    invalid = {k: result[k] for k in ("invaliduser", "invalidparty", "invalidtag", "unlicenseduser") if result.get(k)}
    if invalid:
        log.warning(kv("wecom.outbox.partial", id=job.id, kind=job.kind, **invalid))
    metrics.OUTBOX_SENT.labels(job.kind).inc()
    stats.sent += 1
    # WeCom's answer, and how many calls it took (outages use up no attempt, so `attempts` does not say)
    result = {**{k: v for k, v in result.items() if k not in ("errcode", "errmsg")}, "calls": job.calls + 1}
    return dict(status="sent", sent_at=now, lease_until=None, result=result, errcode=None, errmsg=None,
                failing_since=None)


def _retry_values(errcode, errmsg: str, when: datetime, attempts: int, result: dict | None, *,
                  failing_since: datetime | None = None) -> dict:
    return dict(status="pending", lease_until=None, not_before=when, attempts=attempts, errcode=errcode, errmsg=errmsg,
                result=result, failing_since=failing_since)


def log_failed(id: int, kind: str, errcode, errmsg: str, attempts: int) -> None:  # noqa: A002
    metrics.OUTBOX_FAILED.labels(kind, str(errcode)).inc()
    log.warning(kv("wecom.outbox.failed", id=id, kind=kind, errcode=errcode, errmsg=errmsg, attempts=attempts))


def reserved(job: _Job) -> list[tuple[list[str], Any, int]]:
    """The quota units the claim took for this job: (scopes, limits, n). Person-times
    taken (`persons`) are in the job's state; only a limit's window matters to a release."""
    units = []
    if job.kind in quota.API_LIMITS:
        units.append(([quota.api_scope(job.kind)], quota.API_LIMITS[job.kind], 1))
    persons = int(job.state.get("persons") or 0)
    if job.kind == "message/send":
        users = sorted({u for u in str(job.payload.get("touser") or "").split("|") if u.strip()})
        if users and users != ["@all"]:
            units.append(([quota.member_scope(u) for u in users], quota.MEMBER_LIMITS, 1))
        if persons:
            units.append(([quota.person_times_scope(job.kind)], quota.seat_limits(1), persons))
    if job.kind == "appchat/send" and persons:
        units.append(([quota.person_times_scope(job.kind)], quota.APPCHAT_PERSON_TIMES_LIMITS, persons))
    if job.kind == "webhook/send":
        units.append(([quota.webhook_scope(job.robot_key)], quota.WEBHOOK_LIMITS, 1))
    return units


def record(sessions: sessionmaker, job: _Job, values: dict, *, give_back_at: datetime | None = None) -> None:
    """Write the outcome, unless another sender re-claimed the row meanwhile (the
    attempt number is the fencing token); with `give_back_at` (the claim's time), also
    return the quota units the claim reserved for a call that did not reach WeCom."""
    t = OutboxAction
    with sessions() as session, session.begin():
        done = session.execute(
            update(t).where(t.id == job.id, t.status == "sending", t.attempts == job.attempt).values(**values)
        ).rowcount
        if done and give_back_at is not None:
            for scopes, limits, n in reserved(job):
                quota.release(session, scopes, limits, give_back_at, n)
    if not done:
        log.warning(kv("wecom.outbox.lease_lost", id=job.id, kind=job.kind, attempt=job.attempt))
