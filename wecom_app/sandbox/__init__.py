"""The built-in WeCom emulator: a test double of WeCom's server API (DESIGN.md §4).

    from wecom_app.sandbox import make_sandbox, create_emulator, CallbackPusher
    state = make_sandbox(corp_id, agent_id, secret, contact_secret)   # seeded demo company
    app = create_emulator(state)                                       # Flask app serving /cgi-bin/...
    # in a thread: werkzeug.serving.make_server("127.0.0.1", 0, app, threaded=True).serve_forever()
    # point WECOM_API_BASE at http://127.0.0.1:PORT/cgi-bin/ ; at shutdown call state.stopping.set()
    # so injected hangs end, then server.shutdown().

Modules: state.py (the company, clock, limits), state_events.py (client-side changes
that return callback XML), faults.py (fault injection, call log), emulator*.py (the
HTTP API), seed.py (the demo company), pusher.py (encrypted callbacks to the app).
"""

from wecom_app.sandbox.emulator import create_emulator
from wecom_app.sandbox.faults import FaultInjector
from wecom_app.sandbox.pusher import (
    CallbackPusher,
    change_contact,
    change_external_chat,
    template_card_event,
    text_message,
)
from wecom_app.sandbox.seed import make_sandbox, seed_demo_company
from wecom_app.sandbox.state import ManualClock, SandboxState

__all__ = [
    "CallbackPusher", "FaultInjector", "ManualClock", "SandboxState", "change_contact", "change_external_chat",
    "create_emulator", "make_sandbox", "seed_demo_company", "template_card_event", "text_message",
]
