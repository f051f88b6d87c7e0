"""The callback receiver: verify → decrypt → store in the inbox → answer.

`/wecom/callback` serves the app's own callback, `/wecom/contacts/callback` the
通讯录同步 assistant's (its own Token and key; document/path/90930, 90968).
It imports nothing from `handlers/`: processing happens in the dispatcher.
Nothing is stored for a rejected request; a duplicate is answered 200 and not
stored twice.

The database being unavailable is not an error status: WeCom retries a callback
only when the connection fails or no answer comes within 5 s, never on an HTTP
status (developer.work.weixin.qq.com/document/path/90930 §3.2), so a 503 would
lose the event. When the insert fails the event goes to the local spool
(`spool.py`, fsynced) and is answered 200; when the spool cannot be written either,
the receiver sends no answer at all and closes the connection (`NoAnswer`), so
that WeCom retries. How the connection is dropped: the client socket the server
puts in the environ (`gunicorn.socket` under gunicorn, `werkzeug.socket` under
werkzeug's server) is shut down, then an EPIPE error is raised, which both servers
treat as a dropped connection and answer nothing (gunicorn's gthread worker logs
it at debug and closes; werkzeug calls `connection_dropped`). Under any other
server the error still propagates; tests/e2e/test_spool_outage.py checks both servers
with a real HTTP client, which sees "connection closed without response", no status.

It is a bare WSGI layer in front of the Flask app, not a Flask view: this is the
one path WeCom hammers, and Flask's request machinery and the ORM were most of
its CPU (bench/callback_ingest.py). The insert is one autocommitted statement.
"""

from __future__ import annotations

import errno
import logging
import socket
import time
from datetime import datetime
from urllib.parse import unquote
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError

from wecom_app import metrics
from wecom_app.callbacks.crypto import CryptoError
from wecom_app.callbacks.events import BadCreateTime, BadPayload, CallbackEvent, parse_event
from wecom_app.logs import kv
from wecom_app.models import InboxEvent

log = logging.getLogger("wecom.callback")

PATHS = {"/wecom/callback": "app", "/wecom/contacts/callback": "contacts"}
MAX_TIMESTAMP_DIGITS = 10
_STATUS = {200: "200 OK", 400: "400 Bad Request", 403: "403 Forbidden", 404: "404 Not Found",
           405: "405 Method Not Allowed", 413: "413 Request Entity Too Large"}


class Rejected(Exception):
    def __init__(self, status: int, reason: str):
        self.status, self.reason = status, reason


class NoAnswer(BrokenPipeError):
    """Neither the inbox nor the spool took the event: drop the connection unanswered."""

    def __init__(self):
        super().__init__(errno.EPIPE, "callback not stored: closing the connection without an answer")


