"""Text messages members send to the app (MsgType text, 90239): reports (R3, R5,
R11: `举报 @userid 群名 说明`) and an account reported lost or stolen (R14:
`账号被盗` / `账号丢失`). The work is in wecom_app.violations.reports; replies go
through the outbox. Any other text is ignored (logged at debug level)."""

from wecom_app.callbacks.router import Router
from wecom_app.logs import kv
from wecom_app.violations import reports as violations_reports

router = Router()


@router.register("text")
def handle_text(event, ctx):
    content, sender = event.get("Content"), event.from_user
    if violations_reports.is_report(content):
        violations_reports.report(ctx.session, ctx.settings, sender, content, ctx.now, msg_id=event.get("MsgId"))
    elif violations_reports.is_account_report(content):
        violations_reports.account_compromised(ctx.session, ctx.settings, sender, ctx.now, msg_id=event.get("MsgId"))
    else:
        ctx.log.debug(kv("wecom.handler.text_ignored", userid=sender))
