"""R16 (第十一条): directives delivered as cards, acknowledged with a button, recorded
in the ledger — against the sandbox emulator, clicks pushed as WeCom pushes them."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from tests.plugins.world import deliver, push
from wecom_app.directives import acks as directives_acks
from wecom_app.directives import issue as directives
from wecom_app.directives.ledger import head
from wecom_app.directory.full_sync import full_sync
from wecom_app.models import Directive, DirectiveClick, DirectiveReceipt, LedgerEntry
from wecom_app.scheduler import run_job
from wecom_app.settlers import SETTLERS
from wecom_app.wecom import outbox


def issue(world, *, users=("lina", "chenjing", "zhaolei"), urgent=True, require="ack", **extra):
    with world.sessions.begin() as session:
        d = directives.issue(session, world.settings, title="周五前提交季度报表", body="请各位在周五 17:00 前提交季度报表。",
                             assignees={"users": list(users), **extra.pop("assignees", {})},
                             deadline=world.now() + timedelta(days=3), issuer="wangfang", now=world.now(),
                             require=require, urgent=urgent, **extra)
        return d.id


def send_and_settle(world):
    stats = deliver(world)
    with world.sessions.begin() as session:
        outbox.settle(session, world.now(), SETTLERS)
    return stats


def receipts(world, directive_id):
    with world.sessions() as session:
        return {r.userid: r for r in session.scalars(select(DirectiveReceipt).where(
            DirectiveReceipt.directive_id == directive_id))}


def task_of(world, directive_id):
    with world.sessions() as session:
        d = session.get(Directive, directive_id)
        from wecom_app.models import DirectiveBatch
        return session.scalar(select(DirectiveBatch.task_id).where(DirectiveBatch.directive_id == d.id,
                                                                    DirectiveBatch.kind == "card"))


def test_r16_urgent_directive_is_delivered_as_a_card_and_acknowledged_from_it(world):
    directive_id = issue(world)
    assert {r.status for r in receipts(world, directive_id).values()} == {"queued"}
    stats = send_and_settle(world)
    assert stats.sent == 1
    got = receipts(world, directive_id)
    assert {r.status for r in got.values()} == {"delivered"}
    assert all(r.msgid and r.delivered_at for r in got.values())
    task_id = task_of(world, directive_id)
    card = world.state.cards[("lina", task_id)]["template_card"]
    assert [b["key"] for b in card["button_list"]] == ["ack"]
    assert "季度报表" in card["sub_title_text"]

    push(world, world.state.click("lina", task_id, "ack"))
    deliver(world)  # the card update
    got = receipts(world, directive_id)
    assert got["lina"].status == "acknowledged" and got["lina"].ack_channel == "card"
    assert got["lina"].next_reminder_at is None
    assert world.state.cards[("lina", task_id)]["replace_name"].startswith("已确认 ")
    assert got["chenjing"].status == "delivered"
    with world.sessions() as session:
        events = session.scalars(select(LedgerEntry.event).order_by(LedgerEntry.seq)).all()
    assert events == ["issued", "delivered", "acknowledged"]


def test_r16_the_same_click_delivered_three_times_counts_once(sandbox):
    """Over real HTTP: the emulator pushes one click three times (WeCom's retries)."""
    app, runtime, state = sandbox
    full_sync(runtime.sessions, runtime.client, runtime.clock())
    with runtime.sessions.begin() as session:
        d = directives.issue(session, runtime.settings, title="消防演练", body="周三 15:00 全员参加消防演练。",
                             assignees={"users": ["lina"]}, deadline=runtime.clock() + timedelta(days=1),
                             issuer="wangfang", now=runtime.clock(), urgent=True)
        directive_id = d.id
    run_job("outbox", runtime)
    with runtime.sessions() as session:
        task_id = session.scalar(select(DirectiveReceipt).where(DirectiveReceipt.directive_id == directive_id)
                                 ).batch_id
        from wecom_app.models import DirectiveBatch
        task_id = session.get(DirectiveBatch, task_id).task_id
    xml = state.click("lina", task_id, "ack")
    pusher = app.extensions["wecom_pusher"]
    assert [pusher.push(xml).status_code for _ in range(3)] == [200, 200, 200]
    run_job("inbox", runtime)
    run_job("outbox", runtime)
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(LedgerEntry)
                              .where(LedgerEntry.event == "acknowledged")) == 1
        assert session.scalar(select(func.count()).select_from(DirectiveClick)) == 1
        receipt = session.scalar(select(DirectiveReceipt).where(DirectiveReceipt.directive_id == directive_id))
    assert receipt.status == "acknowledged"
    assert state.cards[("lina", task_id)]["replace_name"].startswith("已确认")


