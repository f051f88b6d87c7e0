"""Fixtures for API tests that run the outbox against the emulator on its clock:
import them into a test module (`from tests.emulated import runtime, settings`) to
replace conftest's `settings` and `runtime` there."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from tests.conftest import make_settings
from wecom_app.app import Runtime


@pytest.fixture
def settings(db_url, emulator_url):
    return make_settings(database_url=db_url, api_base=emulator_url, wecom_timeout=2)


@pytest.fixture
def runtime(settings, engine, sandbox_clock):
    """The app and the outbox job on the emulator's clock."""
    from wecom_app.wecom.client import WeComClient

    rt = Runtime(settings, engine=engine, clock=lambda: datetime.fromtimestamp(sandbox_clock(), timezone.utc))
    # the job's client without in-call retries or real sleeps: the outbox does the retrying
    rt._client = WeComClient(settings, rt.sessions, clock=rt.clock, sleep=lambda _s: None, max_attempts=1)
    yield rt
    rt._client.close()
