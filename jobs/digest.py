"""Job: the weekly and monthly digest to leadership (`wecom-app jobs run digest`, R6):
a thin shell around digest.send.send_due, which sends each period's digest once
(Monday morning, the 1st), whichever process or scheduler runs it."""

from wecom_app.digest.send import send_due


def run(runtime):
    with runtime.sessions.begin() as session:
        return send_due(session, runtime.settings, runtime.clock())
