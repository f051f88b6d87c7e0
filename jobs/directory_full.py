"""Job: the full directory sync, nightly (`wecom-app jobs run directory_full`): the
`directory` step of `wecom-app sync` (wecom_app/cli/sync.py), without the progress bar.
Customer groups are listed by the reconcile job (every 15 minutes), not here."""

from wecom_app.directory.full_sync import full_sync


def run(runtime):
    return full_sync(runtime.sessions, runtime.client, runtime.clock())
