"""R6: the periodic summary to leadership. The weekly digest's figures over a world
where a directive ran its course (issued, delivered, one click, escalated at its
deadline), violations were opened and decided, and groups hold compliant and
non-compliant members; the job sends each period's card once, Monday morning and on
the 1st in company time, to the office admins and DIGEST_LEADERS, however often and
by however many schedulers it runs. Against the sandbox emulator."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from tests.conftest import make_settings
from tests.jobs.test_r16_escalation import escalate, overdue_case
from tests.jobs.test_r16_reminders import local, set_clock
from tests.ops.test_settings import GOOD
from tests.plugins.world import actions, deliver
from wecom_app.digest import period as periods
from wecom_app.digest.figures import compute, weekly_trend
from wecom_app.digest.send import card, recipients
from wecom_app.models import Group, GroupMember, Violation
from wecom_app import scheduler
from wecom_app.config import SettingsError, load_settings
from wecom_app.scheduler import run_job

WEEK10 = periods.parse("weekly", "2026-W10")  # Monday 2026-03-02 to Sunday 03-08


def job(world):
    return run_job("digest", SimpleNamespace(sessions=world.sessions, settings=world.settings, clock=world.now))


def seed_week(world) -> None:
    """Week 10: one directive overdue for three people in two departments (overdue_case);
    violations: R2 and R11 opened (R11 then confirmed), an R3 from week 9 dismissed; one
    group all compliant, one with an out-of-scope member, one dismissed (not counted)."""
    overdue_case(world)
    escalate(world)
    with world.sessions.begin() as session:
        ok = Group(kind="managed", name="行政通知群", owner="wangfang", custodian="lina", chat_id="c1", status="active")
        bad = Group(kind="customer", name="华东客户群", owner="hujie", custodian="hujie", chat_id="c2", status="active")
        gone = Group(kind="managed", name="旧群", owner="wangfang", custodian="lina", chat_id="c3", status="dismissed")
        session.add_all([ok, bad, gone])
        session.flush()
        session.add_all([GroupMember(group_id=ok.id, member_id="chenjing", compliance="ok"),
                         GroupMember(group_id=bad.id, member_id="zhuxia", compliance="ok"),
                         GroupMember(group_id=bad.id, member_id="caoyang", compliance="out_of_scope"),
                         GroupMember(group_id=gone.id, member_id="lina", compliance="bad_name")])
        session.add_all([
            Violation(rule="R2", userid="xiaowang", detected_by="system", created_at=local(2026, 3, 3, 11, 0)),
            Violation(rule="R11", userid="caoyang", group_id=bad.id, detected_by="system", status="confirmed",
                      created_at=local(2026, 3, 2, 10, 0), decided_at=local(2026, 3, 4, 10, 0), decided_by="hujie"),
            Violation(rule="R3", userid="zhuxia", detected_by="report:gaoping", status="dismissed",
                      created_at=local(2026, 2, 27, 10, 0), decided_at=local(2026, 3, 2, 9, 30), decided_by="hujie"),
            Violation(rule="R5", userid="zhuxia", detected_by="system", created_at=local(2026, 3, 9, 0, 30)),  # week 11
        ])


@pytest.mark.both_databases  # FILTER, GROUP BY the key with a JSON column selected
def test_r6_weekly_digest_figures_match_the_world(world):
    seed_week(world)
    with world.sessions() as session:
        digest = compute(session, world.settings, WEEK10, world.now())
    assert [(g.kind, g.total, g.compliant) for g in digest.groups] == [("managed", 1, 1), ("customer", 1, 0)]
    assert (digest.groups_compliant, digest.groups_total) == (1, 2)
    assert digest.violations_opened == [("R2", 1), ("R11", 1)]  # the R3 of week 9, the R5 of week 11 left out
    assert digest.violations_decided == {"confirmed": 1, "dismissed": 1}
    assert digest.violations_open_now == 2
    [row] = digest.directives
    assert (row.total, row.acknowledged, row.ack_rate) == (5, 1, 0.2)  # lina of five
    assert digest.ack_rate == 0.2 and digest.completion_rate is None  # nothing required completion
    assert [(d.department, d.people, d.receipts) for d in digest.overdue] == [("财务部", 2, 2), ("行政部", 1, 1)]
    assert digest.overdue_people == 3  # sunli was never reached: listed at the deadline, not overdue


def test_r6_the_digest_card_keeps_to_wecoms_lengths_and_opens_the_page(world):
    seed_week(world)
    with world.sessions() as session:
        shown = card(world.settings, compute(session, world.settings, WEEK10, world.now()), task_id="p_digest")
    assert shown["card_type"] == "text_notice" and shown["emphasis_content"]["title"] == "20%"
    assert shown["card_action"] == {"type": 1, "url": f"{world.settings.public_url}/digest/weekly/2026-W10"}
    assert "逾期 3 人（财务部 2，行政部 1）" in shown["sub_title_text"]
    assert len(shown["horizontal_content_list"]) <= 6  # 90236


def test_r6_weekly_digest_goes_once_on_monday_morning_to_the_office_and_the_leaders(world):
    world.settings = dataclasses.replace(world.settings, admin_tag=1, digest_leaders=("liuqiang", "zhongwen"))
    seed_week(world)
    set_clock(world, local(2026, 3, 9, 8, 59))  # Monday of week 11, before working time
    assert job(world).sent == 0  # (February's monthly was due from 03-01 09:00 to 03-04 09:00)
    set_clock(world, local(2026, 3, 9, 9, 0))
    assert job(world).sent == 1
    assert job(world).sent == 0  # the scheduler's next run, or a second scheduler: nothing twice
    set_clock(world, local(2026, 3, 10, 15, 0))
    assert job(world).sent == 0
    with world.sessions() as session:
        [row] = [a for a in actions(session, "message/send") if a.idempotency_key.startswith("digest:")]
        assert sorted(recipients(session, world.settings)) == sorted(row.payload["touser"].split("|"))
    # wangfang (WECOM_ADMINS), lina (tag 1), liuqiang (DIGEST_LEADERS); zhongwen has left
    assert set(row.payload["touser"].split("|")) == {"wangfang", "lina", "liuqiang"}
    assert row.idempotency_key == "digest:weekly:2026-W10:0"
    deliver(world)
    got = [m for m in world.state.inbox("liuqiang") if m["msgtype"] == "template_card"]
    assert [m["body"]["template_card"]["main_title"]["title"] for m in got] == [WEEK10.title]


def test_r6_monthly_digest_goes_on_the_first_once(world):
    set_clock(world, local(2026, 4, 1, 9, 5))
    first = job(world)
    assert first.sent == 1  # March's (week 13's went on Monday 03-30, or by Tuesday at the latest)
    assert job(world).sent == 0
    with world.sessions() as session:
        keys = [a.idempotency_key for a in actions(session, "message/send")]
    assert keys == ["digest:monthly:2026-03:0"]


def test_r6_digest_waits_for_working_time_on_a_holiday(world):
    """The 1st of May (劳动节) is due at 09:00 but the card is held to the next working window (R4)."""
    set_clock(world, local(2026, 5, 1, 9, 0))
    assert job(world).sent == 1  # April's monthly (week 17's was due on Monday 04-27 and Tuesday only)
    with world.sessions() as session:
        [row] = actions(session, "message/send")
    assert row.hold and not row.urgent
    assert deliver(world).sent == 0  # not sent on the holiday


@pytest.mark.parametrize("kind,key", [("weekly", "2026-W54"), ("weekly", "2026-10"), ("monthly", "2026-13"),
                                      ("monthly", "2026-W10"), ("yearly", "2026")])
def test_r6_a_period_that_is_not_one_is_refused(kind, key):
    with pytest.raises(ValueError):
        periods.parse(kind, key)


def test_r6_periods_in_company_time():
    march = periods.parse("monthly", "2026-03")
    assert (march.start.isoformat(), march.end.isoformat(), march.label) == ("2026-03-01", "2026-04-01", "2026年3月")
    assert WEEK10.label == "2026年第10周（3月2日—3月8日）"
    # Sunday 23:30 in Shanghai is still week 10, though it is Sunday 15:30 UTC
    assert periods.last_complete("weekly", local(2026, 3, 8, 23, 30), local(2026, 1, 1).tzinfo).key == "2026-W09"
    assert periods.last_complete("weekly", local(2026, 3, 9, 0, 0), local(2026, 1, 1).tzinfo).key == "2026-W10"


@pytest.mark.both_databases
def test_r6_weekly_trend_counts_violations_and_acknowledgments_by_week(world):
    seed_week(world)
    with world.sessions() as session:
        weeks = weekly_trend(session, world.settings, local(2026, 3, 10, 12, 0))
    assert len(weeks) == 12 and weeks[-1].start.isoformat() == "2026-03-09"
    by_start = {w.start.isoformat(): w for w in weeks}
    assert [by_start[d].violations for d in ("2026-02-23", "2026-03-02", "2026-03-09")] == [1, 2, 1]
    assert (by_start["2026-03-02"].receipts, by_start["2026-03-02"].acknowledged) == (5, 1)
    assert by_start["2026-03-09"].ack_rate is None  # no directive that week
    with world.sessions() as session:
        bad = session.scalar(select(Group.id).where(Group.chat_id == "c2"))
        mine = weekly_trend(session, world.settings, local(2026, 3, 10, 12, 0), mine=frozenset({bad}))
    assert sum(w.violations for w in mine) == 1 and sum(w.receipts for w in mine) == 0  # a custodian's own groups


def test_r6_due_only_from_the_start_of_working_hours():
    settings = make_settings()
    assert periods.due("weekly", settings, local(2026, 3, 9, 8, 59)) is None
    assert periods.due("weekly", settings, local(2026, 3, 9, 9, 0)).key == "2026-W10"
    assert periods.due("weekly", settings, local(2026, 3, 11, 8, 59)).key == "2026-W10"  # the app was down Monday
    assert periods.due("weekly", settings, local(2026, 3, 11, 9, 0)) is None  # Wednesday: stale, not sent
    assert periods.due("monthly", settings, local(2026, 3, 4, 8, 59)).key == "2026-02"
    assert periods.due("monthly", settings, local(2026, 3, 4, 9, 0)) is None


def test_r6_two_schedulers_send_one_digest_a_period(world):
    """Two processes' schedulers run the job at once and again later: the job's lease lets
    one run at a time, and the period's outbox key lets a period go once whatever runs."""
    set_clock(world, local(2026, 3, 9, 9, 0))
    first, second = (SimpleNamespace(sessions=world.sessions, settings=world.settings, clock=world.now,
                                     engine=world.sessions.kw["bind"]) for _ in range(2))
    for moment in (local(2026, 3, 9, 9, 0), local(2026, 3, 9, 9, 20), local(2026, 3, 10, 9, 0)):
        set_clock(world, moment)
        scheduler._safe("digest", first)
        scheduler._safe("digest", second)
    with world.sessions() as session:
        keys = [a.idempotency_key for a in actions(session, "message/send")]
    assert keys == ["digest:weekly:2026-W10:0"]


def test_r6_digest_leaders_setting_is_read_and_a_bad_userid_named():
    assert load_settings(dict(GOOD, DIGEST_LEADERS=" LiuQiang, caoyang,liuqiang "), env_file=None).digest_leaders == (
        "liuqiang", "caoyang")
    assert load_settings(GOOD, env_file=None).digest_leaders == ()
    with pytest.raises(SettingsError, match="DIGEST_LEADERS: 'bad user' is not a WeCom userid"):
        load_settings(dict(GOOD, DIGEST_LEADERS="liuqiang,bad user"), env_file=None)
