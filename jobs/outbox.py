"""Job: send the due outbox rows (`wecom-app jobs run outbox`): a thin shell around
`wecom_app.wecom.outbox.send_due`, with the admins' calendar overrides read fresh each run;
then managed groups whose appchat/create went out become active, and sensitive-word
rules take their WeCom rule_id / sync status from the answers, and the rows with a
subject go to their settlers (wecom_app/settlers.py: directive receipts delivered or
undeliverable, announcement deliveries, a managed group's size problem)."""

from wecom_app.governance.registry import settle_created_groups
from wecom_app.governance.sensitive_words import apply_outbox_results
from wecom_app.settlers import SETTLERS
from wecom_app.wecom.outbox import send_due, settle
from wecom_app.workcal import load_calendar


def run(runtime):
    with runtime.sessions() as session:
        calendar = load_calendar(session, runtime.settings)
    stats = send_due(runtime.sessions, runtime.client, runtime.settings, calendar, runtime.clock())
    with runtime.sessions.begin() as session:
        settle_created_groups(session, runtime.clock())  # a sent appchat/create makes its group active
        apply_outbox_results(session, now=runtime.clock())  # intercept rules: rule_id, synced or failed
    with runtime.sessions.begin() as session:
        settle(session, runtime.clock(), SETTLERS)  # directives, announcements, group sizes
    return stats
