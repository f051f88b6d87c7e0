"""我的举报 (/reports): an employee reports a person in a group they are in (R3, R5,
R11) — the same violation as a `举报 …` text, the custodian told — sees what became of
their reports, and can report their own account lost or stolen (R14). Bad input is
refused next to its field and writes nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tests.plugins.workbench import as_user, csrf_of, rt
from wecom_app.models import Group, GroupMember, OutboxAction, Violation


@pytest.fixture
def group(wb):
    with rt(wb).sessions() as db:
        chat = Group(kind="managed", name="研发交流群", owner="caoyang", custodian="pengfei", chat_id="rd1",
                     status="active", scope={"departments": [8]})
        db.add(chat)
        db.flush()
        db.add_all([GroupMember(group_id=chat.id, member_id=u, compliance="ok") for u in ("zenglin", "xiaojian")])
        db.commit()
        return chat.id


def post(client, **data):
    token = csrf_of(client.get("/reports").text)
    return client.post("/reports", data={"csrf_token": token, **data})


def test_r3_an_employee_reports_a_member_of_their_group_and_sees_it(wb, sandbox_state, group):
    client = as_user(wb, sandbox_state, "xiaojian")
    answer = post(client, group=str(group), rule="R3", person="曾琳", text="在群里骂人")
    assert answer.status_code == 302
    with rt(wb).sessions() as db:
        violation = db.scalar(select(Violation))
        sends = db.scalars(select(OutboxAction).where(OutboxAction.kind == "message/send")).all()
        told = [u for a in sends for u in a.payload["touser"].split("|")]
    assert (violation.rule, violation.userid, violation.group_id) == ("R3", "zenglin", group)
    assert violation.detected_by == "report:xiaojian" and violation.evidence["channel"] == "workbench"
    assert "pengfei" in told and "xiaojian" in told  # the custodian to decide, the reporter thanked
    page = client.get("/reports").text
    assert f'data-violation="{violation.id}"' in page and "待处理" in page


@pytest.mark.parametrize("data,field", [
    ({"rule": "R3", "person": "", "text": ""}, "text"),
    ({"rule": "R3", "person": "nobody-here", "text": "骂人"}, "person"),
    ({"rule": "R9", "person": "", "text": "骂人"}, "rule"),
])
def test_bad_reports_are_refused_next_to_the_field_and_write_nothing(wb, sandbox_state, group, data, field):
    answer = post(as_user(wb, sandbox_state, "xiaojian"), group=str(group), **data)
    assert answer.status_code == 422 and f'data-error="{field}"' in answer.text
    with rt(wb).sessions() as db:
        assert db.scalar(select(func.count()).select_from(Violation)) == 0


def test_a_group_the_reporter_is_not_in_cannot_be_chosen(wb, sandbox_state, group):
    with rt(wb).sessions() as db:
        sales = Group(kind="managed", name="销售群", owner="hujie", custodian="hujie", chat_id="s1", status="active")
        db.add(sales)
        db.flush()
        db.add(GroupMember(group_id=sales.id, member_id="zhuxia", compliance="ok"))
        db.commit()
    answer = post(as_user(wb, sandbox_state, "zhuxia"), group=str(group), rule="R3", person="", text="骂人")
    assert answer.status_code == 422 and 'data-error="group"' in answer.text


def test_r14_an_employee_reports_their_account_stolen_and_is_suspended(wb, sandbox_state, group):
    client = as_user(wb, sandbox_state, "zenglin")
    token = csrf_of(client.get("/reports").text)
    assert client.post("/reports/account", data={"csrf_token": token}).status_code == 302
    with rt(wb).sessions() as db:
        member = db.scalar(select(GroupMember).where(GroupMember.member_id == "zenglin"))
    assert member.state == "suspended"


def test_csrf_is_required(wb, sandbox_state, group):
    client = as_user(wb, sandbox_state, "xiaojian")
    assert client.post("/reports", data={"group": str(group), "rule": "R3", "text": "x"}).status_code == 400
