"""The migrations build exactly the schema the models describe, on both databases."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import select

from wecom_app import models  # noqa: F401
from wecom_app.db import Base

pytestmark = pytest.mark.both_databases  # migrations build the schema on each database


def test_migrated_schema_matches_the_models(engine):
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_0011_takes_robot_keys_out_of_outbox_payloads_and_the_rows_still_send(db_url):
    """Issue 10: rows older code wrote as {"key": robot key, "body": ...} are rewritten to
    name their group, sent and finished rows too; a pending one still goes out."""
    from datetime import datetime, timezone

    from alembic import command

    from tests.conftest import make_settings
    from tests.plugins.outbox import FakeClient, robot
    from wecom_app.db import alembic_config, make_engine, make_sessionmaker
    from wecom_app.models import Announcement, AnnouncementDelivery, OutboxAction
    from wecom_app.wecom import outbox
    from wecom_app.workcal import WorkCalendar

    config, now = alembic_config(db_url), datetime(2026, 3, 3, 2, 0, tzinfo=timezone.utc)  # Tuesday 10:00 Shanghai
    command.downgrade(config, "0010")
    settings, engine = make_settings(database_url=db_url), make_engine(db_url)
    sessions = make_sessionmaker(engine)
    group_id = robot(sessions, settings, "robot-a")
    body = {"msgtype": "text", "text": {"content": "x"}}
    with sessions.begin() as session:
        announcement = Announcement(msgtype="text", content="x", send_at=now, created_by="office")
        session.add(announcement)
        session.flush()
        delivery = AnnouncementDelivery(announcement_id=announcement.id, group_id=group_id, channel="webhook")
        session.add(delivery)
        session.flush()
        session.add_all([
            OutboxAction(idempotency_key="old-pending", kind="webhook/send", payload={"key": "robot-a", "body": body},
                         subject=f"announcement:{delivery.id}", not_before=now, created_at=now, urgent=True),
            OutboxAction(idempotency_key="old-sent", kind="webhook/send", payload={"key": "robot-a", "body": body},
                         status="sent", not_before=now, created_at=now),
        ])
    command.upgrade(config, "head")
    with sessions() as session:
        payloads = {r.idempotency_key: r.payload for r in session.scalars(select(OutboxAction))}
    assert payloads == {"old-pending": {"group_id": group_id, "body": body}, "old-sent": {"group_id": None, "body": body}}
    client = FakeClient()
    assert outbox.send_due(sessions, client, settings, WorkCalendar(settings), now).sent == 1
    assert client.calls == [("webhook/send", {"key": "robot-a", **body})]
    engine.dispose()


def test_0015_drops_the_unread_batch_columns_and_downgrade_puts_them_back(db_url):
    """Issue 11: directive_batch loses the columns written but never read; a batch
    written before the downgrade is still there after it, and after the upgrade again."""
    from alembic import command
    from sqlalchemy import inspect, text

    from wecom_app.db import alembic_config, make_engine

    gone = {"outbox_id", "msgid", "response_code", "response_code_used", "sent_at"}
    config, engine = alembic_config(db_url), make_engine(db_url)

    def columns() -> set[str]:
        return {c["name"] for c in inspect(engine).get_columns("directive_batch")}

    assert not gone & columns()
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO directive (id, version, title, body, content_hash, issuer, require, urgent, "
                          "confidential, deadline, assignees, status, revoke_reason, created_at) VALUES (1, 1, 't', 'b', "
                          "'h', 'office', 'ack', false, false, '2027-03-05 10:00:00', '{}', 'active', '', "
                          "'2027-03-01 10:00:00')"))
        conn.execute(text("INSERT INTO directive_batch (id, directive_id, version, kind, userids, created_at) "
                          "VALUES (1, 1, 1, 'card', '[]', '2027-03-01 10:00:00')"))
    engine.dispose()
    command.downgrade(config, "0012")
    assert gone <= columns()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT response_code_used, msgid FROM directive_batch")).one() == (False, None)
    engine.dispose()
    command.upgrade(config, "head")
    assert not gone & columns()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT kind FROM directive_batch")).scalar_one() == "card"
    engine.dispose()


@pytest.mark.both_databases
def test_0016_counts_messages_pulled_before_it_as_judged_so_history_is_not_judged_at_the_first_run(db_url):
    """Issue 12 item 5 (review): the content rules' backlog is for groups registered after their
    messages were stored; a message pulled before 0016 is marked judged, not read as new."""
    from alembic import command
    from sqlalchemy import text

    from wecom_app.db import alembic_config, make_engine

    config, engine = alembic_config(db_url), make_engine(db_url)
    command.downgrade(config, "0015")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO archived_message (id, msgid, seq, state, known_type, stored_at) "
                          "VALUES (1, 'm1', 1, 'stored', true, '2027-03-01 10:00:00')"))
    engine.dispose()
    command.upgrade(config, "head")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT judged FROM archived_message WHERE msgid = 'm1'")).scalar_one() in (True, 1)
    engine.dispose()
