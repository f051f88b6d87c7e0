"""Job: the archive pulled within seconds of a msgaudit_notify callback (95039; the handler
in handlers/archive.py marks the cursor): every 5 seconds it looks, and pulls only when marked."""

from wecom_app.archive.job import run as run_archive


def run(runtime):
    return run_archive(runtime, only_if_notified=True)
