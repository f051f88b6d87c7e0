"""Job: replay callbacks spooled while the database was unavailable (`wecom-app jobs run spool`).

Every process runs it (not exclusive): SPOOL_DIR is a directory of one host, while a
job lease is one for the whole deployment, and two replayers on one host are kept
apart by each file's flock (wecom_app/callbacks/spool.py)."""

from wecom_app.callbacks.spool import replay


def run(runtime):
    return replay(runtime)
