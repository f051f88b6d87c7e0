"""Acknowledging and completing a directive: from the card (template_card_event,
90240) or from the workbench page; the same record, the channel noted.

`act` is idempotent: WeCom's retries of one click are stored once by the receiver
(the dedupe key holds TaskId and the single-use ResponseCode), and a second
click or a workbench action after a card click counts nothing twice. Clicks that
must not count (an unknown task id, a non-assignee, a revoked directive, a card
of a superseded version, 已办结 where only acknowledgment is asked) are recorded
in `directive_click` with why, the refused ones in the ledger too (once per person, key and card: a repeated
refused click adds no ledger row), and answered
politely: the clicked card is greyed with a short word saying why.

After a counted click the clicker's card is updated through
message/update_template_card with the click's ResponseCode (single use, 72 h):
greyed `已确认 HH:MM`, or, when completion is still to come, a card with only
已办结 left.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from wecom_app.audit import audit
from wecom_app.db import memo
from wecom_app.directives import ledger
from wecom_app.directives.delivery import batch_for_task, batches_for_tasks, card, issuer_name, local
from wecom_app.models import Directive, DirectiveBatch, DirectiveClick, DirectiveReceipt, LedgerEntry
from wecom_app.models.directives import done_at
from wecom_app.wecom import outbox

KEYS = {"ack": "acknowledged", "done": "completed"}
REFUSAL_WORDS = {
    "unknown_task": "无效卡片",
    "not_assignee": "非本人指令",
    "revoked": "已撤回",
    "superseded": "已有新版本",
    "not_required": "无需办结",
    "unknown_key": "无效操作",
}


class ActError(ValueError):
    """A workbench action that cannot count; `outcome` says why (see REFUSAL_WORDS)."""

    def __init__(self, outcome: str, message: str):
        super().__init__(message)
        self.outcome, self.message = outcome, message


def click(session, settings, *, userid: str, task_id: str, key: str, response_code: str, now: datetime) -> str:
    """A card button: returns the outcome (`counted`, `repeat` or why it did not count).
    `now` is when it was pressed (the event's CreateTime)."""
    userid = userid.lower()
    ledger.lock(session)  # before reading the receipt: a concurrent click or correction must not interleave
    batch = batch_for_task(session, task_id)
    if batch is None:
        return _refuse(session, None, userid, task_id, key, "card", "unknown_task", now, response_code)
    directive = session.get(Directive, batch.directive_id)
    try:
        receipt = _receipt_for(session, directive, userid, key, batch=batch)
    except ActError as refused:
        return _refuse(session, directive, userid, task_id, key, "card", refused.outcome, now, response_code)
    outcome = _count(session, directive, receipt, key, "card", now, task_id=task_id)
    _log_click(session, directive.id, userid, task_id, key, "card", outcome, now)
    _update_card(session, settings, directive, receipt, task_id, response_code, now)
    return outcome


DIRECTIVES_MEMO, RECEIPTS_MEMO = "directives", "receipts"  # db.memo: read by `read_clicks`


def read_clicks(session, clicks: list[tuple[str, str]]) -> None:
    """What the (task_id, userid) clicks of a dispatcher batch will read, in three queries rather
    than three a click: their batches, directives and the clickers' receipts. Under the ledger's
    lock, which every change to a directive or its receipts takes first: none changes meanwhile."""
    ledger.lock(session)
    batches = batches_for_tasks(session, [task_id for task_id, _ in clicks])
    directives = memo(session, DIRECTIVES_MEMO)  # held, so session.get finds them without a query
    if wanted := {batch.directive_id for batch in batches} - directives.keys():
        directives.update({d.id: d for d in session.scalars(select(Directive).where(Directive.id.in_(wanted)))})
    if not batches:
        return
    receipts = memo(session, RECEIPTS_MEMO)
    for receipt in session.scalars(select(DirectiveReceipt).where(
            DirectiveReceipt.directive_id.in_({batch.directive_id for batch in batches}),
            DirectiveReceipt.userid.in_({userid.lower() for _, userid in clicks}))):
        receipts[(receipt.directive_id, receipt.userid)] = receipt


def act(session, settings, directive: Directive, *, userid: str, key: str, channel: str, now: datetime) -> str:
    """The same action from the workbench (or the API): `counted` or `repeat`;
    raises ActError when it cannot count (it is recorded all the same)."""
    userid = userid.lower()
    ledger.lock(session)
    session.refresh(directive)  # as it is now, under the lock (revoked or corrected meanwhile?)
    try:
        receipt = _receipt_for(session, directive, userid, key)
    except ActError as refused:
        if not _refused_before(session, directive.id, userid, "", key, channel):
            ledger.append(session, "click_refused", at=now, directive_id=directive.id, actor=userid, userid=userid,
                          key=key, channel=channel, outcome=refused.outcome)
        _log_click(session, directive.id, userid, "", key, channel, refused.outcome, now)
        raise
    outcome = _count(session, directive, receipt, key, channel, now)
    _log_click(session, directive.id, userid, "", key, channel, outcome, now)
    return outcome


def _receipt_for(session, directive: Directive, userid: str, key: str, *,
                 batch: DirectiveBatch | None = None) -> DirectiveReceipt:
    if key not in KEYS:
        raise ActError("unknown_key", f"unknown action {key!r}: ack or done")
    if directive.status == "revoked":
        raise ActError("revoked", f"directive {directive.id} was revoked")
    if batch is not None and batch.version != directive.version:
        raise ActError("superseded", f"version {batch.version} was replaced by version {directive.version}")
    receipt = _receipt(session, directive.id, userid)
    if receipt is None and (renamed := _renamed_to(session, directive.id, userid)):
        receipt = _receipt(session, directive.id, renamed)
    if receipt is None:
        raise ActError("not_assignee", f"{userid} is not an assignee of directive {directive.id}")
    if key == "done" and directive.require != "completion":
        raise ActError("not_required", "this directive asks for acknowledgment only")
    return receipt


def has_receipt(session, directive_id: int, userid: str) -> bool:
    """Was this directive issued to this person? (A rename moves their receipts to the new
    userid, directory/rename.py.) The workbench answers 404 to anyone else before writing
    anything (issue 10 item 4)."""
    return _receipt(session, directive_id, userid.lower()) is not None


def _receipt(session, directive_id: int, userid: str) -> DirectiveReceipt | None:
    read = memo(session, RECEIPTS_MEMO).get((directive_id, userid))
    if read is not None and (read.directive_id, read.userid) == (directive_id, userid):  # still theirs
        return read
    return session.scalar(select(DirectiveReceipt).where(DirectiveReceipt.directive_id == directive_id,
                                                         DirectiveReceipt.userid == userid))


def _renamed_to(session, directive_id: int, userid: str) -> str | None:
    """The userid a person was renamed to after this directive was issued (its `renamed`
    ledger entries, directory/rename.py): a click still carrying the old id is theirs."""
    renamed = None
    for data in session.scalars(select(LedgerEntry.data).where(LedgerEntry.directive_id == directive_id,
                                                               LedgerEntry.event == "renamed")
                                .order_by(LedgerEntry.seq)):
        if data.get("old_userid") == (renamed or userid):
            renamed = data.get("new_userid")
    return renamed


def _count(session, directive: Directive, receipt: DirectiveReceipt, key: str, channel: str, now: datetime,
           **extra) -> str:
    """Record the acknowledgment or completion once; `repeat` if it was recorded already."""
    if key == "ack" and receipt.acknowledged_at is not None or key == "done" and receipt.completed_at is not None:
        return "repeat"
    if receipt.acknowledged_at is None:  # 已办结 first: it acknowledges too
        receipt.acknowledged_at, receipt.ack_channel, receipt.status = now, channel, "acknowledged"
        ledger.append(session, "acknowledged", at=now, directive_id=directive.id, actor=receipt.userid,
                      userid=receipt.userid, version=receipt.version, channel=channel, **extra)
    if key == "done":
        receipt.completed_at, receipt.complete_channel, receipt.status = now, channel, "completed"
        ledger.append(session, "completed", at=now, directive_id=directive.id, actor=receipt.userid,
                      userid=receipt.userid, version=receipt.version, channel=channel, **extra)
    done = done_at(directive, receipt)
    if done is not None:
        receipt.next_reminder_at = None  # nothing more to remind of
    if channel != "card":
        audit(session, receipt.userid, "directive.acknowledge" if key == "ack" else "directive.complete",
              f"directive:{directive.id}", now=now, channel=channel)
    return "counted"


def _update_card(session, settings, directive, receipt, task_id: str, response_code: str, now: datetime) -> None:
    if not response_code:
        return
    if directive.require == "completion" and receipt.completed_at is None:
        # the replacement keeps the clicked card's task_id (whether WeCom requires that is UNCONFIRMED, 94888)
        replacement = card(settings, directive, task_id, issuer_name=issuer_name(session, directive))
        replacement["button_list"] = [{"type": 0, "text": "已办结", "style": 2, "key": "done"}]
        replacement["sub_title_text"] = f"已确认收到 {local(settings, receipt.acknowledged_at, '%m-%d %H:%M')}，办结后请点「已办结」。"
        payload = {"userids": [receipt.userid], "response_code": response_code, "template_card": replacement}
    else:
        done_at = receipt.completed_at or receipt.acknowledged_at
        word = "已办结" if receipt.completed_at else "已确认"
        payload = {"userids": [receipt.userid], "response_code": response_code,
                   "button": {"replace_name": f"{word} {local(settings, done_at, '%H:%M')}"}}
    outbox.enqueue(session, "message/update_template_card", payload, key=f"card-update:{response_code}",
                   urgent=True, now=now)


def _refuse(session, directive, userid, task_id, key, channel, outcome, now, response_code) -> str:
    if directive is not None and not _refused_before(session, directive.id, userid, task_id, key, channel):
        ledger.append(session, "click_refused", at=now, directive_id=directive.id, actor=userid, userid=userid,
                      key=key, channel=channel, task_id=task_id, outcome=outcome)
    _log_click(session, directive.id if directive else None, userid, task_id, key, channel, outcome, now)
    if response_code:
        outbox.enqueue(session, "message/update_template_card",
                       {"userids": [userid], "response_code": response_code,
                        "button": {"replace_name": REFUSAL_WORDS.get(outcome, "无效操作")}},
                       key=f"card-update:{response_code}", urgent=True, now=now)
    return outcome


def _refused_before(session, directive_id: int, userid: str, task_id: str, key: str, channel: str) -> bool:
    """Is a refused click of this person, key and card (task id; "" from the workbench) on record
    already? The ledger holds the first only: a repeated refused click is evidence of nothing new,
    and must not bury the directive's real last record (issue 10 item 4). Read under ledger.lock,
    so two concurrent repeats cannot both miss it. Every click is still in `directive_click`."""
    return session.scalar(select(DirectiveClick.id).where(
        DirectiveClick.directive_id == directive_id, DirectiveClick.userid == userid,
        DirectiveClick.task_id == task_id[:128], DirectiveClick.key == key[:64], DirectiveClick.channel == channel,
        DirectiveClick.outcome.not_in(("counted", "repeat"))).limit(1)) is not None


def _log_click(session, directive_id, userid, task_id, key, channel, outcome, now) -> None:
    session.add(DirectiveClick(directive_id=directive_id, userid=userid, task_id=task_id[:128], key=key[:64],
                               channel=channel, outcome=outcome, at=now))