def test_r16_a_second_click_is_a_repeat_and_a_workbench_ack_after_a_card_ack_counts_nothing(world):
    directive_id = issue(world)
    send_and_settle(world)
    task_id = task_of(world, directive_id)
    push(world, world.state.click("lina", task_id, "ack"))
    deliver(world)
    push(world, world.state.click("lina", task_id, "ack"))
    with world.sessions.begin() as session:
        d = session.get(Directive, directive_id)
        assert directives_acks.act(session, world.settings, d, userid="lina", key="ack", channel="workbench",
                                   now=world.now()) == "repeat"
        assert directives_acks.act(session, world.settings, d, userid="chenjing", key="ack", channel="workbench",
                                   now=world.now()) == "counted"
        outcomes = session.scalars(select(DirectiveClick.outcome).order_by(DirectiveClick.id)).all()
    assert outcomes == ["counted", "repeat", "repeat", "counted"]
    got = receipts(world, directive_id)
    assert got["chenjing"].ack_channel == "workbench"


def test_r16_a_revoked_directives_late_click_is_recorded_and_answered_never_counted(world):
    directive_id = issue(world)
    send_and_settle(world)
    task_id = task_of(world, directive_id)
    with world.sessions.begin() as session:
        directives.revoke(session, world.settings, session.get(Directive, directive_id), actor="wangfang",
                          reason="重复发布", now=world.now())
    deliver(world)  # the cards greyed with 已撤回
    assert world.state.cards[("lina", task_id)]["replace_name"] == "已撤回"
    push(world, world.state.click("lina", task_id, "ack"))
    got = receipts(world, directive_id)
    assert got["lina"].acknowledged_at is None
    with world.sessions() as session:
        assert session.scalars(select(DirectiveClick.outcome)).all() == ["revoked"]
        assert "click_refused" in session.scalars(select(LedgerEntry.event)).all()


def test_r16_completion_needs_both_buttons_and_the_card_keeps_only_done_after_ack(world):
    directive_id = issue(world, require="completion")
    send_and_settle(world)
    task_id = task_of(world, directive_id)
    push(world, world.state.click("lina", task_id, "ack"))
    deliver(world)
    card = world.state.cards[("lina", task_id)]["template_card"]
    assert [b["key"] for b in card["button_list"]] == ["done"]
    assert receipts(world, directive_id)["lina"].next_reminder_at is not None  # completion still due
    push(world, world.state.click("lina", task_id, "done"))
    deliver(world)
    got = receipts(world, directive_id)["lina"]
    assert got.status == "completed" and got.next_reminder_at is None
    assert world.state.cards[("lina", task_id)]["replace_name"].startswith("已办结 ")


def test_r12_confidential_directive_shows_no_body_in_the_chat(world):
    directive_id = issue(world, confidential=True)
    send_and_settle(world)
    card = world.state.cards[("lina", task_of(world, directive_id))]["template_card"]
    assert "季度报表。" not in str(card) and card["card_action"]["url"].endswith(f"/directives/{directive_id}")


def test_r16_invaliduser_is_recorded_per_person(world):
    world.state.users["sunli"]["status"] = 5  # left in WeCom; the mirror has not heard yet
    directive_id = issue(world, users=("lina", "sunli"))
    send_and_settle(world)
    got = receipts(world, directive_id)
    assert got["sunli"].status == "undeliverable" and "invaliduser" in got["sunli"].undeliverable
    assert got["lina"].status == "delivered"


def test_r16_assignees_are_expanded_and_frozen(world):
    directive_id = issue(world, users=(), assignees={"departments": [4]})
    assert set(receipts(world, directive_id)) == {"liuqiang", "yangmin", "huangyan", "zhoutao"}


@pytest.mark.parametrize("field,kwargs", [
    ("assignees.users", {"users": ("nobody",)}),
    ("assignees.users", {"users": ("zhongwen",)}),
    ("assignees.departments", {"users": (), "assignees": {"departments": [999]}}),
])
def test_r16_bad_assignees_are_refused_and_nothing_is_written(world, field, kwargs):
    with pytest.raises(directives.DirectiveError) as refused:
        issue(world, **kwargs)
    assert refused.value.field == field
    with world.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Directive)) == 0
        assert head(session)[0] == 0


