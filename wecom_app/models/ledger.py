"""The evidence ledger's rows (R16, DESIGN §2 "records are evidence"): a table only."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from wecom_app.db import Base, UTCDateTime


class LedgerEntry(Base):
    """The evidence chain (ledger.py): append-only, each row's `hash` covers its own
    canonical content and `prev_hash`, the hash of the row before it."""

    __tablename__ = "ledger_entry"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)  # the chain's order
    seq: Mapped[int] = mapped_column(Integer, unique=True)  # 1, 2, 3 ... without gaps
    directive_id: Mapped[int | None] = mapped_column(Integer, index=True)
    event: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(80), default="system")
    userid: Mapped[str | None] = mapped_column(String(64))  # whom it is about, if one person
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
