"""What every `wecom-app` command starts from: the settings, read from the environment
(or `.env`), and the process's Runtime. A bad variable stops the command with one line
per problem (exit 2), a database behind the code's migrations with one line (exit 3).
Secrets are never printed."""

from __future__ import annotations

import sys

import click

from wecom_app.config import Settings, SettingsError, load_settings
from wecom_app.logs import setup_logging


def read_settings() -> Settings:
    try:
        settings = load_settings()
    except SettingsError as exc:
        for problem in exc.problems:
            click.echo(f"wecom-app: {problem}", err=True)
        sys.exit(2)
    setup_logging(settings.log_level)
    return settings


def make_runtime(check_schema: bool = True):
    from wecom_app.app import Runtime
    from wecom_app.db import NotMigrated, check_migrated

    runtime = Runtime(read_settings())
    if check_schema:
        try:
            check_migrated(runtime.engine)
        except NotMigrated as exc:
            click.echo(f"wecom-app: {exc}", err=True)
            sys.exit(3)
    return runtime
