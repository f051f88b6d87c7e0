"""Job: prompt re-reads of customer groups (`wecom-app jobs run group_reread`), every 5
seconds in every process: a thin shell around `wecom_app.governance.group_reread.reread_due`
(groupchat/get 92122 for groups a change_external_chat push did not describe in full)."""

from wecom_app.governance.group_reread import reread_due


def run(runtime):
    return reread_due(runtime.sessions, runtime.client, runtime.settings, runtime.clock())
