"""Job: the full directory sync, nightly (`wecom-app jobs run directory_full`; also `wecom-app sync`)."""

from .directory_sync import run_full as run  # noqa: F401
