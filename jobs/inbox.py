"""Job: dispatch stored callbacks to their handlers (`wecom-app jobs run inbox`)."""

from handlers import router
from wecom_app.callbacks.dispatcher import dispatch_pending


def run(runtime):
    return dispatch_pending(runtime.sessions, router, runtime.settings, runtime.clock())
