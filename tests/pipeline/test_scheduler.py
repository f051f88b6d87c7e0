"""Scheduled jobs: first run soon after start, and one run per interval across processes."""

import logging
import threading
from datetime import datetime, timedelta, timezone

import pytest

from jobs import Job
from wecom_app import scheduler
from wecom_app.app import Runtime
from wecom_app.archive.job import ArchiveRun
from wecom_app.archive.pull import PullCounts
from wecom_app.scheduler import Worker, release_lease, take_lease

pytestmark = pytest.mark.both_databases  # leases taken concurrently (INSERT ... ON CONFLICT per dialect)

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=timezone.utc)


def test_every_job_first_runs_within_half_a_minute_of_start(runtime):
    worker = Worker(runtime)
    soon = datetime.now(timezone.utc) + timedelta(seconds=31)
    jobs = {job.id: job for job in worker.scheduler.get_jobs()}
    assert "directory_full" in jobs and "inbox" not in jobs  # the dispatcher thread runs the inbox
    for job in jobs.values():
        assert job.next_run_time <= soon, job.id


def test_an_exclusive_job_runs_once_per_interval_across_processes(settings, engine):
    a, b = Runtime(settings, engine=engine), Runtime(settings, engine=engine)  # two processes' runtimes
    day = timedelta(days=1)
    assert take_lease(a, "directory_full", day, NOW)
    assert not take_lease(b, "directory_full", day, NOW)  # a holds it
    release_lease(a, "directory_full")
    assert not take_lease(b, "directory_full", day, NOW + timedelta(hours=1))  # ran an hour ago
    assert take_lease(b, "directory_full", day, NOW + day)


def test_a_crashed_holder_s_lease_runs_out(settings, engine):
    a, b = Runtime(settings, engine=engine), Runtime(settings, engine=engine)
    assert take_lease(a, "reconcile", timedelta(minutes=15), NOW)  # and a dies without releasing
    assert not take_lease(b, "reconcile", timedelta(minutes=15), NOW + timedelta(minutes=20))
    assert take_lease(b, "reconcile", timedelta(minutes=15), NOW + timedelta(minutes=31))


def test_concurrent_takers_get_one_lease(settings, engine):
    runtimes = [Runtime(settings, engine=engine) for _ in range(6)]
    results, barrier = [], threading.Barrier(6)

    def take(runtime):
        barrier.wait()
        results.append(take_lease(runtime, "sanctions", timedelta(minutes=5), NOW))

    threads = [threading.Thread(target=take, args=(r,)) for r in runtimes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False] * 5 + [True]


def _job_lines(result, monkeypatch, caplog) -> list[str]:
    monkeypatch.setitem(scheduler.BY_NAME, "probe", Job("probe", lambda runtime: result, every=60, doc="",
                                                        exclusive=False))
    with caplog.at_level(logging.INFO, logger="wecom.jobs"):
        scheduler._safe("probe", runtime=None)
    return [r.getMessage() for r in caplog.records if "wecom.job.probe" in r.getMessage()]


@pytest.mark.parametrize("result", [None, 0, PullCounts(), ArchiveRun(PullCounts())])
def test_a_job_that_did_nothing_says_nothing(result, monkeypatch, caplog):
    """The console of `./dev sandbox` keeps its URLs in view: no line a minute per idle job."""
    assert _job_lines(result, monkeypatch, caplog) == []


@pytest.mark.parametrize("result, line", [
    (4, "wecom.job.probe result=4"),
    (ArchiveRun(PullCounts(records=3, stored=2)), "wecom.job.probe records=3 stored=2 error=None rooms_read=0"),
])
def test_a_job_that_did_something_says_it_in_one_key_value_line(result, line, monkeypatch, caplog):
    (said,) = _job_lines(result, monkeypatch, caplog)
    assert said.startswith(line)
