"""The app served as deployed, in a real process on a free loopback port: gunicorn with
deploy/gunicorn.conf.py (`gunicorn -c deploy/gunicorn.conf.py wecom_app.wsgi:app`) or
`wecom-app serve`. Its stdout (gunicorn's access log with `-`) and stderr go to a file the test can
read (`Served.log()`)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import requests
from werkzeug.serving import WSGIRequestHandler, make_server

from .conftest import AES_KEY, CORP_ID, SECRET, TOKEN

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Served:
    base: str  # http://127.0.0.1:PORT
    port: int
    log_path: Path
    pid: int = 0  # the server process (gunicorn's master)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def app_env(database_url: str, spool_dir: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WECOM_", "GUNICORN_"))}
    env.update(
        PYTHONPATH=str(ROOT), DATABASE_URL=database_url, SPOOL_DIR=spool_dir, SECRET_KEY="gunicorn-test-secret-key",
        WECOM_CORP_ID=CORP_ID, WECOM_AGENT_ID="1000002", WECOM_SECRET=SECRET, WECOM_TOKEN=TOKEN,
        WECOM_AES_KEY=AES_KEY, WECOM_API_BASE="http://127.0.0.1:9/cgi-bin/", LOG_LEVEL="WARNING",
    )
    env.update(extra)
    return env


@contextlib.contextmanager
def _running(command: list[str], env: dict[str, str], port: int, log_path: Path):
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT)
    served = Served(f"http://127.0.0.1:{port}", port, log_path, process.pid)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, served.log()[-2000:]
            try:
                requests.get(served.base + "/healthz", timeout=2)
                break
            except (requests.ConnectionError, requests.Timeout):  # still importing the app
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.2)
        yield served
    finally:
        process.terminate()
        process.wait(timeout=30)


@contextlib.contextmanager
def gunicorn(database_url: str, spool_dir: str, *, log_path: Path, app: str = "wecom_app.wsgi:app",
             args: tuple[str, ...] = (), **env: str):
    """`gunicorn -c deploy/gunicorn.conf.py wecom_app.wsgi:app`, as deployed (one worker, two threads
    unless GUNICORN_* in `env` say otherwise); `args` are extra command-line options."""
    port = free_port()
    environment = app_env(database_url, spool_dir, GUNICORN_BIND=f"127.0.0.1:{port}", GUNICORN_WORKERS="1",
                          GUNICORN_THREADS="2")
    environment.update(env)
    command = [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "deploy" / "gunicorn.conf.py"), *args, app]
    with _running(command, environment, port, log_path) as served:
        yield served


@contextlib.contextmanager
def wecom_app_serve(database_url: str, spool_dir: str, *, log_path: Path, args: tuple[str, ...] = (), **env: str):
    """`wecom-app serve --no-scheduler` with its default workers and threads."""
    port = free_port()
    command = [sys.executable, "-c", "from wecom_app.cli import main; main()", "serve", "--port", str(port),
               "--no-scheduler", *args]
    with _running(command, app_env(database_url, spool_dir, **env), port, log_path) as served:
        yield served


class _Quiet(WSGIRequestHandler):
    def log_request(self, *args, **kwargs):
        pass


@contextlib.contextmanager
def serving(app):
    """The app on werkzeug's threaded server (the sandbox's), on a free loopback port."""
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_Quiet)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield server.server_port
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@contextlib.contextmanager
def serving_callback(app):
    """`serving`, yielding the app's callback URL."""
    with serving(app) as port:
        yield f"http://127.0.0.1:{port}/wecom/callback"