def test_r16_a_correction_is_a_new_version_to_acknowledge_again(world):
    directive_id = issue(world)
    send_and_settle(world)
    old_task = task_of(world, directive_id)
    push(world, world.state.click("lina", old_task, "ack"))
    deliver(world)
    with world.sessions.begin() as session:
        d = directives.correct(session, world.settings, session.get(Directive, directive_id), title=None,
                               body="请各位在周四 17:00 前提交季度报表。", actor="wangfang", now=world.now(), note="提前一天")
        assert d.version == 2
    send_and_settle(world)
    got = receipts(world, directive_id)
    assert {r.version for r in got.values()} == {2} and got["lina"].acknowledged_at is None
    push(world, world.state.click("chenjing", old_task, "ack"))  # a card of version 1
    assert receipts(world, directive_id)["chenjing"].acknowledged_at is None


@pytest.mark.both_databases  # PostgreSQL's 65,535 parameters a statement
def test_r16_a_directive_to_ten_thousand_people_goes_in_ten_sends_and_reaches_everyone(world):
    """10,000 people in one department: ten message/send calls of 1,000 (40032 beyond),
    every receipt delivered with its msgid, one `delivered` ledger entry per call."""
    from sqlalchemy import insert

    from wecom_app.models import Department, User, UserDepartment

    people = [f"staff{i:05d}" for i in range(10_000)]
    world.state.add_department(90, "全体员工", 1)
    for userid in people:
        world.state.add_user(userid, "员工", [90])
    with world.sessions.begin() as session:
        session.add(Department(id=90, name="全体员工", parentid=1))
        session.flush()
        session.execute(insert(User), [dict(userid=u, name="员工", status=1, main_department=90, direct_leader=[],
                                            extra={}) for u in people])
        session.execute(insert(UserDepartment), [dict(userid=u, department_id=90) for u in people])
    directive_id = issue(world, users=(), assignees={"departments": [90]})
    send_and_settle(world)
    sends = [m for m in world.state.messages if m["api"] == "message/send"]
    assert len(sends) == 10 and all(len(m["deliveries"]) == 1000 for m in sends)
    with world.sessions() as session:
        statuses = dict(session.execute(select(DirectiveReceipt.status, func.count()).where(
            DirectiveReceipt.directive_id == directive_id).group_by(DirectiveReceipt.status)).all())
        missing_msgid = session.scalar(select(func.count()).select_from(DirectiveReceipt).where(
            DirectiveReceipt.directive_id == directive_id, DirectiveReceipt.msgid.is_(None)))
        delivered_entries = session.scalar(select(func.count()).select_from(LedgerEntry).where(
            LedgerEntry.event == "delivered"))
    assert statuses == {"delivered": 10_000} and missing_msgid == 0 and delivered_entries == 10


def test_r16_r4_a_non_urgent_directive_whose_cards_would_go_after_its_deadline_is_refused(world):
    """Friday 19:00, due Saturday noon, not urgent: the cards would wait for Monday 09:00."""
    friday_evening = datetime(2026, 3, 6, 11, 0, tzinfo=timezone.utc)  # 19:00 in Shanghai
    world.clock.advance(friday_evening.timestamp() - world.clock())
    with pytest.raises(directives.DirectiveError) as refused, world.sessions.begin() as session:
        directives.issue(session, world.settings, title="周末值班", body="周六上午到岗。", assignees={"users": ["lina"]},
                         deadline=friday_evening + timedelta(hours=17), issuer="wangfang", now=world.now())
    assert refused.value.field == "deadline" and "2026-03-09 09:00" in refused.value.message
    with world.sessions.begin() as session:  # urgent: it goes at once, so it may
        directives.issue(session, world.settings, title="周末值班", body="周六上午到岗。", assignees={"users": ["lina"]},
                         deadline=friday_evening + timedelta(hours=17), issuer="wangfang", now=world.now(), urgent=True)


def test_r16_a_click_on_a_card_split_twice_counts(world):
    """A throttled batch's remainder can be split again: its task_id then carries two
    `@<row>-<tag>` suffixes, and the click still belongs to the batch."""
    directive_id = issue(world)
    send_and_settle(world)
    twice = f"{task_of(world, directive_id)}@120-abc123@130-def456"
    with world.sessions.begin() as session:
        assert directives_acks.click(session, world.settings, userid="lina", task_id=twice, key="ack",
                                     response_code="", now=world.now()) == "counted"
    assert receipts(world, directive_id)["lina"].status == "acknowledged"


def test_r16_the_click_counts_at_the_time_it_was_pressed_not_when_it_was_handled(world):
    directive_id = issue(world)
    send_and_settle(world)
    pressed = world.now()
    xml = world.state.click("lina", task_of(world, directive_id), "ack")
    world.clock.advance(600)  # the dispatcher gets to it ten minutes later (a retry)
    push(world, xml)
    assert receipts(world, directive_id)["lina"].acknowledged_at == pressed


