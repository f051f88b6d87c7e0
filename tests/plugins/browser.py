"""Browser fixtures: the sandbox over real HTTP driven by Playwright in Debian's
Chromium (`/usr/bin/chromium`, installed by .ci/run; Playwright never downloads a
browser here).

- `live_app`: the sandbox (emulator + app on one free port) on a fresh SQLite file,
  the directory mirror synced from the emulator. `.url`, `.app`, `.runtime`, `.state`.
  SQLite only: the database matrix is covered by the other tests.
- `browser`: one headless Chromium for the session.
- `page`: a new context (cookies of its own) and page, base URL = live_app.url.
- `login_as(page, userid)`: (from the login page the app redirected to, keeping `next`,
  else a fresh one) through the sandbox picker, the emulator's OAuth
  authorize stand-in and the real /auth/callback code exchange.
- `shot(page, name)`: a full-page screenshot in screenshots/ at the repo root (git-ignored).
- `issue_directive(runtime, userids, ...)`: from tests/plugins/workbench.py.

Browser tests live in tests/e2e/test_workbench_browser_*.py, marked `@pytest.mark.browser`.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.plugins.workbench import issue_directive  # noqa: F401 (re-exported for browser tests)

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "screenshots"


@dataclasses.dataclass
class LiveApp:
    url: str
    app: object
    runtime: object
    state: object


@pytest.fixture
def live_app(sqlite_template, tmp_path):
    from wecom_app.directory.full_sync import full_sync
    from wecom_app.sandbox.run import build, free_port, serve_in_background

    database = tmp_path / "live.db"
    shutil.copy(sqlite_template, database)
    port = free_port()
    wsgi, runtime, state = build("127.0.0.1", port, f"sqlite:///{database}")
    server = serve_in_background(wsgi, "127.0.0.1", port)
    full_sync(runtime.sessions, runtime.client, runtime.clock())
    yield LiveApp(url=runtime.settings.public_url, app=wsgi.app, runtime=runtime, state=state)
    state.stopping.set()
    server.shutdown()
    server.server_close()
    runtime.engine.dispose()


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        reason = f"{CHROMIUM} is missing (apt-get install chromium; .ci/run installs it)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, live_app):
    # a phone-sized viewport: the workbench is opened from WeCom on a phone first
    context = browser.new_context(base_url=live_app.url, viewport={"width": 390, "height": 844}, locale="zh-CN")
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def login_as(live_app):
    def login(page, userid: str):
        """From the login page the app sent us to (keeping its `next`), else a fresh one."""
        if urlsplit(page.url).path != "/login":
            page.goto("/login?switch=1")
        page.click(f'a[data-userid="{userid}"]')
        page.wait_for_url(lambda url: "/login" not in url and "/auth/callback" not in url)
        return page

    return login


def shot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


@pytest.fixture(name="shot")
def shot_fixture():
    return shot
