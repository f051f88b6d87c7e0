"""The callback receiver: verify → decrypt → store in the inbox → answer.

`/wecom/callback` serves the app's own callback, `/wecom/contacts/callback` the
通讯录同步 assistant's (its own Token and key; document/path/90930, 90968).
It imports nothing from `handlers/`: processing happens in the dispatcher.
Nothing is stored for a rejected request; a duplicate is answered 200 and not
stored twice; a database failure answers 503 so that WeCom retries.
"""

from __future__ import annotations

import functools
import logging
import time
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring
from flask import Blueprint, Response, abort, current_app, request
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError

from . import metrics
from .crypto import CryptoError, WeComCrypto
from .events import BadPayload, CallbackEvent, parse_event
from .logs import kv
from .models import InboxEvent

log = logging.getLogger("wecom.callback")
bp = Blueprint("receiver", __name__)


class Rejected(Exception):
    def __init__(self, status: int, reason: str):
        self.status, self.reason = status, reason


def _runtime():
    return current_app.extensions["wecom"]


def _crypto(source: str) -> WeComCrypto:
    crypto = _runtime().cryptos.get(source)
    if crypto is None:
        abort(404)  # the 通讯录同步 callback is not configured
    return crypto


def _checked_params(with_echostr: bool = False) -> tuple[str, str, str]:
    args = request.args
    signature, timestamp, nonce = args.get("msg_signature", ""), args.get("timestamp", ""), args.get("nonce", "")
    if not (signature and timestamp and nonce) or (with_echostr and not args.get("echostr")):
        raise Rejected(403, "missing_params")
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > _runtime().settings.callback_max_skew:
        raise Rejected(403, "stale_timestamp")
    return signature, timestamp, nonce


def _reject(exc: Rejected, source: str) -> Response:
    metrics.REJECTED.labels(exc.reason).inc()
    log.warning(kv("wecom.callback.rejected", source=source, reason=exc.reason, remote=request.remote_addr))
    return Response("", status=exc.status, mimetype="text/plain")


def _verify(source: str) -> Response:
    crypto = _crypto(source)
    try:
        signature, timestamp, nonce = _checked_params(with_echostr=True)
        echostr = request.args["echostr"]  # decoded once by Werkzeug; '+' stays '+'
        crypto.verify(signature, timestamp, nonce, echostr)
        plain = crypto.decrypt(echostr)
    except CryptoError as exc:
        return _reject(Rejected(403, exc.reason), source)
    except Rejected as exc:
        return _reject(exc, source)
    log.info(kv("wecom.callback.verified", source=source))
    return Response(plain, status=200, mimetype="text/plain")


def _envelope_encrypt(body: bytes) -> str:
    try:
        root = fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (ParseError, DefusedXmlException, ValueError):
        raise Rejected(403, "bad_envelope") from None
    node = root.find("Encrypt")
    if node is None or not (node.text or "").strip():
        raise Rejected(403, "bad_envelope")
    return node.text.strip()


def _store(source: str, event: CallbackEvent, payload: str) -> bool:
    """Insert the event unless its dedupe key is known; True if it is new."""
    runtime = _runtime()
    values = dict(
        dedupe_key=event.dedupe_key(), source=source, msg_type=event.msg_type[:32], event=event.event[:64],
        change_type=event.change_type[:64], from_user=event.from_user[:128], create_time=event.create_time,
        payload=payload, status="pending", attempts=0,
    )
    now = runtime.clock()
    values.update(received_at=now, next_attempt_at=now)
    with runtime.sessions.begin() as session:
        return session.execute(_insert_statement(runtime.engine.dialect.name), values).first() is not None


@functools.cache
def _insert_statement(dialect: str):
    """One Core INSERT per dialect, values bound at execution: building it per request
    (ORM `.values()`, coercion, cache key over every value) was most of a callback's CPU."""
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    table = InboxEvent.__table__
    return insert(table).on_conflict_do_nothing(index_elements=["dedupe_key"]).returning(table.c.id)


def _receive(source: str) -> Response:
    crypto = _crypto(source)
    try:
        signature, timestamp, nonce = _checked_params()
        encrypted = _envelope_encrypt(request.get_data(cache=False))
        crypto.verify(signature, timestamp, nonce, encrypted)
        plain = crypto.decrypt(encrypted)
        try:
            payload = plain.decode("utf-8")
            event = parse_event(payload)
        except (UnicodeDecodeError, BadPayload):
            raise Rejected(400, "bad_xml") from None
    except CryptoError as exc:
        return _reject(Rejected(403, exc.reason), source)
    except Rejected as exc:
        return _reject(exc, source)
    try:
        new = _store(source, event, payload)
    except SQLAlchemyError as exc:
        metrics.REJECTED.labels("database_unavailable").inc()
        log.error(kv("wecom.callback.store_failed", source=source, error=type(exc).__name__))
        return Response("", status=503, mimetype="text/plain")
    if new:
        metrics.CALLBACKS.labels(source).inc()
        log.info(kv("wecom.callback.stored", source=source, event=event.name, ChangeType=event.change_type))
        _runtime().wake_dispatcher()
    else:
        metrics.DUPLICATES.inc()
        log.info(kv("wecom.callback.duplicate", source=source, event=event.name))
    return Response("", status=200, mimetype="text/plain")


@bp.get("/wecom/callback")
def verify_app():
    return _verify("app")


@bp.post("/wecom/callback")
def receive_app():
    return _receive("app")


@bp.get("/wecom/contacts/callback")
def verify_contacts():
    return _verify("contacts")


@bp.post("/wecom/contacts/callback")
def receive_contacts():
    return _receive("contacts")
