"""The archive pull (issue 12 item 3) against the emulator's stand-in for the Finance SDK
(EmulatorSdk, the same ArchiveSdk interface FinanceSdk implements): from the stored cursor,
one transaction per page, msgid stored once; and the faults the issue lists — a key version
with no private key, a corrupted encrypt_random_key, DecryptData failing, a page pulled
again after a crash, WeCom down, a 100 KB text and control characters, the wrong secret —
plus the lag on /metrics and the office alerted past 3 days. SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import dataclasses
import json
import logging
from datetime import datetime, timezone

import pytest
from sqlalchemy import func, select

from tests.plugins.archive import ROOM, run_pull, write_key
from tests.plugins.world import actions
from wecom_app.archive import pull as archive_pull
from wecom_app.archive.keys import load_private_keys
from wecom_app.archive.sdk import EmulatorSdk
from wecom_app.models import ArchiveCursor, ArchivedMessage, ArchiveRoom

pytestmark = pytest.mark.both_databases  # msgid unique and the cursor in one transaction; 100 KB texts and control characters in PostgreSQL's text

def stored(arc) -> list[ArchivedMessage]:
    with arc.sessions() as session:
        rows = session.scalars(select(ArchivedMessage).order_by(ArchivedMessage.seq)).all()
        session.expunge_all()
        return rows


def cursor_row(arc) -> ArchiveCursor:
    with arc.sessions() as session:
        row = session.scalar(select(ArchiveCursor))
        session.expunge_all()
        return row


def test_a_pull_stores_each_message_with_the_fields_rules_read_and_moves_the_cursor(arc):
    arc.archive.post(ROOM, "lina", "请各位周五前提交周报")
    arc.archive.post(ROOM, "wangfang", "收到")
    counts = run_pull(arc)
    assert (counts.records, counts.stored, counts.caught_up, counts.error) == (2, 2, True, None)
    first, second = stored(arc)
    assert (first.seq, first.state, first.roomid, first.sender, first.msgtype, first.action, first.content) == (
        1, "stored", ROOM, "lina", "text", "send", "请各位周五前提交周报")
    assert first.tolist == ["wangfang", "chenjing"] and first.msgtime == arc.now()
    assert json.loads(first.raw)["text"]["content"] == "请各位周五前提交周报" and first.encrypted is None
    assert cursor_row(arc).seq == 2
    again = run_pull(arc)  # nothing new: nothing stored twice
    assert (again.records, again.stored) == (0, 0) and len(stored(arc)) == 2


def test_a_page_pulled_again_after_a_crash_stores_nothing_twice_and_skips_no_seq(arc, monkeypatch):
    for n in range(5):
        arc.archive.post(ROOM, "lina", f"第{n}条")
    monkeypatch.setattr(archive_pull, "PAGE", 2)  # pages of 2: seq 1-2, 3-4, 5

    class ProcessDied(BaseException):  # not an Exception: nothing in the pull may catch it
        pass

    def crash(session, settings, message, room, now):
        if message.seq == 4:
            raise ProcessDied("the process died mid-page")

    with pytest.raises(ProcessDied):
        run_pull(arc, readers=(crash,))
    assert [m.seq for m in stored(arc)] == [1, 2] and cursor_row(arc).seq == 2  # page 3-4 rolled back whole
    assert cursor_row(arc).lease_until is None  # the lease is given back
    counts = run_pull(arc)
    assert [m.seq for m in stored(arc)] == [1, 2, 3, 4, 5] and cursor_row(arc).seq == 5 and counts.stored == 3
    with arc.sessions.begin() as session:  # a cursor restored from an older backup: the pages come again
        session.scalar(select(ArchiveCursor)).seq = 1
    counts = run_pull(arc)
    assert (counts.records, counts.stored, counts.duplicates) == (4, 0, 4) and len(stored(arc)) == 5


def test_a_reader_failing_on_one_message_never_holds_the_cursor_still(arc, caplog):
    """A reader's bug on one message must not stop the pull: WeCom keeps 5 days, and a cursor that
    never moves would lose every message behind it. That message's readings are undone and logged."""
    for text in ("第一条", "坏的那条", "第三条"):
        arc.archive.post(ROOM, "lina", text)
    read = []

    def note(session, settings, message, room, now):
        read.append(message.content)
        message.error = "noted"  # a write in the page's transaction

    def buggy(session, settings, message, room, now):
        if message.content == "坏的那条":
            raise ValueError("a reader's bug")

    with caplog.at_level(logging.ERROR, logger="wecom.archive"):
        counts = run_pull(arc, readers=(note, buggy))
    assert (counts.stored, counts.reader_errors, counts.error) == (3, 1, None) and cursor_row(arc).seq == 3
    assert read == ["第一条", "坏的那条", "第三条"]
    assert [m.error for m in stored(arc)] == ["noted", None, "noted"]  # the failed message's readings undone
    assert "wecom.archive.reader_failed" in caplog.text and "坏的那条" not in caplog.text  # no content in logs


