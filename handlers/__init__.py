"""Event handlers, one module per event family, all registered on one router.

A handler is a short function `(event, ctx)` registered with
`@router.register("change_contact", ChangeType="delete_user")`; it changes the
database and enqueues outbox actions, and never calls WeCom. An event with no
handler is stored, marked `ignored` and logged with the registration to add.
Every matching handler runs, in import order: the directory mirror (`contact`)
first, then the rules that act on it (`membership`).
"""

from wecom_app.callbacks.router import Router

router = Router()

from handlers import (  # noqa: E402,F401  (they register on import)
    contact,
    group_chat,
    membership,
    messages,
)
from handlers import (
    template_card as directives,
)
from handlers import archive  # noqa: E402,F401
