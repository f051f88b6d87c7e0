"""Fixtures that run the WeCom emulator (wecom_app/sandbox) for tests.

- `sandbox_clock`: the ManualClock the state runs on (`sandbox_clock.advance(7200)`).
- `sandbox_state`: the seeded demo company, with the test corp's ids and secrets
  (`CONTACT_SECRET` for 通讯录同步).
- `emulator_url`: the emulator on a real loopback HTTP server, base URL ending in /cgi-bin/.
- `emulator_token`: a valid app access_token from that server.
- `pusher_for(app_url, token=..., aes_key=..., timeout=, retries=, retry_wait=, sleep=)`: a CallbackPusher
  to an app's callback URL.
- `api`: an `Api` on the emulator with a valid token (`api.get(path, **params)`, `api.post(path, payload)`,
  `api.text(...)`); `card(task_id)` a template-card message/send payload.
- `sandbox`: the whole sandbox (emulator + app on one port, `wecom-app sandbox`) on a fresh database over
  real HTTP: `(app, runtime, state)`.

And a guard on every test: if any emulator cut or refused a text as too long
(wecom_app/sandbox/emulator/truncation.py), the test fails, wherever the text came from — the
app must never send what WeCom would cut. A test about the emulator's own cutting
says so with `@pytest.mark.wecom_truncates`.
"""

from __future__ import annotations

import socket
import threading

import pytest
import requests
from werkzeug.serving import WSGIRequestHandler, make_server

from wecom_app.sandbox import CallbackPusher, ManualClock, create_emulator, make_sandbox
from wecom_app.sandbox.emulator import truncation
from wecom_app.sandbox.run import build

CORP_ID = "ww1436e0e65a779aee"  # the same test corp as tests/conftest.py
AGENT_ID = 1000002
SECRET = "test-app-secret-0123456789"
CONTACT_SECRET = "test-contact-secret-0123456789"
TOKEN = "hJqcu3uJ9Tn2gXPmxx2w9kkCkCE2EPYo"
AES_KEY = "6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt"


@pytest.fixture(autouse=True)
def _nothing_sent_is_cut(request):
    start = len(truncation.SEEN)
    yield
    cut = truncation.SEEN[start:]
    if cut and request.node.get_closest_marker("wecom_truncates") is None:
        pytest.fail("WeCom would have cut or refused a text the app sent (textlimits.py): "
                    + "; ".join(f"{c['api']} {c['msgtype']} {c['bytes']} bytes > {c['limit']}, {c['action']}"
                                for c in cut), pytrace=False)


@pytest.fixture
def sandbox_clock():
    return ManualClock()


@pytest.fixture
def sandbox_state(sandbox_clock):
    return make_sandbox(CORP_ID, AGENT_ID, SECRET, CONTACT_SECRET, clock=sandbox_clock)


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs):  # request lines carry access tokens; the call log has them redacted
        pass


class EmulatorServer:
    """The emulator on 127.0.0.1:<free port> in a daemon thread."""

    def __init__(self, state):
        self.state = state
        self.server = make_server("127.0.0.1", 0, create_emulator(state), threaded=True,
                                  request_handler=_QuietHandler)
        self.base = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), name="wecom-emulator", daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.state.stopping.set()  # ends injected hangs and latencies
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def emulator_server(sandbox_state):
    with EmulatorServer(sandbox_state) as server:
        yield server


@pytest.fixture
def emulator_url(emulator_server):
    return emulator_server.base + "/cgi-bin/"


@pytest.fixture
def emulator_token(emulator_url):
    answer = requests.get(emulator_url + "gettoken", params=dict(corpid=CORP_ID, corpsecret=SECRET), timeout=5).json()
    return answer["access_token"]


@pytest.fixture
def pusher_for():
    sessions = []

    def make(app_url: str, *, token: str = TOKEN, aes_key: str = AES_KEY, corp_id: str = CORP_ID,
             agent_id=AGENT_ID, session=None, **retry) -> CallbackPusher:
        if session is None:
            session = requests.Session()
            sessions.append(session)
        return CallbackPusher(app_url, token, aes_key, corp_id, session, agent_id=agent_id, **retry)

    yield make
    for session in sessions:
        session.close()


class Api:
    def __init__(self, base: str, token: str | None):
        self.base, self.token = base, token

    def get(self, path, **params):
        return requests.get(self.base + path, params=dict(params, access_token=self.token), timeout=5).json()

    def post(self, path, payload):
        return requests.post(self.base + path, params=dict(access_token=self.token), json=payload, timeout=5).json()

    def text(self, touser="zhangwei", content="会议通知", **extra):
        return self.post("message/send", dict(touser=touser, msgtype="text", agentid=AGENT_ID,
                                              text=dict(content=content), **extra))


@pytest.fixture
def api(emulator_url, emulator_token):
    return Api(emulator_url, emulator_token)


def card(task_id, **extra):
    return dict(touser="zhangwei|lina", msgtype="template_card", agentid=AGENT_ID, template_card=dict(
        card_type="button_interaction", task_id=task_id, main_title=dict(title="【指令】周五前完成"),
        button_list=[dict(type=0, text="收到", key="ack"), dict(type=0, text="已办结", key="done")], **extra))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def sandbox(db_url):
    port = _free_port()
    wsgi, runtime, state = build("127.0.0.1", port, db_url)
    server = make_server("127.0.0.1", port, wsgi, threaded=True, request_handler=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    app = wsgi.app
    yield app, runtime, state
    state.stopping.set()
    server.shutdown()
    runtime.engine.dispose()
