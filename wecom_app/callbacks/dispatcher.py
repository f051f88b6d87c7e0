"""The dispatcher: takes stored callbacks from the inbox and routes them to handlers.

Each event is handled inside one transaction together with its inbox row's
`done` mark, so a crash or a retry never applies a handler's writes twice. A batch
runs its events one after another in one transaction, with no savepoint per event
(a savepoint cost each event two statements and much of the ORM's time); when a
handler raises, the whole transaction is rolled back and the batch run again with
that event written as failed (its handlers not run again) and the others handled.
What the rolled-back run wrote (audit, outbox, receipts) is gone with it; only log lines
it already emitted (a handler's INFO line, `wecom.dispatch.unhandled`) may appear twice.
On PostgreSQL rows are claimed with FOR UPDATE SKIP LOCKED, so several
processes can dispatch at once and each event is handled once. A failing
handler is retried with backoff and parked after `inbox_max_attempts`, with its
error kept, visible in /metrics and `wecom-app inbox list --status parked`.

Several dispatchers never deadlock one another: a batch takes, before any handler
runs, every lock its handlers would otherwise take in event order, in one order for
all — (1) a batch of card clicks (the clicks lane) the directive ledger's lock, once
for the batch (directives/ledger.py: every receipt change takes it first); (2) any
other batch (the groups lane: group, contact and message events) first, when it holds a
directory change (`change_contact`), the directory's version row — the trigger of migration
0023 takes it at a transaction's first directory write, and by then the batch's earlier joins
would hold member rows that the directory_sync job, holding that row, may want next — then a
lock per group it touches, by ChatId in sorted order, so one group's events are handled by one
dispatcher at a time and in the order claimed; and, under those locks, an event whose group has an
older event still due in another dispatcher's hands is left for later (`_behind`), so one group's
events are handled in the order they were stored across dispatchers too. A batch holds events of one lane only,
so joins never wait for the ledger and clicks never wait for a group; a dispatcher
finding the ledger busy takes the groups lane's events first.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import zlib
from datetime import datetime, timedelta

from sqlalchemy import select, text, update
from sqlalchemy.orm.attributes import set_committed_value

from wecom_app import metrics
from wecom_app.callbacks.events import BadPayload, CallbackEvent, parse_event
from wecom_app.callbacks.router import HandlerContext, Router
from wecom_app.config import Settings
from wecom_app.counts import Counts
from wecom_app.directives import ledger
from wecom_app.logs import kv
from wecom_app.models import DirectoryVersion, InboxEvent

log = logging.getLogger("wecom.dispatch")

BATCH = 50
CLICKS = "template_card_event"  # the clicks lane: each one changes a receipt and appends to the ledger
GROUP_LOCKS = 0x67727570  # "grup": the advisory lock space of a group's events (key: crc32 of its ChatId)
MAX_BACKOFF = timedelta(hours=1)


@dataclasses.dataclass
class DispatchStats(Counts):
    done: int = 0
    ignored: int = 0
    retried: int = 0
    parked: int = 0


def backoff(attempts: int) -> timedelta:
    """5 s, 10 s, 20 s ... capped at an hour, with ±20% jitter."""
    base = min(timedelta(seconds=5 * 2 ** (attempts - 1)), MAX_BACKOFF)
    return base * random.uniform(0.8, 1.2)


def _due(now: datetime):
    return InboxEvent.status == "pending", InboxEvent.next_attempt_at <= now


def _claim(session, now: datetime, limit: int, ids: list[int] | None = None,
           skip: set[int] = frozenset()) -> list[InboxEvent]:
    """Up to `limit` due events of one lane, oldest first, locked (SKIP LOCKED: a row another
    dispatcher holds is left to it); the lane of the oldest free event first, unless that is the
    clicks lane and the ledger is busy. With `ids` (a batch rolled back after a handler failed),
    those of them still due and free. Never those in `skip` (left behind an older event, `_behind`)."""
    if ids is not None:
        return list(session.scalars(select(InboxEvent).where(*_due(now), InboxEvent.id.in_(ids))
                                    .order_by(InboxEvent.id).with_for_update(skip_locked=True)))
    due = (*_due(now), InboxEvent.id.not_in(skip)) if skip else _due(now)
    oldest = session.scalar(select(InboxEvent.event).where(*due).order_by(InboxEvent.id).limit(1)
                            .with_for_update(skip_locked=True))
    if oldest is None:
        return []
    clicks_first = oldest == CLICKS and (not _postgresql(session) or _try_ledger_lock(session))
    for clicks in (True, False) if clicks_first else (False, True):
        lane = InboxEvent.event == CLICKS if clicks else InboxEvent.event != CLICKS
        rows = list(session.scalars(select(InboxEvent).where(*due, lane).order_by(InboxEvent.id).limit(limit)
                                    .with_for_update(skip_locked=True)))
        if rows:
            return rows
    return []


def _postgresql(session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _try_ledger_lock(session) -> bool:
    return bool(session.scalar(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": ledger.LEDGER_LOCK}))


def _lock_in_order(session, events: list[CallbackEvent]) -> None:
    """Every lock the batch's handlers need, before the first runs, in one order (the module's
    docstring). SQLite's single writer needs none."""
    if not _postgresql(session):
        return
    if any(e.name == CLICKS for e in events):
        ledger.lock(session)
        return
    if any(e.name == "change_contact" for e in events):  # the directory's version row first (the docstring)
        session.execute(select(DirectoryVersion.id).where(DirectoryVersion.id == 1).with_for_update())
    keys = sorted({zlib.crc32(e.get("ChatId").encode()) - 2 ** 31 for e in events if e.get("ChatId")})
    for key in keys:
        session.execute(text("SELECT pg_advisory_xact_lock(:space, :key)"), {"space": GROUP_LOCKS, "key": key})


