"""A callback answered 200 is stored before the answer (DESIGN §3 HTTP "nothing lost"; issue 14),
and what the receiver logs per callback.

The app is served by gunicorn as deployed, callbacks go over several keep-alive connections at
once, and the moment the K-th 200 arrives the server is SIGKILLed, master and worker, with other
callbacks in flight: no shutdown, no flush, no atexit. Every callback whose 200 reached the client
is in the inbox afterwards (committed before the answer); while the database cannot take it, in
the spool (fsynced before the answer), from which the `spool` job puts it in the inbox.
A receiver that answered first and stored after (a write-behind queue, a commit left to a batch
that the kill cuts short) loses the callbacks answered in that window, and this test sees it.
"""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import pytest
import requests
from sqlalchemy import select

from tests.callbacks import envelope
from tests.conftest import AES_KEY, CORP_ID, TOKEN, make_settings
from tests.e2e.test_spool_outage import exclusive_lock, sqlite_file  # noqa: F401 - a fixture
from tests.pipeline.test_spool import message
from tests.served import gunicorn
from wecom_app.app import Runtime
from wecom_app.callbacks.crypto import WeComCrypto
from wecom_app.models import InboxEvent
from wecom_app.scheduler import run_job

CRYPTO = WeComCrypto(TOKEN, AES_KEY, CORP_ID)
CONNECTIONS = 6


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            pass
    return found


def send_then_kill(served, count: int, kill_after: int) -> set[int]:
    """POST message(0..count-1) over CONNECTIONS connections; SIGKILL the server (workers first, then
    the master) as soon as `kill_after` answers are in. Returns the numbers answered 200."""
    answered: set[int] = set()
    lock = threading.Lock()
    killed = threading.Event()
    requests_ = [envelope(CRYPTO, message(n)) for n in range(count)]

    def kill() -> None:
        for pid in [*_children(served.pid), served.pid]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        killed.set()

    def client(offset: int) -> None:
        with requests.Session() as session:
            for n in range(offset, count, CONNECTIONS):
                if killed.is_set():
                    return
                query, body = requests_[n]
                try:
                    response = session.post(f"{served.base}/wecom/callback?{query}", data=body.encode(),
                                            headers={"Content-Type": "text/xml"}, timeout=10)
                except requests.RequestException:
                    return  # killed under us: this one was never answered
                if response.status_code != 200:
                    continue
                with lock:
                    answered.add(n)
                    if len(answered) == kill_after:
                        kill()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CONNECTIONS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert killed.is_set(), "the server was never killed: fewer answers than expected"
    return answered


def inbox_numbers(runtime) -> list[int]:
    with runtime.sessions() as session:
        payloads = session.scalars(select(InboxEvent.payload)).all()
    return [next(n for n in range(1000) if payload == message(n)) for payload in payloads]


@pytest.mark.slow
@pytest.mark.both_databases  # the receiver's own insert, per database
def test_every_callback_answered_200_is_in_the_inbox_after_a_sigkill(db_url, tmp_path):
    spool = tmp_path / "spool"
    with gunicorn(db_url, str(spool), log_path=tmp_path / "gunicorn.log", GUNICORN_THREADS="4") as served:
        answered = send_then_kill(served, count=400, kill_after=150)
    runtime = Runtime(make_settings(database_url=db_url, spool_dir=str(spool)))
    stored = inbox_numbers(runtime)
    assert len(stored) == len(set(stored))  # nothing stored twice
    assert answered <= set(stored), f"answered 200 but not stored: {sorted(answered - set(stored))}"
    assert not list(spool.glob("spool-*.jsonl"))  # the database took them all: nothing spooled
    runtime.engine.dispose()


@pytest.mark.slow
def test_every_callback_answered_200_while_the_database_is_locked_is_in_the_spool_after_a_sigkill(
        sqlite_file, tmp_path):  # noqa: F811 - the fixture
    """SQLite's write lock held by another process: each insert waits its 2 s, then the event is
    spooled and answered; the kill comes with others still waiting or being fsynced."""
    url, spool = f"sqlite:///{sqlite_file}", tmp_path / "spool"
    with gunicorn(url, str(spool), log_path=tmp_path / "gunicorn.log", GUNICORN_THREADS="4") as served:
        with exclusive_lock(sqlite_file):
            answered = send_then_kill(served, count=24, kill_after=6)
    runtime = Runtime(make_settings(database_url=url, spool_dir=str(spool)))
    assert inbox_numbers(runtime) == []  # nothing reached the database while it was locked
    stats = run_job("spool", runtime)
    stored = inbox_numbers(runtime)
    assert len(stored) == len(set(stored)) == stats.stored
    assert answered <= set(stored), f"answered 200 but not spooled: {sorted(answered - set(stored))}"
    runtime.engine.dispose()


def test_callbacks_are_logged_at_debug_and_summed_up_at_info_once_an_interval(settings, runtime, caplog,
                                                                              monkeypatch):
    """A line per callback at INFO was a write under a lock at WeCom's rate (issue 14): stored and
    duplicate callbacks are DEBUG lines, and an INFO summary comes once per SUMMARY_SECONDS (0 here:
    at every callback, so each summary holds what came since the last)."""
    from tests.callbacks import post
    from wecom_app.app import create_app
    from wecom_app.callbacks import receiver

    monkeypatch.setattr(receiver, "SUMMARY_SECONDS", 0.0)
    client = create_app(settings, runtime=runtime).test_client()
    caplog.set_level("INFO", logger="wecom.callback")
    for _ in range(2):  # the second is WeCom's retry of the first
        assert post(client, CRYPTO, message(1)).status_code == 200
    lines = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "wecom.callback"]
    assert [level for level, _ in lines] == ["INFO", "INFO"]
    assert "wecom.callback.summary" in lines[0][1] and "stored=1 duplicates=0 spooled=0" in lines[0][1]
    assert "stored=0 duplicates=1 spooled=0" in lines[1][1]
