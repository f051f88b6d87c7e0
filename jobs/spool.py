"""Job: replay callbacks spooled while the database was unavailable (`wecom-app jobs run spool`).

Every process runs it (not exclusive): only the process that wrote a spool file can
give it up while it lives, and two replayers are kept apart by the file's flock
(wecom_app/spool.py)."""

from wecom_app.spool import replay


def run(runtime):
    return replay(runtime)
