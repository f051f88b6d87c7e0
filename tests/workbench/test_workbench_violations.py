"""违规与举报 through the Flask test client: the queue per role (a custodian sees
their groups' violations only), filters and pages, the detail page (403 for
another custodian, for an employee, and for a custodian on a group-less one),
deciding (R6: a confirmation applies the sanctions ladder and writes the R15
assessment, both shown on the page; a dismissal needs its reason), a second
decision refused next to the field, and CSRF."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tests.plugins.workbench import as_user, csrf_of, rt
from wecom_app.models import Assessment, AuditEntry, Group, GroupMember, Sanction, Violation


@pytest.fixture
def queue(wb):
    """pengfei's internal group with an R3 report on zenglin; hujie's managed group with an R11 finding;
    an R14 report with no group."""
    with rt(wb).sessions() as db:
        mine = Group(kind="internal", name="研发交流群", owner="caoyang", custodian="pengfei", scope={"departments": [8]})
        other = Group(kind="managed", name="销售群", owner="hujie", custodian="hujie", chat_id="c1")
        db.add_all([mine, other])
        db.flush()
        db.add_all([GroupMember(group_id=mine.id, member_id="zenglin", compliance="ok"),
                    GroupMember(group_id=other.id, member_id="gaoping", compliance="ok")])
        report = Violation(rule="R3", userid="zenglin", group_id=mine.id, detected_by="report:xiaojian", status="open",
                           open_key=f"R3:zenglin:{mine.id}",
                           evidence={"text": "举报 @zenglin 研发交流群 骂人", "reporter": "xiaojian", "reason": "骂人"})
        finding = Violation(rule="R11", userid="gaoping", group_id=other.id, detected_by="system", status="open",
                            open_key=f"R11:gaoping:{other.id}", evidence={"reason": "out_of_scope"})
        loose = Violation(rule="R14", userid="tony", group_id=None, detected_by="report:tony", status="open",
                          evidence={"reason": "账号丢失"})
        db.add_all([report, finding, loose])
        db.commit()
        return dict(mine=mine.id, other=other.id, report=report.id, finding=finding.id, loose=loose.id)


def decide(client, violation_id, **data):
    token = csrf_of(client.get(f"/violations/{violation_id}").text)
    return client.post(f"/violations/{violation_id}/decide", data={"csrf_token": token, **data})


def test_admin_sees_the_whole_queue(wb, sandbox_state, queue):
    html = as_user(wb, sandbox_state, "zhangwei").get("/violations").text
    assert all(f'data-violation="{queue[k]}"' in html for k in ("report", "finding", "loose"))
    assert "全部违规记录（3）" in html


def test_r6_custodian_sees_only_their_groups_violations(wb, sandbox_state, queue):
    html = as_user(wb, sandbox_state, "pengfei").get("/violations").text
    assert f'data-violation="{queue["report"]}"' in html
    assert f'data-violation="{queue["finding"]}"' not in html and f'data-violation="{queue["loose"]}"' not in html
    assert "销售群" not in html  # nor in the group filter


def test_employee_is_refused_the_queue(wb, sandbox_state, queue):
    client = as_user(wb, sandbox_state, "zenglin")
    assert client.get("/violations").status_code == 403
    assert client.get(f"/violations/{queue['report']}").status_code == 403


def test_filters_status_rule_and_group(wb, sandbox_state, queue):
    client = as_user(wb, sandbox_state, "zhangwei")
    by_rule = client.get("/violations?rule=R11").text
    assert f'data-violation="{queue["finding"]}"' in by_rule and f'data-violation="{queue["report"]}"' not in by_rule
    by_group = client.get(f"/violations?group={queue['mine']}").text
    assert f'data-violation="{queue["report"]}"' in by_group and f'data-violation="{queue["finding"]}"' not in by_group
    none = client.get("/violations?status=confirmed").text
    assert "没有符合条件的违规记录" in none


def test_queue_is_paginated(wb, sandbox_state, queue):
    with rt(wb).sessions() as db:
        db.add_all([Violation(rule="R5", userid=f"user{i:02d}", group_id=queue["mine"], detected_by="system",
                              status="dismissed") for i in range(25)])
        db.commit()
    client = as_user(wb, sandbox_state, "pengfei")
    first, second = client.get("/violations").text, client.get("/violations?page=2").text
    assert "第 1 / 2 页，共 26 条" in first and "user24" in first and "user00" not in first
    assert "第 2 / 2 页" in second and "user00" in second


def test_empty_queue_says_what_to_do(wb, sandbox_state):
    html = as_user(wb, sandbox_state, "zhangwei").get("/violations").text
    assert 'data-test="empty"' in html and "举报 @userid 群名 说明" in html


def test_detail_shows_evidence_person_and_group(wb, sandbox_state, queue):
    html = as_user(wb, sandbox_state, "pengfei").get(f"/violations/{queue['report']}").text
    assert "曾琳" in html and "研发部" in html and "研发交流群" in html
    assert "举报 @zenglin 研发交流群 骂人" in html and "肖剑" in html and 'data-test="decide-form"' in html
    assert "没有禁言接口" in html


def test_another_custodian_is_refused_a_violation(wb, sandbox_state, queue):
    client = as_user(wb, sandbox_state, "hujie")
    page = client.get(f"/violations/{queue['report']}")
    assert page.status_code == 403 and "骂人" not in page.text
    token = csrf_of(client.get("/violations").text)
    refused = client.post(f"/violations/{queue['report']}/decide", data={"csrf_token": token, "decision": "confirm"})
    assert refused.status_code == 403
    assert client.get(f"/violations/{queue['loose']}").status_code == 403  # no group: the office's
    assert as_user(wb, sandbox_state, "lina").get(f"/violations/{queue['loose']}").status_code == 200
    with rt(wb).sessions() as db:
        assert db.get(Violation, queue["report"]).status == "open"


def test_r6_r15_custodian_confirms_sanction_and_assessment_shown(wb, sandbox_state, queue):
    client = as_user(wb, sandbox_state, "pengfei")
    answer = decide(client, queue["report"], decision="confirm", text="群内辱骂同事，属实。")
    assert answer.status_code == 302
    page = client.get(answer.location).text
    assert "已确认违规；处理：警告，并已记入当月考核" in page
    assert 'data-test="sanction">警告' in page and 'data-test="assessment">已记入' in page
    with rt(wb).sessions() as db:
        violation = db.get(Violation, queue["report"])
        sanction = db.scalar(select(Sanction).where(Sanction.violation_id == violation.id))
        assessment = db.scalar(select(Assessment).where(Assessment.source_id == violation.id))
        audit = db.scalar(select(AuditEntry).where(AuditEntry.action == "workbench.violation.confirm"))
    assert (violation.status, violation.sanction, violation.decided_by) == ("confirmed", "warning", "custodian:pengfei")
    assert sanction.kind == "warning" and assessment.userid == "zenglin" and assessment.note == "群内辱骂同事，属实。"
    assert audit.actor == "pengfei"


def test_r6_second_confirmation_removes_from_the_managed_group(wb, sandbox_state, queue):
    with rt(wb).sessions() as db:
        earlier = Violation(rule="R3", userid="gaoping", group_id=queue["other"], detected_by="system", status="open")
        db.add(earlier)
        db.commit()
        earlier_id = earlier.id
    client = as_user(wb, sandbox_state, "hujie")
    decide(client, earlier_id, decision="confirm", text="第一次")
    page = client.get(decide(client, queue["finding"], decision="confirm", text="第二次").location).text
    assert "处理：暂时移出" in page and 'data-test="sanction-row">「销售群」至' in page and "自动恢复" in page
    with rt(wb).sessions() as db:
        member = db.scalar(select(GroupMember).where(GroupMember.member_id == "gaoping"))
    assert member.state == "suspended"


def test_dismissal_needs_a_reason_then_writes_no_sanction(wb, sandbox_state, queue):
    client = as_user(wb, sandbox_state, "zhangwei")
    refused = decide(client, queue["report"], decision="dismiss", text=" ")
    assert refused.status_code == 422 and 'data-error="text">驳回时请写明理由' in refused.text
    nothing = decide(client, queue["report"])
    assert nothing.status_code == 422 and 'data-error="decision">请选择确认或驳回' in nothing.text
    answer = decide(client, queue["report"], decision="dismiss", text="玩笑话，双方已和解。")
    page = client.get(answer.location).text
    assert "已驳回，不构成违规" in page and "玩笑话，双方已和解。" in page and 'data-test="sanction"' not in page
    with rt(wb).sessions() as db:
        assert db.get(Violation, queue["report"]).status == "dismissed"
        assert db.scalar(select(func.count()).select_from(Sanction)) == 0
        assert db.scalar(select(func.count()).select_from(Assessment)) == 0


def test_a_decided_violation_cannot_be_decided_again(wb, sandbox_state, queue):
    client = as_user(wb, sandbox_state, "zhangwei")
    token = csrf_of(client.get(f"/violations/{queue['finding']}").text)
    client.post(f"/violations/{queue['finding']}/decide",
                data={"csrf_token": token, "decision": "dismiss", "text": "误报"})
    again = client.post(f"/violations/{queue['finding']}/decide", data={"csrf_token": token, "decision": "confirm"})
    assert again.status_code == 409 and 'data-error="decision">这条记录已被处理（已驳回）' in again.text
    with rt(wb).sessions() as db:
        assert db.get(Violation, queue["finding"]).status == "dismissed"


def test_a_decision_without_its_csrf_token_is_refused(wb, sandbox_state, queue):
    client = as_user(wb, sandbox_state, "zhangwei")
    answer = client.post(f"/violations/{queue['report']}/decide", data={"decision": "confirm"})
    assert answer.status_code == 400 and "表单已过期" in answer.text
    with rt(wb).sessions() as db:
        assert db.get(Violation, queue["report"]).status == "open"
