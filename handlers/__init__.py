"""Event handlers, one module per event family, each with its own router, merged here.

A handler is a short function `(event, ctx)` registered with
`@router.register("change_contact", ChangeType="delete_user")` on its module's
router; it changes the database and enqueues outbox actions, and never calls WeCom.
An event with no handler is stored, marked `ignored` and logged with the
registration to add.
"""

from handlers import archive, contact, group_chat, membership, messages, template_card
from wecom_app.callbacks.router import Router

# Every matching handler runs, in this order. The order matters where two modules handle
# the same event: the directory mirror (`contact`) applies a change_contact first, then the
# rules that read the mirror (`membership`) judge it in the same transaction. The archive's
# msgaudit_notify shares no event with the others.
router = Router(contact.router, membership.router, group_chat.router, template_card.router, messages.router,
                archive.router)