def _drop_connection(environ) -> None:
    sock = environ.get("gunicorn.socket") or environ.get("werkzeug.socket")
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class CallbackReceiver:
    """WSGI middleware: answers the callback paths itself, passes the rest to `app`."""

    def __init__(self, runtime, app):
        self.runtime, self.app = runtime, app
        self.settings = runtime.settings
        table = InboxEvent.__table__
        insert = pg_insert if runtime.engine.dialect.name == "postgresql" else sqlite_insert
        self._insert = insert(table).on_conflict_do_nothing(index_elements=["dedupe_key"]).returning(table.c.id)

    def __call__(self, environ, start_response):
        source = PATHS.get(environ.get("PATH_INFO", ""))
        if source is None:
            return self.app(environ, start_response)
        crypto = self.runtime.cryptos.get(source)
        method = environ.get("REQUEST_METHOD", "")
        if crypto is None:  # the 通讯录同步 callback is not configured
            status, body = 404, b""
        elif method == "GET":
            status, body = self._verify(environ, source, crypto)
        elif method == "POST":
            try:
                status, body = self._receive(environ, source, crypto), b""
            except NoAnswer:
                _drop_connection(environ)
                raise
        else:
            status, body = 405, b""
        start_response(_STATUS[status], [("Content-Type", "text/plain; charset=utf-8"),
                                         ("Content-Length", str(len(body)))])
        return [body]

    # -- steps ------------------------------------------------------------------------------
    def _params(self, environ, with_echostr: bool = False) -> dict[str, str]:
        args = _query(environ.get("QUERY_STRING", ""))
        needed = ("msg_signature", "timestamp", "nonce") + (("echostr",) if with_echostr else ())
        if not all(args.get(name) for name in needed):
            raise Rejected(403, "missing_params")
        timestamp = args["timestamp"]
        # ASCII digits of bounded length only: str.isdigit() alone accepts "²" (int() then fails)
        # and an unbounded run of digits costs int() quadratic time; seconds fit 10 digits until 2286
        if not (len(timestamp) <= MAX_TIMESTAMP_DIGITS and timestamp.isascii() and timestamp.isdigit()):
            raise Rejected(403, "bad_timestamp")
        if abs(time.time() - int(timestamp)) > self.settings.callback_max_skew:
            raise Rejected(403, "stale_timestamp")
        return args

    def _body(self, environ) -> bytes:
        """Exactly CONTENT_LENGTH bytes (PEP 3333: reading past it may block on the raw socket,
        as werkzeug's server does). Without a length the body is read to its end only when the
        server says the input is terminated (a dechunked body: `wsgi.input_terminated`); else a
        missing or zero length is an empty body, which the envelope check refuses (403 bad_envelope,
        like any other envelope WeCom would not send: WeCom always sends a length, and it retries
        on no status, so a 411 would tell it nothing more)."""
        limit = self.settings.callback_max_bytes
        raw = environ.get("CONTENT_LENGTH") or ""
        if raw:
            if not (len(raw) <= 20 and raw.isascii() and raw.isdigit()):
                raise Rejected(400, "bad_length")
            length = int(raw)
            if length > limit:
                raise Rejected(413, "too_large")
            body = environ["wsgi.input"].read(length) if length else b""
        elif environ.get("wsgi.input_terminated"):
            body = environ["wsgi.input"].read(limit + 1)
        else:
            body = b""
        if len(body) > limit:
            raise Rejected(413, "too_large")
        return body

    def _reject(self, environ, exc: Rejected, source: str) -> int:
        metrics.REJECTED.labels(exc.reason).inc()
        log.warning(kv("wecom.callback.rejected", source=source, reason=exc.reason,
                       remote=environ.get("REMOTE_ADDR", "")))
        return exc.status

    def _verify(self, environ, source: str, crypto) -> tuple[int, bytes]:
        try:
            args = self._params(environ, with_echostr=True)
            crypto.verify(args["msg_signature"], args["timestamp"], args["nonce"], args["echostr"])
            plain = crypto.decrypt(args["echostr"])
        except CryptoError as exc:
            return self._reject(environ, Rejected(403, exc.reason), source), b""
        except Rejected as exc:
            return self._reject(environ, exc, source), b""
        log.info(kv("wecom.callback.verified", source=source))
        return 200, plain

    def _receive(self, environ, source: str, crypto) -> int:
        try:
            args = self._params(environ)
            encrypted = _envelope_encrypt(self._body(environ))
            crypto.verify(args["msg_signature"], args["timestamp"], args["nonce"], encrypted)
            plain = crypto.decrypt(encrypted)
            try:
                payload = plain.decode("utf-8")
                event = parse_event(payload)
            except BadCreateTime:
                raise Rejected(400, "bad_create_time") from None
            except (UnicodeDecodeError, BadPayload):
                raise Rejected(400, "bad_xml") from None
        except CryptoError as exc:
            return self._reject(environ, Rejected(403, exc.reason), source)
        except Rejected as exc:
            return self._reject(environ, exc, source)
        values = inbox_values(source, event, payload, self.runtime.clock())
        try:
            new = self._store(values)
        except (DataError, IntegrityError) as exc:
            # the database refused these values (not an outage): spooling them would replay a poison
            # event for ever, and a 200 would claim it stored; parse_event bounds what it can, this is
            # the backstop. WeCom does not retry on a status (document/path/90930 §3.2).
            log.error(kv("wecom.callback.unstorable", source=source, error=type(exc).__name__))
            return self._reject(environ, Rejected(400, "unstorable"), source)
        except SQLAlchemyError as exc:
            return self._spool(environ, source, values, exc)
        if new:
            metrics.CALLBACKS.labels(source).inc()
            if log.isEnabledFor(logging.DEBUG):
                log.debug(kv("wecom.callback.stored", source=source, event=event.name, ChangeType=event.change_type))
            self.runtime.wake_dispatcher()
        else:
            metrics.DUPLICATES.inc()
            log.info(kv("wecom.callback.duplicate", source=source, event=event.name))
        return 200

    def _store(self, values: dict) -> bool:
        """Insert the event unless its dedupe key is known; True if it is new."""
        # one autocommitted statement: no ORM session, no BEGIN/COMMIT round trips
        with self.runtime.autocommit_engine.connect() as conn:
            # (SQLite waits SQLITE_AUTOCOMMIT_TIMEOUT for a lock, db.py, then the event is spooled)
            return conn.execute(self._insert, values).first() is not None

    def _spool(self, environ, source: str, values: dict, exc: Exception) -> int:
        """The database did not take the event: the spool does, or nobody answers."""
        try:
            self.runtime.spool.append(values)
        except OSError as spool_exc:
            metrics.REJECTED.labels("spool_unavailable").inc()
            log.critical(kv("wecom.callback.unanswered", source=source, reason="spool_unavailable",
                            error=type(exc).__name__, spool_error=type(spool_exc).__name__,
                            remote=environ.get("REMOTE_ADDR", "")))
            raise NoAnswer() from spool_exc
        metrics.SPOOLED.labels(source).inc()
        log.warning(kv("wecom.callback.spooled", source=source, error=type(exc).__name__))
        return 200


def inbox_values(source: str, event: CallbackEvent, payload: str, now: datetime) -> dict:
    """The inbox row of a verified callback (and what its spool record keeps)."""
    return dict(
        dedupe_key=event.dedupe_key(), source=source, msg_type=event.msg_type[:32], event=event.event[:64],
        change_type=event.change_type[:64], from_user=event.from_user[:128], create_time=event.create_time,
        payload=payload, status="pending", attempts=0, received_at=now, next_attempt_at=now,
    )


def _query(query_string: str) -> dict[str, str]:
    """Percent-decode once, and keep '+' a '+': echostr is base64, and form decoding
    (unquote_plus) would turn its '+' into a space and break the signature."""
    args: dict[str, str] = {}
    for part in query_string.split("&"):
        name, _, value = part.partition("=")
        args.setdefault(unquote(name), unquote(value))
    return args


def _envelope_encrypt(body: bytes) -> str:
    try:
        root = fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (ParseError, DefusedXmlException, ValueError):
        raise Rejected(403, "bad_envelope") from None
    node = root.find("Encrypt")
    if node is None or not (node.text or "").strip():
        raise Rejected(403, "bad_envelope")
    return node.text.strip()
