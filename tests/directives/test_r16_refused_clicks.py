"""Issue 10 item 4: refused clicks cannot flood a directive's evidence ledger. The workbench's
act endpoint answers 404 to anyone the directive was not issued to, before writing anything
(and the same 404 for an id that does not exist); a refused click from the chat is recorded in
the ledger once per person, key and card, however often it is pressed."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from tests.plugins.workbench import csrf_of, issue_directive, login
from tests.directives.test_r16_directives import issue, send_and_settle, task_of
from tests.plugins.world import push
from wecom_app.directives import issue as directives
from wecom_app.directives import receipt_sheet
from wecom_app.models import Directive, DirectiveClick, LedgerEntry


def _counts(sessions):
    with sessions() as db:
        return (db.scalar(select(func.count()).select_from(LedgerEntry)),
                db.scalar(select(func.count()).select_from(DirectiveClick)))


def test_r16_r12_a_non_assignee_posting_act_thirty_times_gets_404_and_writes_nothing(wb, sandbox_state, sessions):
    rt = wb.extensions["wecom"]
    directive_id = issue_directive(rt, ["zhuxia"], confidential=True)
    with sessions() as db:
        last_before = receipt_sheet.load(db, rt.settings, directive_id).last_entry.seq
    before = _counts(sessions)
    client = wb.test_client()
    login(client, sandbox_state, "gaoping")  # an employee the directive was not issued to
    token = csrf_of(client.get("/me").text)
    answers = [client.post(f"/directives/{directive_id}/act", data={"key": key, "csrf_token": token})
               for key in ("ack", "done", "nonsense") * 10]
    assert [a.status_code for a in answers] == [404] * 30
    assert _counts(sessions) == before
    with sessions() as db:
        last = receipt_sheet.load(db, rt.settings, directive_id).last_entry
    assert last.seq == last_before and last.event != "click_refused"


def test_r16_a_nonexistent_directive_gets_the_same_404_as_a_stranger(wb, sandbox_state, sessions):
    directive_id = issue_directive(wb.extensions["wecom"], ["zhuxia"])
    client = wb.test_client()
    login(client, sandbox_state, "gaoping")
    token = csrf_of(client.get("/me").text)
    stranger = client.post(f"/directives/{directive_id}/act", data={"key": "ack", "csrf_token": token})
    missing = client.post(f"/directives/{directive_id + 1000}/act", data={"key": "ack", "csrf_token": token})
    assert stranger.status_code == missing.status_code == 404
    # the same page but for the logout form's CSRF token, which carries the second it was made in
    assert _without_tokens(stranger.text) == _without_tokens(missing.text)


def _without_tokens(page: str) -> str:
    return re.sub(r"<input[^>]*csrf_token[^>]*>", "", page)


def test_r16_the_issuer_and_an_admin_without_a_receipt_cannot_act_either(wb, sandbox_state, sessions):
    directive_id = issue_directive(wb.extensions["wecom"], ["zhuxia"], issuer="caoyang")
    before = _counts(sessions)
    for userid in ("caoyang", "zhangwei"):  # issuer, admin: they read the page, but do not acknowledge for others
        client = wb.test_client()
        login(client, sandbox_state, userid)
        token = csrf_of(client.get(f"/directives/{directive_id}").text)
        assert client.post(f"/directives/{directive_id}/act",
                           data={"key": "ack", "csrf_token": token}).status_code == 404, userid
    assert _counts(sessions) == before


def test_r16_an_assignee_still_acts_from_the_workbench(wb, sandbox_state, sessions):
    directive_id = issue_directive(wb.extensions["wecom"], ["zhuxia"])
    client = wb.test_client()
    login(client, sandbox_state, "zhuxia")
    token = csrf_of(client.get("/me").text)
    assert client.post(f"/directives/{directive_id}/act", data={"key": "ack", "csrf_token": token}).status_code == 302
    with sessions() as db:
        assert db.scalar(select(func.count()).select_from(LedgerEntry).where(
            LedgerEntry.directive_id == directive_id, LedgerEntry.event == "acknowledged")) == 1


def _refused_rows(world, directive_id):
    with world.sessions() as session:
        return session.scalar(select(func.count()).select_from(LedgerEntry).where(
            LedgerEntry.directive_id == directive_id, LedgerEntry.event == "click_refused"))


def test_r16_five_refused_chat_clicks_by_one_person_on_one_card_are_one_ledger_row(world):
    directive_id = issue(world, require="completion")
    send_and_settle(world)
    task_id = task_of(world, directive_id)
    with world.sessions.begin() as session:
        directives.revoke(session, world.settings, session.get(Directive, directive_id), actor="wangfang",
                          reason="重复发布", now=world.now())
    push(world, *[world.state.click("lina", task_id, "ack") for _ in range(5)])  # five presses, five codes
    assert _refused_rows(world, directive_id) == 1
    with world.sessions() as session:
        assert session.scalars(select(DirectiveClick.outcome)).all() == ["revoked"] * 5  # the click log keeps all
        last = receipt_sheet.load(session, world.settings, directive_id).last_entry
    assert last.event == "click_refused"  # the one refusal, after the revocation: the real last record
    push(world, world.state.click("chenjing", task_id, "ack"), world.state.click("lina", task_id, "done"))
    assert _refused_rows(world, directive_id) == 3  # another person, another key: each once


def test_r16_repeated_refused_workbench_actions_of_an_assignee_are_one_ledger_row(world):
    from wecom_app.directives import acks as directives_acks

    directive_id = issue(world)
    send_and_settle(world)
    for _ in range(4):
        with world.sessions.begin() as session:
            d = session.get(Directive, directive_id)
            try:
                directives_acks.act(session, world.settings, d, userid="lina", key="done", channel="workbench",
                                    now=world.now())
            except directives_acks.ActError as refused:
                assert refused.outcome == "not_required"
    assert _refused_rows(world, directive_id) == 1
