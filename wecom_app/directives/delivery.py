"""Directive cards (90236 template_card `button_interaction`) and what WeCom answered.

A directive goes to its people in batches of at most 1,000 userids per
message/send (40032 beyond), each batch a `DirectiveBatch` with its own task_id
(unique per app forever, 42014): `<installation prefix>_d<directive>v<version><kind
letter><batch id>` (task_ids.py). A batch the outbox splits because some members are
over their quota goes out as rows whose task_id is the batch's plus `@<row>-<tag>`;
a click is mapped back by cutting at the first `@` (`batch_for_task`).

The card shows the title, the issuer, the deadline, what is required and the
buttons 收到 (`ack`) and, when completion is required, 已办结 (`done`), with a link
to the directive's workbench page. A confidential directive (R12) shows only its
title and the link: the body opens only in the authenticated workbench.

Everything goes through the outbox: urgent directives at once, others at the
next working moment (R4). `settle_batches` (the outbox's settler for
`directive_batch:<id>`) takes WeCom's answer: the receipts of the people a row
reached become `delivered` with its msgid (and `next_reminder_at` = the delivery
time, which tells the reminders job to plan their reminders); `invaliduser` and a
failed row make them `undeliverable` with the reason; each row's outcome is one
ledger entry.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update

from wecom_app import labels
from wecom_app.db import memo
from wecom_app.directives import ledger
from wecom_app.models import Directive, DirectiveBatch, DirectiveReceipt, Group, OutboxAction, User
from wecom_app.wecom import outbox, task_ids
from wecom_app.wecom.textlimits import CARD_CHARS, clip, split

BATCH_SIZE = 1000  # message/send touser limit (40032)
# "72小时内有效，且只能使用一次" (94888, 90236; older copies said 24 h): a greying WeCom refuses
# anyway (60140) is not retried, its people are told by text instead (`settle_retired`)
RESPONSE_CODE_TTL = timedelta(hours=72)
REVOKED_NOTICE = "指令《{title}》已撤回，无需再处理。"
# WeCom's recommended card lengths in characters (90236, 101032)
TITLE_MAX, DESC_MAX = CARD_CHARS["main_title.title"], CARD_CHARS["main_title.desc"]
SUB_TITLE_MAX = CARD_CHARS["sub_title_text"]
REQUIRE_WORDS = labels.REQUIRES  # directive.require as the cards say it


def directive_url(settings, directive: Directive) -> str:
    return f"{settings.public_url}/directives/{directive.id}"


def local(settings, moment: datetime, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return moment.astimezone(settings.tz).strftime(fmt)


def card(settings, directive: Directive, task_id: str, *, issuer_name: str, reminder: int = 0) -> dict:
    """The template card of one batch. Its text fields keep to WeCom's recommended lengths
    (textlimits.CARD_CHARS), clipped with "…": the card opens the whole on the workbench."""
    title = clip(directive.title, TITLE_MAX)
    if reminder:
        prefix = "【提醒】"
        title = prefix + clip(directive.title, TITLE_MAX - len(prefix))
    if directive.confidential:  # R12: nothing of the content in the chat
        sub_title = "机密指令：内容只在工作台中查看，请点击卡片打开。"
    else:
        sub_title = clip(directive.body, SUB_TITLE_MAX)
    buttons = [{"type": 0, "text": "收到", "style": 1, "key": "ack"}]
    if directive.require == "completion":
        buttons.append({"type": 0, "text": "已办结", "style": 2, "key": "done"})
    return {
        "card_type": "button_interaction",
        "source": {"desc": "紧急指令" if directive.urgent else "工作指令", "desc_color": 2 if directive.urgent else 1},
        "main_title": {"title": title, "desc": clip(f"发布人：{issuer_name}", DESC_MAX)},
        "sub_title_text": sub_title,
        "horizontal_content_list": [
            {"keyname": "截止", "value": local(settings, directive.deadline)},
            {"keyname": "要求", "value": REQUIRE_WORDS[directive.require]},
        ],
        "card_action": {"type": 1, "url": directive_url(settings, directive)},
        "task_id": task_id,
        "button_list": buttons,
    }


def issuer_name(session, directive: Directive) -> str:
    user = session.get(User, directive.issuer)
    return user.name if user and user.name else directive.issuer


def send_cards(session, settings, directive: Directive, userids: list[str], *, now: datetime, kind: str = "card",
               reminder: int = 0, urgent: bool | None = None, not_before: datetime | None = None
               ) -> list[DirectiveBatch]:
    """Queue the cards for `userids` (a card, or a reminder card: a new card with a new
    task_id, since an old card cannot be edited for ever) in batches of 1,000, to go at
    `not_before` (default now; the outbox still holds a non-urgent one to working time)."""
    urgent = directive.urgent if urgent is None else urgent
    name, batches, prefix = issuer_name(session, directive), [], task_ids.prefix(session)
    for start in range(0, len(userids), BATCH_SIZE):
        people = list(userids[start:start + BATCH_SIZE])
        batch = DirectiveBatch(directive_id=directive.id, version=directive.version, kind=kind, userids=people,
                               created_at=now)
        session.add(batch)
        session.flush()
        batch.task_id = task_ids.make(prefix, directive.id, directive.version, kind, batch.id)
        outbox.enqueue(
            session, "message/send",
            {"touser": "|".join(people), "msgtype": "template_card",
             "template_card": card(settings, directive, batch.task_id, issuer_name=name, reminder=reminder)},
            key=f"directive:{directive.id}:batch:{batch.id}", urgent=urgent, now=now, not_before=not_before,
            subject=f"directive_batch:{batch.id}")
        if kind == "card":
            session.execute(update(DirectiveReceipt).where(DirectiveReceipt.directive_id == directive.id,
                                                           DirectiveReceipt.userid.in_(people))
                            .values(batch_id=batch.id))
        batches.append(batch)
    return batches


def send_summary(session, settings, directive: Directive, group: Group, *, now: datetime) -> DirectiveBatch:
    """A note in a managed group (appchat/send): the title, the deadline, the body and the
    link; never the body of a confidential directive (R12). The body is at most one
    text's 2,048 bytes, so with the rest it may take two messages: split, not cut."""
    batch = DirectiveBatch(directive_id=directive.id, version=directive.version, kind="summary", userids=[],
                           created_at=now)
    session.add(batch)
    session.flush()
    lines = [f"【{'紧急' if directive.urgent else ''}指令】{directive.title}",
             f"截止：{local(settings, directive.deadline)}；要求：{REQUIRE_WORDS[directive.require]}"]
    if not directive.confidential:
        lines.append(directive.body)
    lines.append(f"各位请在应用消息中点击「收到」确认，或打开：{directive_url(settings, directive)}")
    for i, text in enumerate(split("\n".join(lines))):
        outbox.enqueue(session, "appchat/send", {"chatid": group.chat_id, "msgtype": "text",
                                                 "text": {"content": text}},
                       key=f"directive:{directive.id}:summary:{batch.id}" + (f":{i + 1}" if i else ""),
                       urgent=directive.urgent, now=now, subject=f"directive_batch:{batch.id}")
    return batch


