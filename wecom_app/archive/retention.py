"""Retention of archived content (issue 12 item 5): archived messages older than
ARCHIVE_RETENTION_DAYS (default 180; by the message's time, or when it was stored if it has
none) are deleted by the daily job archive_retention, except a message cited as evidence of
a violation (`cited_by`, content.py), which is kept as long as the violation is. The weekly
counts (ArchiveTally) and the rooms' last message time are kept: they hold no content.

A deleted message is never pulled again: WeCom serves 5 days (91774), far less than any
retention worth setting, and the cursor never goes back."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select

from wecom_app.logs import kv
from wecom_app.models import ArchivedMessage

log = logging.getLogger("wecom.archive.retention")

BATCH = 1000


def purge(session_factory, settings, now: datetime, *, batch: int = BATCH) -> int:
    """Delete the archived messages past retention, a batch per transaction; how many."""
    cutoff = now - timedelta(days=settings.archive_retention_days)
    old = or_(ArchivedMessage.msgtime < cutoff, ArchivedMessage.msgtime.is_(None) & (ArchivedMessage.stored_at < cutoff))
    deleted = 0
    while True:
        with session_factory.begin() as session:
            ids = session.scalars(select(ArchivedMessage.id).where(old, ArchivedMessage.cited_by.is_(None))
                                  .order_by(ArchivedMessage.id).limit(batch)).all()
            if not ids:
                break
            session.execute(delete(ArchivedMessage).where(ArchivedMessage.id.in_(ids)))
            deleted += len(ids)
    if deleted:
        log.info(kv("wecom.archive.retention_purged", messages=deleted, days=settings.archive_retention_days))
    return deleted