def test_r16_a_workbench_ack_before_the_card_arrives_keeps_the_delivery_on_record(world):
    directive_id = issue(world)
    with world.sessions.begin() as session:
        d = session.get(Directive, directive_id)
        directives_acks.act(session, world.settings, d, userid="lina", key="ack", channel="workbench", now=world.now())
    send_and_settle(world)
    lina = receipts(world, directive_id)["lina"]
    assert lina.status == "acknowledged" and lina.delivered_at is not None and lina.msgid


def test_r16_a_correction_after_the_deadline_is_refused(world):
    directive_id = issue(world)
    world.clock.advance(4 * 86400)
    with pytest.raises(directives.DirectiveError) as refused, world.sessions.begin() as session:
        directives.correct(session, world.settings, session.get(Directive, directive_id), title=None,
                           body="改了", actor="wangfang", now=world.now())
    assert refused.value.field == "deadline"


@pytest.mark.both_databases  # concurrency: row locks
def test_r16_two_workers_acting_on_one_receipt_at_once_count_each_step_once(world):
    """收到 and 已办结 handled at the same moment by two processes (two inbox rows, two
    dispatchers): the ledger lock makes them take turns, so the receipt ends completed with
    one `acknowledged` and one `completed` entry, whichever ran first."""
    import threading

    directive_id = issue(world, require="completion")
    send_and_settle(world)
    barrier, errors = threading.Barrier(2), []

    def press(key):
        try:
            barrier.wait(timeout=10)  # both start together (SQLite then serialises at BEGIN IMMEDIATE)
            with world.sessions.begin() as session:
                d = session.get(Directive, directive_id)
                directives_acks.act(session, world.settings, d, userid="lina", key=key, channel="workbench",
                                    now=world.now())
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=press, args=(key,)) for key in ("ack", "done")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors
    with world.sessions() as session:
        events = session.scalars(select(LedgerEntry.event).where(LedgerEntry.userid == "lina")).all()
    assert sorted(events) == ["acknowledged", "completed"]
    assert receipts(world, directive_id)["lina"].status == "completed"


def test_r16_a_resend_answered_42014_is_recorded_as_delivered_unconfirmed(world):
    """The first call reached WeCom but its answer was lost (a timeout); the resend is
    answered 42014 (task_id used): the ledger says the delivery is not confirmed."""
    from wecom_app.models import OutboxAction

    directive_id = issue(world)
    task_id = task_of(world, directive_id)
    world.state.task_ids.add(task_id)  # WeCom took the first call
    with world.sessions.begin() as session:
        row = session.scalar(select(OutboxAction).where(OutboxAction.subject.like("directive_batch:%")))
        row.result = {"calls": 1}  # handed to WeCom once already
    send_and_settle(world)
    with world.sessions() as session:
        delivered = session.scalar(select(LedgerEntry.data).where(LedgerEntry.event == "delivered"))
    assert "42014" in delivered["unconfirmed"] and delivered["msgid"] is None
    assert {r.status for r in receipts(world, directive_id).values()} == {"delivered"}


def test_r16_a_summary_with_a_full_body_goes_in_two_messages_nothing_cut(world):
    """A body may be a whole WeCom text (2,048 bytes); with its title, deadline and link
    the group summary (appchat/send, 90248) needs two messages: split between lines,
    numbered, the body whole, nothing cut by WeCom (the suite-wide guard checks the emulator)."""
    from wecom_app.models import Group
    from wecom_app.sandbox.seed import MANAGED_CHAT

    with world.sessions.begin() as session:
        group = Group(kind="managed", chat_id=MANAGED_CHAT[0], name=MANAGED_CHAT[1], status="active",
                      custodian="wangfang", owner="wangfang", scope={"departments": [1]})
        session.add(group)
        session.flush()
        group_id = group.id
    body = "各位同事：" + "请在周五前提交季度报表。" * 52  # 1,887 bytes
    with world.sessions.begin() as session:
        directive_id = directives.issue(session, world.settings, title="季度报表", body=body, assignees={"users": ["lina"]},
                         deadline=world.now() + timedelta(days=3), issuer="wangfang", now=world.now(), urgent=True,
                         summary_group_id=group_id).id
    send_and_settle(world)
    posts = [m["body"]["text"]["content"] for m in world.state.messages if m["api"] == "appchat/send"]
    assert len(posts) == 2 and all(len(p.encode()) <= 2048 for p in posts) and world.state.truncated == []
    assert posts[0].startswith("（1/2）\n【紧急指令】季度报表") and posts[1].startswith("（2/2）\n")
    assert body in "\n".join(posts) and posts[1].endswith(f"{world.settings.public_url}/directives/{directive_id}")
