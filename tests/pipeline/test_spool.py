"""The callback spool (wecom_app/callbacks/spool.py): nothing WeCom was answered 200 for is lost while
the database is down, and nothing is stored or handled twice (DESIGN §3; WeCom retries no
HTTP status, document/path/90930 §3.2). Real-server outages: tests/e2e/test_spool_outage.py."""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select

from wecom_app.app import Runtime, create_app
from wecom_app.callbacks.crypto import WeComCrypto
from wecom_app.callbacks.dispatcher import dispatch_pending
from wecom_app.callbacks.events import parse_event
from wecom_app.callbacks.receiver import inbox_values
from wecom_app.callbacks.router import Router
from wecom_app.callbacks.spool import Spool
from wecom_app.db import make_engine
from wecom_app.models import InboxEvent
from wecom_app.sandbox import text_message
from wecom_app.scheduler import run_job

from tests.callbacks import down_engines, post
from tests.conftest import AES_KEY, AGENT_ID, CORP_ID, TOKEN

pytestmark = pytest.mark.both_databases  # the spool: INSERT ... ON CONFLICT per dialect, a database down

CRYPTO = WeComCrypto(TOKEN, AES_KEY, CORP_ID)
T0 = datetime(2026, 12, 7, 2, 0, tzinfo=timezone.utc)


def message(n: int) -> str:
    return text_message("lina", f"第{n}条", 7_000_000 + n, ToUserName=CORP_ID, AgentID=AGENT_ID,
                        CreateTime=1_796_000_000)


def values(n: int, now: datetime = T0) -> dict:
    xml = message(n)
    return inbox_values("app", parse_event(xml), xml, now)


def inbox(runtime) -> list[InboxEvent]:
    with runtime.sessions() as session:
        return session.scalars(select(InboxEvent).order_by(InboxEvent.id)).all()


def handled_once(runtime) -> list[str]:
    """Dispatch everything due, twice, with a handler that records each MsgId it sees."""
    router, seen = Router(), []

    @router.register("text")
    def record(event, ctx):
        seen.append(event.get("MsgId"))

    for _ in range(2):
        dispatch_pending(runtime.sessions, router, runtime.settings, runtime.clock())
    return seen


def spool_files(settings) -> list[str]:
    return sorted(path.name for path in Path(settings.spool_dir).glob("*.jsonl"))


def spooled_while_down(settings, tmp_path, numbers, clock=lambda: T0) -> None:
    """Another process, whose database refuses every connection, receives these callbacks and exits."""
    engine = down_engines(tmp_path)[0 if settings.database_url.startswith("postgresql") else 1]
    process = Runtime(settings, engine=engine, clock=clock)
    client = create_app(settings, runtime=process, check_schema=False).test_client()
    for n in numbers:
        response = post(client, CRYPTO, message(n))
        assert response.status_code == 200 and response.data == b""
    process.spool.close()
    engine.dispose()


def test_spooled_events_reach_the_inbox_once_and_are_handled_once(settings, runtime, tmp_path):
    spooled_while_down(settings, tmp_path, [1, 2, 3, 2])  # the 2 again: a WeCom retry during the outage
    assert inbox(runtime) == [] and len(spool_files(settings)) == 1
    stats = run_job("spool", runtime)
    assert (stats.stored, stats.duplicates, stats.files) == (3, 1, 1)
    assert run_job("spool", runtime) is None  # replayed twice: nothing left, nothing stored twice
    assert [row.payload for row in inbox(runtime)] == [message(1), message(2), message(3)]
    assert spool_files(settings) == []
    assert sorted(handled_once(runtime)) == ["7000001", "7000002", "7000003"]


def test_an_event_spooled_and_also_delivered_live_after_recovery_is_kept_once(settings, runtime, client, tmp_path):
    spooled_while_down(settings, tmp_path, [1])
    assert post(client, CRYPTO, message(1)).status_code == 200  # the database is back; the same event arrives live
    assert post(client, CRYPTO, message(2)).status_code == 200
    stats = run_job("spool", runtime)
    assert (stats.stored, stats.duplicates) == (0, 1)
    assert len(inbox(runtime)) == 2 and sorted(handled_once(runtime)) == ["7000001", "7000002"]


def test_replay_waits_while_the_database_is_down_and_keeps_the_files(settings, tmp_path):
    spooled_while_down(settings, tmp_path, [1])
    engine = down_engines(tmp_path)[0 if settings.database_url.startswith("postgresql") else 1]
    assert run_job("spool", Runtime(settings, engine=engine)) is None
    assert len(spool_files(settings)) == 1
    engine.dispose()


def test_a_torn_last_line_is_skipped_and_the_rest_replayed(settings, runtime, caplog):
    spool = Spool(settings.spool_dir)
    for n in (1, 2):
        spool.append(values(n))
    [name] = spool_files(settings)
    with open(os.path.join(settings.spool_dir, name), "ab") as file:  # killed in the middle of the third write
        file.write(b'{"dedupe_key":"msg:7000003","source":"app","payload":"<xml><ToUserName><![CDATA[ww')
    spool.close()
    stats = run_job("spool", runtime)
    assert (stats.stored, stats.torn, stats.corrupt) == (2, 1, 0)
    assert "wecom.spool.torn_line_skipped" in caplog.text and spool_files(settings) == []
    assert len(inbox(runtime)) == 2


