"""The evidence ledger (R16, DESIGN §2 "records are evidence"): every event of a
directive's life is appended to one hash chain.

Each row holds `hash = SHA-256(prev_hash + "\\n" + canonical)`, where `canonical` is
the row's own content (seq, directive, event, actor, person, data, time) as JSON with
sorted keys and no spaces, and `prev_hash` is the hash of the row before it (64
zeros for the first). Changing, inserting or deleting a row therefore breaks the
chain at that row; `verify` walks it and names the first row that does not fit.
Rewriting every later hash as well is only caught against a head published
earlier, which is why each receipt sheet (签收单) prints the chain head and
`wecom-app ledger verify --head HASH` checks that the chain still passes through it.

Appends are serialised: an advisory lock on PostgreSQL (held to the end of the
appending transaction), the write lock of BEGIN IMMEDIATE on SQLite.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import event, select, text
from sqlalchemy.orm import Session

from wecom_app.models import LedgerEntry

GENESIS = "0" * 64
LEDGER_LOCK = 0x6C656467  # "ledg"
LOCKED_KEY = "wecom.ledger.locked"  # session.info: this transaction holds the lock
HEAD_KEY = "wecom.ledger.head"  # session.info: (seq, hash) this transaction appended last, under the lock
EVENTS = ("issued", "delivered", "undeliverable", "acknowledged", "completed", "reminded", "escalated",
          "overdue", "corrected", "revoked", "click_refused",
          "renamed")  # the person's userid changed (NewUserID, 90970): the rows before keep the old one


def canonical(*, seq: int, directive_id: int | None, event: str, actor: str, userid: str | None,
              data: dict[str, Any], at: datetime) -> str:
    return json.dumps(
        {"seq": seq, "directive": directive_id, "event": event, "actor": actor, "userid": userid, "data": data,
         "at": at.astimezone(timezone.utc).isoformat(timespec="microseconds")},
        sort_keys=True, ensure_ascii=False, separators=(",", ":"),
    )


def chain_hash(prev_hash: str, content: str) -> str:
    return hashlib.sha256(f"{prev_hash}\n{content}".encode()).hexdigest()


def entry_content(row: LedgerEntry) -> str:
    return canonical(seq=row.seq, directive_id=row.directive_id, event=row.event, actor=row.actor,
                     userid=row.userid, data=row.data, at=row.at)


def lock(session: Session) -> None:
    """Take the ledger's lock for the rest of the caller's transaction (re-entrant). Every
    change to a directive's receipts takes it first, before reading what it changes, so
    two of them (a click and a correction, two clicks in two workers) never interleave
    and never take locks in opposite orders. SQLite's BEGIN IMMEDIATE already
    serialises writers. Taken once per transaction: the dispatcher takes it for a whole
    batch of clicks, and the clicks' own calls cost nothing more (one taken inside a
    savepoint is taken again, since a savepoint's rollback may release it)."""
    if session.info.get(LOCKED_KEY):
        return
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LEDGER_LOCK})
    if not session.in_nested_transaction():
        session.info[LOCKED_KEY] = True


@event.listens_for(Session, "after_transaction_end")
def _unlocked(session: Session, transaction) -> None:
    if transaction.parent is None:  # the outermost transaction ended: the lock went with it
        session.info.pop(LOCKED_KEY, None)
        session.info.pop(HEAD_KEY, None)


@event.listens_for(Session, "after_soft_rollback")
def _head_rolled_back(session: Session, _previous) -> None:
    session.info.pop(HEAD_KEY, None)  # a savepoint's rollback may have taken the last append with it


def append(session: Session, event: str, *, at: datetime, directive_id: int | None = None, actor: str = "system",
           userid: str | None = None, **data: Any) -> LedgerEntry:
    """Append one event in the caller's transaction. `data` must be JSON values
    (times as ISO strings) so that it reads back exactly as it was hashed."""
    if event not in EVENTS:
        raise ValueError(f"unknown ledger event {event!r}")
    lock(session)
    # the head this transaction wrote last, while it holds the lock (nobody else appends meanwhile)
    seq, prev = session.info.get(HEAD_KEY) or head(session)
    seq += 1
    data = json.loads(json.dumps(data, ensure_ascii=False))  # exactly what the JSON column gives back
    row = LedgerEntry(seq=seq, directive_id=directive_id, event=event, actor=actor, userid=userid, data=data, at=at,
                      prev_hash=prev)
    row.hash = chain_hash(prev, entry_content(row))
    session.add(row)
    session.flush()
    if session.info.get(LOCKED_KEY):
        session.info[HEAD_KEY] = (seq, row.hash)
    return row