def test_a_record_whose_key_version_the_app_lacks_is_kept_encrypted_and_read_once_the_key_is_given(arc, rsa_keys):
    arc.archive.post(ROOM, "lina", "新公钥加密的消息", publickey_ver=2)
    arc.archive.post(ROOM, "lina", "旧公钥加密的消息")
    counts = run_pull(arc)
    assert (counts.stored, counts.encrypted) == (2, 1) and cursor_row(arc).seq == 2  # the cursor passes it
    kept, readable = stored(arc)
    assert (kept.state, kept.publickey_ver, kept.content, kept.raw) == ("encrypted", 2, None, None)
    assert "publickey_ver 2" in kept.error and kept.encrypted["encrypt_chat_msg"] and readable.state == "stored"
    with arc.sessions() as session:
        shown = archive_pull.status(session, arc.settings, arc.now())
    assert shown["encrypted"] == 1 and shown["messages"] == 1
    write_key(arc.keydir, 2, rsa_keys[2])  # the office adds 2.pem
    assert archive_pull.retry_encrypted(arc.sessions, arc.sdk, load_private_keys(arc.keydir), arc.settings,
                                        arc.now()) == 1
    assert [(m.state, m.content) for m in stored(arc)] == [("stored", "新公钥加密的消息"), ("stored", "旧公钥加密的消息")]


def test_a_corrupted_random_key_and_decrypt_data_failing_keep_the_record_encrypted_and_the_pull_going(arc):
    for text in ("钥匙坏了", "消息换了", "好好的"):
        arc.archive.post(ROOM, "lina", text)
    first, second, third = arc.archive.records
    flipped = bytearray(base64.b64decode(first["encrypt_random_key"]))
    flipped[10] ^= 0xFF
    first["encrypt_random_key"] = base64.b64encode(bytes(flipped)).decode()
    second["encrypt_chat_msg"] = third["encrypt_chat_msg"]  # DecryptData answers 10006 with this record's key
    counts = run_pull(arc)
    assert (counts.stored, counts.encrypted, counts.error) == (3, 2, None) and cursor_row(arc).seq == 3
    bad_key, bad_msg, good = stored(arc)
    assert bad_key.state == bad_msg.state == "encrypted" and good.content == "好好的"
    assert "DecryptData" in bad_msg.error and "10006" in bad_msg.error


def test_an_unknown_msgtype_is_kept_and_counted_never_an_error(arc):
    arc.archive.post(ROOM, "lina", msgtype="hologram", fields={"hologram": {"frames": 3}})
    counts = run_pull(arc)
    assert (counts.stored, counts.unknown_types, counts.error) == (1, 1, None)
    (message,) = stored(arc)
    assert (message.msgtype, message.known_type, message.content) == ("hologram", False, None)
    assert json.loads(message.raw)["hologram"] == {"frames": 3}


