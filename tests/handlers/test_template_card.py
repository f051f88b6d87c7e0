"""handlers/template_card.py: a button pressed on a directive's card (template_card_event,
90240) acknowledges it (R16), counted once, at the moment it was pressed, and the card is greyed
through the outbox (message/update_template_card); a click on a card the app never sent counts
nothing."""

from datetime import timedelta

from sqlalchemy import func, select

import handlers
from tests.plugins.handlers import CREATE_TIME, NOW, card_click, dispatch, outbox
from wecom_app.directives import issue as directives
from wecom_app.models import DirectiveBatch, DirectiveClick, DirectiveReceipt


def issue(ctx) -> tuple[int, str]:
    """An urgent directive to wangwu and zhaoliu, acknowledged with 收到; (its id, its card's task_id)."""
    directive = directives.issue(ctx.session, ctx.settings, title="周五前提交季度报表", body="请在周五 17:00 前提交。",
                                 assignees={"users": ["wangwu", "zhaoliu"]}, deadline=NOW + timedelta(days=3),
                                 issuer="zhangsan", now=NOW, require="ack", urgent=True)
    task_id = ctx.session.scalar(select(DirectiveBatch.task_id).where(DirectiveBatch.directive_id == directive.id,
                                                                      DirectiveBatch.kind == "card"))
    return directive.id, task_id


def receipt(ctx, directive_id: int, userid: str) -> DirectiveReceipt:
    return ctx.session.scalar(select(DirectiveReceipt).where(DirectiveReceipt.directive_id == directive_id,
                                                             DirectiveReceipt.userid == userid))


def test_r16_ack_on_the_card_acknowledges_once_at_the_moment_it_was_pressed(ctx):
    directive_id, task_id = issue(ctx)
    dispatch(ctx, card_click("wangwu", task_id, "ack"))
    dispatch(ctx, card_click("wangwu", task_id, "ack"))  # pressed again: a repeat, not a second acknowledgment
    wangwu = receipt(ctx, directive_id, "wangwu")
    assert (wangwu.status, wangwu.ack_channel) == ("acknowledged", "card")
    assert wangwu.acknowledged_at.timestamp() == CREATE_TIME  # the event's time, not the dispatcher's
    assert receipt(ctx, directive_id, "zhaoliu").status != "acknowledged"
    outcomes = ctx.session.scalars(select(DirectiveClick.outcome).order_by(DirectiveClick.id)).all()
    assert outcomes == ["counted", "repeat"]
    assert outbox(ctx, "message/update_template_card")[0]["userids"] == ["wangwu"]


def test_r16_a_batch_of_clicks_read_once_counts_each_assignee_once_and_nobody_else(ctx):
    directive_id, task_id = issue(ctx)
    clicks = [card_click(userid, task_id, "ack") for userid in ("wangwu", "WangWu", "zhaoliu", "lisi")]
    handlers.router.prepare_batch(clicks, ctx)  # as the dispatcher does: cards, directive, receipts read once
    for click in clicks:
        dispatch(ctx, click)
    outcomes = ctx.session.scalars(select(DirectiveClick.outcome).order_by(DirectiveClick.id)).all()
    assert outcomes == ["counted", "repeat", "counted", "not_assignee"]
    assert {receipt(ctx, directive_id, u).status for u in ("wangwu", "zhaoliu")} == {"acknowledged"}


def test_r16_a_click_on_a_card_the_app_never_sent_counts_nothing(ctx):
    directive_id, _ = issue(ctx)
    dispatch(ctx, card_click("wangwu", "not-a-task-of-ours", "ack"))
    assert receipt(ctx, directive_id, "wangwu").acknowledged_at is None
    assert ctx.session.scalar(select(DirectiveClick.outcome)) == "unknown_task"
    assert ctx.session.scalar(select(func.count()).select_from(DirectiveClick)) == 1