def head(session: Session) -> tuple[int, str]:
    """(number of rows, hash of the last) — the chain head a receipt sheet prints."""
    last = session.execute(select(LedgerEntry.seq, LedgerEntry.hash).order_by(LedgerEntry.seq.desc()).limit(1)).first()
    return (last.seq, last.hash) if last else (0, GENESIS)


# ---- verify -------------------------------------------------------------------------------------------------------

CHUNK = 5000  # rows per query: keyset pagination on seq, so a million rows never sit in memory at once
RENUMBER_SPAN = 8  # how far a renumbered row's seq is searched for (forensics only, on a failing row)
_COLUMNS = (LedgerEntry.id, LedgerEntry.seq, LedgerEntry.directive_id, LedgerEntry.event, LedgerEntry.actor,
            LedgerEntry.userid, LedgerEntry.data, LedgerEntry.at, LedgerEntry.prev_hash, LedgerEntry.hash)


@dataclass(frozen=True)
class Problem:
    """The first row that does not fit, and which tampering is the likeliest (`why` says
    what points to it). kind: altered | inserted | deleted | truncated (seq is None)."""

    kind: str
    why: str
    seq: int | None = None
    id: int | None = None
    event: str | None = None
    directive_id: int | None = None

    def __str__(self) -> str:
        if self.seq is None:
            return f"{self.kind}: {self.why}"
        directive = f", directive {self.directive_id}" if self.directive_id is not None else ""
        return f"row seq {self.seq} (id {self.id}, event {self.event}{directive}): likely {self.kind}: {self.why}"


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    rows: int  # rows checked, up to and including the first bad one
    head: tuple[int, str]  # (seq, hash) of the last row that checked out: the chain head when ok
    problem: Problem | None = None


def verify(session: Session, *, expect_head: str | None = None, chunk: int = CHUNK) -> VerifyResult:
    """Walk the whole chain in seq order, recompute every hash and name the first row
    that was altered, inserted or deleted. With `expect_head` (a head printed earlier,
    e.g. on a receipt sheet) the chain must still pass through a row with that hash:
    rewriting a row and every hash after it passes the walk but not this."""
    expect = expect_head.strip().lower() if expect_head else GENESIS
    found = expect == GENESIS
    prev = before = None  # the last two rows that checked out
    checked = 0
    for row in _rows(session, chunk):
        checked += 1
        problem = _check(row, prev, before)
        if problem is not None:
            return VerifyResult(False, checked, _head_of(prev), problem)
        found = found or row.hash == expect
        before, prev = prev, row
    head_now = _head_of(prev)
    if not found:
        why = (f"no row has the hash {expect}: the chain was truncated or rewritten after that head "
               f"(it now ends at seq {head_now[0]}, {head_now[1]})")
        return VerifyResult(False, checked, head_now, Problem("truncated", why))
    return VerifyResult(True, checked, head_now)


def _rows(session: Session, chunk: int):
    last = None
    while True:
        query = select(*_COLUMNS).order_by(LedgerEntry.seq).limit(chunk)
        if last is not None:
            query = query.where(LedgerEntry.seq > last)
        batch = session.execute(query).all()
        yield from batch
        if len(batch) < chunk:
            return
        last = batch[-1].seq


def _head_of(row) -> tuple[int, str]:
    return (row.seq, row.hash) if row is not None else (0, GENESIS)


def _hash_with(row, *, seq: int | None = None, prev_hash: str | None = None) -> str:
    """The hash `row` would have with another seq or link (the stored ones by default)."""
    content = canonical(seq=row.seq if seq is None else seq, directive_id=row.directive_id, event=row.event,
                        actor=row.actor, userid=row.userid, data=row.data, at=row.at)
    return chain_hash(row.prev_hash if prev_hash is None else prev_hash, content)


