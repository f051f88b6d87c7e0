"""The shared access token of one secret: the `access_token` table as a
single-flight cache (gettoken, document/path/91039).

Every worker and process reads the same row. A refresh happens early (a few
minutes before expiry) and by one caller at a time: an in-process lock first,
then the row itself is locked — `INSERT ... ON CONFLICT DO NOTHING` makes sure
it exists, `SELECT ... FOR UPDATE` locks it on PostgreSQL, and on SQLite the
`BEGIN IMMEDIATE` transaction (db.py) serialises writers. Whoever gets the lock
second re-reads the row and uses the token the first one fetched.

The key is a SHA-256 of corp id and secret, so no part of a secret is stored
(wechatpy's own key holds the secret's first ten characters).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from .models import AccessToken

# refresh this long before expiry; shorter for short-lived tokens (a tenth of the lifetime)
REFRESH_MARGIN = timedelta(minutes=5)


def token_key(corp_id: str, secret: str) -> str:
    return hashlib.sha256(f"{corp_id}\0{secret}".encode()).hexdigest()


class TokenStore:
    """Read, and refresh under lock, the token row for one (corp id, secret)."""

    def __init__(self, sessions: sessionmaker, key: str, clock: Callable[[], datetime]):
        self.sessions = sessions
        self.key = key
        self.clock = clock
        self._lock = threading.Lock()
        self._cached: tuple[str, datetime, datetime] | None = None  # token, expires_at, refresh_at

    def current(self) -> str | None:
        """A token that is not due for refresh: from memory, else from the database."""
        cached = self._cached
        if cached and self.clock() < cached[2]:
            return cached[0]
        with self.sessions() as session:
            row = session.get(AccessToken, self.key)
            token = self._usable(row)
            session.rollback()
        return token

    def refresh(self, fetch: Callable[[], tuple[str, int]], stale: str | None = None) -> tuple[str, bool]:
        """(token, fetched): a fresh token; `fetch` is called only if nobody else just did.

        `stale` is a token WeCom has just rejected (40014/42001): it is replaced
        even if its recorded expiry is still ahead.
        """
        with self._lock, self.sessions() as session, session.begin():
            row = self._lock_row(session)
            self._cached = None
            if row.access_token != stale:
                token = self._usable(row)
                if token:
                    return token, False
            access_token, expires_in = fetch()
            now = self.clock()
            row.access_token = access_token
            row.refreshed_at = now
            row.expires_at = now + timedelta(seconds=expires_in)
            return self._usable(row) or access_token, True

    def forget(self) -> None:
        self._cached = None

    def _lock_row(self, session: Session) -> AccessToken:
        dialect = session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        session.execute(
            insert(AccessToken).values(key=self.key, access_token="").on_conflict_do_nothing(index_elements=["key"])
        )
        query = select(AccessToken).where(AccessToken.key == self.key).with_for_update()
        return session.execute(query.execution_options(populate_existing=True)).scalar_one()

    def _usable(self, row: AccessToken | None) -> str | None:
        """The row's token if it is not due for refresh (and remember it), else None."""
        if row is None or not row.access_token or row.expires_at is None:
            return None
        lifetime = row.expires_at - (row.refreshed_at or row.expires_at - timedelta(hours=2))
        refresh_at = row.expires_at - min(REFRESH_MARGIN, lifetime / 10)
        if self.clock() >= refresh_at:
            return None
        self._cached = (row.access_token, row.expires_at, refresh_at)
        return row.access_token
