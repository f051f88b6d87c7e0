"""Revocable workbench sessions (issue 10 item 6).

The workbench's session is a signed cookie (Flask's, SESSION_HOURS long): the server
keeps no session rows, so a cookie copied before logout would otherwise keep working
until it expires. Each person has a session *generation* here (no row = 0). Login puts
the current generation into the cookie; every request compares it with this table (one
primary-key read, `current`); anything that must end a person's sessions bumps it:

- logging out (it ends every session of that person, on every device: the generation is
  per person, not per session);
- an admin's 强制下线 for a person (设置 page, audited `workbench.sessions.revoke`);
- the directory: a person who leaves (delete_user, status 5) or is disabled (status 2)
  while active (directory_sync._set_status), so re-enabling them does not revive an
  old cookie.

A row is kept after a person leaves: it is not part of the directory mirror, so a
re-created user row cannot bring back generation 0.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from wecom_app.models import SessionGeneration


def current(session, userid: str) -> int:
    """The person's session generation (0 until anything ended their sessions)."""
    row = session.get(SessionGeneration, userid.lower())
    return row.generation if row is not None else 0


def bump(session, userid: str, *, now: datetime) -> int:
    """End every session of this person (in the caller's transaction); returns the new generation.
    The increment is one UPDATE, so two concurrent bumps both count."""
    userid = userid.lower()
    if session.get(SessionGeneration, userid) is None:
        try:
            with session.begin_nested():  # a concurrent first bump may insert it too
                session.add(SessionGeneration(userid=userid, generation=0, changed_at=now))
        except IntegrityError:
            pass
    session.execute(update(SessionGeneration).where(SessionGeneration.userid == userid)
                    .values(generation=SessionGeneration.generation + 1, changed_at=now)
                    .execution_options(synchronize_session=False))
    row = session.get(SessionGeneration, userid, populate_existing=True)
    return row.generation
