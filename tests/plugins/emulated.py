"""The app and the outbox job against the WeCom emulator, on the emulator's clock, for the API
tests that send what they queue (tests/endpoints/test_api_directives.py,
test_r4_r17_announcements.py). A module takes them in place of conftest's `settings` and
`runtime` by naming them:

    @pytest.fixture
    def settings(emulated_settings):
        return emulated_settings

- `emulated_settings`: the test settings with api_base pointing at the emulator.
- `emulated_runtime`: a Runtime on the emulator's clock whose client makes no in-call retries
  and no real sleeps (the outbox does the retrying).
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from tests.conftest import make_settings
from wecom_app.app import Runtime


@pytest.fixture
def emulated_settings(db_url, emulator_url):
    return make_settings(database_url=db_url, api_base=emulator_url, wecom_timeout=2)


@pytest.fixture
def emulated_runtime(emulated_settings, engine, sandbox_clock):
    from wecom_app.wecom.client import WeComClient

    rt = Runtime(emulated_settings, engine=engine,
                 clock=lambda: datetime.fromtimestamp(sandbox_clock(), timezone.utc))
    rt._client = WeComClient(emulated_settings, rt.sessions, clock=rt.clock, sleep=lambda _s: None, max_attempts=1)
    yield rt
    rt._client.close()
