"""The directory's version: one cheap read that tells an index built in memory from the
mirror (governance/scope.py, directory/people.py) whether it is still the directory's.

`directory_version.version` is bumped by a database trigger on every write to the mirror's
tables (migration 0023), in the writer's transaction, whoever writes: an ORM flush, a bulk
statement, another process. So a transaction that reads version v sees every write that
made it v, and an index built after reading v is at least that new. A transaction reads it
once (`current`). An index built by a transaction that wrote the directory itself must not
be kept for others (its writes might still roll back): `wrote_directory` says so, from the
session's own flushes and bulk statements.
"""

from __future__ import annotations

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from wecom_app.models import Department, DirectoryVersion, Tag, TagMember, User, UserDepartment

DIRECTORY_TYPES = (Department, User, UserDepartment, Tag, TagMember)
STAMP_KEY = "wecom.directory.version"  # session.info: the version this transaction read
WROTE_KEY = "wecom.directory.wrote"  # session.info: this transaction wrote the directory


def current(session) -> int:
    """The directory's version as this transaction sees it, read once per transaction."""
    found = session.info.get(STAMP_KEY)
    if found is None:
        found = session.info[STAMP_KEY] = session.scalar(
            select(DirectoryVersion.version).where(DirectoryVersion.id == 1)) or 0
    return found


def wrote_directory(session) -> bool:
    return WROTE_KEY in session.info


def mark_written(session) -> None:
    """This transaction changed the directory (called by the hooks below, and by code that
    writes it in a way they do not see)."""
    session.info[WROTE_KEY] = True


@event.listens_for(Session, "after_flush")
def _flushed(session, _context) -> None:
    if any(isinstance(obj, DIRECTORY_TYPES) for obj in (*session.new, *session.dirty, *session.deleted)):
        mark_written(session)


@event.listens_for(Session, "do_orm_execute")
def _statement(state) -> None:
    """A bulk insert, update or delete of a directory table through the session (directory/rename.py)."""
    if (state.is_insert or state.is_update or state.is_delete) and any(
            getattr(mapper, "class_", None) in DIRECTORY_TYPES for mapper in state.all_mappers):
        mark_written(state.session)


@event.listens_for(Session, "after_transaction_end")
def _ended(session, transaction) -> None:
    if transaction.parent is None:  # the outermost: the next transaction reads the version again
        session.info.pop(STAMP_KEY, None)
        session.info.pop(WROTE_KEY, None)
