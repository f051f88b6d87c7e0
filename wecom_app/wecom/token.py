"""The shared access token of one secret: the `access_token` table as a
single-flight cache (gettoken, document/path/91039).

Every worker and process reads the same row. A refresh happens early (a few
minutes before expiry) and by one caller at a time: an in-process lock per key
(shared by every client object of the process) first, then, on PostgreSQL, the
row itself — `INSERT ... ON CONFLICT DO NOTHING` makes sure it exists and
`SELECT ... FOR UPDATE` locks it (other tables' writes are not blocked).
Whoever gets the lock second re-reads the row and uses the token the first one
fetched.

On SQLite a transaction write-locks the whole database (`BEGIN IMMEDIATE`,
db.py), so the gettoken request never runs inside one: a short read re-checks
the row, the fetch happens outside any transaction, and a short write stores
the result. Two processes may then fetch at once, which is harmless (each token
stays valid until it expires).

A configuration error from gettoken (wrong secret, corp id, untrusted IP) is
remembered per key for `AUTH_FAILURE_TTL` and raised again without calling
WeCom: repeated wrong-secret calls get the server's IP blocked for an hour.

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

from wecom_app.models import AccessToken
from wecom_app.wecom.errors import CONFIG_ERRCODES, WeComAuthError

# refresh this long before expiry; shorter for short-lived tokens (a tenth of the lifetime)
REFRESH_MARGIN = timedelta(minutes=5)
# a gettoken configuration error is answered from memory this long
AUTH_FAILURE_TTL = timedelta(minutes=5)

_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def _lock_for(key: str) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(key, threading.Lock())


def token_key(corp_id: str, secret: str) -> str:
    return hashlib.sha256(f"{corp_id}\0{secret}".encode()).hexdigest()


class TokenStore:
    """Read, and refresh under lock, the token row for one (corp id, secret)."""

    def __init__(self, sessions: sessionmaker, key: str, clock: Callable[[], datetime]):
        self.sessions = sessions
        self.key = key
        self.clock = clock
        self._lock = _lock_for(key)
        self._cached: tuple[str, datetime, datetime] | None = None  # token, expires_at, refresh_at
        self._auth_failure: tuple[WeComAuthError, datetime] | None = None  # error, remembered until

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
        even if its recorded expiry is still ahead. A remembered configuration
        error is raised again without calling `fetch`.
        """
        self._raise_remembered()
        with self._lock:
            self._raise_remembered()
            try:
                if self._dialect() == "postgresql":
                    return self._refresh_locked_row(fetch, stale)
                return self._refresh_unlocked(fetch, stale)
            except WeComAuthError as error:
                if error.errcode in CONFIG_ERRCODES:
                    self._auth_failure = (error, self.clock() + AUTH_FAILURE_TTL)
                raise

    def _refresh_locked_row(self, fetch, stale) -> tuple[str, bool]:
        """PostgreSQL: the row stays locked (FOR UPDATE) while one caller fetches."""
        with self.sessions() as session, session.begin():
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

    def _refresh_unlocked(self, fetch, stale) -> tuple[str, bool]:
        """SQLite: a short read, the fetch outside any transaction, a short write."""
        self._cached = None
        with self.sessions() as session:
            row = session.get(AccessToken, self.key, populate_existing=True)
            token = self._usable(row) if row is not None and row.access_token != stale else None
            session.rollback()
        if token:
            return token, False
        access_token, expires_in = fetch()
        now = self.clock()
        values = dict(access_token=access_token, refreshed_at=now, expires_at=now + timedelta(seconds=expires_in))
        with self.sessions() as session, session.begin():
            session.execute(
                sqlite.insert(AccessToken).values(key=self.key, **values)
                .on_conflict_do_update(index_elements=["key"], set_=values)
            )
        return self._usable(AccessToken(key=self.key, **values)) or access_token, True

    def _raise_remembered(self) -> None:
        remembered = self._auth_failure
        if remembered is None:
            return
        error, until = remembered
        if self.clock() >= until:
            self._auth_failure = None
            return
        raise WeComAuthError(error.api, error.errcode, error.errmsg)

    def _dialect(self) -> str:
        with self.sessions() as session:
            return session.get_bind().dialect.name

    def forget(self) -> None:
        self._cached = None

    def _lock_row(self, session: Session) -> AccessToken:
        session.execute(
            postgresql.insert(AccessToken).values(key=self.key, access_token="").on_conflict_do_nothing(index_elements=["key"])
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
