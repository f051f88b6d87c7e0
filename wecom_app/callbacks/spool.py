"""The receiver's local spool: callbacks verified while the database was unavailable.

WeCom retries a callback only when the connection fails or no answer comes within
5 s, never on an HTTP status ("仅针对网络连接失败或者网络请求超时情况重试",
developer.work.weixin.qq.com/document/path/90930 §3.2). So when the inbox insert
fails, the receiver appends the verified, decrypted event here and answers 200;
`replay` moves it into the inbox once the database answers again.

Files: `<SPOOL_DIR>/spool-<pid>-<random>.jsonl`, one JSON record per line (the inbox
row's values), appended by one process, flushed and fsynced before the receiver
answers. A line is therefore on disk before WeCom hears 200, and a line a crash cut
short (no newline at its end) was never answered.

Who may replay a file (flock, not pids): a writer holds an exclusive `flock` on its
file only while it appends one record (write + fsync); a replayer takes the same
lock without waiting, skips a file that is mid-append this round, and holds the lock
until the file's rows are committed and the file is deleted. A writer never waits
for a replayer: when it cannot lock its own file at once, or finds it already
replayed and deleted, it starts a new file. So any process's `spool` job (or the
start-up replay of any process) may replay any file, a live writer's included, and
a writer killed mid-write releases its lock as it dies (even SIGKILL): its torn
last line is all it leaves. A new file is created under a hidden name and renamed
into view, so a replayer never sees a half-created one.

Replay inserts a file's records into the inbox in one transaction with the
receiver's ON CONFLICT DO NOTHING on the dedupe key (a replay run twice, or a
WeCom retry that arrived live after recovery, stores nothing twice) and deletes
the file only after that commit. A torn last line is logged and skipped; any
other unreadable line is moved to `<SPOOL_DIR>/corrupt/` for a person, never lost.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import logging
import os
import secrets
import threading
from datetime import datetime
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError

from wecom_app import metrics
from wecom_app.counts import Counts
from wecom_app.logs import kv
from wecom_app.models import InboxEvent

log = logging.getLogger("wecom.spool")

PATTERN = "spool-*.jsonl"
CORRUPT = "corrupt"
# the inbox values a record carries; status, attempts and next_attempt_at are set at replay
FIELDS = ("dedupe_key", "source", "msg_type", "event", "change_type", "from_user", "create_time", "payload",
          "received_at")
CHUNK = 500


class Spool:
    """This process's append-only spool file, opened on the first append."""

    def __init__(self, directory: str | os.PathLike):
        self.directory = Path(directory)
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._pid = 0

    def append(self, values: dict) -> None:
        """Write one record and fsync it; OSError if it is not durably on disk."""
        record = {name: values[name] for name in FIELDS}
        record["received_at"] = values["received_at"].isoformat()
        line = (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
        with self._lock:
            fd = self._locked_file()
            try:
                start = os.lseek(fd, 0, os.SEEK_END)
                try:
                    view = memoryview(line)
                    while view:
                        view = view[os.write(fd, view):]
                    os.fsync(fd)
                except OSError:
                    # a half-written line would corrupt the next record: cut it off, and start a
                    # new file next time (if the cut fails too, the line is this file's torn last line)
                    try:
                        os.ftruncate(fd, start)
                    except OSError:
                        pass
                    self._close()
                    raise
            finally:
                if self._fd == fd:
                    fcntl.flock(fd, fcntl.LOCK_UN)

    def close(self) -> None:
        with self._lock:
            self._close()

    def _locked_file(self) -> int:
        """This process's file, locked, still in the spool (not taken by a replay meanwhile)."""
        if self._pid != os.getpid():  # a forked child never appends to its parent's file
            self._fd = None
        for _ in range(3):
            if self._fd is None:
                self._open()
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:  # a replay holds it: leave it that file, write a new one
                self._close()
                continue
            if os.fstat(self._fd).st_nlink:
                return self._fd
            self._close()  # replayed and deleted since our last append
        raise OSError("the spool file was taken by a replay three times running")

    def _open(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        name = f"spool-{os.getpid()}-{secrets.token_hex(6)}.jsonl"
        hidden = self.directory / f".{name}.new"
        fd = os.open(hidden, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        try:
            os.rename(hidden, self.directory / name)
            _fsync_directory(self.directory)  # the file's name survives a power cut too
        except OSError:
            os.close(fd)
            raise
        self._fd, self._pid = fd, os.getpid()
        log.warning(kv("wecom.spool.opened", file=name))

    def _close(self) -> None:
        if self._fd is not None and self._pid == os.getpid():
            os.close(self._fd)
        self._fd = None

    # -- what is waiting ------------------------------------------------------------------------
    def depth(self) -> tuple[int, datetime | None]:
        """(events waiting, received_at of the oldest): every file, this process's own included."""
        events, oldest = 0, None
        for path in self.files():
            try:
                data = path.read_bytes()
            except OSError:
                continue
            events += data.count(b"\n")
            first = _received_at(data.split(b"\n", 1)[0])
            if first is not None and (oldest is None or first < oldest):
                oldest = first
        return events, oldest

    def files(self) -> list[Path]:
        try:
            return sorted(self.directory.glob(PATTERN))
        except OSError:
            return []


@dataclasses.dataclass
class ReplayStats(Counts):
    files: int = 0
    stored: int = 0
    duplicates: int = 0
    torn: int = 0
    corrupt: int = 0
    busy: int = 0  # files a writer was appending to (replayed next time)

    @property
    def total(self) -> int:  # files looked at; stored, duplicates, torn and corrupt are what became of them
        return self.files + self.busy


def replay(runtime) -> ReplayStats | None:
    """Move every replayable spool file into the inbox (the `spool` job, and every process at
    start). None when there is nothing to do or the database does not answer yet."""
    spool = runtime.spool
    if not spool.files():
        return None
    try:
        with runtime.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        log.warning(kv("wecom.spool.waiting", error=type(exc).__name__))
        return None
    stats = ReplayStats()
    for path in spool.files():
        try:
            _replay_file(runtime, path, stats)
        except SQLAlchemyError as exc:  # the database went away again: the file stays
            log.warning(kv("wecom.spool.waiting", file=path.name, error=type(exc).__name__))
            break
    if stats.stored:
        runtime.wake_dispatcher()
    return stats


def replay_at_start(runtime) -> None:
    """Every process replays what earlier processes left, as it starts. Never fatal."""
    try:
        stats = replay(runtime)
    except Exception:
        log.exception(kv("wecom.spool.replay_failed", at="start"))
        return
    if stats is not None:
        log.info(kv("wecom.spool.replayed", at="start", result=stats))


def _replay_file(runtime, path: Path, stats: ReplayStats) -> None:
    try:
        handle = open(path, "rb")
    except FileNotFoundError:  # another process replayed it meanwhile
        return
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            stats.busy += 1  # a writer is appending to it right now
            return
        if os.fstat(handle.fileno()).st_nlink == 0:  # replayed and removed while we waited to open it
            return
        records, bad = _parse(path.name, handle.read(), stats)
        now = runtime.clock()
        stored = _insert(runtime, records, now) if records else 0
        if bad:
            _keep_aside(path, bad)
        os.unlink(path)  # only now: its rows are committed, its bad lines kept aside
        _fsync_directory(path.parent)
    stats.files += 1
    stats.stored += stored
    stats.duplicates += len(records) - stored
    metrics.SPOOL_REPLAYED.labels("stored").inc(stored)
    metrics.SPOOL_REPLAYED.labels("duplicate").inc(len(records) - stored)
    metrics.SPOOL_REPLAYED.labels("kept_aside").inc(len(bad))
    log.info(kv("wecom.spool.file_replayed", file=path.name, stored=stored, duplicates=len(records) - stored,
                corrupt=len(bad)))


def _parse(name: str, data: bytes, stats: ReplayStats) -> tuple[list[dict], list[bytes]]:
    lines = data.split(b"\n")
    tail = lines.pop()  # after the last newline: empty, or a write a crash cut short
    if tail:
        stats.torn += 1
        # never answered 200: the answer waits for the fsync of the whole line
        log.warning(kv("wecom.spool.torn_line_skipped", file=name, bytes=len(tail)))
    records, bad = [], []
    for number, line in enumerate(lines, 1):
        try:
            records.append(_values(json.loads(line)))
        except (ValueError, KeyError, TypeError, AttributeError):
            bad.append(line)
            log.error(kv("wecom.spool.corrupt_line", file=name, line=number))
    stats.corrupt += len(bad)
    return records, bad


def _values(record: dict) -> dict:
    values = {name: record[name] for name in FIELDS}
    if not isinstance(values["dedupe_key"], str) or not isinstance(values["payload"], str):
        raise TypeError("dedupe_key and payload must be text")
    values["create_time"] = int(values["create_time"])
    values["received_at"] = datetime.fromisoformat(values["received_at"])
    if values["received_at"].tzinfo is None:
        raise ValueError("received_at without a zone")
    return values


def _insert(runtime, records: list[dict], now: datetime) -> int:
    """One transaction per file; the receiver's ON CONFLICT DO NOTHING on the dedupe key."""
    table = InboxEvent.__table__
    insert = pg_insert if runtime.engine.dialect.name == "postgresql" else sqlite_insert
    statement = insert(table).on_conflict_do_nothing(index_elements=["dedupe_key"]).returning(table.c.id)
    stored = 0
    with runtime.engine.begin() as conn:
        for start in range(0, len(records), CHUNK):
            rows = [dict(r, status="pending", attempts=0, next_attempt_at=now) for r in records[start:start + CHUNK]]
            stored += len(conn.execute(statement, rows).all())
    return stored


def _keep_aside(path: Path, lines: list[bytes]) -> None:
    aside = path.parent / CORRUPT
    aside.mkdir(exist_ok=True)
    with open(aside / path.name, "ab") as out:
        out.write(b"".join(line + b"\n" for line in lines))
        out.flush()
        os.fsync(out.fileno())
    log.error(kv("wecom.spool.kept_aside", file=f"{CORRUPT}/{path.name}", lines=len(lines)))


def _received_at(line: bytes) -> datetime | None:
    try:
        return datetime.fromisoformat(json.loads(line)["received_at"])
    except (ValueError, KeyError, TypeError):
        return None


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
