"""Instructions given in a group (R16, issue 12 item 6): an archived message from a leader or
the group's custodian in a governed group that @-mentions everyone or named members, or
carries a directive marker, is offered to its sender in one card; one tap issues a directive
with the text frozen and the group as its origin; never without the tap, never twice.

Most tests run the archive reader and the card click on the handler bench (tests/plugins/
handlers.py: NOW Tuesday 10:00 in Shanghai; zhangsan 张三 leads 华东公司, lisi 李四 is the
group's custodian, wangwu 王五 and zhaoliu 赵六 are members); the last one goes through the
pull against the emulator's archive (91774) with the job's READERS."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests.plugins.archive import ROOM, run_pull
from tests.plugins.handlers import NOW, card_click, dispatch, outbox
from wecom_app.archive import instructions
from wecom_app.archive import job as archive_job
from wecom_app.archive.pull import message_row
from wecom_app.config import load_settings
from wecom_app.directives import receipt_sheet
from wecom_app.governance import registry
from wecom_app.models import (
    ArchiveRoom,
    Directive,
    DirectiveReceipt,
    Group,
    GroupMember,
    InstructionOffer,
    LedgerEntry,
    UserDepartment,
)

CHAT = "wrInternalInstructions0001"


def governed(ctx, *, status="active", kind="internal") -> ArchiveRoom:
    """A registered internal group (lisi its custodian) with zhangsan, lisi, wangwu and zhaoliu,
    zhangsan the leader of 华东公司, and its archive room."""
    ctx.session.execute(UserDepartment.__table__.update().where(UserDepartment.userid == "zhangsan")
                        .values(is_leader=True))
    group = Group(kind=kind, chat_id=CHAT, name="研发部-日常沟通", owner="zhangsan", custodian="lisi",
                  scope={"departments": [1]}, status=status, registered_at=NOW)
    ctx.session.add(group)
    ctx.session.flush()
    ctx.session.add_all(GroupMember(group_id=group.id, member_id=m, compliance="ok")
                        for m in ("zhangsan", "lisi", "wangwu", "zhaoliu"))
    room = ArchiveRoom(roomid=CHAT, group_id=group.id, first_seen_at=NOW, messages=0, read_attempts=0)
    ctx.session.add(room)
    ctx.session.flush()
    return room


def said(ctx, room, sender: str, content: str, *, msgid: str = "m1", at=NOW, msgtype="text"):
    """An archived message as the pull stores it (91774's text: {"text": {"content": ...}})."""
    message = {"msgid": msgid, "action": "send", "from": sender, "tolist": [], "roomid": room.roomid if room else "",
               "msgtime": int(at.timestamp() * 1000), "msgtype": msgtype, msgtype: {"content": content}}
    row = message_row(msgid, 1, 1, message, "{}", at)
    ctx.session.add(row)
    ctx.session.flush()
    return instructions.offer(ctx.session, ctx.settings, row, room, at)


def offers(ctx) -> list[InstructionOffer]:
    return ctx.session.scalars(select(InstructionOffer).order_by(InstructionOffer.id)).all()


def receipts(ctx, directive_id: int) -> list[str]:
    return ctx.session.scalars(select(DirectiveReceipt.userid).where(DirectiveReceipt.directive_id == directive_id)
                               .order_by(DirectiveReceipt.userid)).all()


def test_r16_a_leaders_at_all_message_is_offered_to_its_sender_in_one_card(ctx):
    room = governed(ctx)
    offer = said(ctx, room, "zhangsan", "@所有人\u2005周五前把季度报表交给李四")
    assert (offer.sender, offer.mention_all, offer.status) == ("zhangsan", True, "offered")
    (card_message,) = outbox(ctx, "message/send")
    assert card_message["touser"] == "zhangsan"
    card = card_message["template_card"]
    assert card["task_id"] == offer.task_id and instructions.is_offer_task(offer.task_id)
    assert [b["key"] for b in card["button_list"]] == ["track", "ignore"]
    assert "周五前把季度报表交给李四" in card["sub_title_text"]
    assert ctx.session.scalar(select(func.count()).select_from(Directive)) == 0  # never issued without the tap


def test_r16_the_custodian_naming_members_or_using_a_marker_is_offered_too(ctx):
    room = governed(ctx)
    named = said(ctx, room, "lisi", "@王五 @赵六 明天上午把测试环境准备好", msgid="m1")
    assert (named.mention_all, named.mentioned, named.marker) == (False, ["wangwu", "zhaoliu"], None)
    marked = said(ctx, room, "lisi", "请各位在下班前更新周报", msgid="m2")
    assert (marked.mention_all, marked.mentioned, marked.marker) == (False, [], "请各位")


def test_r16_an_ordinary_members_chatter_is_not_offered(ctx):
    room = governed(ctx)
    assert said(ctx, room, "wangwu", "@所有人 请各位务必来吃蛋糕", msgid="m1") is None  # not a leader nor custodian
    assert said(ctx, room, "zhangsan", "中午一起吃饭吗", msgid="m2") is None  # a leader's chatter: nothing to track
    assert offers(ctx) == [] and outbox(ctx, "message/send") == []


def test_r16_a_room_that_is_not_a_governed_group_is_ignored(ctx):
    unknown = ArchiveRoom(roomid="wrNobodyRegistered", group_id=None, first_seen_at=NOW, messages=0, read_attempts=0)
    ctx.session.add(unknown)
    assert said(ctx, unknown, "zhangsan", "@所有人 请各位周五前交报表", msgid="m1") is None
    governed(ctx, status="discovered")  # seen in the archive, not registered yet
    discovered = ctx.session.scalar(select(ArchiveRoom).where(ArchiveRoom.roomid == CHAT))
    assert said(ctx, discovered, "zhangsan", "@所有人 请各位周五前交报表", msgid="m2") is None
    assert offers(ctx) == []


def test_r16_one_tap_issues_a_directive_with_the_frozen_text_and_the_group_as_origin(ctx):
    room = governed(ctx)
    text = "@所有人 周五 17:00 前把季度报表交给李四"
    offer = said(ctx, room, "zhangsan", text)
    dispatch(ctx, card_click("zhangsan", offer.task_id, "track"))
    directive = ctx.session.get(Directive, offer.directive_id)
    assert (offer.status, directive.body, directive.issuer) == ("issued", text, "zhangsan")
    assert directive.title.startswith("群内指令：周五 17:00 前")
    assert receipts(ctx, directive.id) == ["lisi", "wangwu", "zhaoliu"]  # the group's members but the sender
    assert directive.origin_group_id == room.group_id
    assert directive.origin["msgid"] == "m1" and "研发部-日常沟通" in directive.origin["label"]
    issued = ctx.session.scalar(select(LedgerEntry).where(LedgerEntry.event == "issued"))
    assert issued.data["origin"]["msgid"] == "m1"
    cards = [m for m in outbox(ctx, "message/send") if m["template_card"]["task_id"] != offer.task_id]
    assert cards and sorted(cards[0]["touser"].split("|")) == ["lisi", "wangwu", "zhaoliu"]
    facts = dict(receipt_sheet._Format(receipt_sheet.load(ctx.session, ctx.settings, directive.id, now=NOW)).facts())
    assert "研发部-日常沟通" in facts["来源"]
    assert outbox(ctx, "message/update_template_card")[0]["button"]["replace_name"] == "已跟踪"


def test_r16_a_tap_on_named_members_issues_to_them_only(ctx):
    room = governed(ctx)
    offer = said(ctx, room, "lisi", "@王五 务必今天把合同寄出")
    dispatch(ctx, card_click("lisi", offer.task_id, "track"))
    assert receipts(ctx, offer.directive_id) == ["wangwu"]


@pytest.mark.both_databases  # the offer is read FOR UPDATE: a second tap waits for the first
def test_r16_a_second_tap_issues_nothing_twice_and_the_card_says_so(ctx):
    room = governed(ctx)
    offer = said(ctx, room, "zhangsan", "@所有人 请各位周五前交报表")
    dispatch(ctx, card_click("zhangsan", offer.task_id, "track"))
    assert instructions.tap(ctx.session, ctx.settings, userid="zhangsan", task_id=offer.task_id, key="track",
                            response_code="response-code-2", now=NOW) == "repeat"
    assert ctx.session.scalar(select(func.count()).select_from(Directive)) == 1
    updates = [u["button"]["replace_name"] for u in outbox(ctx, "message/update_template_card")]
    assert updates == ["已跟踪", "已跟踪"]


def test_r16_a_tap_after_the_offer_expired_issues_nothing(ctx):
    room = governed(ctx)
    offer = said(ctx, room, "zhangsan", "@所有人 请各位周五前交报表", at=NOW - timedelta(days=6))
    dispatch(ctx, card_click("zhangsan", offer.task_id, "track"))
    assert (offer.status, offer.directive_id) == ("expired", None)
    assert ctx.session.scalar(select(func.count()).select_from(Directive)) == 0
    assert outbox(ctx, "message/update_template_card")[0]["button"]["replace_name"] == "已过期"


def test_r16_only_the_sender_can_track_and_ignore_ends_the_offer(ctx):
    room = governed(ctx)
    offer = said(ctx, room, "zhangsan", "@所有人 请各位周五前交报表")
    dispatch(ctx, card_click("wangwu", offer.task_id, "track"))  # a card forwarded or a forged click
    assert offer.status == "offered"
    dispatch(ctx, card_click("zhangsan", offer.task_id, "ignore"))
    dispatch(ctx, card_click("zhangsan", offer.task_id, "track"))
    assert (offer.status, ctx.session.scalar(select(func.count()).select_from(Directive))) == ("declined", 0)


def test_instruction_markers_setting_default_custom_and_none():
    base = {"WECOM_CORP_ID": "ww1", "WECOM_AGENT_ID": "1", "WECOM_SECRET": "s", "WECOM_TOKEN": "t",
            "WECOM_AES_KEY": "a" * 43, "SECRET_KEY": "k" * 16}
    assert load_settings(base, env_file=None).instruction_markers == ("请各位", "务必", "截止")
    assert load_settings({**base, "INSTRUCTION_MARKERS": "请大家，马上"}, env_file=None).instruction_markers == (
        "请大家", "马上")
    assert load_settings({**base, "INSTRUCTION_MARKERS": "-"}, env_file=None).instruction_markers == ()


@pytest.mark.both_databases  # the reader runs in the page's transaction
def test_r16_the_pull_offers_a_leaders_instruction_in_a_registered_internal_group(arc):
    """Through the pull and the job's READERS, against the emulator's archive (91774)."""
    with arc.sessions.begin() as session:
        registry.register_group(session, arc.settings, kind="internal", chat_id=ROOM, name="行政部-日常沟通",
                                owner="wangfang", custodian="lina", scope={"departments": [3]}, allow_external=False,
                                robot_webhook=None, actor="api:office", now=arc.now())
        for userid in ("wangfang", "lina", "chenjing"):
            session.add(GroupMember(group_id=session.scalar(select(Group.id).where(Group.chat_id == ROOM)),
                                    member_id=userid, compliance="ok"))
    arc.archive.post(ROOM, "wangfang", "@所有人 务必在周五前提交报销单")  # wangfang: an office admin (WECOM_ADMINS)
    arc.archive.post(ROOM, "chenjing", "收到")
    run_pull(arc, readers=archive_job.READERS)
    with arc.sessions() as session:
        (offer,) = session.scalars(select(InstructionOffer)).all()
        assert (offer.sender, offer.mention_all, offer.text) == ("wangfang", True, "@所有人 务必在周五前提交报销单")
