"""Card clicks (template_card_event, 90240): a directive acknowledged (收到, key
`ack`) or completed (已办结, key `done`). The work is in wecom_app.directives_acks;
the card update goes through the outbox."""

from wecom_app import directives_acks

from . import router


@router.register("template_card_event")
def handle_card_click(event, ctx):
    outcome = directives_acks.click(ctx.session, ctx.settings, userid=event.from_user, task_id=event.get("TaskId"),
                                    key=event.get("EventKey"), response_code=event.get("ResponseCode"), now=ctx.now)
    ctx.log.info("wecom.directives.click userid=%s task_id=%s key=%s outcome=%s", event.from_user,
                 event.get("TaskId"), event.get("EventKey"), outcome)
