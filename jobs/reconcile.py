"""Job: reconciliation every 15 minutes (`wecom-app jobs run reconcile`): a thin shell
that lists customer groups (discovery of unregistered ones, groupchat/list 92120) and
then runs one pass of `wecom_app.governance.reconcile.reconcile` (appchat/get, groupchat/get).
Discovery failing (the app not in 客户联系, 48002) does not stop the pass."""

import logging

from wecom_app.governance.discovery import discover
from wecom_app.governance.reconcile import reconcile
from wecom_app.logs import kv
from wecom_app.wecom.errors import WeComError

log = logging.getLogger("wecom.jobs.reconcile")


def run(runtime):
    now = runtime.clock()
    try:
        discover(runtime.sessions, runtime.client, now)
    except WeComError as exc:
        log.warning(kv("wecom.discovery.failed", api=exc.api, errcode=exc.errcode))
    return reconcile(runtime.sessions, runtime.client, runtime.settings, now)
