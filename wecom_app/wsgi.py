"""WSGI entry point for gunicorn: `gunicorn -c deploy/gunicorn.conf.py wecom_app.wsgi:app`.

Settings come from the environment; a bad setting stops the worker with the
same one-line-per-problem message as the CLI.
"""

from __future__ import annotations

import sys

from wecom_app.app import create_app
from wecom_app.config import SettingsError, load_settings
from wecom_app.logs import setup_logging

try:
    settings = load_settings()
except SettingsError as exc:
    for problem in exc.problems:
        print(f"wecom-app: {problem}", file=sys.stderr)
    raise SystemExit(2) from None

setup_logging(settings.log_level)
app = create_app(settings)
