"""The Flask application factory and the per-process runtime it carries.

`create_app(settings)` wires the receiver, the ops endpoints, the workbench
and the REST API. The `Runtime` in `app.extensions["wecom"]` holds what
jobs and requests share: settings, engine, sessions, callback crypto, the WeCom
client and the dispatcher's wake-up event.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime

from flask import Flask, Response, jsonify, render_template, request
from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import NotFound, RequestEntityTooLarge

from wecom_app import inputs, metrics
from wecom_app.callbacks.crypto import WeComCrypto
from wecom_app.callbacks.spool import Spool, replay_at_start
from wecom_app.config import Settings
from wecom_app.db import check_migrated, make_engine, make_sessionmaker, utcnow
from wecom_app.logs import kv
from wecom_app.models import InboxEvent, OutboxAction
from wecom_app.served import BoundedBody
from wecom_app.wecom import outbox

log = logging.getLogger("wecom.app")


class Runtime:
    """What one process shares between requests, the dispatcher and the jobs."""

    def __init__(self, settings: Settings, *, engine=None, clock: Callable[[], datetime] = utcnow):
        self.settings = settings
        self.engine = engine or make_engine(settings.database_url)
        self.sessions = make_sessionmaker(self.engine)
        # single-statement writes (the callback insert) skip BEGIN/COMMIT round trips
        self.autocommit_engine = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        self.clock = clock
        self.cryptos = {"app": WeComCrypto(settings.token, settings.aes_key, settings.corp_id)}
        if settings.has_contact_callback:
            self.cryptos["contacts"] = WeComCrypto(
                settings.contact_token, settings.contact_aes_key, settings.corp_id
            )
        self.spool = Spool(settings.spool_dir)  # where callbacks go while the database is unavailable
        self.dispatch_wanted = threading.Event()
        self._client = None
        self._client_lock = threading.Lock()

    @property
    def client(self):
        """The one WeCom client of this process (created on first use)."""
        with self._client_lock:
            if self._client is None:
                from wecom_app.wecom.client import WeComClient

                self._client = WeComClient(self.settings, self.sessions, clock=self.clock)
            return self._client

    def wake_dispatcher(self) -> None:
        self.dispatch_wanted.set()

    def queue_values(self) -> dict[str, float]:
        now = self.clock()
        with self.sessions() as session:
            pending = session.scalar(select(func.count()).where(InboxEvent.status == "pending"))
            parked = session.scalar(select(func.count()).where(InboxEvent.status == "parked"))
            oldest = session.scalar(select(func.min(InboxEvent.received_at)).where(InboxEvent.status == "pending"))
            out_pending = session.scalar(
                select(func.count()).where(OutboxAction.status.in_(("pending", "sending")))
            )
            out_failed = session.scalar(select(func.count()).where(OutboxAction.status == "failed"))
            out_waiting = outbox.waiting(session, now)
        archive = {}
        if self.settings.archive_enabled:
            from wecom_app.archive.pull import metric_values

            with self.sessions() as session:
                archive = metric_values(session, self.settings, now)
        return archive | {
            "wecom_inbox_pending": pending,
            "wecom_inbox_parked": parked,
            "wecom_inbox_lag_seconds": (now - oldest).total_seconds() if oldest else 0,
            "wecom_outbox_pending": out_pending,
            "wecom_outbox_failed": out_failed,
            "wecom_outbox_waiting": out_waiting["count"],
            "wecom_outbox_oldest_waiting_seconds": out_waiting["oldest_age_seconds"],
        }

    def spool_values(self) -> dict[str, float]:
        events, oldest = self.spool.depth()
        return {
            "wecom_spool_events": events,
            "wecom_spool_oldest_age_seconds": max(0.0, (self.clock() - oldest).total_seconds()) if oldest else 0,
        }


def create_app(settings: Settings, *, runtime: Runtime | None = None, check_schema: bool = True) -> Flask:
    runtime = runtime or Runtime(settings)
    if check_schema:
        check_migrated(runtime.engine)
    replay_at_start(runtime)  # callbacks an earlier process spooled and did not replay
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=settings.callback_max_bytes,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.public_url.startswith("https://"),
    )
    app.extensions["wecom"] = runtime
    inputs.install(app)  # before any route: the bounded <int:> converter, the NUL check

    from wecom_app.callbacks.receiver import CallbackReceiver

    app.wsgi_app = CallbackReceiver(runtime, app.wsgi_app)
    from wecom_app.api import register_api

    register_api(app)
    from wecom_app.workbench import init_workbench

    init_workbench(app, settings)
    # outermost: under gunicorn a body must arrive within BODY_TIMEOUT before anything reads it
    app.wsgi_app = BoundedBody(app.wsgi_app, timeout=settings.body_timeout, max_bytes=settings.callback_max_bytes)
    if settings.sandbox:
        from wecom_app.sandbox.status import bp as status_bp

        app.register_blueprint(status_bp)

    @app.errorhandler(inputs.BadInput)
    def bad_input(exc):
        """A query or form value refused before any view ran (or in a view outside the API)."""
        if request.path.startswith("/api/"):
            from wecom_app.api.errors import bad_input as api_bad_input

            return api_bad_input(exc)
        return render_template("workbench/error.html", title="请求无效",
                               message=f"参数 {exc.field} 无效，请返回后重试。"), 400

    @app.errorhandler(NotFound)
    def not_found(exc):
        """A path no route matched (an id beyond the database's range included): the workbench's 404 page.
        (Under /api/ a routing failure is answered as JSON before this; API views have their own.)"""
        return render_template("workbench/error.html", title="找不到页面",
                               message="要找的内容不存在或已被删除。"), 404

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(_exc):
        metrics.REJECTED.labels("too_large").inc()
        log.warning(kv("wecom.http.rejected", reason="too_large"))
        return Response("", status=413, mimetype="text/plain")

    @app.get("/healthz")
    def healthz():
        return jsonify(status="ok")

    @app.get("/readyz")
    def readyz():
        # the spool: callbacks answered 200 but not in the inbox yet (replayed by the `spool` job)
        values = runtime.spool_values()
        spool = dict(events=values["wecom_spool_events"], oldest_age_seconds=values["wecom_spool_oldest_age_seconds"])
        spool["status"] = "empty" if not spool["events"] else "not_empty"
        try:
            with runtime.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except SQLAlchemyError as exc:
            log.error(kv("wecom.readyz.failed", error=type(exc).__name__))
            return jsonify(status="unavailable", database="unreachable", spool=spool), 503
        return jsonify(status="ok", database="ok", spool=spool)

    @app.get("/metrics")
    def metrics_endpoint():
        try:
            values = runtime.queue_values()
        except SQLAlchemyError:
            values = {}
        values.update(runtime.spool_values())
        return Response(metrics.render(values), mimetype="text/plain; version=0.0.4")

    return app
