"""The outbox settlers, in one place: a finished (sent or failed) outbox row whose subject
is `<name>:<id>` is handed to `SETTLERS[name]`, which takes WeCom's answer onto the feature
object. The outbox job passes this dict to `outbox.settle` after each batch; every name in
`outbox.SUBJECTS` (what `enqueue` accepts) has its settler here."""

from __future__ import annotations

from wecom_app import announcements
from wecom_app.directives import delivery
from wecom_app.governance import group_size
from wecom_app.wecom.outbox import Settler

SETTLERS: dict[str, Settler] = {
    "directive_batch": delivery.settle_batches,  # receipts delivered or undeliverable, ledger entries
    "card_retired": delivery.settle_retired,  # a revoked card WeCom would not grey: the notice by text
    announcements.SUBJECT: announcements.settle_deliveries,  # per-group delivery status
    group_size.SUBJECT: group_size.settle_appchat_answers,  # 86006: the group's size problem
}