def tell(session, directive: Directive, userids: list[str], text: str, *, key: str, now: datetime,
         urgent: bool = False) -> DirectiveBatch | None:
    """A plain text about a directive (a revocation notice, an escalation summary),
    recorded as a `notice` batch so that its delivery reaches the ledger too. A text
    over WeCom's 2,048 bytes goes as several messages (textlimits.split), never cut."""
    userids = [u for u in dict.fromkeys(userids) if u]
    if not userids:
        return None
    batch = DirectiveBatch(directive_id=directive.id, version=directive.version, kind="notice", userids=userids,
                           created_at=now)
    session.add(batch)
    session.flush()
    for start in range(0, len(userids), BATCH_SIZE):
        for i, part in enumerate(split(text)):
            outbox.enqueue(session, "message/send", {"touser": "|".join(userids[start:start + BATCH_SIZE]),
                                                     "msgtype": "text", "text": {"content": part}},
                           key=f"{key}:{start}" + (f":{i + 1}" if i else ""), urgent=urgent, now=now,
                           subject=f"directive_batch:{batch.id}")
    return batch


def retire_cards(session, settings, directive: Directive, version: int, *, now: datetime, label: str,
                 notice: str | None = None) -> None:
    """Grey out the cards of `version` with `label` (已撤回, 已更新为第N版) through each
    send's single-use response_code while it is valid (72 h); the people whose card
    can no longer be changed and who had not acted get `notice` as a text."""
    rows = _card_rows(session, directive.id, version)
    stale: set[str] = set()
    for row in rows:
        code = (row.result or {}).get("response_code")
        people = _touser(row)
        if row.status == "sent" and code and row.sent_at and now - row.sent_at < RESPONSE_CODE_TTL:
            outbox.enqueue(session, "message/update_template_card",
                           {"atall": 1, "response_code": code, "button": {"replace_name": label}},
                           key=f"directive:{directive.id}:retire:{row.id}", urgent=True, now=now,
                           subject=f"card_retired:{row.id}")
        elif row.status == "pending" and session.execute(  # not sent yet: it never will be, unless a sender
            update(OutboxAction).where(OutboxAction.id == row.id, OutboxAction.status == "pending")  # just took it
            .values(status="cancelled", errmsg=f"directive {directive.id}: {label}")
        ).rowcount:
            continue
        else:
            stale.update(people)
    if notice and stale:
        _tell_not_acted(session, directive, stale, notice, key=f"directive:{directive.id}:notice:{label}", now=now)


