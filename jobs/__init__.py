"""Scheduled jobs, one module each. A job is a thin shell `run(runtime)` around a
pure function; `JOBS` names them for the scheduler and `wecom-app jobs run NAME`."""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable


@dataclasses.dataclass(frozen=True)
class JobSpec:
    name: str
    module: str
    seconds: int  # interval between runs
    doc: str
    # False for jobs built for concurrency (row claims with SKIP LOCKED), which every process runs;
    # True: one process at a time, once per interval, across the deployment (scheduler.py)
    exclusive: bool = True

    def load(self) -> Callable:
        return importlib.import_module(self.module).run


JOBS: dict[str, JobSpec] = {
    spec.name: spec
    for spec in (
        JobSpec("inbox", "jobs.inbox", 10, "dispatch stored callbacks (also woken by each new callback)",
                exclusive=False),
        JobSpec("spool", "jobs.spool", 10, "replay callbacks spooled while the database was unavailable",
                exclusive=False),
        JobSpec("outbox", "jobs.outbox", 5, "send due WeCom calls: rate-limited, quiet-hours aware",
                exclusive=False),
        JobSpec("directory_sync", "jobs.directory_sync", 60, "re-read users and tags change_contact left stale"),
        JobSpec("directory_full", "jobs.directory_full", 86400, "full directory sync: departments, users, tags"),
        JobSpec("group_reread", "jobs.group_reread", 5,
                "re-read customer groups a change_external_chat push did not name every member of (groupchat/get)",
                exclusive=False),
        JobSpec("reconcile", "jobs.reconcile", 900, "discover customer groups; diff groups against WeCom (appchat/get, groupchat/get)"),
        JobSpec("real_names", "jobs.real_names", 3600,
                "R2: remind members with a bad name once a working day; an R2 violation when the grace is over"),
        JobSpec("sanctions", "jobs.sanctions", 300, "end temporary removals that are over and add the people back (R6)"),
        JobSpec("reminders", "jobs.reminders", 60,
                "R16: remind directive assignees who have not acted (working time unless urgent, R4)"),
        JobSpec("escalation", "jobs.escalation", 60,
                "R16: at a directive's deadline, overdue people assessed, their leaders, the issuer and custodians told"),
        JobSpec("archive", "jobs.archive", 60, "pull the conversation archive; read its rooms (msgaudit/groupchat/get)"),
        JobSpec("archive_notify", "jobs.archive_notify", 5, "pull the conversation archive at once after msgaudit_notify"),
    )
}
