"""handlers/messages.py: texts members send to the app (90239): a 举报 (R3, R5, R11) becomes a
violation for the group's custodian with a reply to the reporter; 账号被盗 (R14) suspends the
sender; any other text is ignored."""

from sqlalchemy import func, select

from tests.plugins.handlers import dispatch, managed_group, members, outbox, text
from wecom_app.models import OutboxAction, Violation


def test_r3_a_report_becomes_a_violation_for_the_custodian_and_the_reporter_is_answered(ctx):
    group_id = managed_group(ctx, members=("zhangsan", "lisi", "wangwu", "zhaoliu"))
    dispatch(ctx, text("zhaoliu", "举报 @wangwu 研发部-周会 在群里辱骂同事"))
    (violation,) = ctx.session.scalars(select(Violation)).all()
    assert (violation.rule, violation.userid, violation.group_id) == ("R3", "wangwu", group_id)
    assert [p["touser"] for p in outbox(ctx, "message/send")] == ["zhaoliu", "zhangsan|lisi"]  # reporter, deciders


def test_r5_an_unclear_report_gets_a_reply_explaining_the_form_and_no_violation(ctx):
    dispatch(ctx, text("zhaoliu", "举报 有人发广告"))
    assert ctx.session.scalar(select(func.count()).select_from(Violation)) == 0
    (reply,) = outbox(ctx, "message/send")
    assert reply["touser"] == "zhaoliu" and "举报 @userid 群名 说明" in reply["text"]["content"]


def test_r14_an_account_reported_stolen_is_suspended_from_its_managed_groups(ctx):
    group_id = managed_group(ctx)
    dispatch(ctx, text("wangwu", "我的账号被盗了"))
    assert members(ctx, group_id)["wangwu"][0] == "suspended"
    assert [p.get("del_user_list") for p in outbox(ctx, "appchat/update")] == [["wangwu"]]


def test_any_other_text_is_ignored(ctx):
    managed_group(ctx)
    dispatch(ctx, text("wangwu", "你好"))
    assert ctx.session.scalar(select(func.count()).select_from(OutboxAction)) == 0
    assert ctx.session.scalar(select(func.count()).select_from(Violation)) == 0