def _problem(row, kind: str, why: str) -> Problem:
    return Problem(kind, why, seq=row.seq, id=row.id, event=row.event, directive_id=row.directive_id)


def _check(row, prev, before) -> Problem | None:
    expected_seq = prev.seq + 1 if prev is not None else 1
    linked = row.prev_hash == (prev.hash if prev is not None else GENESIS)
    hashed = row.hash == _hash_with(row)
    if row.seq == expected_seq and linked:
        if not hashed:
            return _problem(row, "altered", "its stored hash does not match its content: a field (data, event, actor, "
                                            "userid, time, directive) or the hash was changed after it was written")
        if prev is not None and row.id < prev.id:
            return _problem(prev, "inserted", f"its id {prev.id} is larger than the next row's ({row.id}), and ids "
                                              "follow the order rows were appended: it was written after that row")
        return None
    if row.seq < expected_seq:  # only a first row can be here (seq 0 or below)
        return _problem(row, "inserted", f"seq {row.seq} comes before the chain's first seq, 1")
    if row.seq > expected_seq:
        return _gap(row, prev, expected_seq, linked, hashed)
    return _broken_link(row, prev, before, hashed)


def _gap(row, prev, expected_seq: int, linked: bool, hashed: bool) -> Problem:
    missing = f"seq {expected_seq}" if row.seq == expected_seq + 1 else f"seq {expected_seq}-{row.seq - 1}"
    after = f"seq {prev.seq}" if prev is not None else "the start"
    if not linked:
        return _problem(row, "deleted", f"{missing} is missing between {after} and this row, and its prev_hash is "
                                        f"not the hash of {after}: the row(s) in between were deleted")
    if hashed:
        return _problem(row, "inserted", f"it links to {after} but carries seq {row.seq} where {expected_seq} was "
                                         "due, and the appender never skips a seq: it was forged and added")
    if row.hash == _hash_with(row, seq=expected_seq):
        return _problem(row, "altered", f"its seq was changed from {expected_seq} to {row.seq} after it was written")
    return _problem(row, "altered", f"its seq skips {missing} and its hash does not match its content, yet it "
                                    f"links to {after}: it was changed after it was written")


def _broken_link(row, prev, before, hashed: bool) -> Problem:
    """The seq is the expected one but prev_hash is not the hash of the row before."""
    if before is not None and row.prev_hash == before.hash:
        return _problem(prev, "inserted", f"the row after it (seq {row.seq}) links to seq {before.seq}, skipping "
                                          f"this one: it was put in between{_renumbered_note(row)}")
    shift = _renumbered(row)
    if shift > 0:
        return _problem(row, "deleted", f"its hash was computed when it was seq {row.seq + shift}: {shift} row(s) "
                                        "before it were deleted and the later rows renumbered to close the gap")
    if shift < 0:
        return _problem(row, "inserted", f"its hash was computed when it was seq {row.seq + shift}: {-shift} row(s) "
                                         "were put in before it and the later rows renumbered")
    if prev is None:
        return _problem(row, "altered", "the first row must link to the genesis hash (64 zeros) and does not")
    if hashed:
        return _problem(prev, "altered", f"the next row (seq {row.seq}) still links to a different hash: this row "
                                         "was changed after it was written and its hash recomputed")
    if row.hash == _hash_with(row, prev_hash=prev.hash):
        return _problem(row, "altered", "its prev_hash was changed after it was written")
    return _problem(row, "altered", f"neither its hash nor its link to seq {prev.seq} fits: it was changed "
                                    "after it was written (or rows before it were deleted and renumbered)")


def _renumbered(row) -> int:
    """How far this row's seq moved since its hash was computed (0: not found)."""
    for shift in range(1, RENUMBER_SPAN + 1):
        for signed in (shift, -shift):
            if row.seq + signed >= 1 and row.hash == _hash_with(row, seq=row.seq + signed):
                return signed
    return 0


def _renumbered_note(row) -> str:
    shift = _renumbered(row)
    return f", and the later rows were renumbered (seq {row.seq} was hashed as seq {row.seq + shift})" if shift else ""
