"""Job: end temporary removals whose period is over (R6) and add the people back
(`wecom-app jobs run sanctions`): a thin shell around violations_sanctions.end_due."""

import dataclasses

from wecom_app.violations.sanctions import end_due


@dataclasses.dataclass
class Ended:
    total: int


def run(runtime):
    with runtime.sessions.begin() as session:
        return Ended(end_due(session, runtime.settings, runtime.clock()))
