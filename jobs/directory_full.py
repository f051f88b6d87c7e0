"""Job: the full directory sync, nightly (`wecom-app jobs run directory_full`; also `wecom-app sync`)."""

from jobs.directory_sync import run_full as run  # noqa: F401
