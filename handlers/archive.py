"""The conversation archive's callback: `msgaudit_notify` (FromUserName `sys`), "new
messages are archived" (developer.work.weixin.qq.com/document/path/95039, at most about
every 15 s). Handlers never call WeCom: the cursor is marked and the `archive_notify` job
pulls within seconds (wecom_app.archive.pull)."""

from wecom_app.archive.pull import note_notify
from wecom_app.callbacks.router import Router

router = Router()


@router.register("msgaudit_notify")
def archive_notified(event, ctx):
    if not ctx.settings.archive_enabled:
        ctx.log.info("wecom.archive.notify_ignored why=the archive settings are empty")
        return
    note_notify(ctx.session, ctx.settings.corp_id, ctx.now)
