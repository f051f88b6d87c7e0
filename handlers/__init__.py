"""Event handlers, one module per event family, all registered on one router.

A handler is a short function `(event, ctx)` registered with
`@router.register("change_contact", ChangeType="delete_user")`; it changes the
database and enqueues outbox actions, and never calls WeCom. An event with no
handler is stored, marked `ignored` and logged with the registration to add.
Every matching handler runs, in import order: the directory mirror (`contact`)
first, then the rules that act on it (`membership`).
"""

from wecom_app.router import Router

router = Router()

from . import contact, directives, group_chat, membership, messages  # noqa: E402,F401  (they register on import)
