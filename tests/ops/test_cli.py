"""The command line: settings errors, the migration guard, db upgrade, inbox and calendar commands."""

import pytest
from click.testing import CliRunner

from wecom_app.cli import main

from tests.conftest import AES_KEY, CORP_ID, SECRET, TOKEN


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no stray .env
    return {
        "WECOM_CORP_ID": CORP_ID, "WECOM_AGENT_ID": "1000002", "WECOM_SECRET": SECRET, "WECOM_TOKEN": TOKEN,
        "WECOM_AES_KEY": AES_KEY, "SECRET_KEY": "cli-test-secret-key-123",
        "DATABASE_URL": f"sqlite:///{tmp_path}/cli.db",
    }


def run(env, *args):
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def test_bad_settings_exit_2_with_one_line_each_and_no_secret(env):
    env = dict(env, WECOM_AGENT_ID="x", WECOM_AES_KEY="short-but-secret")
    del env["WECOM_TOKEN"]
    result = run(env, "jobs", "run", "inbox")
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.startswith("wecom-app: ")]
    assert len(lines) == 3
    assert "short-but-secret" not in result.output


def test_unmigrated_database_is_refused_with_the_command_to_run(env):
    result = run(env, "jobs", "run", "inbox")
    assert result.exit_code == 3
    assert "wecom-app db upgrade" in result.output


def test_db_upgrade_then_jobs_and_inbox_commands_work(env):
    assert run(env, "db", "upgrade").exit_code == 0
    result = run(env, "jobs", "run", "inbox")
    assert result.exit_code == 0 and "inbox:" in result.output
    assert "no parked events" in run(env, "inbox", "list").output
    result = run(env, "inbox", "retry", "42")
    assert result.exit_code == 1 and "does not exist" in result.output


def test_unknown_job_is_a_usage_error(env):
    run(env, "db", "upgrade")
    result = run(env, "jobs", "run", "nope")
    assert result.exit_code == 2 and "unknown job 'nope'" in result.output


def test_calendar_overrides_are_set_listed_and_unset(env):
    run(env, "db", "upgrade")
    assert run(env, "calendar", "set", "2027-02-08", "holiday", "--note", "春节").exit_code == 0
    assert run(env, "calendar", "set", "2027-02-20", "workday", "--note", "调休").exit_code == 0
    listing = run(env, "calendar", "list", "--year", "2027").output
    assert "2027-02-08  holiday  春节" in listing and "2027-02-20  workday  调休" in listing
    assert run(env, "calendar", "unset", "2027-02-08").exit_code == 0
    assert "2027-02-08" not in run(env, "calendar", "list").output
    assert run(env, "calendar", "set", "2027-13-01", "holiday").exit_code == 2
    import sqlite3  # every change is in the audit log, as from the API and the workbench

    with sqlite3.connect(env["DATABASE_URL"].removeprefix("sqlite:///")) as db:
        actions = [row[0] for row in db.execute("SELECT action || ' ' || target FROM audit_entry ORDER BY id")]
    assert actions == ["calendar.override.set day:2027-02-08", "calendar.override.set day:2027-02-20",
                       "calendar.override.delete day:2027-02-08"]


def test_failed_outbox_action_is_listed_and_queued_again(env):
    from datetime import datetime, timezone

    from wecom_app.db import make_engine, make_sessionmaker
    from wecom_app.models import OutboxAction

    run(env, "db", "upgrade")
    engine = make_engine(env["DATABASE_URL"])
    with make_sessionmaker(engine).begin() as session:
        session.add(OutboxAction(idempotency_key="welcome:proj42", kind="appchat/send", payload={"chatid": "proj42"},
                                 status="failed", attempts=1, errcode=86003, errmsg="chatid not exist",
                                 not_before=datetime.now(timezone.utc)))
    engine.dispose()
    listing = run(env, "outbox", "list").output
    assert "appchat/send  welcome:proj42" in listing and "errcode=86003" in listing
    assert run(env, "outbox", "retry", "1").exit_code == 0
    assert "no failed actions" in run(env, "outbox", "list").output
    result = run(env, "outbox", "retry", "1")
    assert result.exit_code == 1 and "has not failed" in result.output
