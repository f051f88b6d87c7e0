"""Helpers that encrypt and sign a callback as WeCom does, for the Flask test client."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import urlencode

from sqlalchemy import create_engine

from wecom_app.callbacks.crypto import WeComCrypto, signature
from wecom_app.db import make_engine

FIXTURES = Path(__file__).parent / "fixtures" / "callbacks"


def fixture(name: str) -> str:
    return (FIXTURES / f"{name}.xml").read_text(encoding="utf-8").strip()


def envelope(crypto: WeComCrypto, plaintext: str | bytes, *, timestamp=None, nonce="1597212914",
             agent_id="1000002", encrypted=None):
    """(query string, body) for POST /wecom/callback."""
    timestamp = str(int(time.time()) if timestamp is None else timestamp)
    if encrypted is None:
        raw = plaintext.encode() if isinstance(plaintext, str) else plaintext
        encrypted = crypto.encrypt(raw)
    sig = signature(crypto.token, timestamp, nonce, encrypted)
    body = (f"<xml><ToUserName><![CDATA[{crypto.receive_id}]]></ToUserName><AgentID><![CDATA[{agent_id}]]></AgentID>"
            f"<Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>")
    query = urlencode({"msg_signature": sig, "timestamp": timestamp, "nonce": nonce})
    return query, body


def post(client, crypto: WeComCrypto, plaintext, *, path="/wecom/callback", **kwargs):
    query, body = envelope(crypto, plaintext, **kwargs)
    return client.post(f"{path}?{query}", data=body.encode(), content_type="text/xml")


def down_engines(tmp_path) -> list:
    """Databases that do not answer: a PostgreSQL refusing connections, a SQLite file in a missing directory."""
    return [make_engine("postgresql+psycopg://nobody@127.0.0.1:9/down?connect_timeout=2"),
            create_engine(f"sqlite:///{tmp_path}/missing/dir/down.db")]
