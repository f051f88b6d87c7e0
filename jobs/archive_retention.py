"""Job: archived content older than ARCHIVE_RETENTION_DAYS deleted once a day, except messages
cited as evidence (wecom_app/archive/retention.py; issue 12 item 5)."""

from wecom_app.archive.retention import purge


def run(runtime):
    if not runtime.settings.archive_enabled:
        return None
    return purge(runtime.sessions, runtime.settings, runtime.clock())
