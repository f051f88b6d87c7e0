"""What the `archive` jobs run (jobs/archive.py every minute, jobs/archive_notify.py within
seconds of a msgaudit_notify, developer.work.weixin.qq.com/document/path/95039): the pull,
then — when WeCom answered — the permit list (hourly) and the rooms due for a read; the lag
is checked whatever happened, since a pull that keeps failing is when it grows.

The SDK and the private keys are opened once per Runtime and kept (a FinanceSdk holds one
handle per thread; loading the keys parses PEM files)."""

from __future__ import annotations

import dataclasses
import threading
import weakref

from sqlalchemy import select

from wecom_app.archive import activity, content, instructions
from wecom_app.archive.keys import load_private_keys
from wecom_app.archive.pull import PullCounts, check_lag, pull, retry_encrypted
from wecom_app.archive.rooms import RoomCounts, read_due, read_permit_users
from wecom_app.archive.sdk import open_archive_sdk
from wecom_app.models import ArchiveCursor

# What reads each newly stored message, in order, in its page's transaction (archive/pull.py):
# content rules, in-group instructions, activity (issue 12 items 5-7) join here.
READERS: tuple = (
    content.read_words,  # R3, R5, R12: the office's word lists; a hit is a violation with the message as evidence
    activity.tally,  # R17, R4: messages per room, week and sender; texts outside working time
    instructions.offer,  # R16: a leader's or custodian's instruction in a group, offered to its sender
)

_tools: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_lock = threading.Lock()


@dataclasses.dataclass
class ArchiveRun:
    pull: PullCounts
    rooms: RoomCounts | None = None
    permit_users: int | None = None
    recovered: int = 0  # records kept encrypted, read now that their key is given
    judged: int = 0  # messages of groups registered after they were stored, read by the content rules now
    lag_seconds: float = 0.0

    @property
    def total(self) -> int:
        return self.pull.total + (self.rooms.total if self.rooms else 0)

    def as_dict(self) -> dict:
        """The job's log line (the pull and the rooms log their own detail lines)."""
        rooms = self.rooms
        return dict(records=self.pull.records, stored=self.pull.stored, error=self.pull.error,
                    rooms_read=rooms.read if rooms else 0, discovered=rooms.discovered if rooms else 0,
                    recovered=self.recovered, judged=self.judged, lag_seconds=round(self.lag_seconds))


def tools(runtime):
    """(sdk, private keys) of this runtime, opened on first use."""
    with _lock:
        found = _tools.get(runtime)
        if found is None:
            settings = runtime.settings
            found = (open_archive_sdk(settings), load_private_keys(settings.archive_private_keys))
            _tools[runtime] = found
        return found


def run(runtime, *, only_if_notified: bool = False, force: bool = False) -> ArchiveRun | None:
    settings = runtime.settings
    if not settings.archive_enabled:
        return None
    now = runtime.clock()
    if only_if_notified:
        with runtime.sessions() as session:
            notified = session.scalar(select(ArchiveCursor.notified_at).where(ArchiveCursor.corp_id == settings.corp_id))
        if notified is None:
            return None
    sdk, keys = tools(runtime)
    result = ArchiveRun(PullCounts())

    def rooms() -> None:  # WeCom answered: the permit list (hourly) and the rooms due, under the pull's lease
        result.permit_users = read_permit_users(runtime.sessions, runtime.client, settings, now)
        result.rooms = read_due(runtime.sessions, runtime.client, settings, now)
        result.recovered = retry_encrypted(runtime.sessions, sdk, keys, settings, now,  # a key added since
                                           readers=READERS)
        result.judged = content.judge_backlog(runtime.sessions, settings, now)  # groups registered since

    result.pull = pull(runtime.sessions, sdk, keys, settings, now, client=runtime.client, force=force, after=rooms,
                       readers=READERS)
    result.lag_seconds = check_lag(runtime.sessions, settings, now)
    return result
