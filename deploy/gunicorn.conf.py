"""Production gunicorn settings: `gunicorn -c deploy/gunicorn.conf.py wecom_app.wsgi:app`.

Everything an operator tunes comes from the environment, with defaults sized
for a small VM. The worker class is gthread: the callback path is short CPU
work (signature, AES, XML) plus one database round trip, so a few threads per
process overlap the database wait while processes use the cores.
bench/callback_ingest.py measures these settings (see its docstring).

| variable | meaning | default |
|---|---|---|
| `GUNICORN_BIND` (or `BIND`) | address(es), comma-separated | `127.0.0.1:8000` |
| `GUNICORN_WORKERS` (or `WEB_CONCURRENCY`) | worker processes | number of CPUs, at least 2 |
| `GUNICORN_THREADS` | threads per worker | `4` |
| `GUNICORN_TIMEOUT` | seconds before a silent worker is restarted | `30` |
| `GUNICORN_KEEPALIVE` | seconds an idle keep-alive connection is held | `5` |
| `GUNICORN_ACCESS_LOG` | `-` for stderr or a file path; empty = off | off |
| `GUNICORN_LOG_LEVEL` | gunicorn's own log level | `info` |
| `GUNICORN_FORWARDED_ALLOW_IPS` | proxies trusted for X-Forwarded-* | `127.0.0.1` |

The callback receiver keeps its own database connection, one per process: the callbacks
that wait at once go in one group commit (wecom_app/callbacks/receiver.py InboxWriter); the rest of
the app uses the SQLAlchemy pool (10 + 10 overflow). Keep `GUNICORN_THREADS` at or
below 10 all the same: with more threads than pooled connections, overflow
connections are opened and closed per request, and on PostgreSQL every one forks a
backend. The callback path is mostly CPU, so on a small VM more threads do not add
throughput; more cores do.

Slow clients: gthread reads request headers and body in a worker thread with no
deadline of its own, so sixteen clients trickling bodies starved `/healthz`. The
worker class is gthread with a deadline (wecom_app/served.py BoundedThreadWorker):
a request's headers and body must be in within BODY_TIMEOUT (default 2 s) of its
being queued for a thread, or it gets 408 (body) or a closed connection (headers).
In production nginx buffers whole requests in front (deploy/nginx.conf), so the
deadline only fires for clients that reach gunicorn directly. `keepalive` bounds
an idle connection between requests.

WeCom waits 5 s for an answer (document/path/90930), so `timeout` only guards
against a wedged worker; `graceful_timeout` lets in-flight callbacks finish
(and be stored) on a restart instead of being cut off.
"""

from __future__ import annotations

import os


def _int(name: str, default: int, *aliases: str) -> int:
    for key in (name, *aliases):
        raw = os.environ.get(key, "").strip()
        if raw:
            try:
                value = int(raw)
            except ValueError:
                raise SystemExit(f"gunicorn.conf: {key} must be an integer, got {raw!r}") from None
            if value < 1:
                raise SystemExit(f"gunicorn.conf: {key} must be at least 1")
            return value
    return default


bind = [
    part.strip()
    for part in (os.environ.get("GUNICORN_BIND") or os.environ.get("BIND") or "127.0.0.1:8000").split(",")
    if part.strip()
]
# gthread with a deadline per request (BODY_TIMEOUT, counted from when it was queued for a thread)
worker_class = "wecom_app.served.BoundedThreadWorker"
workers = _int("GUNICORN_WORKERS", max(2, os.cpu_count() or 1), "WEB_CONCURRENCY")
threads = _int("GUNICORN_THREADS", 4)
timeout = _int("GUNICORN_TIMEOUT", 30)
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 20)
keepalive = _int("GUNICORN_KEEPALIVE", 5)
# Not preloaded: each worker builds its own engine, so no database connection
# is ever shared across a fork.
preload_app = False

accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "").strip() or None
# The query string carries only msg_signature/timestamp/nonce, never a secret,
# but there is no reason to keep it in an access log either.
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms'
errorlog = "-"
# gunicorn's error and access loggers get the app's RedactingFilter: its "Error handling request"
# traceback names the request URI, which on /auth/callback carries an OAuth `code`
logger_class = "wecom_app.served.RedactingLogger"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info").strip() or "info"
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1")
proc_name = "wecom-app"


def child_exit(server, worker):  # noqa: ARG001 - gunicorn's hook signature
    """Drop a dead worker's live gauges from the shared Prometheus directory."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
