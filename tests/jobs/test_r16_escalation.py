"""R16, R15: at a directive's deadline the people who got it and did not act are
overdue and assessed; each one's leader gets one summary of their own people, the
issuer and the custodians the full list (undeliverable people listed, not
assessed); once per directive, never for a revoked one; texts wait for working
time unless the directive is urgent (R4). Against the sandbox emulator."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from tests.jobs.test_r16_reminders import card_task, local, set_clock, tick
from tests.plugins.world import deliver, push
from wecom_app.directives import issue as directives
from wecom_app.models import (
    Assessment,
    Department,
    Directive,
    DirectiveReceipt,
    Group,
    GroupMember,
    LedgerEntry,
    OutboxAction,
    User,
)
from wecom_app.scheduler import run_job

PEOPLE = ("lina", "chenjing", "yangmin", "huangyan", "sunli")  # 行政部 under wangfang, 财务部 under liuqiang


def issue(world, *, users=PEOPLE, deadline=None, urgent=False, require="ack", issuer="wangfang", **extra) -> int:
    with world.sessions.begin() as session:
        return directives.issue(session, world.settings, title="季度报表", body="请提交季度报表。",
                                assignees={"users": list(users), **extra.pop("assignees", {})},
                                deadline=deadline or local(2026, 3, 3, 10, 0), issuer=issuer, now=world.now(),
                                require=require, urgent=urgent, **extra).id


def escalate(world):
    return run_job("escalation", SimpleNamespace(sessions=world.sessions, settings=world.settings, clock=world.now))


def texts_to(world, userid: str) -> list[str]:
    return [m["body"]["text"]["content"] for m in world.state.inbox(userid) if m["msgtype"] == "text"]


def overdue_case(world, **kwargs) -> int:
    """lina acknowledges; chenjing, yangmin, huangyan do not; sunli has left (WeCom refuses her)."""
    world.state.users["sunli"]["status"] = 5
    directive_id = issue(world, **kwargs)
    tick(world)
    push(world, world.state.click("lina", card_task(world, directive_id), "ack"))
    deliver(world)  # the clicked card's update
    set_clock(world, local(2026, 3, 3, 10, 0))
    return directive_id


def counts(world) -> tuple[int, ...]:
    with world.sessions() as session:
        return tuple(session.scalar(select(func.count()).select_from(t)) for t in (OutboxAction, Assessment, LedgerEntry))


@pytest.mark.both_databases  # the claim: FOR UPDATE SKIP LOCKED
def test_r16_overdue_people_are_assessed_and_undeliverable_people_are_not(world):
    directive_id = overdue_case(world)
    stats = escalate(world)
    assert (stats.directives, stats.overdue, stats.undelivered) == (1, 3, 1)
    with world.sessions() as session:
        got = {r.userid: r for r in session.scalars(select(DirectiveReceipt))}
        records = {a.userid: a for a in session.scalars(select(Assessment))}
        assert session.get(Directive, directive_id).escalated_at == world.now()
        events = {e.event: e.data for e in session.scalars(select(LedgerEntry))}
    assert {u for u, r in got.items() if r.overdue_at} == {"chenjing", "yangmin", "huangyan"}
    assert all(r.next_reminder_at is None for r in got.values())
    assert directives.receipt_status(Directive(require="ack"), got["chenjing"]) == "overdue"
    assert got["sunli"].status == "undeliverable"
    assert set(records) == {"chenjing", "yangmin", "huangyan"}  # not lina (acted), not sunli (never got it)
    assert {(a.rule, a.source, a.source_id) for a in records.values()} == {
        ("R16", "directive", got[u].id) for u in ("chenjing", "yangmin", "huangyan")}
    assert records["yangmin"].note == "指令《季度报表》逾期未确认" and records["yangmin"].department_id == 4
    assert events["overdue"]["userids"] == ["chenjing", "huangyan", "yangmin"]
    assert events["overdue"]["undelivered"] == ["sunli"]
    assert events["escalated"]["leaders"] == ["liuqiang", "wangfang"]


def test_r16_each_leader_gets_one_summary_of_their_own_people_and_the_issuer_the_full_list(world):
    overdue_case(world)
    escalate(world)
    deliver(world)
    to_liuqiang = texts_to(world, "liuqiang")
    assert len(to_liuqiang) == 1
    assert "杨敏" in to_liuqiang[0] and "黄艳" in to_liuqiang[0] and "陈静" not in to_liuqiang[0]
    leader, full = sorted(texts_to(world, "wangfang"), key=lambda t: "名单" in t)  # wangfang leads 行政部 and issued it
    assert "陈静" in leader and "李娜" not in leader and "杨敏" not in leader and "孙丽" not in leader
    assert "逾期未确认 3 人" in full and "未送达 1 人" in full
    assert all(name in full for name in ("陈静", "杨敏", "黄艳", "孙丽")) and "李娜" not in full
    assert full.index("孙丽") > full.index("未送达")
    assert texts_to(world, "chenjing") == []  # the overdue people themselves are not told by escalation


@pytest.mark.both_databases  # the claim: FOR UPDATE SKIP LOCKED
def test_r16_escalating_twice_adds_nothing(world):
    overdue_case(world)
    escalate(world)
    before = counts(world)
    stats = escalate(world)
    assert stats.directives == 0 and counts(world) == before


def test_r16_the_department_leader_is_told_when_there_is_no_direct_leader(world):
    with world.sessions.begin() as session:
        session.get(User, "chenjing").direct_leader = []
        session.get(Department, 3).department_leader = ["liuyang"]
    overdue_case(world)
    escalate(world)
    deliver(world)
    (to_liuyang,) = texts_to(world, "liuyang")
    assert "陈静" in to_liuyang and "杨敏" not in to_liuyang


def test_r16_a_leader_who_is_overdue_still_gets_the_summary_of_their_people(world):
    issue(world, users=("wangfang", "chenjing"), issuer="api:ops")
    tick(world)
    set_clock(world, local(2026, 3, 3, 10, 0))
    escalate(world)
    deliver(world)
    (summary,) = [t for t in texts_to(world, "wangfang") if "您负责" in t]
    assert "陈静" in summary and "王芳" not in summary
    with world.sessions() as session:
        assert set(session.scalars(select(Assessment.userid))) == {"wangfang", "chenjing"}


def test_r16_an_api_issuer_is_not_told_and_the_groups_custodian_gets_the_full_list(world):
    with world.sessions.begin() as session:
        group = Group(kind="managed", chat_id="companynotice", name="全员通知群", owner="wangfang", custodian="yexin")
        session.add(group)
        session.flush()
        session.add(GroupMember(group_id=group.id, member_id="panwen", member_type=1))
        group_id = group.id
    issue(world, users=("yangmin",), assignees={"groups": [group_id]}, issuer="api:ops")
    tick(world)
    set_clock(world, local(2026, 3, 3, 10, 0))
    escalate(world)
    deliver(world)
    (full,) = [t for t in texts_to(world, "yexin") if "逾期名单" in t]  # yexin also leads panwen
    assert "杨敏" in full and "潘雯" in full
    with world.sessions() as session:
        escalated = session.scalar(select(LedgerEntry.data).where(LedgerEntry.event == "escalated"))
    assert escalated["full_list"] == ["yexin"]


def test_r16_completion_overdue_after_an_acknowledgment(world):
    directive_id = issue(world, users=("lina",), require="completion")
    tick(world)
    push(world, world.state.click("lina", card_task(world, directive_id), "ack"))
    deliver(world)  # the clicked card's update
    set_clock(world, local(2026, 3, 3, 10, 0))
    escalate(world)
    with world.sessions() as session:
        assert session.scalar(select(Assessment.note)) == "指令《季度报表》逾期未办结"
        assert session.scalar(select(DirectiveReceipt)).overdue_at is not None


def test_r16_everyone_acted_nobody_is_told_and_the_deadline_is_still_recorded(world):
    directive_id = issue(world, users=("lina",))
    tick(world)
    push(world, world.state.click("lina", card_task(world, directive_id), "ack"))
    deliver(world)  # the clicked card's update
    set_clock(world, local(2026, 3, 3, 10, 0))
    stats = escalate(world)
    deliver(world)
    assert (stats.directives, stats.overdue, stats.leaders) == (1, 0, 0)
    assert texts_to(world, "wangfang") == []
    with world.sessions() as session:
        assert session.scalars(select(LedgerEntry.event).order_by(LedgerEntry.seq)).all()[-1] == "escalated"


def test_r16_revoked_directives_are_never_escalated(world):
    directive_id = issue(world)
    tick(world)
    with world.sessions.begin() as session:
        directives.revoke(session, world.settings, session.get(Directive, directive_id), actor="wangfang",
                          reason="重复发布", now=world.now())
    set_clock(world, local(2026, 3, 3, 10, 0))
    assert escalate(world).directives == 0
    with world.sessions() as session:
        assert session.get(Directive, directive_id).escalated_at is None
        assert session.scalar(select(func.count()).select_from(Assessment)) == 0


def test_r4_a_deadline_in_the_evening_is_processed_at_once_and_the_texts_wait_for_the_morning(world):
    overdue_case(world, deadline=local(2026, 3, 3, 20, 0))
    set_clock(world, local(2026, 3, 3, 20, 0))
    sent_before = len(world.state.messages)
    escalate(world)
    deliver(world)
    assert len(world.state.messages) == sent_before  # held (R4)
    with world.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Assessment)) == 3
    set_clock(world, local(2026, 3, 4, 9, 10))
    deliver(world)
    assert len(texts_to(world, "liuqiang")) == 1


def test_r4_an_urgent_directives_escalation_goes_at_night(world):
    overdue_case(world, deadline=local(2026, 3, 3, 22, 0), urgent=True)
    set_clock(world, local(2026, 3, 3, 22, 0))
    escalate(world)
    deliver(world)
    assert not world.calendar.is_working_time(world.now())
    assert len(texts_to(world, "liuqiang")) == 1  # at 22:00, not held


def test_r16_a_long_list_is_cut_to_wecoms_2048_bytes_and_says_how_many_more():
    from wecom_app.wecom.textlimits import fit as _fit

    names = [f"员工{i}（user{i}，华东销售组）" for i in range(500)]
    text = _fit(["【指令逾期名单】《季度报表》"], [("逾期未确认 500 人：", names), ("未送达 3 人：", ["甲", "乙", "丙"])],
                ["完整名单：https://example.com/directives/1"])
    assert len(text.encode()) <= 2048
    assert "……另有" in text and "甲\n乙\n丙" in text and text.endswith("https://example.com/directives/1") and "员工0（" in text


def test_r16_cards_still_queued_at_the_deadline_are_cancelled_and_listed_not_delivered(world):
    """Issued Friday 17:00, due 17:30, and WeCom unreachable all that time (the outbox
    never got to send): at the deadline nobody has the card. It is cancelled (a card
    after its deadline only confuses), nobody is assessed, and the issuer gets the list
    of the not delivered."""
    set_clock(world, local(2026, 3, 6, 17, 0))
    directive_id = issue(world, users=("chenjing", "yangmin"), deadline=local(2026, 3, 6, 17, 30))
    set_clock(world, local(2026, 3, 6, 17, 31))
    stats = escalate(world)
    assert (stats.overdue, stats.undelivered) == (0, 2)
    set_clock(world, local(2026, 3, 9, 9, 30))  # Monday: WeCom is back, what is due goes now
    tick(world)
    assert not [m for m in world.state.messages if m["msgtype"] == "template_card"]
    with world.sessions() as session:
        cards = session.scalars(select(OutboxAction.status).where(OutboxAction.subject.like("directive_batch:%"),
                                                                  OutboxAction.kind == "message/send")).all()
        escalated = session.scalar(select(LedgerEntry.data).where(LedgerEntry.event == "escalated",
                                                                  LedgerEntry.directive_id == directive_id))
        assert session.scalar(select(func.count()).select_from(Assessment)) == 0
    assert "cancelled" in cards and escalated["cancelled_cards"] == 1
    assert any("未送达 2 人" in t for t in texts_to(world, "wangfang"))


def test_r16_a_click_pressed_before_the_deadline_and_handled_after_it_is_not_overdue(world):
    directive_id = issue(world, users=("chenjing",), deadline=local(2026, 3, 2, 18, 0))
    tick(world)
    set_clock(world, local(2026, 3, 2, 17, 59))
    xml = world.state.click("chenjing", card_task(world, directive_id), "ack")
    set_clock(world, local(2026, 3, 2, 18, 3))
    push(world, xml)
    stats = escalate(world)
    assert (stats.directives, stats.overdue) == (1, 0)


def test_r16_a_click_after_the_deadline_counts_but_is_still_overdue(world):
    directive_id = issue(world, users=("chenjing",), deadline=local(2026, 3, 2, 18, 0))
    tick(world)
    set_clock(world, local(2026, 3, 2, 18, 0, 30))
    push(world, world.state.click("chenjing", card_task(world, directive_id), "ack"))
    stats = escalate(world)
    assert stats.overdue == 1
    with world.sessions() as session:
        receipt = session.scalar(select(DirectiveReceipt))
    assert receipt.acknowledged_at is not None and receipt.overdue_at is not None


def test_r16_a_leader_with_300_overdue_people_gets_a_text_wecom_takes_whole_with_the_link(world):
    """300 people under one leader overdue: the list is far over WeCom's 2,048 bytes
    (90236, where message/send would cut it silently). The leader gets a text within
    it that names as many as fit, says how many more, and ends with the link to the
    directive's page that lists everyone; the suite-wide guard checks that the emulator
    cut nothing (textlimits.py)."""
    from sqlalchemy import insert

    people = [f"staff{i:03d}" for i in range(300)]
    world.state.add_department(91, "华东销售大区第一分部", 1)
    for userid in people:
        world.state.add_user(userid, f"员工{userid[-3:]}", [91], direct_leader=["liuqiang"])
    with world.sessions.begin() as session:
        session.add(Department(id=91, name="华东销售大区第一分部", parentid=1))
        session.flush()
        session.execute(insert(User), [dict(userid=u, name=f"员工{u[-3:]}", status=1, main_department=91,
                                            direct_leader=["liuqiang"], extra={}) for u in people])
    directive_id = issue(world, users=people)
    tick(world)
    set_clock(world, local(2026, 3, 3, 10, 0))
    assert escalate(world).overdue == 300
    deliver(world)
    (text,) = texts_to(world, "liuqiang")
    assert len(text.encode()) <= 2048 and world.state.truncated == []
    assert "员工000（staff000，华东销售大区第一分部）" in text and "……另有" in text
    shown = text.count("（staff")
    assert f"……另有 {300 - shown} 人" in text
    assert text.endswith(f"详情：{world.settings.public_url}/directives/{directive_id}")