def _behind(session, rows: list[InboxEvent], events: list[CallbackEvent | BadPayload], now: datetime) -> set[int]:
    """The claimed events to leave for a later batch, so that one group's events are handled in the
    order they were stored: on PostgreSQL another dispatcher may hold an older event of the same group
    (SKIP LOCKED gave this one the next rows) and not have taken the group's lock yet. Read under the
    group locks: an older event of the group still pending and due outside this batch is in another
    dispatcher's hands (or free again) and goes first; every later one of the group here waits. The
    inbox has no ChatId column: the older rows' payloads (only those naming a ChatId) are read.
    An older event put off after a failure (not due) holds nothing back, as before."""
    if not _postgresql(session):  # SQLite: one writer, the batch before committed in full
        return set()
    chats = {row.id: event.get("ChatId") for row, event in zip(rows, events)
             if isinstance(event, CallbackEvent) and event.get("ChatId")}
    if not chats:
        return set()
    wanted, first = set(chats.values()), {}
    for inbox_id, payload in session.execute(select(InboxEvent.id, InboxEvent.payload).where(
            *_due(now), InboxEvent.id < max(chats), InboxEvent.id.not_in([row.id for row in rows]),
            InboxEvent.event != CLICKS, InboxEvent.payload.contains("<ChatId>"))):
        try:
            chat = parse_event(payload).get("ChatId")
        except BadPayload:
            continue
        if chat in wanted:
            first[chat] = min(first.get(chat, inbox_id), inbox_id)
    return {inbox_id for inbox_id, chat in chats.items() if chat in first and first[chat] < inbox_id}


def _prepare(router: Router, events: list[CallbackEvent], ctx: HandlerContext) -> None:
    """The batch's preparers (Router.prepare), in a savepoint of their own: one that fails (a bug, a
    payload no one foresaw) is logged and the batch handled all the same, its handlers reading for
    themselves what the preparers would have read (the memo goes with the savepoint)."""
    try:
        with ctx.session.begin_nested():
            router.prepare_batch(events, ctx)
    except Exception:
        log.exception(kv("wecom.dispatch.prepare_failed", events=len(events)))


def _parsed(rows: list[InboxEvent]) -> list[CallbackEvent | BadPayload]:
    found = []
    for row in rows:
        try:
            found.append(parse_event(row.payload))
        except BadPayload as exc:
            found.append(exc)
    return found


class _Failed(Exception):
    """A handler failed in a batch run without savepoints: its transaction is rolled back whole."""

    def __init__(self, inbox_id: int, error: str):
        super().__init__(error)
        self.inbox_id, self.error = inbox_id, error


