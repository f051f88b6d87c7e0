"""Job: send the due outbox rows (`wecom-app jobs run outbox`): a thin shell around
`wecom_app.outbox.send_due`, with the admins' calendar overrides read fresh each run;
then managed groups whose appchat/create went out become active."""

from wecom_app.outbox import send_due
from wecom_app.registry import settle_created_groups
from wecom_app.workcal import load_calendar


def run(runtime):
    with runtime.sessions() as session:
        calendar = load_calendar(session, runtime.settings)
    stats = send_due(runtime.sessions, runtime.client, runtime.settings, calendar, runtime.clock())
    with runtime.sessions.begin() as session:
        settle_created_groups(session, runtime.clock())  # a sent appchat/create makes its group active
    return stats
