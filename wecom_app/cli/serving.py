"""`wecom-app serve`: the app under gunicorn, with the dispatcher and scheduled
jobs in each worker unless --no-scheduler. Each worker builds its own Runtime
after the fork, so no database connection crosses a fork."""

from __future__ import annotations

from gunicorn.app.base import BaseApplication

from wecom_app.app import Runtime, create_app


class _Gunicorn(BaseApplication):
    def __init__(self, settings, options: dict, scheduler: bool):
        self.settings, self.options, self.scheduler = settings, options, scheduler
        super().__init__()

    def load_config(self):
        for key, value in self.options.items():
            self.cfg.set(key, value)
        self.cfg.set("worker_exit", self._worker_exit)

    def _worker_exit(self, _server, _worker):
        # let the dispatcher and jobs finish what they are doing before the process goes
        if getattr(self, "background", None) is not None:
            self.background.shutdown()

    def load(self):
        runtime = Runtime(self.settings)
        app = create_app(self.settings, runtime=runtime)
        if self.scheduler:
            from wecom_app.scheduler import Worker

            self.background = Worker(runtime)
            self.background.start()
        return app


def serve_gunicorn(runtime: Runtime, *, host: str, port: int, workers: int, threads: int, scheduler: bool) -> None:
    settings = runtime.settings
    runtime.engine.dispose()
    options = {
        "bind": f"{host}:{port}",
        "workers": workers,
        "threads": threads,
        # gthread with a deadline per request (BODY_TIMEOUT): a slow client cannot hold a thread
        "worker_class": "wecom_app.served.BoundedThreadWorker",
        "timeout": 60,
        "graceful_timeout": 30,
        "accesslog": None,
        # gunicorn's own error/access lines go through the app's RedactingFilter (`?code=`, access_token)
        "logger_class": "wecom_app.served.RedactingLogger",
        "keepalive": 5,
    }
    _Gunicorn(settings, options, scheduler).run()
