"""Background work of one process: the dispatcher thread and the scheduled jobs.

The dispatcher thread wakes as soon as the receiver stores a callback (and every
few seconds for retries); the other jobs run on APScheduler with a fixed id,
`coalesce=True` and `max_instances=1`, first run shortly after start (with
jitter) rather than one whole interval later. Every process may schedule every
job: an exclusive job takes its `job_lease` row first, so across the deployment
it runs in one process at a time and once per interval. Jobs and events share
one error path: a failure is logged with its job name and the next run goes on.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
from datetime import datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import or_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from jobs import BY_NAME, JOBS
from wecom_app.counts import Counts
from wecom_app.logs import kv
from wecom_app.models import JobLease

LEASE = timedelta(minutes=30)  # longer than any job; a crashed holder's lease runs out
HOLDER = f"{socket.gethostname()}:{os.getpid()}"

log = logging.getLogger("wecom.jobs")


def run_job(name: str, runtime):
    """Run one job once, now (`wecom-app jobs run NAME`); errors propagate."""
    return BY_NAME[name].run(runtime)


def take_lease(runtime, name: str, interval: timedelta, now: datetime) -> bool:
    """True if this process may run `name` now: nobody holds it and it last started
    at least (almost) an interval ago."""
    insert = pg_insert if runtime.engine.dialect.name == "postgresql" else sqlite_insert
    with runtime.sessions.begin() as session:
        session.execute(insert(JobLease).values(name=name, holder="").on_conflict_do_nothing())
        taken = session.execute(
            update(JobLease)
            .where(JobLease.name == name,
                   or_(JobLease.locked_until.is_(None), JobLease.locked_until < now),
                   or_(JobLease.last_started_at.is_(None), JobLease.last_started_at <= now - interval * 0.9))
            .values(locked_until=now + LEASE, last_started_at=now, holder=HOLDER)
        ).rowcount
    return taken == 1


def release_lease(runtime, name: str) -> None:
    with runtime.sessions.begin() as session:
        session.execute(update(JobLease).where(JobLease.name == name, JobLease.holder == HOLDER)
                        .values(locked_until=None))


def _safe(name: str, runtime) -> None:
    job = BY_NAME[name]
    try:
        if job.exclusive and not take_lease(runtime, name, timedelta(seconds=job.every), runtime.clock()):
            return  # another process runs it, or ran it within this interval
    except Exception:
        log.exception(kv("wecom.job.failed", job=name, step="lease"))
        return
    try:
        result = run_job(name, runtime)
        fields = _fields(result)
        if fields:
            log.info(kv(f"wecom.job.{name}", **fields))
    except Exception:
        log.exception(kv("wecom.job.failed", job=name))
    finally:
        if job.exclusive:
            release_lease(runtime, name)


def _fields(result) -> dict | None:
    """A job's log line: its counts as key=value when something happened; nothing when nothing did
    (a job returning None, 0 or counts that total 0 is silent: the console keeps its URLs in view)."""
    if result is None or not getattr(result, "total", 1) or (isinstance(result, int) and not result):
        return None
    if isinstance(result, Counts) or hasattr(result, "as_dict"):
        return result.as_dict()
    return {"result": result}


class Worker:
    def __init__(self, runtime, *, poll_seconds: float = 5.0):
        self.runtime = runtime
        self.poll_seconds = poll_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._dispatch_loop, name="wecom-dispatcher", daemon=True)
        self.scheduler = BackgroundScheduler(timezone=runtime.settings.timezone)
        for job in JOBS:
            if job.name == "inbox":
                continue  # the dispatcher thread runs it
            # an interval trigger first fires one interval after start: a daily job would
            # never run in processes restarted more often than that
            first = datetime.now(runtime.settings.tz) + timedelta(seconds=random.uniform(2, min(30, job.every)))
            self.scheduler.add_job(
                _safe, "interval", seconds=job.every, args=(job.name, runtime), id=job.name,
                name=job.doc, replace_existing=True, coalesce=True, max_instances=1, next_run_time=first,
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
        log.info(kv("wecom.jobs.started", jobs=",".join(BY_NAME)))

    def shutdown(self) -> None:
        self._stop.set()
        self.runtime.dispatch_wanted.set()
        self.scheduler.shutdown(wait=True)
        self._thread.join(timeout=30)