def test_a_100_kb_text_and_control_characters_are_stored_on_either_database(arc):
    long_text = "机密项目" * 8_500 + "x" * 2_000  # 104,000 bytes of UTF-8
    odd = "a\x00b\x07c\x1b[31md\u202ee\r\n\tf"
    arc.archive.post(ROOM, "lina", long_text)
    arc.archive.post(ROOM, "lina", odd)
    assert run_pull(arc).stored == 2
    big, control = stored(arc)
    assert big.content == long_text and len(big.content.encode()) > 100_000
    assert control.content == odd.replace("\x00", "\ufffd")  # PostgreSQL stores no NUL in text
    assert json.loads(control.raw)["text"]["content"] == odd  # the raw JSON keeps it exactly


def test_one_to_one_chats_keep_their_metadata_only(arc):
    arc.archive.archive(dict(msgid="private-1", action="send", **{"from": "lina"}, tolist=["wangfang"], roomid="",
                             msgtime=int(arc.clock() * 1000), msgtype="text", text={"content": "私聊内容"}),
                        archived_at=arc.clock())
    assert run_pull(arc).private == 1
    (message,) = stored(arc)
    assert (message.state, message.sender, message.content, message.raw) == ("private", "lina", None, None)


def test_wecom_down_leaves_the_cursor_where_it_was(arc):
    arc.archive.post(ROOM, "lina", "第一条")
    assert run_pull(arc).stored == 1
    arc.archive.post(ROOM, "lina", "第二条")
    arc.state.faults.add("finance/getchatdata", "http_error", status=503, count=None)
    counts = run_pull(arc)
    assert (counts.error, counts.stored) == ("unavailable", 0)
    row = cursor_row(arc)
    assert (row.seq, row.error, row.retry_at) == (1, "unavailable", None)  # tried again next minute
    arc.state.faults.clear()
    arc.state.faults.add("finance/decryptdata", "http_error", status=503)  # down mid-page: the page waits
    assert run_pull(arc).error == "unavailable" and cursor_row(arc).seq == 1 and len(stored(arc)) == 1
    counts = run_pull(arc)
    assert (counts.error, counts.stored) == (None, 1) and cursor_row(arc).error is None


def test_the_wrong_secret_is_one_clear_error_told_to_the_office_once_not_a_line_a_minute(arc, caplog):
    arc.archive.post(ROOM, "lina", "看不到")
    arc.settings = dataclasses.replace(arc.settings, archive_secret="not-the-archive-secret-000000")
    arc.sdk = EmulatorSdk(arc.sdk.api_base, arc.settings.corp_id, arc.settings.archive_secret)
    from wecom_app.wecom.client import WeComClient

    arc.client = WeComClient(arc.settings, arc.sessions, clock=arc.now, sleep=lambda _s: None, max_attempts=1)
    caplog.set_level(logging.INFO, logger="wecom.archive")
    first = run_pull(arc)
    assert first.error == "wrong_secret"  # the SDK's 10001, told apart from an outage by gettoken's 40001
    for _ in range(5):
        arc.clock.advance(60)
        assert run_pull(arc).error is None  # waits an hour: no SDK call, no gettoken (an IP gets blocked)
    row = cursor_row(arc)
    assert (row.error, row.error_count, row.seq) == ("wrong_secret", 1, 0) and "WECOM_ARCHIVE_SECRET" in archive_pull.CONFIG_ERRORS[row.error]
    assert len(arc.state.calls("finance/getchatdata")) == 1
    assert sum("pull_failed" in r.getMessage() for r in caplog.records) == 1
    with arc.sessions() as session:
        (told,) = [a for a in actions(session, "message/send") if "archive" in a.idempotency_key]
        assert told.payload["touser"] == "wangfang" and told.urgent and "Secret" in told.payload["text"]["content"]
    assert "not-the-archive-secret" not in caplog.text
    arc.clock.advance(3600)
    assert run_pull(arc).error == "wrong_secret" and cursor_row(arc).error_count == 2  # hourly, still one line
    assert sum("pull_failed" in r.getMessage() for r in caplog.records) == 1