def test_a_corrupt_line_elsewhere_is_kept_aside_not_lost(settings, runtime):
    spool = Spool(settings.spool_dir)
    spool.append(values(1))
    [name] = spool_files(settings)
    with open(os.path.join(settings.spool_dir, name), "ab") as file:
        file.write(b'{"dedupe_key": "half a record"}\n')
    spool.append(values(2))
    spool.close()
    stats = run_job("spool", runtime)
    assert (stats.stored, stats.corrupt, stats.torn) == (2, 1, 0)
    kept = (Path(settings.spool_dir) / "corrupt" / name).read_bytes()
    assert kept == b'{"dedupe_key": "half a record"}\n' and spool_files(settings) == []


def test_a_writer_never_waits_for_a_replay_and_loses_nothing_to_one(settings, runtime):
    spool = Spool(settings.spool_dir)
    spool.append(values(1))
    [first] = spool_files(settings)
    with open(Path(settings.spool_dir) / first, "rb") as replaying:  # a replay holds the file
        fcntl.flock(replaying, fcntl.LOCK_EX)
        spool.append(values(2))  # goes to a new file at once
        assert len(spool_files(settings)) == 2
    assert run_job("spool", runtime).stored == 2  # both files, and deletes them
    spool.append(values(3))  # its file was replayed and deleted: a new one
    assert run_job("spool", runtime).stored == 1
    spool.close()
    assert len(inbox(runtime)) == 3 and spool_files(settings) == []


def test_on_sqlite_a_callback_waits_for_a_lock_less_than_wecom_waits_for_an_answer(sqlite_template, tmp_path):
    """The insert gives up after 2 s and the event is spooled: WeCom stops waiting at 5 s (90930).
    Transactions (jobs, API) still wait 30 s, and the pooled connection goes back to 2 s after them."""
    shutil.copy(sqlite_template, tmp_path / "app.db")
    engine = make_engine(f"sqlite:///{tmp_path / 'app.db'}")
    autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
    for _ in range(2):
        with autocommit.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 2000
        with engine.begin() as conn:
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
    engine.dispose()


WRITER = """
import sys
from datetime import datetime, timezone
from wecom_app.callbacks.events import parse_event
from wecom_app.callbacks.receiver import inbox_values
from wecom_app.sandbox import text_message
from wecom_app.callbacks.spool import Spool

spool = Spool(sys.argv[1])
for n in range(1_000_000):
    xml = text_message("lina", "x" * 2000, 8_000_000 + n, ToUserName="ww", CreateTime=1_796_000_000)
    spool.append(inbox_values("app", parse_event(xml), xml, datetime.now(timezone.utc)))
    print(n, flush=True)  # the receiver answers 200 only now
"""


def test_a_process_killed_while_writing_loses_nothing_it_answered(settings, runtime):
    writer = subprocess.Popen([sys.executable, "-c", WRITER, settings.spool_dir], stdout=subprocess.PIPE,
                              env=dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2])))
    answered = [int(writer.stdout.readline()) for _ in range(50)]
    during = run_job("spool", runtime)  # replays what the live writer has written so far; it goes on in a new file
    answered += [int(writer.stdout.readline()) for _ in range(50)]
    writer.send_signal(signal.SIGKILL)
    answered += [int(line) for line in writer.stdout.read().split()]
    writer.wait()
    writer.stdout.close()
    stats = run_job("spool", runtime)
    assert during.stored + during.duplicates + stats.stored + stats.duplicates >= len(answered)
    stored = {int(row.payload.split("<MsgId>")[1].split("<")[0]) - 8_000_000 for row in inbox(runtime)}
    assert set(answered) <= stored and stats.corrupt == 0 and spool_files(settings) == []


def test_spool_depth_and_age_in_metrics_and_readyz(settings, engine, tmp_path):
    spooled_while_down(settings, tmp_path, [1, 2])
    runtime = Runtime(settings, engine=engine, clock=lambda: T0 + timedelta(seconds=90))
    client = create_app(settings, runtime=runtime).test_client()  # a process starting replays what it finds
    assert len(inbox(runtime)) == 2
    assert client.get("/readyz").json["spool"] == dict(status="empty", events=0, oldest_age_seconds=0)
    spooled_while_down(settings, tmp_path, [3, 4], clock=lambda: T0 + timedelta(seconds=30))
    assert client.get("/readyz").json["spool"] == dict(status="not_empty", events=2, oldest_age_seconds=60.0)
    text = client.get("/metrics").get_data(as_text=True)
    assert "wecom_spool_events 2.0" in text and "wecom_spool_oldest_age_seconds 60.0" in text
    assert 'wecom_callbacks_spooled_total{source="app"}' in text
    assert 'wecom_spool_replayed_total{outcome="stored"}' in text