def _handle(row: InboxEvent, event: CallbackEvent | BadPayload, router: Router, ctx: HandlerContext,
            stats: DispatchStats, max_attempts: int, failed: dict[int, str]) -> str | None:
    """Run the event's handlers in the batch's transaction, no savepoint of its own; the outcome
    (`done`, `ignored`) for `_mark` to write, or None when the row's own attributes say it (failed
    before, unparseable). A handler that raises raises `_Failed`: the caller rolls the batch back
    and runs it again with this event marked failed (`failed`, its error) and not run."""
    if isinstance(event, BadPayload):  # cannot happen for rows the receiver stored; park, never loop
        row.attempts += 1
        _fail(row, ctx.now, f"unparseable payload: {event}", max_attempts=0, stats=stats)
        return None
    if row.id in failed:  # failed in the run rolled back just now: written as failed, not run again
        row.attempts += 1
        _fail(row, ctx.now, failed[row.id], max_attempts=max_attempts, stats=stats)
        return None
    handlers = router.match(event)
    if not handlers:
        stats.ignored += 1
        log.info(kv("wecom.dispatch.unhandled", event=event.name, ChangeType=event.change_type,
                    add=router.hint(event)))
        return "ignored"
    try:
        for handler in handlers:
            handler(event, ctx)
        ctx.session.flush()  # the event's writes fail here, if at all, not in the next event's
    except Exception as exc:  # a handler's bug or a conflict: keep the event, retry later
        log.exception(kv("wecom.dispatch.failed", inbox_id=row.id, event=event.name, attempts=row.attempts + 1))
        raise _Failed(row.id, f"{type(exc).__name__}: {exc}") from exc
    stats.done += 1
    return "done"


def _mark(session, rows: list[InboxEvent], outcomes: list[str | None], now: datetime) -> None:
    """The done (or ignored) marks of a batch, one UPDATE an outcome, in the batch's transaction; the
    loaded rows are told too (set_committed_value: nothing left for the flush to write)."""
    for outcome in ("done", "ignored"):
        marked = [row for row, said in zip(rows, outcomes) if said == outcome]
        if not marked:
            continue
        session.execute(update(InboxEvent).where(InboxEvent.id.in_([row.id for row in marked]))
                        .values(status=outcome, processed_at=now, last_error=None, attempts=InboxEvent.attempts + 1)
                        .execution_options(synchronize_session=False))
        for row in marked:
            for name, value in (("status", outcome), ("processed_at", now), ("last_error", None),
                                ("attempts", row.attempts + 1)):
                set_committed_value(row, name, value)


def _fail(row: InboxEvent, now: datetime, error: str, *, max_attempts: int, stats: DispatchStats) -> None:
    row.last_error = error[:2000]
    if row.attempts >= max_attempts:
        row.status = "parked"
        stats.parked += 1
        log.error(kv("wecom.dispatch.parked", inbox_id=row.id, attempts=row.attempts))
    else:
        row.next_attempt_at = now + backoff(row.attempts)
        stats.retried += 1


def dispatch_pending(sessions, router: Router, settings: Settings, now: datetime,
                     *, limit: int = 10_000) -> DispatchStats:
    """Handle every due inbox event (at most `limit`), a batch per transaction."""
    stats = DispatchStats()
    failed: dict[int, str] = {}  # inbox id → error: events whose handler failed in a batch just rolled back
    again: list[int] | None = None  # that batch's inbox ids, claimed again
    behind: set[int] = set()  # left for a later call: an older event of their group was elsewhere (_behind)
    while stats.total < limit:
        batch = DispatchStats()
        try:
            with sessions.begin() as session:
                rows = _claim(session, now, min(BATCH, limit - stats.total), ids=again, skip=behind)
                if not rows and again is None:
                    break
                events = _parsed(rows)
                _lock_in_order(session, [e for e in events if isinstance(e, CallbackEvent)])
                if later := _behind(session, rows, events, now):  # left pending, untouched
                    behind |= later
                    kept = [i for i, row in enumerate(rows) if row.id not in later]
                    rows, events = [rows[i] for i in kept], [events[i] for i in kept]
                ids = [row.id for row in rows]
                parsed = [e for e in events if isinstance(e, CallbackEvent)]
                ctx = HandlerContext(session=session, settings=settings, now=now, log=log)
                _prepare(router, parsed, ctx)  # under the locks: what it reads cannot change meanwhile
                outcomes = [_handle(row, event, router, ctx, batch, settings.inbox_max_attempts, failed)
                            for row, event in zip(rows, events)]
                _mark(session, rows, outcomes, now)
        except _Failed as failure:  # rolled back: the batch again, this event written as failed
            failed[failure.inbox_id] = failure.error
            again = ids
            continue
        failed, again = {}, None
        for name in ("done", "ignored", "retried", "parked"):
            setattr(stats, name, getattr(stats, name) + getattr(batch, name))
    for outcome in ("done", "ignored", "retried", "parked"):
        if getattr(stats, outcome):
            metrics.EVENTS_HANDLED.labels(outcome).inc(getattr(stats, outcome))
    return stats


def requeue(session, inbox_id: int, now: datetime) -> bool:
    """Put a parked (or failed) event back in the queue: `wecom-app inbox retry ID`."""
    row = session.get(InboxEvent, inbox_id)
    if row is None or row.status not in ("parked", "pending"):
        return False
    row.status, row.attempts, row.next_attempt_at = "pending", 0, now
    return True
