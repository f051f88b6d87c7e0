"""Card clicks (template_card_event, 90240): a directive acknowledged (收到, key
`ack`) or completed (已办结, key `done`). The work is in wecom_app.directives.acks;
the card update goes through the outbox. A click on the card that offers to track an
instruction given in a group (R16; its task_id is an offer's) goes to
wecom_app.archive.instructions instead."""

from datetime import datetime, timedelta, timezone

from wecom_app.archive import instructions
from wecom_app.callbacks.router import Router
from wecom_app.directives import acks as directives_acks
from wecom_app.logs import kv

router = Router()

CLOCK_SLACK = timedelta(days=1)


def clicked_at(event, now: datetime) -> datetime:
    """When the button was pressed: the event's CreateTime (inside WeCom's signed and
    encrypted body), not when the dispatcher got to it — a click stored at 17:59:58 and
    handled after a retry still counts at 17:59:58. A time in the future or more than a
    day old (a wrong clock) gives way to now."""
    pressed = datetime.fromtimestamp(event.create_time, timezone.utc) if event.create_time else now
    return pressed if now - CLOCK_SLACK <= pressed <= now else now


@router.prepare("template_card_event")
def read_clicks_once(events, ctx):
    """The batch's cards, directives and receipts read in three queries, not three a click (issue 14)."""
    clicks = [(e.get("TaskId"), e.from_user) for e in events if not instructions.is_offer_task(e.get("TaskId"))]
    if clicks:
        directives_acks.read_clicks(ctx.session, clicks)


@router.register("template_card_event")
def handle_card_click(event, ctx):
    if instructions.is_offer_task(event.get("TaskId")):
        outcome = instructions.tap(ctx.session, ctx.settings, userid=event.from_user, task_id=event.get("TaskId"),
                                   key=event.get("EventKey"), response_code=event.get("ResponseCode"),
                                   now=clicked_at(event, ctx.now))
        ctx.log.info(kv("wecom.handler.instruction_click", userid=event.from_user, task_id=event.get("TaskId"),
                        event_key=event.get("EventKey"), outcome=outcome))
        return
    outcome = directives_acks.click(ctx.session, ctx.settings, userid=event.from_user, task_id=event.get("TaskId"),
                                    key=event.get("EventKey"), response_code=event.get("ResponseCode"),
                                    now=clicked_at(event, ctx.now))
    ctx.log.info(kv("wecom.handler.card_click", userid=event.from_user, task_id=event.get("TaskId"),
                    event_key=event.get("EventKey"), outcome=outcome))
