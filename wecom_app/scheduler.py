"""Background work of one process: the dispatcher thread and the scheduled jobs.

The dispatcher thread wakes as soon as the receiver stores a callback (and every
few seconds for retries); the other jobs run on APScheduler with a fixed id,
`coalesce=True` and `max_instances=1`. Jobs and events share one error path:
a failure is logged with its job name and the next run goes on.
"""

from __future__ import annotations

import logging
import threading

from apscheduler.schedulers.background import BackgroundScheduler

from jobs import JOBS
from .logs import kv

log = logging.getLogger("wecom.jobs")


def run_job(name: str, runtime):
    """Run one job once, now (`wecom-app jobs run NAME`); errors propagate."""
    return JOBS[name].load()(runtime)


def _safe(name: str, runtime) -> None:
    try:
        result = run_job(name, runtime)
        if result is not None and getattr(result, "total", 1):
            log.info(kv(f"wecom.job.{name}", result=result))
    except Exception:
        log.exception(kv("wecom.job.failed", job=name))


class Worker:
    def __init__(self, runtime, *, poll_seconds: float = 5.0):
        self.runtime = runtime
        self.poll_seconds = poll_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._dispatch_loop, name="wecom-dispatcher", daemon=True)
        self.scheduler = BackgroundScheduler(timezone=runtime.settings.timezone)
        for spec in JOBS.values():
            if spec.name == "inbox":
                continue  # the dispatcher thread runs it
            self.scheduler.add_job(
                _safe, "interval", seconds=spec.seconds, args=(spec.name, runtime), id=spec.name,
                name=spec.doc, replace_existing=True, coalesce=True, max_instances=1,
            )

    def _dispatch_loop(self) -> None:
        wanted = self.runtime.dispatch_wanted
        while not self._stop.is_set():
            wanted.wait(self.poll_seconds)
            wanted.clear()
            if not self._stop.is_set():
                _safe("inbox", self.runtime)

    def start(self) -> None:
        self._thread.start()
        self.scheduler.start()
        log.info(kv("wecom.jobs.started", jobs=",".join(JOBS)))

    def shutdown(self) -> None:
        self._stop.set()
        self.runtime.dispatch_wanted.set()
        self.scheduler.shutdown(wait=True)
        self._thread.join(timeout=30)
