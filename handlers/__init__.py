"""Event handlers, one module per event family, all registered on one router.

A handler is a short function `(event, ctx)` registered with
`@router.register("change_contact", ChangeType="delete_user")`; it changes the
database and enqueues outbox actions, and never calls WeCom. An event with no
handler is stored, marked `ignored` and logged with the registration to add.
"""

from wecom_app.router import Router

router = Router()

# Family modules register themselves on import; list them here as they are added:
# from . import contact, group_chat, template_card, messages  # noqa: E402,F401
