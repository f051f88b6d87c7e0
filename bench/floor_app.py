"""The floor of bench/callback_ingest.py: the least a callback endpoint can do.

A bare WSGI app (no Flask, no database, no logging) that reads the callback,
checks the signature and decrypts it with the app's own `WeComCrypto`, then
answers 200 with an empty body. Run under the same deploy/gunicorn.conf.py as
the app, it measures what gunicorn, HTTP and the callback crypto cost on this
machine; the real receiver's rate is reported as a share of it.

`gunicorn -c deploy/gunicorn.conf.py bench.floor_app:app` with WECOM_TOKEN,
WECOM_AES_KEY and WECOM_CORP_ID set.
"""

from __future__ import annotations

import os
from urllib.parse import parse_qs

from wecom_app.callbacks.crypto import CryptoError, WeComCrypto

_crypto = WeComCrypto(os.environ["WECOM_TOKEN"], os.environ["WECOM_AES_KEY"], os.environ["WECOM_CORP_ID"])
_EMPTY = [b""]


def _answer(start_response, status: str):
    start_response(status, [("Content-Type", "text/plain"), ("Content-Length", "0")])
    return _EMPTY


def app(environ, start_response):
    if environ["REQUEST_METHOD"] != "POST":
        return _answer(start_response, "200 OK")  # readiness probe
    args = parse_qs(environ.get("QUERY_STRING", ""))
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length).decode("utf-8", "replace")
    start, end = body.find("<Encrypt><![CDATA["), body.find("]]></Encrypt>")
    if start < 0 or end < 0:
        return _answer(start_response, "403 Forbidden")
    encrypted = body[start + 18 : end]
    try:
        _crypto.verify(
            args.get("msg_signature", [""])[0], args.get("timestamp", [""])[0], args.get("nonce", [""])[0], encrypted
        )
        _crypto.decrypt(encrypted)
    except CryptoError:
        return _answer(start_response, "403 Forbidden")
    return _answer(start_response, "200 OK")
