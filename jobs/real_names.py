"""Job: R2 real names (`wecom-app jobs run real_names`): remind members whose name breaks
the pattern once a working day during the grace period, and record an R2 violation when
it is over. A thin shell around real_names.run_due."""

from wecom_app.governance.real_names import run_due
from wecom_app.workcal import load_calendar


def run(runtime):
    with runtime.sessions.begin() as session:
        return run_due(session, runtime.settings, load_calendar(session, runtime.settings), runtime.clock())