def _tell_not_acted(session, directive: Directive, people: set[str], notice: str, *, key: str, now: datetime) -> None:
    acted = set(session.scalars(select(DirectiveReceipt.userid).where(
        DirectiveReceipt.directive_id == directive.id, DirectiveReceipt.userid.in_(people),
        DirectiveReceipt.status.in_(("acknowledged", "completed", "undeliverable")))))
    tell(session, directive, sorted(people - acted), notice, key=key, now=now,
         urgent=directive.urgent)  # R4: a non-urgent directive's notice waits for working time


def settle_retired(session, rows: list[OutboxAction], now: datetime) -> None:
    """A revoked directive's greying that WeCom refused (60140: the response_code expired
    or was used — 72 h by 94888, 24 h by older copies; which a company meets, and the
    errcode, UNCONFIRMED): the card's people who had not acted get the revocation notice
    by text, as those whose card is past 72 h do. A corrected directive needs none: its
    new card follows."""
    for row in rows:
        card_row = session.get(OutboxAction, int(row.subject.partition(":")[2]))
        if row.status != "failed" or card_row is None or not (card_row.subject or "").startswith("directive_batch:"):
            continue
        batch = session.get(DirectiveBatch, int(card_row.subject.partition(":")[2]))
        directive = session.get(Directive, batch.directive_id) if batch else None
        if directive is not None and directive.status == "revoked":
            _tell_not_acted(session, directive, set(_touser(card_row)), REVOKED_NOTICE.format(title=directive.title),
                            key=f"directive:{directive.id}:notice:refused:{card_row.id}", now=now)


def card_subjects(session, directive_id: int, version: int | None = None) -> list[list[str]]:
    """The outbox subjects of a directive's card and reminder batches (of one version, or
    all), in chunks of 500 for `OutboxAction.subject.in_(chunk)`."""
    query = select(DirectiveBatch.id).where(DirectiveBatch.directive_id == directive_id,
                                            DirectiveBatch.kind.in_(("card", "reminder")))
    if version is not None:
        query = query.where(DirectiveBatch.version == version)
    subjects = [f"directive_batch:{i}" for i in session.scalars(query)]
    return [subjects[start:start + 500] for start in range(0, len(subjects), 500)]


def queued_cards_send_time(session, directive: Directive, calendar, now: datetime
                           ) -> tuple[datetime, datetime, bool] | None:
    """When the current version's cards that have not gone yet go, by the outbox's own
    rule (outbox.send_time): (earliest, latest, whether any waits for working time, R4);
    None when none is waiting."""
    ids = [f"directive_batch:{i}" for i in session.scalars(select(DirectiveBatch.id).where(
        DirectiveBatch.directive_id == directive.id, DirectiveBatch.version == directive.version,
        DirectiveBatch.kind == "card"))]
    times = [outbox.send_time(row, calendar, now) for start in range(0, len(ids), 500)
             for row in session.scalars(select(OutboxAction).where(OutboxAction.subject.in_(ids[start:start + 500]),
                                                                   OutboxAction.status == "pending"))]
    if not times:
        return None
    return min(t for t, _ in times), max(t for t, _ in times), any(held for _, held in times)


def _card_rows(session, directive_id: int, version: int) -> list[OutboxAction]:
    return [row for chunk in card_subjects(session, directive_id, version) for row in session.scalars(
        select(OutboxAction).where(OutboxAction.subject.in_(chunk)).order_by(OutboxAction.id))]


def _touser(row: OutboxAction) -> list[str]:
    return outbox.split_ids((row.payload or {}).get("touser"))


BATCHES_MEMO = "directive_batches_by_task"  # db.memo: batches found by their task_id (which never changes)


def batch_for_task(session, task_id: str) -> DirectiveBatch | None:
    """The batch a clicked card belongs to. Split rows' task_ids add `@<row>-<tag>`, once
    per split (a split row can be split again); a batch's own never holds an `@`."""
    base = task_ids.base(task_id)
    known = memo(session, BATCHES_MEMO)
    if (batch := known.get(base)) is None:
        batch = session.scalar(select(DirectiveBatch).where(DirectiveBatch.task_id == base))
        if batch is not None:
            known[base] = batch
    return batch


