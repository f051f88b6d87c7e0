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
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from .directives_models import LedgerEntry

GENESIS = "0" * 64
LEDGER_LOCK = 0x6C656467  # "ledg"
EVENTS = ("issued", "delivered", "undeliverable", "acknowledged", "completed", "reminded", "escalated",
          "overdue", "corrected", "revoked", "click_refused")


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


def append(session: Session, event: str, *, at: datetime, directive_id: int | None = None, actor: str = "system",
           userid: str | None = None, **data: Any) -> LedgerEntry:
    """Append one event in the caller's transaction. `data` must be JSON values
    (times as ISO strings) so that it reads back exactly as it was hashed."""
    if event not in EVENTS:
        raise ValueError(f"unknown ledger event {event!r}")
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LEDGER_LOCK})
    last = session.execute(select(LedgerEntry.seq, LedgerEntry.hash).order_by(LedgerEntry.seq.desc()).limit(1)).first()
    seq, prev = (last.seq + 1, last.hash) if last else (1, GENESIS)
    data = json.loads(json.dumps(data, ensure_ascii=False))  # exactly what the JSON column gives back
    row = LedgerEntry(seq=seq, directive_id=directive_id, event=event, actor=actor, userid=userid, data=data, at=at,
                      prev_hash=prev)
    row.hash = chain_hash(prev, entry_content(row))
    session.add(row)
    session.flush()
    return row


def head(session: Session) -> tuple[int, str]:
    """(number of rows, hash of the last) — the chain head a receipt sheet prints."""
    last = session.execute(select(LedgerEntry.seq, LedgerEntry.hash).order_by(LedgerEntry.seq.desc()).limit(1)).first()
    return (last.seq, last.hash) if last else (0, GENESIS)
