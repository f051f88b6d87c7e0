"""What the app needs when gunicorn serves it (deploy/gunicorn.conf.py and `wecom-app serve`).

* `BoundedBody`: a request body must arrive within BODY_TIMEOUT seconds. gunicorn's gthread
  worker reads a body in a worker thread from a blocking socket with no deadline, so a client
  sending one byte every two seconds holds a thread for as long as it likes, and sixteen of them
  starve `/healthz`. The body is read here, before the app sees it, under a deadline; when it
  passes, a watchdog shuts the socket's read side (a blocked recv() returns at once), the client
  gets 408 and the connection is closed. More threads do not fix this; a deadline does. Behind
  nginx with request buffering (deploy/nginx.conf) bodies arrive at once and this never fires.
  Only requests carrying gunicorn's socket are bounded (werkzeug's server in the sandbox and the
  tests is left alone).
* `RedactingLogger`: gunicorn's own error and access loggers get the app's RedactingFilter, so a
  request line with `?code=` (OAuth) or `access_token=` in gunicorn's "Error handling request"
  traceback or in an access log line is redacted like the app's own records.
"""

from __future__ import annotations

import heapq
import io
import itertools
import logging
import socket
import threading
import time

from gunicorn import glogging
from gunicorn.workers.gthread import _DEFER, ThreadWorker

from wecom_app.logs import RedactingFilter, kv

log = logging.getLogger(__name__)


class _Watchdog:
    """One thread per process: at a socket's deadline, shut its read side (unless disarmed)."""

    def __init__(self):
        self._cond = threading.Condition()
        self._heap: list = []
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None

    def arm(self, sock, deadline: float) -> list:
        entry = [deadline, next(self._seq), sock, True]
        with self._cond:
            if self._thread is None or not self._thread.is_alive():  # lazily, after gunicorn's fork
                self._thread = threading.Thread(target=self._run, name="wecom-body-watchdog", daemon=True)
                self._thread.start()
            heapq.heappush(self._heap, entry)
            if self._heap[0] is entry:  # otherwise the thread already wakes up in time for it
                self._cond.notify()
        return entry

    def disarm(self, entry: list) -> bool:
        """False when the deadline already fired."""
        with self._cond:
            fired = entry[3] is None
            entry[3] = False
            return not fired

    def _run(self):
        with self._cond:
            while True:
                now = time.monotonic()
                while self._heap and (self._heap[0][3] is False or self._heap[0][0] <= now):
                    entry = heapq.heappop(self._heap)
                    if entry[3]:
                        entry[3] = None  # fired
                        try:
                            entry[2].shutdown(socket.SHUT_RD)
                        except OSError:
                            pass
                self._cond.wait(timeout=(self._heap[0][0] - now) if self._heap else None)


_watchdog = _Watchdog()
_current = threading.local()  # the watchdog entry of the request this worker thread is serving
_GRACE = 0.2  # a request that waited in the queue past its deadline still gets this long to be read
_body_timeout: float | None = None  # set when the app is built in the worker (BoundedBody)


class BoundedThreadWorker(ThreadWorker):
    """gunicorn's gthread worker with a deadline per request, counted from when the connection was
    queued for a thread: its request line, headers and body must have arrived by then.

    gthread hands every accepted connection to the thread pool, which serves them in order, and reads
    headers and body from a blocking socket with no deadline. With a deadline from the time it was
    queued, every request queued before `/healthz` is done (answered, or cut off) within BODY_TIMEOUT
    of `/healthz` arriving, however many slow clients there are. A fresh connection that has sent
    nothing goes back to the poller after half a second instead of gthread's five in a thread.
    """

    def enqueue_req(self, conn):
        conn.wecom_queued_at = time.monotonic()
        super().enqueue_req(conn)

    def handle(self, conn):
        if not conn.initialized and not conn.data_ready and not conn.wait_for_data(0.5):
            return _DEFER  # nothing sent yet: wait in the poller, not in a thread
        timeout = _body_timeout
        if timeout is None:
            return super().handle(conn)
        now = time.monotonic()
        entry = _watchdog.arm(conn.sock, max(getattr(conn, "wecom_queued_at", now) + timeout, now + _GRACE))
        _current.entry = entry
        try:
            return super().handle(conn)
        finally:
            _current.entry = None
            _watchdog.disarm(entry)


class BoundedBody:
    """WSGI middleware: under gunicorn, read the whole body by the request's deadline or answer 408.

    Under BoundedThreadWorker the deadline is the worker's (counted from when the connection was
    queued); under another gunicorn worker it is `timeout` seconds from now. The app's own work is
    never cut: the deadline is disarmed once the body is in.
    """

    def __init__(self, app, *, timeout: float, max_bytes: int):
        global _body_timeout
        _body_timeout = timeout
        self.app, self.timeout, self.max_bytes = app, timeout, max_bytes

    def __call__(self, environ, start_response):
        sock = environ.get("gunicorn.socket")
        if sock is None:
            return self.app(environ, start_response)
        entry = getattr(_current, "entry", None)
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        if length > self.max_bytes:  # Flask answers 413 without reading it; gthread's drain stays bounded
            return self.app(environ, start_response)
        if length <= 0 and not chunked:
            if entry is not None:
                _watchdog.disarm(entry)
            return self.app(environ, start_response)
        want = length if length else self.max_bytes + 1  # chunked: enough for Flask to see "too large"
        stream = environ["wsgi.input"]
        if entry is None:
            entry = _watchdog.arm(sock, time.monotonic() + self.timeout)
        parts, got = [], 0
        try:
            while got < want:
                part = stream.read(min(want - got, 64 * 1024))
                if not part:
                    break
                parts.append(part)
                got += len(part)
        except OSError:
            pass  # the read side shut under us, or the client went away
        finally:
            in_time = _watchdog.disarm(entry)
        if not in_time or (length and got < length):
            from wecom_app import metrics  # not at import: the gunicorn master imports this module for its logger

            reason = "slow_body" if not in_time else "short_body"
            metrics.REJECTED.labels(reason).inc()
            log.warning(kv("wecom.http.rejected", reason=reason, path=environ.get("PATH_INFO", "")))
            start_response("408 Request Timeout", [("Content-Type", "text/plain"), ("Content-Length", "0"),
                                                   ("Connection", "close")])
            return [b""]
        body = b"".join(parts)
        environ["wsgi.input"] = io.BytesIO(body)
        if chunked:
            environ["CONTENT_LENGTH"] = str(len(body))
            environ.pop("HTTP_TRANSFER_ENCODING", None)
        return self.app(environ, start_response)


class RedactingLogger(glogging.Logger):
    """gunicorn's logger with the app's RedactingFilter on its error and access loggers."""

    def setup(self, cfg):
        super().setup(cfg)
        for logger in (self.error_log, self.access_log):
            if not any(isinstance(f, RedactingFilter) for f in logger.filters):
                logger.addFilter(RedactingFilter())
