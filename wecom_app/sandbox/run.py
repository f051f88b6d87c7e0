"""`wecom-app sandbox`: the emulator, the app, the dispatcher and the jobs in one
process on SQLite, with the seeded demo company. One port serves both: the app
(the workbench at `/`, the sandbox console at `/sandbox`), the emulated WeCom API
at `/_wecom/cgi-bin/` (and its fault switches at `/_wecom/sandbox/faults`).
"""

from __future__ import annotations

import secrets
import signal
import threading
from pathlib import Path

from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.serving import WSGIRequestHandler, make_server

from wecom_app.app import Runtime, create_app
from wecom_app.config import Settings
from wecom_app.db import upgrade
from wecom_app.logs import setup_logging
from wecom_app.sandbox import make_sandbox
from wecom_app.sandbox.emulator import create_emulator
from wecom_app.sandbox.pusher import CallbackPusher

# Fixed sandbox credentials: they only ever meet the built-in emulator.
CORP_ID = "ww5a4db0x5andb0x1"
AGENT_ID = 1000002
SECRET = "sandbox-app-secret-not-for-production"
CONTACT_SECRET = "sandbox-contact-secret-not-for-production"
TOKEN = "SandboxToken2026"
AES_KEY = "SandboxAesKeyForTheBuiltInWeComEmulator0123"
EMULATOR_PREFIX = "/_wecom"


def sandbox_settings(host: str, port: int, database_url: str) -> Settings:
    return Settings(
        corp_id=CORP_ID, agent_id=AGENT_ID, secret=SECRET, contact_secret=CONTACT_SECRET, token=TOKEN,
        aes_key=AES_KEY, secret_key=secrets.token_urlsafe(32),
        api_base=f"http://{host}:{port}{EMULATOR_PREFIX}/cgi-bin/",
        database_url=database_url, public_url=f"http://{host}:{port}",
        admins=("zhangwei",), admin_tag=1, sandbox=True,  # tag 1: the seed's 应用管理员 (wangfang, lina)
    )


def build(host: str, port: int, database_url: str):
    """(wsgi app, runtime, emulator state) for a sandbox on host:port."""
    settings = sandbox_settings(host, port, database_url)
    upgrade(settings.database_url)
    state = make_sandbox(CORP_ID, AGENT_ID, SECRET, CONTACT_SECRET)
    runtime = Runtime(settings)
    app = create_app(settings, runtime=runtime)
    app.extensions["wecom_sandbox"] = state
    app.extensions["wecom_pusher"] = CallbackPusher(
        f"{settings.public_url}/wecom/callback", TOKEN, AES_KEY, CORP_ID, agent_id=str(AGENT_ID)
    )
    wsgi = DispatcherMiddleware(app, {EMULATOR_PREFIX: create_emulator(state)})
    return wsgi, runtime, state


class _ConsoleRequestHandler(WSGIRequestHandler):
    """Logs the browser's requests, not the app's own calls to the emulator (a dozen a minute,
    all shown on /sandbox): the console keeps the URLs to open in view."""

    def log_request(self, code="-", size="-"):
        if not self.path.startswith(EMULATOR_PREFIX + "/"):
            super().log_request(code, size)


def run_sandbox(*, host: str, port: int, database: str) -> None:
    from wecom_app.scheduler import Worker

    setup_logging("INFO")
    Path(database).parent.mkdir(parents=True, exist_ok=True)
    for stale in (Path(database), Path(f"{database}-wal"), Path(f"{database}-shm")):
        stale.unlink(missing_ok=True)  # the emulator's company is new each run: so is the database
    wsgi, runtime, state = build(host, port, f"sqlite:///{Path(database).resolve()}")
    server = make_server(host, port, wsgi, threaded=True, request_handler=_ConsoleRequestHandler)
    worker = Worker(runtime)
    worker.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    from wecom_app.directory.full_sync import full_sync

    counts = full_sync(runtime.sessions, runtime.client, runtime.clock())  # the mirror of the demo company
    print(f"wecom-app sandbox: {counts.users} employees in {counts.departments} departments synced from the emulator",
          flush=True)
    from wecom_app.sandbox.demo import seed_demo_data

    for line in seed_demo_data(runtime, state, wsgi.app.extensions["wecom_pusher"]):
        print(f"  demo: {line}", flush=True)
    print(f"wecom-app sandbox: workbench http://{host}:{port}/  (log in as any demo user from the picker)", flush=True)
    print(f"wecom-app sandbox: sandbox console http://{host}:{port}/sandbox  (callbacks, outbox, simulated events)",
          flush=True)
    print(f"  emulated WeCom API: http://{host}:{port}{EMULATOR_PREFIX}/cgi-bin/  database: {database}", flush=True)
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    state.stopping.set()  # ends injected hangs
    server.shutdown()
    worker.shutdown()
