"""`wecom-app sync`: the full directory sync now, with a progress bar on standard error,
then the counts on standard output (DESIGN §3: "directory and groups").

The steps are `SYNC_STEPS`, run in list order: `(name, step)` pairs where
`step(runtime, progress) -> counts` (anything with a readable `str`, or a dict) and
`progress(stage, done, total)` drives the bar. The nightly `directory_full` job runs
the directory step alone; the reconcile job lists customer groups every 15 minutes.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click

from wecom_app.cli.runtime import make_runtime
from wecom_app.directory.full_sync import full_sync
from wecom_app.governance.discovery import discover
from wecom_app.wecom.errors import WeComError

Progress = Callable[[str, int, int], None]
SyncStep = Callable[[Any, Progress], Any]


def sync_directory(runtime, progress: Progress):
    return full_sync(runtime.sessions, runtime.client, runtime.clock(), progress)


def sync_customer_groups(runtime, progress: Progress):
    """Customer groups WeCom lists that the registry does not know become `discovered` (R7)."""
    return discover(runtime.sessions, runtime.client, runtime.clock(), progress)


# the directory first: discovery asks per owner from the mirror when WeCom wants an owner filter
SYNC_STEPS: list[tuple[str, SyncStep]] = [("directory", sync_directory), ("customer groups", sync_customer_groups)]


class _Bars:
    """One click progress bar per stage, on stderr."""

    def __init__(self):
        self.stage, self.bar, self.done = None, None, 0

    def __call__(self, stage: str, done: int, total: int) -> None:
        if stage != self.stage:
            self.close()
            self.stage, self.done = stage, 0
            self.bar = click.progressbar(length=max(total, 1), label=f"{stage:<12}", file=sys.stderr, show_pos=True)
            self.bar.__enter__()
        self.bar.update(done - self.done)
        self.done = done

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


def _describe(counts) -> str:
    if isinstance(counts, dict):
        return " ".join(f"{key}={value}" for key, value in counts.items())
    return counts.summary() if hasattr(counts, "summary") else str(counts)


@click.command(name="sync")
def sync_command():
    """Read the directory (and groups) from WeCom now, with a progress bar."""
    runtime, failed = make_runtime(), False
    for name, step in SYNC_STEPS:
        bars = _Bars()
        try:
            counts = step(runtime, bars)
        except WeComError as exc:
            bars.close()
            click.echo(f"{name}: failed: {exc}", err=True)
            failed = True
            continue
        bars.close()
        click.echo(f"{name}: {_describe(counts)}")
        for error in getattr(counts, "errors", ()):
            click.echo(f"{name}: error: {error}", err=True)
            failed = True
    if failed:
        raise SystemExit(1)
