"""The receiver's group commit (callbacks/receiver.py InboxWriter): callbacks that arrive while an
insert is on its way go together in one statement, each with its own outcome (issue 14)."""

import threading
import time
from datetime import datetime, timezone

import psycopg.errors
import pytest
from sqlalchemy import select, text

from wecom_app.callbacks.events import parse_event
from wecom_app.callbacks.receiver import InboxWriter, Refused, inbox_values
from wecom_app.models import InboxEvent

from tests.callbacks import fixture

pytestmark = pytest.mark.both_databases  # one multi-row INSERT … ON CONFLICT … RETURNING per dialect

NOW = datetime(2026, 12, 5, 10, 0, tzinfo=timezone.utc)


def values(n: int) -> dict:
    xml = fixture("text").replace("</MsgId>", f"{n}</MsgId>")
    return inbox_values("app", parse_event(xml), xml, NOW)


class Gate:
    """Holds the first statement until `queued` callbacks wait behind it, so they form one batch."""

    def __init__(self, writer: InboxWriter, queued: int):
        self.writer, self.queued, self.statements = writer, queued, []
        self.run, self.first = writer._run, True
        writer._run = self

    def __call__(self, conn, rows):
        if self.first:
            self.first = False
            deadline = time.monotonic() + 10
            while len(self.writer._queue) < 1 + self.queued and time.monotonic() < deadline:
                time.sleep(0.005)
        self.statements.append(len(rows))
        return self.run(conn, rows)


def insert_all(writer: InboxWriter, rows: list[dict]) -> list:
    """Insert rows[0], then the rest while it is held; each thread's outcome (True/False or the exception)."""
    outcomes: list = [None] * len(rows)

    def one(i):
        try:
            outcomes[i] = writer.insert(rows[i])
        except Exception as exc:  # noqa: BLE001 - the outcome under test
            outcomes[i] = exc

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(rows))]
    threads[0].start()
    while not writer._queue and threads[0].is_alive():
        time.sleep(0.001)
    for thread in threads[1:]:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    return outcomes


def stored(sessions) -> list[str]:
    with sessions() as session:
        return session.scalars(select(InboxEvent.dedupe_key).order_by(InboxEvent.id)).all()


def test_callbacks_waiting_behind_an_insert_are_committed_together_each_with_its_outcome(engine, sessions):
    writer = InboxWriter(engine)
    rows = [values(1), values(2), values(3), values(2), values(4), values(1)]  # two retries among them
    gate = Gate(writer, queued=5)
    outcomes = insert_all(writer, rows)
    writer.close()
    assert outcomes[0] is True  # alone when it came: written at once
    assert sorted(outcomes[1:], key=str) == [False, False, True, True, True]  # 2, 3, 4 new; the retries not
    assert gate.statements == [1, 4]  # the five behind it in ONE statement: 2, 3, 4 and the retry of 1
    assert sorted(stored(sessions)) == sorted({row["dedupe_key"] for row in rows})  # each key once
    if engine.dialect.name == "postgresql":  # one transaction: the batch's rows share one xmin
        with engine.connect() as conn:
            xmins = conn.execute(text("SELECT dedupe_key, xmin::text FROM inbox_event")).all()
        by_key = dict(xmins)
        assert len({by_key[rows[i]["dedupe_key"]] for i in (1, 2, 4)}) == 1
        assert by_key[rows[0]["dedupe_key"]] != by_key[rows[1]["dedupe_key"]]


def test_a_row_the_database_refuses_fails_alone_and_the_rest_of_its_batch_is_stored(engine, sessions):
    writer = InboxWriter(engine)
    rows = [values(1), values(2), {**values(3), "source": None}, values(4)]  # NOT NULL
    Gate(writer, queued=3)
    outcomes = insert_all(writer, rows)
    writer.close()
    assert outcomes[0] is True and outcomes[1] is True and outcomes[3] is True
    assert isinstance(outcomes[2], Refused)
    assert sorted(stored(sessions)) == sorted(rows[i]["dedupe_key"] for i in (0, 1, 3))


def test_a_lone_callback_is_written_at_once(engine, sessions):
    writer = InboxWriter(engine)
    assert writer.insert(values(7)) is True
    assert writer.insert(values(7)) is False
    writer.close()
    assert stored(sessions) == [values(7)["dedupe_key"]]


class FailOnce(Gate):
    """The gate, and the first statement of several rows fails with `error`."""

    def __init__(self, writer: InboxWriter, queued: int, error: Exception):
        super().__init__(writer, queued)
        self.error = error

    def __call__(self, conn, rows):
        if len(rows) > 1 and self.error is not None:
            error, self.error = self.error, None
            self.statements.append(len(rows))
            raise error
        return super().__call__(conn, rows)


def test_a_batch_that_deadlocks_with_another_process_s_is_written_row_by_row_not_spooled(engine, sessions):
    """Two workers may batch the same retry and original in opposite orders: PostgreSQL breaks the
    deadlock by failing one statement (40P01); its rows are written one by one, none spooled."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time: its batches cannot deadlock")
    writer = InboxWriter(engine)
    rows = [values(1), values(2), values(3), values(2)]
    gate = FailOnce(writer, 3, psycopg.errors.DeadlockDetected("deadlock detected"))
    outcomes = insert_all(writer, rows)
    writer.close()
    assert sorted(outcomes, key=str) == [False, True, True, True]
    assert gate.statements == [1, 2, 1, 1, 1]  # the failed pair, then each waiter alone
    assert sorted(stored(sessions)) == sorted({row["dedupe_key"] for row in rows})


def test_a_bug_meeting_a_batch_fails_only_its_own_row(engine, sessions):
    writer = InboxWriter(engine)
    rows = [values(1), values(2), values(3)]
    FailOnce(writer, 2, RuntimeError("a bug in the batch's statement"))
    outcomes = insert_all(writer, rows)
    writer.close()
    assert outcomes == [True, True, True]  # the statement failed once for the batch, not for any row
    assert sorted(stored(sessions)) == sorted(row["dedupe_key"] for row in rows)
