"""Database engine, sessions and the migration guard.

SQLite and PostgreSQL are both first-class. SQLite gets WAL, a busy timeout and
`BEGIN IMMEDIATE` transactions so that concurrent writers wait their turn
instead of failing with "database is locked" when a reader upgrades to a writer.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import DateTime, Engine, create_engine, event
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

MIGRATIONS = Path(__file__).parent / "migrations"
# SQLite: how long a writer waits for another's lock. A transaction waits 30 s; an autocommitted
# statement (the callback insert) 2 s, then the receiver spools the event: WeCom stops waiting for
# the answer after 5 s (document/path/90930). The 2 s is the connection's own timeout, so the hot
# path pays no statement for it; a transaction raises it at BEGIN and the pool lowers it at check-in.
SQLITE_BUSY_TIMEOUT = 30
SQLITE_AUTOCOMMIT_TIMEOUT = 2
PG_CONNECT_TIMEOUT = 3


class Base(DeclarativeBase):
    pass


class UTCDateTime(TypeDecorator):
    """Stores naive UTC, returns aware UTC: the same on SQLite and PostgreSQL."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        return None if value is None else value.replace(tzinfo=timezone.utc)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def make_engine(url: str, **kwargs) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": SQLITE_AUTOCOMMIT_TIMEOUT, "check_same_thread": False},
                               **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_connection, _record):
            dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):
            if conn.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
                conn.connection.info["long_wait"] = True
                conn.exec_driver_sql(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT * 1000}")
                conn.exec_driver_sql("BEGIN IMMEDIATE")

        @event.listens_for(engine, "checkin")
        def _sqlite_checkin(dbapi_connection, record):
            if record.info.pop("long_wait", False) and dbapi_connection is not None:
                dbapi_connection.execute(f"PRAGMA busy_timeout={SQLITE_AUTOCOMMIT_TIMEOUT * 1000}")

        return engine
    # No pre-ping: it costs a round trip per checkout on the callback path. After a
    # PostgreSQL restart the first use of a dead connection fails (that callback is
    # spooled and answered 200, receiver.py) and SQLAlchemy then replaces the whole pool.
    # A server that cannot be reached (a partition drops the SYN) must not hold a callback
    # past WeCom's 5 s: after 3 s the receiver spools it instead (document/path/90930).
    kwargs.setdefault("connect_args", {}).setdefault("connect_timeout", PG_CONNECT_TIMEOUT)
    if "poolclass" not in kwargs:
        kwargs.setdefault("pool_size", 10)
        kwargs.setdefault("max_overflow", 10)
    return create_engine(url, **kwargs)


def make_sessionmaker(engine: Engine) -> sessionmaker:
    return sessionmaker(engine, expire_on_commit=False)


MEMO_KEY = "wecom.memo"  # session.info: the transaction's memos (`memo`)


def memo(session: Session, name: str) -> dict:
    """A dict kept for the rest of the session's outermost transaction and forgotten at any
    rollback (a savepoint's too): what a transaction reads once and would read again (the
    dispatcher's batch: its groups, people, receipts, read in one query each). Keep only what
    cannot change under the transaction (rows it holds a lock for, or rows it wrote itself),
    and ORM rows rather than copies: a row kept here is the one the session would give."""
    return session.info.setdefault(MEMO_KEY, {}).setdefault(name, {})


@event.listens_for(Session, "after_soft_rollback")
def _memo_rolled_back(session: Session, _previous) -> None:
    session.info.pop(MEMO_KEY, None)


@event.listens_for(Session, "after_transaction_end")
def _memo_ended(session: Session, transaction) -> None:
    if transaction.parent is None:
        session.info.pop(MEMO_KEY, None)


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


class NotMigrated(RuntimeError):
    pass


def check_migrated(engine: Engine) -> None:
    """Refuse to run on a database whose schema is not at the code's head revision."""
    head = ScriptDirectory.from_config(alembic_config(str(engine.url))).get_current_head()
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    if current != head:
        state = "empty" if current is None else f"at revision {current}"
        raise NotMigrated(
            f"the database is {state}, the code needs revision {head}: run `wecom-app db upgrade` first"
        )