def batches_for_tasks(session, clicked) -> list[DirectiveBatch]:
    """`batch_for_task` for many task_ids in one query (a dispatcher batch of clicks): the ones found."""
    known = memo(session, BATCHES_MEMO)
    bases = {task_ids.base(task_id) for task_id in clicked if task_id}
    if wanted := bases - known.keys():
        for batch in session.scalars(select(DirectiveBatch).where(DirectiveBatch.task_id.in_(wanted))):
            known[batch.task_id] = batch
    return [known[base] for base in bases if base in known]


def settle_batches(session, rows: list[OutboxAction], now: datetime) -> None:
    """Take WeCom's answers: receipts delivered (msgid, time) or undeliverable (why),
    one ledger entry per row."""
    ids = {int(row.subject.partition(":")[2]) for row in rows}
    batches = {b.id: b for b in session.scalars(select(DirectiveBatch).where(DirectiveBatch.id.in_(ids)))}
    for row in rows:
        batch = batches.get(int(row.subject.partition(":")[2]))
        if batch is None:
            continue
        directive = session.get(Directive, batch.directive_id)
        result, people = row.result or {}, _touser(row)
        task_id = ((row.payload or {}).get("template_card") or {}).get("task_id")
        if batch.kind == "summary":
            ledger.append(session, "delivered" if row.status == "sent" else "undeliverable", at=now,
                          directive_id=directive.id, version=batch.version, batch=batch.id, channel="appchat",
                          chatid=(row.payload or {}).get("chatid"), msgid=result.get("msgid"),
                          errcode=row.errcode, errmsg=row.errmsg if row.status != "sent" else None)
            continue
        if row.status == "sent":
            invalid = {u.lower() for u in outbox.split_ids(result.get("invaliduser"))}
            reached = [u for u in people if u not in invalid]
            ledger.append(session, "delivered", at=now, directive_id=directive.id, version=batch.version,
                          batch=batch.id, kind=batch.kind, task_id=task_id, msgid=result.get("msgid"),
                          sent_at=row.sent_at.isoformat() if row.sent_at else None, userids=reached,
                          invaliduser=sorted(invalid),
                          # a resend answered 42014: an earlier call went through, but its answer (msgid,
                          # invaliduser) was lost; the record says so rather than claim what it cannot know
                          **({"unconfirmed": result.get("why", "42014")} if result.get("task_id_used") else {}))
            if batch.kind == "card":
                _mark(session, directive, batch, reached, invalid, row, why="WeCom invaliduser: not in the app's "
                      "visible range, not activated, disabled or left")
        else:
            why = f"errcode {row.errcode}: {row.errmsg}"
            ledger.append(session, "undeliverable", at=now, directive_id=directive.id, version=batch.version,
                          batch=batch.id, kind=batch.kind, task_id=task_id, userids=people, errcode=row.errcode,
                          errmsg=row.errmsg)
            if batch.kind == "card":
                _mark(session, directive, batch, [], set(people), row, why=why)


def _mark(session, directive: Directive, batch: DirectiveBatch, reached: list[str], invalid: set[str],
          row: OutboxAction, *, why: str) -> None:
    """Receipts of the people a send reached become delivered (time, msgid) — also those
    marked undeliverable by an earlier failure an operator has since retried, and, for
    the record, those who acted on the workbench before their card arrived; the people
    WeCom refused become undeliverable, unless they already acted."""
    r = DirectiveReceipt
    mine = (r.directive_id == directive.id, r.version == batch.version, r.delivered_at.is_(None))
    msgid, plan = (row.result or {}).get("msgid"), row.sent_at if directive.status == "active" else None
    for start in range(0, len(reached), 500):
        people = r.userid.in_(reached[start:start + 500])
        session.execute(update(r).where(*mine, people, r.status.in_(("queued", "undeliverable"))).values(
            status="delivered", delivered_at=row.sent_at, msgid=msgid, undeliverable=None,
            next_reminder_at=plan))  # "plan my reminders": the reminders job plans from delivered_at
        session.execute(update(r).where(*mine, people, r.status.in_(("acknowledged", "completed"))).values(
            delivered_at=row.sent_at, msgid=msgid))
        if directive.require == "completion":  # acknowledged on the workbench first: completion is still due
            session.execute(update(r).where(r.directive_id == directive.id, r.version == batch.version, people,
                                            r.status == "acknowledged", r.next_reminder_at.is_(None),
                                            r.reminders == 0).values(next_reminder_at=plan))
    invalid_list = sorted(invalid)
    for start in range(0, len(invalid_list), 500):
        session.execute(update(r).where(*mine, r.status == "queued", r.userid.in_(invalid_list[start:start + 500]))
                        .values(status="undeliverable", undeliverable=why[:200], next_reminder_at=None))
