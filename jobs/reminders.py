"""Job: directive reminders (`wecom-app jobs run reminders`, R16, R4): plan each newly
delivered card's reminders and send the due ones, one reminder card batch per
directive, only to people who have not acted. A thin shell around
directives_followup.send_reminders."""

from wecom_app.directives.followup import send_reminders
from wecom_app.workcal import load_calendar


def run(runtime):
    with runtime.sessions.begin() as session:
        return send_reminders(session, runtime.settings, load_calendar(session, runtime.settings), runtime.clock())