def test_the_lag_is_on_metrics_and_the_office_is_alerted_once_past_three_days(arc):
    arc.archive.post(ROOM, "lina", "最后一条")
    run_pull(arc)
    arc.state.faults.add("finance/getchatdata", "http_error", status=503, count=None)
    arc.clock.advance(74 * 3600)  # 74 hours since the last pull that caught up
    run_pull(arc)
    lag = archive_pull.check_lag(arc.sessions, arc.settings, arc.now())
    assert lag > 3 * 86400
    archive_pull.check_lag(arc.sessions, arc.settings, arc.now())
    with arc.sessions() as session:
        alerts = [a for a in actions(session, "message/send") if a.idempotency_key.startswith("archive.lag")]
        values = archive_pull.metric_values(session, arc.settings, arc.now())
    assert len(alerts) == 1 and alerts[0].urgent and "5 天" in alerts[0].payload["text"]["content"]
    assert values["wecom_archive_lag_seconds"] == pytest.approx(lag) and values["wecom_archive_pull_failing"] == 1


def test_metrics_endpoint_shows_the_archive_gauges(arc, engine):
    from wecom_app.app import Runtime, create_app

    arc.archive.post(ROOM, "lina", "x", publickey_ver=2)
    run_pull(arc)
    runtime = Runtime(arc.settings, engine=engine, clock=arc.now)
    text = create_app(arc.settings, runtime=runtime).test_client().get("/metrics").get_data(as_text=True)
    assert "wecom_archive_encrypted_messages 1.0" in text and "wecom_archive_lag_seconds" in text


def test_rooms_are_noted_with_their_message_count(arc):
    arc.archive.post(ROOM, "lina", "一")
    arc.archive.post(ROOM, "wangfang", "二")
    assert run_pull(arc).new_rooms == 1
    with arc.sessions() as session:
        room = session.scalar(select(ArchiveRoom))
        assert (room.roomid, room.messages, room.group_id) == (ROOM, 2, None) and room.read_due_at is not None
        assert session.scalar(select(func.count()).select_from(ArchivedMessage)) == 2


def test_the_pull_is_one_at_a_time(arc):
    with arc.sessions.begin() as session:
        archive_pull.cursor(session, arc.settings.corp_id, arc.now()).lease_until = datetime(2100, 1, 1, tzinfo=timezone.utc)
    assert run_pull(arc).busy and arc.state.calls("finance/getchatdata") == []


def test_the_archive_job_reads_records_kept_for_a_missing_key_once_the_key_is_given(arc, rsa_keys):
    from wecom_app.archive import job as archive_job

    class Runtime:  # what the job takes of one: a new one after the restart that loads the new key
        def __init__(self):
            self.settings, self.sessions, self.clock, self.client = arc.settings, arc.sessions, arc.now, arc.client

    arc.archive.post(ROOM, "lina", "等钥匙", publickey_ver=2)
    first = archive_job.run(Runtime())
    assert (first.pull.encrypted, first.recovered) == (1, 0)
    write_key(arc.keydir, 2, rsa_keys[2])
    arc.clock.advance(60)
    assert archive_job.run(Runtime()).recovered == 1
    assert [(m.state, m.content) for m in stored(arc)] == [("stored", "等钥匙")]


@pytest.mark.parametrize("message, content", [
    ({"msgtype": "markdown", "info": {"content": "**截止**周五"}}, "**截止**周五"),
    ({"msgtype": "markdown", "markdown": {"content": "正文"}}, "正文"),
    ({"msgtype": "link", "link": {"title": "项目A", "description": "说明", "link_url": "https://x"}}, "项目A\n说明"),
    ({"msgtype": "image", "image": {"md5sum": "x"}}, None),
    ({"msgtype": "text", "text": "not an object"}, None),
])
def test_the_text_rules_read_of_each_message_type(message, content):
    row = archive_pull.message_row("m1", 1, 1, dict(message, roomid=ROOM, **{"from": "lina"}), "{}",
                                   datetime(2026, 3, 2, tzinfo=timezone.utc))
    assert (row.state, row.content) == ("stored", content)
