"""The app as served (`wecom-app serve`, gunicorn with deploy/gunicorn.conf.py) against a hostile
client: bodies trickled in to hold worker threads, and secrets in request lines that gunicorn
itself logs. Real processes on loopback ports; each test bounded to a few seconds."""

from __future__ import annotations

import shutil
import socket
import threading
import time

import pytest
import requests

from tests.served import gunicorn, wecom_app_serve

pytestmark = pytest.mark.slow

SLOW_CLIENTS = 16
SLOW_HEADERS = 4  # and a few trickling their headers (slowloris) for good measure
BYTE_EVERY = 2.0  # seconds between two bytes of a slow body
ATTACK_SECONDS = 6.0
BODY_TIMEOUT = 1  # /healthz waits at most this long behind slow clients (the default, 2, leaves no margin)


@pytest.fixture
def sqlite_url(sqlite_template, tmp_path):
    path = tmp_path / "app.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


def _slow_client(port: int, stop: threading.Event, outcomes: list, headers_too: bool = False):
    """Sends a callback's headers (or with `headers_too` only its request line), then one byte every
    BYTE_EVERY seconds; when the server cuts it off, records what it answered and how long the
    connection was held, and comes back."""
    while not stop.is_set():
        started = time.monotonic()
        with socket.create_connection(("127.0.0.1", port), timeout=ATTACK_SECONDS + 5) as sock:
            # a current timestamp (no secret needed) gets the receiver past its query checks to the body
            request = (f"POST /wecom/callback?msg_signature=x&timestamp={int(time.time())}&nonce=n HTTP/1.1\r\n"
                       "Host: app\r\nContent-Type: text/xml\r\nContent-Length: 1000\r\n\r\n<").encode()
            sock.sendall(request.split(b"\r\n")[0] if headers_too else request)
            answer = b""
            while not stop.is_set():
                sock.settimeout(BYTE_EVERY)
                try:
                    answer = sock.recv(200)
                    break  # the server answered or closed
                except TimeoutError:
                    pass
                try:
                    sock.sendall(b"x")
                except OSError:
                    break
            else:
                return
        outcomes.append((headers_too, answer.split(b"\r\n", 1)[0], time.monotonic() - started))


def test_sixteen_slow_bodies_do_not_starve_healthz_under_wecom_app_serve(sqlite_url, tmp_path):
    with wecom_app_serve(sqlite_url, str(tmp_path / "spool"), log_path=tmp_path / "serve.log",
                         BODY_TIMEOUT=str(BODY_TIMEOUT)) as served:
        stop, outcomes = threading.Event(), []
        clients = [threading.Thread(target=_slow_client, args=(served.port, stop, outcomes, n >= SLOW_CLIENTS),
                                    daemon=True)
                   for n in range(SLOW_CLIENTS + SLOW_HEADERS)]
        for client in clients:
            client.start()
        waits = []
        try:
            time.sleep(0.3)  # the slow clients hold their connections first
            end = time.monotonic() + ATTACK_SECONDS
            while time.monotonic() < end:
                started = time.monotonic()
                answer = requests.get(served.base + "/healthz", timeout=5)
                waits.append(time.monotonic() - started)
                assert answer.status_code == 200
                time.sleep(0.25)
        finally:
            stop.set()
            for client in clients:
                client.join(timeout=10)
    assert max(waits) < 2.0, waits
    # each slow body was cut off with a 408, each slow header closed without an answer, within
    # BODY_TIMEOUT of its connection being queued for a thread
    assert {status for headers, status, _ in outcomes if not headers} == {b"HTTP/1.1 408 Request Timeout"}
    assert {status for headers, status, _ in outcomes if headers} == {b""}
    assert len(outcomes) >= 2 * (SLOW_CLIENTS + SLOW_HEADERS)  # cut off and back, at least twice each
    assert max(held for _, _, held in outcomes) < BODY_TIMEOUT + 1, outcomes


def test_gunicorn_s_own_error_and_access_logs_are_redacted_in_the_shipped_configuration(sqlite_url, tmp_path):
    """An error that escapes to gunicorn on /auth/callback: gunicorn logs "Error handling request
    GET /auth/callback?code=…" and a traceback; the access log (here with the query string in its
    format, as an operator might set it) logs the request line. Neither keeps the OAuth code or a token."""
    secrets = ("SECRETCODE42", "XYZTOKEN42", "CORPSECRET42")
    query = f"code={secrets[0]}&state=s&access_token={secrets[1]}&corpsecret={secrets[2]}"
    with gunicorn(sqlite_url, str(tmp_path / "spool"), log_path=tmp_path / "gunicorn.log",
                  app="tests.fixtures.crashing_app:app", args=("--access-logformat", "%(r)s q=%(q)s %(s)s"),
                  GUNICORN_ACCESS_LOG="-") as served:
        crashed = requests.get(f"{served.base}/auth/callback?{query}", timeout=5)
        fine = requests.get(f"{served.base}/healthz?{query}", timeout=5)
    assert crashed.status_code == 500 and fine.status_code == 200
    log = served.log()
    assert "Error handling request GET /auth/callback?code=***&state=s&access_token=***&corpsecret=***" in log
    assert "RuntimeError: unhandled on code=***&state=s&access_token=***" in log  # the traceback too
    assert "GET /healthz?code=***&state=s&access_token=***&corpsecret=*** HTTP/1.1 q=code=***&state=s" in log
    assert not [secret for secret in secrets if secret in log], log
