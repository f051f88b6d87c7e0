"""Job: the weekly group-activity summary (R17, R4, R6) to the office and each custodian, once a
week through the outbox (wecom_app/archive/activity.py; issue 12 item 7). Hourly: the outbox key
makes it once a week, the outbox holds it until working time."""

from wecom_app.archive.activity import weekly_summary


def run(runtime):
    with runtime.sessions.begin() as session:
        return weekly_summary(session, runtime.settings, runtime.clock())
