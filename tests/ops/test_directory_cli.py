"""`wecom-app sync` against the emulator: a progress bar on stderr, counts on stdout."""

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, func, select

from wecom_app.cli import main
from wecom_app.cli.sync import SYNC_STEPS
from wecom_app.db import upgrade
from wecom_app.models import User

from tests.conftest import AES_KEY, CORP_ID, SECRET, TOKEN


@pytest.fixture
def env(tmp_path, monkeypatch, emulator_url):
    monkeypatch.chdir(tmp_path)  # no stray .env
    url = f"sqlite:///{tmp_path}/sync.db"
    upgrade(url)
    return {"WECOM_CORP_ID": CORP_ID, "WECOM_AGENT_ID": "1000002", "WECOM_SECRET": SECRET, "WECOM_TOKEN": TOKEN,
            "WECOM_AES_KEY": AES_KEY, "SECRET_KEY": "cli-test-secret-key-123", "DATABASE_URL": url,
            "WECOM_API_BASE": emulator_url}


def test_sync_reads_the_directory_with_a_progress_bar(env, sandbox_state):
    result = CliRunner().invoke(main, ["sync"], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    assert f"directory: departments=9 users={len(sandbox_state.users)} left=0 tags=2" in result.stdout
    assert "users" in result.stderr and "tags" in result.stderr  # the bars
    engine = create_engine(env["DATABASE_URL"])
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(User)) == len(sandbox_state.users)
    engine.dispose()


def test_sync_runs_added_steps_and_fails_visibly_when_wecom_does(env, sandbox_state, monkeypatch):
    monkeypatch.setattr("wecom_app.cli.sync.SYNC_STEPS", [*SYNC_STEPS, ("groups", lambda runtime, progress: {"found": 3})])
    sandbox_state.faults.add("department/list", "errcode", errcode=45033, count=1)
    result = CliRunner().invoke(main, ["sync"], env=env, catch_exceptions=False)
    assert result.exit_code == 1
    assert "directory: failed" in result.stderr and "groups: found=3" in result.stdout
