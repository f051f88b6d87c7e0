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
its CPU (bench/callback_ingest.py). The insert is `INSERT … ON CONFLICT (dedupe_key) DO
NOTHING RETURNING`, sent by the driver itself (`InboxWriter`: psycopg prepares it once per
connection, sqlite3 caches it) on a connection the receiver keeps for itself: SQLAlchemy's
statement execution and its pool's checkout, reset and return were a third of the worker's CPU
per callback (issue 14, README "Callback ingest"). Callbacks arriving while an insert is on its
way go together in the next one (group commit: one statement, one transaction, one WAL flush).
The answer is sent only after the statement holding the row returned, committed (autocommit)
or refused as a duplicate.

Logs: a stored or duplicate callback is a DEBUG line (a line per callback was a
write to stderr under a lock at WeCom's rate); the first callback after SUMMARY_SECONDS
(60 s) logs one INFO line `wecom.callback.summary` of what was taken since the last.
Rejections, spooling and failures keep their own line at WARNING and above.
"""

from __future__ import annotations

import errno
import logging
import socket
import threading
import time
import weakref
from datetime import datetime
from urllib.parse import unquote
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException
from sqlalchemy.exc import SQLAlchemyError

try:  # the PostgreSQL driver we ship; the receiver works without it on SQLite
    import psycopg
    import psycopg.errors
    from psycopg import pq as _pq
except ImportError:  # pragma: no cover
    psycopg = _pq = None

from wecom_app import metrics
from wecom_app.callbacks.crypto import CryptoError
from wecom_app.callbacks.events import BadCreateTime, BadPayload, CallbackEvent, flat_xml, parse_event, safe_fromstring
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
        self._writer = InboxWriter(runtime.engine)
        self._summary = _Summary(SUMMARY_SECONDS)
        # the labelled counters once, not a labels() lookup (a lock and a dict) per callback
        self._stored = {source: metrics.CALLBACKS.labels(source) for source in PATHS.values()}

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
            new = self._writer.insert(values)
        except Refused as exc:
            # the database refused these values (not an outage): spooling them would replay a poison
            # event for ever, and a 200 would claim it stored; parse_event bounds what it can, this is
            # the backstop. WeCom does not retry on a status (document/path/90930 §3.2).
            log.error(kv("wecom.callback.unstorable", source=source, error=type(exc.__cause__).__name__))
            return self._reject(environ, Rejected(400, "unstorable"), source)
        except Unavailable as exc:
            return self._spool(environ, source, values, exc.__cause__)
        if new:
            self._stored[source].inc()
            if log.isEnabledFor(logging.DEBUG):
                log.debug(kv("wecom.callback.stored", source=source, event=event.name, ChangeType=event.change_type))
            self.runtime.wake_dispatcher()
        else:
            metrics.DUPLICATES.inc()
            if log.isEnabledFor(logging.DEBUG):
                log.debug(kv("wecom.callback.duplicate", source=source, event=event.name))
        self._summary.count("stored" if new else "duplicates")
        return 200

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
        self._summary.count("spooled")
        return 200


SUMMARY_SECONDS = 60.0
_COLUMNS = ("dedupe_key", "source", "msg_type", "event", "change_type", "from_user", "create_time", "payload",
            "status", "attempts", "received_at", "next_attempt_at")


MAX_BATCH = 32  # rows in one group commit at most (the callbacks waiting at once: GUNICORN_THREADS per worker)


class _Waiter:
    """One callback's row in the group commit, and its outcome once `done`."""

    __slots__ = ("params", "key", "new", "error", "done", "taken", "wake")

    def __init__(self, params: tuple, key: str):
        self.params, self.key = params, key
        self.new: bool | None = None  # None until written: a waiter never left at None answers 200
        self.error, self.done, self.taken = None, False, False
        # released once, by a leader: when this waiter's batch is written, or when it is the queue's head
        # (one lock a waiter, not a shared condition: a notify_all woke every waiter to contend for it)
        self.wake = threading.Lock()
        self.wake.acquire()


class InboxWriter:
    """The receiver's insert, through the database driver itself, in group commits.

    `insert(values)` answers True when the row is new, False when its dedupe key was stored
    already, once the row is committed: it returns only after the statement holding it returned
    on an autocommit connection. Callbacks that arrive while another's insert is on its way to the
    database wait for it and then go together (group commit, as PostgreSQL's own WAL writer and
    LevelDB's write queue do): the first in the queue writes the rows of everyone queued behind it
    (up to MAX_BATCH) in ONE statement, `INSERT … VALUES (…), (…) ON CONFLICT (dedupe_key) DO
    NOTHING RETURNING dedupe_key`, so one transaction, one WAL flush and one round trip carry them
    all; then it hands the turn to the next in the queue and every waiter returns with its own
    outcome. Nobody waits for company: a callback alone is written at once, as a batch of one.
    A waiter sleeps on a lock of its own, released once by the leader (when its row is written, or
    when it is the queue's head and leads next): a shared condition's notify_all woke every waiter
    to contend for one lock and the GIL, 300 µs of worker CPU per callback (README).
    One insert per process is on its way at a time; a single-row insert and the commit flush of
    the database were the receiver's largest costs after its CPU (issue 14, README "Callback ingest").

    A retry arriving with its original in one batch is written once: the first of a dedupe key goes
    into the statement, the others are duplicates. A batch the database refuses (a DataError or an
    IntegrityError: bad values, not an outage) is written again row by row, so only the row at
    fault is `Refused` and the others are stored. A batch that fails for any other database reason
    (`Unavailable`: the server restarted, the network, a lock wait that ran out) fails for every
    row in it, and each callback goes to the spool; its connection is closed, not reused. Two
    processes' batches holding the same keys in opposite orders may deadlock (a retry reaching
    another worker while its original waits): that batch is written again row by row too, as is
    one that met an error not the database's (a bug), so that only its own row answers 500.

    Values pass through the columns' own SQLAlchemy bind processors, so a row reads back exactly as
    one the ORM wrote (UTCDateTime's naive UTC; SQLite's datetime text). Connections come from the
    engine (its connect events: SQLite's WAL and 2 s lock wait, the PostgreSQL connect timeout),
    are detached from its pool and kept here. On PostgreSQL each batch size's statement is prepared
    once per connection and run with libpq's PQexecPrepared on psycopg's own PGconn (it releases
    the GIL while it waits): psycopg's cursor, adaptation and prepare bookkeeping were the largest
    share of the insert's Python CPU left after SQLAlchemy's.
    """

    def __init__(self, engine, *, keep: int = 4, max_batch: int = MAX_BATCH):
        self.engine, self.keep, self.max_batch = engine, keep, max_batch
        dialect = engine.dialect
        self.postgresql = dialect.name == "postgresql"
        dbapi = dialect.loaded_dbapi
        self.table = InboxEvent.__table__.name
        self._bind = tuple((name, InboxEvent.__table__.c[name].type.dialect_impl(dialect).bind_processor(dialect))
                           for name in _COLUMNS)
        self._dbapi, self._refused = dbapi, (dbapi.DataError, dbapi.IntegrityError)
        self._sql: dict[int, str] = {}
        self._idle: list[_Connection] = []
        self._lock = threading.Lock()
        self._queue: list[_Waiter] = []
        self._turn = threading.Lock()  # guards the queue
        # closed, not left to the garbage collector (psycopg warns of an open connection it collects)
        weakref.finalize(self, _close_all, self._idle)

    def insert(self, values: dict) -> bool:
        waiter = _Waiter(tuple(values[name] if bind is None else bind(values[name]) for name, bind in self._bind),
                         values["dedupe_key"])
        with self._turn:
            self._queue.append(waiter)
            first = self._queue[0] is waiter
        try:
            if not first:
                waiter.wake.acquire()  # until its batch is written, or it is the head and leads
            if not waiter.done:  # the head: write for everyone queued, up to max_batch
                with self._turn:
                    batch = self._queue[: self.max_batch]
                    for each in batch:
                        each.taken = True
                try:
                    self._write(batch)
                finally:
                    with self._turn:
                        del self._queue[: len(batch)]  # the batch is the queue's head: only untaken waiters leave early
                        for each in batch:
                            if each.new is None and each.error is None:  # _write did not finish: fail closed
                                each.error = (_Unexpected, None)
                            each.done = True
                        head = self._queue[0] if self._queue else None
                    for each in batch:
                        if each is not waiter:
                            each.wake.release()
                    if head is not None:
                        head.wake.release()
        except BaseException:  # interrupted before a batch held it: out of the queue, the turn passed on
            with self._turn:
                if not waiter.taken and not waiter.done:
                    was_head = self._queue[0] is waiter
                    self._queue.remove(waiter)
                    if was_head and self._queue:
                        self._queue[0].wake.release()
            raise
        if waiter.error is not None:
            kind, cause = waiter.error
            raise kind() from cause
        return waiter.new

    def close(self) -> None:
        with self._lock:
            _close_all(self._idle)

    # -- the writer's side ---------------------------------------------------------------
    def _write(self, batch: list[_Waiter]) -> None:
        """Every waiter of `batch` gets its outcome (new, or an error). A batch of several rows that
        fails for a reason one row may hold alone (values refused, a bug) or that two batches may
        meet in opposite orders (a deadlock: the same retry in two processes' batches) is written
        again row by row; any other database failure fails them all (spooled)."""
        firsts: dict[str, _Waiter] = {}
        for waiter in batch:
            firsts.setdefault(waiter.key, waiter)
        try:
            conn = self._take()
        except (SQLAlchemyError, self._dbapi.Error) as exc:  # cannot connect (the engine's raw errors)
            return _fail(batch, Unavailable, exc)
        except Exception as exc:
            return _fail(batch, _Unexpected, exc)
        try:
            stored = self._run(conn, [waiter.params for waiter in firsts.values()])
        except self._refused as exc:
            self._give_back(conn)  # autocommit: the failed statement left no transaction behind
            failed, kind = exc, Refused
        except self._dbapi.Error as exc:
            if not (len(batch) > 1 and str(getattr(exc, "sqlstate", "") or "").startswith("40")):
                _close(conn)
                return _fail(batch, Unavailable, exc)
            self._give_back(conn)  # 40P01/40001: rolled back whole, the connection is sound
            failed, kind = exc, Unavailable
        except Exception as exc:
            _close(conn)
            failed, kind = exc, _Unexpected
        else:
            self._give_back(conn)
            for waiter in batch:
                waiter.new = waiter.key in stored and firsts[waiter.key] is waiter
            return None
        if len(batch) == 1:
            return _fail(batch, kind, failed)
        for waiter in batch:  # which row was it? each on its own (later duplicates meet their first)
            self._write([waiter])
        return None

    def _run(self, conn: "_Connection", rows: list[tuple]) -> set[str]:
        """The dedupe keys of `rows` that the one statement stored."""
        count = len(rows)
        flat = [value for row in rows for value in row]
        if not self.postgresql:
            return {key for (key,) in conn.raw.execute(self._statement(count), flat).fetchall()}
        name = b"wecom_inbox_insert_%d" % count
        if count not in conn.prepared:
            result = conn.raw.pgconn.prepare(name, self._statement(count).encode())
            if result.status != _pq.ExecStatus.COMMAND_OK:
                _raise(result)
            conn.prepared.add(count)
        result = conn.raw.pgconn.exec_prepared(name, [_pg_text(value) for value in flat])
        if result.status != _pq.ExecStatus.TUPLES_OK:
            _raise(result)
        return {result.get_value(row, 0).decode() for row in range(result.ntuples)}

    def _statement(self, count: int) -> str:
        sql = self._sql.get(count)
        if sql is None:
            width = len(_COLUMNS)
            if self.postgresql:
                rows = (", ".join(f"${row * width + n}" for n in range(1, width + 1)) for row in range(count))
            else:
                rows = (", ".join("?" * width) for _ in range(count))
            sql = self._sql[count] = (
                f"INSERT INTO {self.table} ({', '.join(_COLUMNS)}) VALUES "
                + ", ".join(f"({row})" for row in rows)
                + " ON CONFLICT (dedupe_key) DO NOTHING RETURNING dedupe_key")
        return sql

    def _take(self) -> "_Connection":
        with self._lock:
            if self._idle:
                return self._idle.pop()
        proxied = self.engine.raw_connection()
        proxied.detach()  # ours from now on: the pool neither counts it nor resets it
        conn = _Connection(proxied.dbapi_connection)
        if not self.postgresql:
            conn.raw.isolation_level = None  # sqlite3: autocommit, no implicit BEGIN
            return conn
        try:
            conn.raw.autocommit = True  # psycopg's view of it; libpq sends no BEGIN of its own anyway
            result = conn.raw.pgconn.exec_(b"SET client_encoding TO 'UTF8'")
            if result.status != _pq.ExecStatus.COMMAND_OK:
                _raise(result)
        except BaseException:
            _close(conn)
            raise
        return conn

    def _give_back(self, conn: "_Connection") -> None:
        with self._lock:
            if len(self._idle) < self.keep:
                self._idle.append(conn)
                return
        _close(conn)


class _Connection:
    """A driver connection the writer keeps, with the batch sizes prepared on it (PostgreSQL)."""

    __slots__ = ("raw", "prepared")

    def __init__(self, raw):
        self.raw, self.prepared = raw, set()

    def close(self) -> None:
        self.raw.close()


class _Unexpected(Exception):
    """Not the database's doing (a bug): the callbacks of that batch are answered 500, as one alone was."""


def _fail(batch: list[_Waiter], kind: type, cause: BaseException) -> None:
    for waiter in batch:
        waiter.error = (kind, cause)


def _pg_text(value) -> bytes | None:
    """A parameter in PostgreSQL's text format (UTF-8, the connection's client_encoding)."""
    if value is None:
        return None
    if isinstance(value, datetime):  # naive UTC, from UTCDateTime's bind processor
        return value.isoformat().encode()
    text = value if isinstance(value, str) else str(value)
    if "\x00" in text:  # libpq would cut a text parameter at a NUL; parse_event never lets one through
        raise psycopg.DataError("a NUL character cannot be stored in a text column")
    return text.encode()


def _raise(result) -> None:
    """The psycopg error of a failed libpq result, by its SQLSTATE (22… DataError, 23… IntegrityError)."""
    sqlstate = (result.error_field(_pq.DiagnosticField.SQLSTATE) or b"").decode()
    message = (result.error_message or b"").decode(errors="replace").strip() or "the statement failed"
    try:
        error = psycopg.errors.lookup(sqlstate) if sqlstate else psycopg.OperationalError
    except KeyError:
        error = psycopg.OperationalError
    raise error(message)


class Refused(Exception):
    """The database refused the values (DataError, IntegrityError; the cause): bad input, not an outage."""


class Unavailable(Exception):
    """The insert did not happen: no connection, or the statement failed (the cause). Spool it."""


def _close_all(connections: list) -> None:
    while connections:
        _close(connections.pop())


def _close(conn) -> None:
    try:
        conn.close()
    except Exception:  # noqa: BLE001 - a broken connection may fail to close; it is dropped either way
        pass


class _Summary:
    """Counts per outcome, logged at INFO once per `seconds` by the callback that crosses it."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}
        self._since = time.monotonic()

    def count(self, outcome: str) -> None:
        now = time.monotonic()
        with self._lock:
            self._counts[outcome] = self._counts.get(outcome, 0) + 1
            if now - self._since < self.seconds:
                return
            counts, self._counts, since, self._since = self._counts, {}, self._since, now
        log.info(kv("wecom.callback.summary", seconds=round(now - since), stored=counts.get("stored", 0),
                    duplicates=counts.get("duplicates", 0), spooled=counts.get("spooled", 0)))


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
        text = body.decode("utf-8")  # as str: flat_xml, else the C parser's fast path (events.safe_fromstring)
    except UnicodeDecodeError:
        text = None
    flat = flat_xml(text) if text is not None else None
    if flat is not None and flat[0].get("Encrypt") and "Encrypt" not in flat[1]:
        return flat[0]["Encrypt"]
    try:
        root = safe_fromstring(body if text is None else text)
    except (ParseError, DefusedXmlException, ValueError):
        raise Rejected(403, "bad_envelope") from None
    node = root.find("Encrypt")
    if node is None or not (node.text or "").strip():
        raise Rejected(403, "bad_envelope")
    return node.text.strip()
