"""Job: directive deadlines (`wecom-app jobs run escalation`, R16, R15): overdue
receipts become assessment records, each overdue person's leader gets one summary,
the issuer and the custodians the full list; each directive once (`escalated_at`).
A thin shell around directives_escalation.escalate_due."""

from wecom_app.directives.escalation import escalate_due


def run(runtime):
    with runtime.sessions.begin() as session:
        return escalate_due(session, runtime.settings, runtime.clock())
