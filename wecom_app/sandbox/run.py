"""`wecom-app sandbox`: the emulator, the app, the dispatcher and the jobs in one
process on SQLite, with the seeded demo company. One port serves both: the app
(the workbench at `/`, the sandbox console at `/sandbox`), the emulated WeCom API
at `/_wecom/cgi-bin/` (and its fault switches at `/_wecom/sandbox/faults`).

The conversation archive is on (WECOM_FINANCE_SDK=emulator): a fresh RSA key pair each run,
the public key given to the emulator (as a company uploads it in the admin console, 91774),
the private key written to a private temporary directory the settings name.
"""

from __future__ import annotations

import atexit
import logging
import os
import secrets
import shutil
import signal
import socket
import tempfile
import threading
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.serving import WSGIRequestHandler, make_server

from wecom_app.app import Runtime, create_app
from wecom_app.config import Settings
from wecom_app.db import upgrade
from wecom_app.logs import setup_logging
from wecom_app.sandbox import make_sandbox
from wecom_app.sandbox.emulator import create_emulator
from wecom_app.sandbox.pusher import CallbackPusher
from wecom_app.sandbox.seed import seed_archive

# Fixed sandbox credentials: they only ever meet the built-in emulator.
CORP_ID = "ww5a4db0x5andb0x1"
AGENT_ID = 1000002
SECRET = "sandbox-app-secret-not-for-production"
CONTACT_SECRET = "sandbox-contact-secret-not-for-production"
TOKEN = "SandboxToken2026"
AES_KEY = "SandboxAesKeyForTheBuiltInWeComEmulator0123"
ARCHIVE_SECRET = "sandbox-archive-secret-not-for-production"
EMULATOR_PREFIX = "/_wecom"


def sandbox_settings(host: str, port: int, database_url: str, archive_keys: str = "") -> Settings:
    """`archive_keys`: the private key file of the emulator's archive; empty leaves the archive off."""
    return Settings(
        corp_id=CORP_ID, agent_id=AGENT_ID, secret=SECRET, contact_secret=CONTACT_SECRET, token=TOKEN,
        aes_key=AES_KEY, secret_key=secrets.token_urlsafe(32),
        api_base=f"http://{host}:{port}{EMULATOR_PREFIX}/cgi-bin/",
        database_url=database_url, public_url=f"http://{host}:{port}",
        admins=("zhangwei",), admin_tag=1, sandbox=True,  # tag 1: the seed's 应用管理员 (wangfang, lina)
        archive_secret=ARCHIVE_SECRET if archive_keys else "", archive_private_keys=archive_keys,
        finance_sdk="emulator" if archive_keys else "",
    )


def archive_key_pair():
    """(private key file, public key): version 1, the file readable by this user only."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    folder = Path(tempfile.mkdtemp(prefix="wecom-sandbox-archive-"))  # mode 0700
    atexit.register(shutil.rmtree, folder, True)  # the key lives as long as the process
    path = folder / "1.pem"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                    serialization.NoEncryption()))
    return str(path), key.public_key()


def build(host: str, port: int, database_url: str):
    """(wsgi app, runtime, emulator state) for a sandbox on host:port."""
    key_file, public_key = archive_key_pair()
    settings = sandbox_settings(host, port, database_url, archive_keys=key_file)
    upgrade(settings.database_url)
    state = make_sandbox(CORP_ID, AGENT_ID, SECRET, CONTACT_SECRET)
    seed_archive(state, ARCHIVE_SECRET, public_key, tz=settings.timezone)
    runtime = Runtime(settings)
    app = create_app(settings, runtime=runtime)
    app.extensions["wecom_sandbox"] = state
    app.extensions["wecom_pusher"] = CallbackPusher(
        f"{settings.public_url}/wecom/callback", TOKEN, AES_KEY, CORP_ID, agent_id=str(AGENT_ID)
    )
    wsgi = DispatcherMiddleware(app, {EMULATOR_PREFIX: create_emulator(state)})
    return wsgi, runtime, state


class QuietRequestHandler(WSGIRequestHandler):
    """Logs no request: for a sandbox served behind tests and scripts (tests/plugins/browser.py,
    scripts/screenshots.py)."""

    def log_request(self, *args, **kwargs):
        pass


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def serve_in_background(wsgi, host: str, port: int):
    """A threaded werkzeug server for `wsgi` on host:port, serving from a daemon thread; the
    caller calls `shutdown()` and `server_close()` on what this returns."""
    server = make_server(host, port, wsgi, threaded=True, request_handler=QuietRequestHandler)
    threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
    return server


class _ConsoleRequestHandler(WSGIRequestHandler):
    """Logs the browser's requests, not the app's own calls to the emulator (a dozen a minute,
    all shown on /sandbox): the console keeps the URLs to open in view."""

    def log_request(self, code="-", size="-"):
        if not self.path.startswith(EMULATOR_PREFIX + "/"):
            super().log_request(code, size)


def run_sandbox(*, host: str, port: int, database: str) -> None:
    from wecom_app.scheduler import Worker

    setup_logging("INFO")
    logging.getLogger("alembic").setLevel(logging.WARNING)  # a fresh database's 17 migrations would bury the URLs
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
    print(f"wecom-app sandbox: conversation archive on (emulator): within a minute the internal groups appear at "
          f"http://{host}:{port}/groups (研发部-项目沟通 registered, 行政部-日常沟通 waiting to be registered); "
          f"word lists at /settings#archive-words", flush=True)
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
