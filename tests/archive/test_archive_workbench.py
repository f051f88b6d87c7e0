"""The workbench's side of issue 12 items 5 and 7: the archive-only word lists on the settings
page, the group page's activity box (R17, R4), archived content shown only to the office and
the group's custodian with each view audited (R12 evidence), and the violation's link to it."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import select

from tests.plugins.archive import ARCHIVE_SECRET, ROOM, at, pull, violations
from tests.plugins.workbench import csrf_of, login
from wecom_app.app import Runtime, create_app
from wecom_app.models import ArchiveWordList, AuditEntry, Group


@pytest.fixture
def web(governed, engine, wb_settings):
    settings = dataclasses.replace(wb_settings, archive_secret=ARCHIVE_SECRET, finance_sdk="emulator",
                                   archive_private_keys=governed.settings.archive_private_keys)
    app = create_app(settings, runtime=Runtime(settings, engine=engine, clock=governed.now))
    app.config["TESTING"] = True

    def client_for(userid):
        client = app.test_client()
        login(client, governed.state, userid)
        return client

    return client_for


def audit_lines(arc, prefix):
    with arc.sessions() as session:
        return session.execute(select(AuditEntry.actor, AuditEntry.action).where(
            AuditEntry.action.like(prefix + "%")).order_by(AuditEntry.id)).all()


def test_r12_the_office_keeps_archive_word_lists_on_the_settings_page(governed, web):
    office = web("zhangwei")
    page = office.get("/settings").text
    assert 'data-test="word-list-form"' in page and "涉密项目代号" in page  # the fixture's list
    answer = office.post("/settings/archive-words", data=dict(csrf_token=csrf_of(page), name="涉密项目代号", rule="R12",
                                                              words="天穹\n北斗七号、玄武"))
    assert answer.status_code == 302
    refused = office.post("/settings/archive-words", data=dict(csrf_token=csrf_of(page), name="空表", rule="R12",
                                                               words=" ， "))
    assert refused.status_code == 400 and "请至少填写一个词" in refused.text
    with governed.sessions() as session:
        lists = {w.name: w.words for w in session.scalars(select(ArchiveWordList))}
    assert lists == {"涉密项目代号": ["天穹", "北斗七号", "玄武"]}
    assert audit_lines(governed, "archive_words.")[-1] == ("zhangwei", "archive_words.update")
    assert web("sunli").get("/settings").status_code == 403  # the custodian does not edit the lists


def test_r4_r17_the_group_page_shows_weekly_messages_and_off_hours_talk_and_links_the_archive(governed, web):
    governed.archive.post(ROOM, "chenjing", "报表今晚要改完", at=at(2026, 3, 1, 22, 30))
    pull(governed)
    page = web("sunli").get(f"/groups/{governed.group_id}").text
    assert 'data-test="activity"' in page and 'data-week="2026-02-23"' in page
    assert "陈静 1 条" in page  # chenjing's late text, counted, not a violation
    assert f"/groups/{governed.group_id}/archive" in page


def test_r12_archived_content_is_shown_to_the_custodian_and_the_office_only_and_every_view_is_audited(governed, web):
    governed.archive.post(ROOM, "chenjing", "天穹的报价单在这里")
    pull(governed)
    (violation,) = violations(governed)
    msgid = violation.evidence["archive_msgid"]
    custodian = web("sunli")
    detail = custodian.get(f"/violations/{violation.id}").text
    assert f"/archive/messages/{msgid}" in detail and "「天穹」（涉密项目代号，R12）" in detail
    assert "天穹的报价单在这里" not in detail  # the text only through the audited view
    assert "天穹的报价单在这里" in custodian.get(f"/archive/messages/{msgid}").text
    assert "天穹的报价单在这里" in custodian.get(f"/groups/{governed.group_id}/archive").text
    assert "天穹的报价单在这里" in web("zhangwei").get(f"/archive/messages/{msgid}").text
    with governed.sessions.begin() as session:  # caoyang becomes a custodian, of another group
        session.add(Group(kind="internal", chat_id="wrOther", name="研发群", custodian="caoyang", status="active"))
    other = web("caoyang")
    refused = other.get(f"/archive/messages/{msgid}")
    assert refused.status_code == 403 and "天穹的报价单在这里" not in refused.text
    assert other.get(f"/groups/{governed.group_id}/archive").status_code == 403
    assert web("chenjing").get(f"/archive/messages/{msgid}").status_code == 403  # not even the sender
    assert audit_lines(governed, "archive.view") == [
        ("sunli", "archive.view"), ("sunli", "archive.view"), ("zhangwei", "archive.view"),
        ("caoyang", "archive.view_refused"), ("caoyang", "archive.view_refused")]  # the message, the group's list
