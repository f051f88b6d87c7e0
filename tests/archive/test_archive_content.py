"""Content rules after the fact (issue 12 item 5: R3, R5, R12, R4) and group activity (item 7:
R17, R6) on archived messages: the word lists judged as the pull stores each message, one
violation per message with the message as evidence, the off-hours count per group and person,
messages per week, silent groups, the weekly summary, who may read archived content (audited)
and retention."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from tests.plugins.archive import ROOM, at, pull, read_rooms, register, violations
from tests.plugins.world import texts_to
from wecom_app.archive import activity, content, retention
from wecom_app.models import ArchiveCursor, ArchivedMessage, ArchiveTally, AuditEntry, Group, SensitiveWordRule


@pytest.mark.both_databases  # the violation and its evidence (JSON) written in the pull's page transaction
def test_r12_a_classified_word_is_one_violation_per_message_with_the_message_as_evidence(governed):
    arc = governed
    arc.archive.post(ROOM, "chenjing", "天穹项目的报价和北斗七号的方案都在附件里")  # two words, one message
    arc.archive.post(ROOM, "chenjing", "天穹的进度如何？")  # the same person again: a second violation
    arc.archive.post(ROOM, "wangfang", "收到，谢谢")
    pull(arc)
    first, second = violations(arc)
    assert (first.rule, first.userid, first.group_id, first.status) == ("R12", "chenjing", arc.group_id, "open")
    assert first.evidence["archive_msgid"] != second.evidence["archive_msgid"]
    assert {m["word"] for m in first.evidence["matched"]} == {"天穹", "北斗七号"}
    assert "天穹项目的报价" not in str(first.evidence)  # the text is read through the audited view, not the evidence
    with arc.sessions() as session:
        cited = session.scalars(select(ArchivedMessage.cited_by).where(ArchivedMessage.cited_by.is_not(None))).all()
        assert sorted(cited) == [first.id, second.id]
        told, told_again = [t for t in texts_to(session, "sunli") if "会话存档" in t]  # one per violation
        assert f"/violations/{second.id}" in told_again
        assert "R12" in told and "天穹" not in told and f"/violations/{first.id}" in told
        assert "不会自动处罚" in told
        assert session.scalar(select(func.count()).select_from(Group)) == 1
    pull(arc)  # nothing new: nothing judged twice
    assert len(violations(arc)) == 2


def test_r12_a_sender_archived_with_capitals_is_the_directorys_lower_cased_userid(governed):
    arc = governed  # WeCom's `from` as archived; the directory, sanctions and assessments key by lower case
    arc.archive.post(ROOM, "ChenJing", "天穹的进度如何？")
    pull(arc)
    (violation,) = violations(arc)
    assert violation.userid == "chenjing"
    with arc.sessions() as session:
        (told,) = [t for t in texts_to(session, "sunli") if "会话存档" in t]
    assert "（chenjing）" in told


def test_r3_the_sensitive_word_rules_apply_to_archived_texts_and_the_most_serious_rule_wins(governed):
    arc = governed
    arc.archive.post(ROOM, "chenjing", "你真是个傻瓜")
    arc.archive.post(ROOM, "wangfang", "傻瓜才把天穹发到群里")
    pull(arc)
    assert [(v.rule, v.userid) for v in violations(arc)] == [("R3", "chenjing"), ("R12", "wangfang")]


def test_r5_an_archive_only_list_names_its_rule_and_is_never_a_sanction(governed):
    arc = governed
    with arc.sessions.begin() as session:
        content.save_list(session, name="广告", rule="R5", words=["优惠券"], actor="zhangwei", now=arc.now())
    arc.archive.post(ROOM, "chenjing", "领优惠券啦")
    pull(arc)
    (found,) = violations(arc)
    assert (found.rule, found.sanction, found.status) == ("R5", None, "open")


def test_r3_a_blank_word_in_a_sensitive_word_rule_matches_nothing(governed):
    arc = governed
    with arc.sessions.begin() as session:
        session.add(SensitiveWordRule(name="空白", words=["", "  "], sync_status="synced", created_by="zhangwei"))
    arc.archive.post(ROOM, "chenjing", "普通的工作消息")
    pull(arc)
    assert violations(arc) == []


def test_r12_a_room_nobody_registered_is_not_judged(arc):
    with arc.sessions.begin() as session:
        content.save_list(session, name="涉密项目代号", rule="R12", words=["天穹"], actor="zhangwei", now=arc.now())
    arc.archive.post(ROOM, "lina", "天穹")
    pull(arc)
    assert violations(arc) == []


def test_r12_a_group_registered_after_its_messages_were_stored_has_them_judged_once(arc):
    with arc.sessions.begin() as session:
        content.save_list(session, name="涉密项目代号", rule="R12", words=["天穹"], actor="zhangwei", now=arc.now())
    arc.archive.post(ROOM, "chenjing", "天穹的方案")
    pull(arc)
    read_rooms(arc)
    assert content.judge_backlog(arc.sessions, arc.settings, arc.now()) == 0  # only discovered: not governed
    group_id = register(arc, custodian="sunli")
    assert content.judge_backlog(arc.sessions, arc.settings, arc.now()) == 1
    assert [(v.rule, v.userid, v.group_id) for v in violations(arc)] == [("R12", "chenjing", group_id)]
    assert content.judge_backlog(arc.sessions, arc.settings, arc.now()) == 0  # judged once
    arc.archive.post(ROOM, "chenjing", "天穹的进度")
    pull(arc)  # registered now: judged as it is stored
    assert len(violations(arc)) == 2 and content.judge_backlog(arc.sessions, arc.settings, arc.now()) == 0


def test_a_word_list_with_no_words_or_a_bad_rule_is_refused_and_changes_are_audited(arc):
    with arc.sessions.begin() as session:
        with pytest.raises(content.WordListError) as empty:
            content.save_list(session, name="空", rule="R12", words=content.parse_words(" ，\n"), actor="zhangwei",
                              now=arc.now())
        assert empty.value.field == "words"
        with pytest.raises(content.WordListError):
            content.save_list(session, name="x", rule="R9", words=["a"], actor="zhangwei", now=arc.now())
        row = content.save_list(session, name="代号", rule="R12", words=content.parse_words("天穹，北斗七号\n天穹"),
                                actor="zhangwei", now=arc.now())
        assert row.words == ["天穹", "北斗七号"]
        content.delete_list(session, row.id, actor="zhangwei", now=arc.now())
        actions = session.scalars(select(AuditEntry.action).where(AuditEntry.action.like("archive_words.%"))).all()
    assert actions == ["archive_words.create", "archive_words.delete"]


def test_archived_content_is_shown_only_to_the_office_and_the_groups_custodian_and_each_view_is_audited(governed):
    arc = governed
    arc.archive.post(ROOM, "chenjing", "天穹的方案")
    pull(arc)
    msgid = violations(arc)[0].evidence["archive_msgid"]
    with arc.sessions.begin() as session:
        group = session.get(Group, arc.group_id)
        assert content.message_for(session, msgid, viewer="chenjing", is_admin=False, now=arc.now()) is None
        assert content.messages_for(session, group, viewer="wangfang", is_admin=False, now=arc.now()) is None
        message, _group = content.message_for(session, msgid, viewer="sunli", is_admin=False, now=arc.now())
        assert message.content == "天穹的方案"
        shown = content.messages_for(session, group, viewer="zhangwei", is_admin=True, now=arc.now())
        assert [m.content for m in shown][:1] == ["天穹的方案"]
        audit = session.execute(select(AuditEntry.actor, AuditEntry.action).where(
            AuditEntry.action.like("archive.view%")).order_by(AuditEntry.id)).all()
    assert audit == [("chenjing", "archive.view_refused"), ("wangfang", "archive.view_refused"), ("sunli", "archive.view"),
                     ("zhangwei", "archive.view")]


# -- R4 and R17: counts ---------------------------------------------------------------------------


@pytest.mark.both_databases  # the weekly sums are SQL (GROUP BY week, a Date column)
def test_r4_work_talk_outside_working_hours_is_counted_per_group_and_person_not_a_violation(governed):
    arc = governed  # now: Monday 2026-03-02 09:00 Shanghai
    arc.archive.post(ROOM, "chenjing", "报表今晚要改完", at=at(2026, 3, 1, 22, 30))  # Sunday night: last week
    arc.archive.post(ROOM, "chenjing", "改好了", at=at(2026, 3, 1, 23, 5))
    arc.archive.post(ROOM, "wangfang", "早上先看一下", at=at(2026, 3, 2, 8, 10))  # before 9:00: this week
    arc.archive.post(ROOM, "lina", "好的")  # 9:00 on a working day: working time
    arc.archive.post(ROOM, "wmOgQhDgAAuXFJGwbve4g4iXknfOAAAA", "客户深夜来问", at=at(2026, 3, 1, 23, 30))
    pull(arc)
    assert violations(arc) == []
    with arc.sessions() as session:
        group = session.get(Group, arc.group_id)
        (shown,) = activity.activity(session, arc.settings, [group], arc.now(), weeks=2)
        tallies = {(t.week.isoformat(), t.userid): (t.messages, t.off_hours) for t in session.scalars(select(ArchiveTally))}
    assert shown.off_hours == [("chenjing", 2), ("wangfang", 1)]
    assert tallies[("2026-02-23", "chenjing")] == (2, 2) and tallies[("2026-03-02", "lina")] == (2, 0)
    # every message counts for activity, the customer's too; lina's 大家好 from the fixture
    assert shown.weeks == {datetime(2026, 2, 23).date(): 3, datetime(2026, 3, 2).date(): 3}


@pytest.mark.both_databases
def test_r17_messages_per_week_and_the_weekly_summary_to_the_office_and_each_custodian(governed):
    arc = governed
    arc.archive.post(ROOM, "chenjing", "周日晚上的工作消息", at=at(2026, 3, 1, 22, 0))
    pull(arc)
    arc.clock.advance(7 * 86400)  # Monday 2026-03-09: the summary of 03-02 … 03-08
    arc.archive.post(ROOM, "chenjing", "新的一周")
    pull(arc)
    with arc.sessions.begin() as session:
        assert activity.weekly_summary(session, arc.settings, arc.now()) == 2  # the office (wangfang) and sunli
        assert activity.weekly_summary(session, arc.settings, arc.now()) == 0  # once a week
    with arc.sessions() as session:
        office = [t for t in texts_to(session, "wangfang") if "群活跃度周报" in t]
        mine = [t for t in texts_to(session, "sunli") if "群活跃度周报" in t]
    assert len(office) == 1 and len(mine) == 1
    assert "03-02 至 03-08" in mine[0] and "行政部-日常沟通：1 条消息" in mine[0]  # lina's 大家好 on 03-02 09:00


def test_r6_a_group_silent_for_90_days_is_proposed_for_clean_up_once_the_archive_watched_that_long(governed):
    arc = governed
    with arc.sessions() as session:
        group = session.get(Group, arc.group_id)
        assert not activity.activity(session, arc.settings, [group], arc.now())[0].silent
    arc.clock.advance(91 * 86400)
    with arc.sessions.begin() as session:
        group = session.get(Group, arc.group_id)
        group.registered_at = arc.now() - timedelta(days=100)
        (shown,) = activity.activity(session, arc.settings, [group], arc.now())
        assert shown.silent
        session.execute(ArchiveCursor.__table__.update().values(created_at=arc.now()))  # watched one day only
        assert not activity.activity(session, arc.settings, [group], arc.now())[0].silent


# -- retention -------------------------------------------------------------------------------------


@pytest.mark.both_databases  # a DELETE by time and the evidence kept
def test_r12_retention_deletes_old_content_but_keeps_messages_cited_as_evidence(governed):
    arc = governed
    arc.archive.post(ROOM, "chenjing", "天穹的方案")
    arc.archive.post(ROOM, "wangfang", "收到")
    pull(arc)
    assert retention.purge(arc.sessions, arc.settings, arc.now()) == 0
    arc.clock.advance(181 * 86400)
    assert retention.purge(arc.sessions, arc.settings, arc.now(), batch=1) == 2  # 大家好 and 收到
    with arc.sessions() as session:
        kept = session.scalars(select(ArchivedMessage.content)).all()
        assert kept == ["天穹的方案"]
        assert session.scalar(select(func.sum(ArchiveTally.messages))) == 3  # the counts stay
