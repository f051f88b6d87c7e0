"""The recipe: `settings` → `runtime` (on a fresh SQLite or PostgreSQL database)
→ `app` → `client`. The WeCom emulator fixtures live in plugins/sandbox.py."""

from __future__ import annotations

import dataclasses
import os

import pytest

from wecom_app.app import Runtime, create_app
from wecom_app.config import Settings
from wecom_app.db import make_sessionmaker

pytest_plugins = [
    "tests.plugins.database",
    "tests.plugins.sandbox",
    "tests.plugins.world",
    "tests.plugins.api",
    "tests.plugins.outbox",
    "tests.plugins.handlers",
    "tests.plugins.emulated",
    "tests.plugins.workbench",
    "tests.plugins.browser",
    "tests.plugins.archive",
]

# The official sample's callback settings (shared/wecom-api-notes.md §1.6, set A)
TOKEN = "hJqcu3uJ9Tn2gXPmxx2w9kkCkCE2EPYo"
AES_KEY = "6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt"
CORP_ID = "ww1436e0e65a779aee"
AGENT_ID = 1000002
SECRET = "test-app-secret-0123456789"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch):
    """Tests build settings in code; nothing from the developer's shell leaks in."""
    for name in list(os.environ):
        if name.startswith("WECOM_") or name in ("DATABASE_URL", "SECRET_KEY", "PUBLIC_URL", "WORK_HOURS", "TIMEZONE"):
            monkeypatch.delenv(name, raising=False)


def make_settings(**overrides) -> Settings:
    values = dict(
        corp_id=CORP_ID, agent_id=AGENT_ID, secret=SECRET, token=TOKEN, aes_key=AES_KEY,
        secret_key="test-secret-key-not-for-production", api_base="http://127.0.0.1:9/cgi-bin/",
        database_url="sqlite://", sandbox=True,
    )
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def settings(db_url, tmp_path):
    return make_settings(database_url=db_url, spool_dir=str(tmp_path / "spool"))


@pytest.fixture
def runtime(settings, engine):
    runtime = Runtime(settings, engine=engine)
    yield runtime


@pytest.fixture
def sessions(engine):
    return make_sessionmaker(engine)


@pytest.fixture
def app(settings, runtime):
    app = create_app(settings, runtime=runtime)
    app.config["TESTING"] = True
    return app


@pytest.fixture
def client(app):
    return app.test_client()


def replace(settings: Settings, **changes) -> Settings:
    return dataclasses.replace(settings, **changes)
