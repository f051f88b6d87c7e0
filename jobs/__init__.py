"""Scheduled jobs, one module each. A job is a thin shell `run(runtime)` around a
pure function; `JOBS` lists them for the scheduler and `wecom-app jobs run NAME`."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from jobs import (
    archive,
    archive_notify,
    archive_retention,
    archive_weekly,
    digest,
    directory_full,
    directory_sync,
    escalation,
    group_reread,
    inbox,
    outbox,
    real_names,
    reconcile,
    reminders,
    sanctions,
    spool,
)


@dataclasses.dataclass(frozen=True)
class Job:
    name: str
    run: Callable[[Any], Any]  # run(runtime) -> counts
    every: int  # seconds between runs
    doc: str
    # False for jobs built for concurrency (row claims with SKIP LOCKED), which every process runs;
    # True: one process at a time, once per interval, across the deployment (scheduler.py)
    exclusive: bool = True


JOBS = (
    Job("inbox", inbox.run, every=10, doc="dispatch stored callbacks (also woken by each new callback)",
        exclusive=False),
    Job("spool", spool.run, every=10, doc="replay callbacks spooled while the database was unavailable",
        exclusive=False),
    Job("outbox", outbox.run, every=5, doc="send due WeCom calls: rate-limited, quiet-hours aware",
        exclusive=False),
    Job("directory_sync", directory_sync.run, every=60, doc="re-read users and tags change_contact left stale"),
    Job("directory_full", directory_full.run, every=86400, doc="full directory sync: departments, users, tags"),
    Job("group_reread", group_reread.run, every=5,
        doc="re-read customer groups a change_external_chat push did not name every member of (groupchat/get)",
        exclusive=False),
    Job("reconcile", reconcile.run, every=900,
        doc="discover customer groups; diff groups against WeCom (appchat/get, groupchat/get)"),
    Job("real_names", real_names.run, every=3600,
        doc="R2: remind members with a bad name once a working day; an R2 violation when the grace is over"),
    Job("sanctions", sanctions.run, every=300, doc="end temporary removals that are over and add the people back (R6)"),
    Job("reminders", reminders.run, every=60,
        doc="R16: remind directive assignees who have not acted (working time unless urgent, R4)"),
    Job("escalation", escalation.run, every=60,
        doc="R16: at a directive's deadline, overdue people assessed, their leaders, the issuer and custodians told"),
    Job("archive", archive.run, every=60,
        doc="pull the conversation archive; read its rooms (msgaudit/groupchat/get)"),
    Job("archive_notify", archive_notify.run, every=5,
        doc="pull the conversation archive at once after msgaudit_notify"),
    Job("digest", digest.run, every=900,
        doc="R6: the weekly (Monday) and monthly (the 1st) digest to the office and DIGEST_LEADERS, once a period"),
    Job("archive_retention", archive_retention.run, every=86400,
        doc="delete archived content older than ARCHIVE_RETENTION_DAYS, except messages cited as evidence"),
    Job("archive_weekly", archive_weekly.run, every=3600,
        doc="R17/R4: the weekly group-activity summary to the office and each custodian (once a week)"),
)
BY_NAME = {job.name: job for job in JOBS}
