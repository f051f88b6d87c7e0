"""指令 pages for admins and issuers (R16, R12) through the Flask test client: compose
(valid, and each refusal next to its field with nothing written), who may see a
directive's receipt matrix (its issuer and admins; 403 for everyone else), the
matrix after the cards went out and some were acknowledged from the card (the
emulator's click, encrypted and posted to the callback, then the inbox job), 立即提醒
to those not done only, 撤回, 更正, and the receipt sheet as PDF and XLSX."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader
from sqlalchemy import func, select

from tests.conftest import AES_KEY, CORP_ID, TOKEN
from tests.plugins.workbench import as_user, csrf_of, issue_directive, rt
from wecom_app.models import AuditEntry, Directive, DirectiveBatch, DirectiveReceipt, DirectiveVersion, LedgerEntry
from wecom_app.sandbox.pusher import CallbackPusher
from wecom_app.scheduler import run_job

PEOPLE = ["zhuxia", "gaoping", "linfeng"]


def compose(client, **fields):
    token = csrf_of(client.get("/directives/new").text)
    tomorrow = (rt_now(client) + timedelta(days=2)).strftime("%Y-%m-%d")
    data = {"csrf_token": token, "title": "关于周五消防演练的通知", "body": "周五 15:00 全员参加消防演练。",
            "users": ["zhuxia", "gaoping"], "deadline_date": tomorrow, "deadline_time": "18:00", "require": "ack",
            "summary_group": ""}
    data.update(fields)
    return client.post("/directives/new", data={k: v for k, v in data.items() if v is not None})


def rt_now(client):
    return client.application.extensions["wecom"].clock()


def count(wb, model):
    with rt(wb).sessions() as db:
        return db.scalar(select(func.count()).select_from(model))


def test_r16_admin_composes_a_directive(wb, sandbox_state):
    client = as_user(wb, sandbox_state, "zhangwei")
    answer = compose(client, departments=["9"], urgent="y", confidential="y", require="completion")
    assert answer.status_code == 302 and "/receipts" in answer.location
    with rt(wb).sessions() as db:
        directive = db.scalar(select(Directive))
        people = set(db.scalars(select(DirectiveReceipt.userid)))
        entry = db.scalar(select(AuditEntry).where(AuditEntry.action == "workbench.directive.issue"))
    assert directive.issuer == "zhangwei" and directive.urgent and directive.confidential
    assert directive.require == "completion"
    assert directive.deadline.astimezone(wb.extensions["wecom"].settings.tz).strftime("%H:%M") == "18:00"
    assert {"zhuxia", "gaoping", "yexin"} <= people and "zhongwen" not in people  # 人力资源部, active only
    assert entry.actor == "zhangwei" and entry.details["channel"] == "workbench"
    page = client.get(answer.location).text
    assert "关于周五消防演练的通知" in page and 'data-test="count-queued">' in page


@pytest.mark.parametrize("fields, field, words", [
    ({"title": ""}, "title", "请填写标题"),
    ({"body": ""}, "body", "请填写正文"),
    ({"users": []}, "users", "请至少选择一位人员、一个部门或一个群"),
    ({"users": ["jiayun"]}, "users", "不是在职员工（未激活、已停用或已离职）：jiayun"),
    ({"users": ["nobody"]}, "users", "通讯录中没有：nobody"),
    ({"deadline_date": "2020-01-01"}, "deadline_date", "截止时间须晚于现在 5 分钟以上"),
    ({"deadline_date": "明天"}, "deadline_date", "不是有效的日期值"),
    ({"departments": ["999"]}, "departments", "部门不存在：999"),
    # WeCom counts UTF-8 bytes (textlimits.py): 1,000 characters are 3,000 bytes
    ({"body": "报" * 1000}, "body", "正文最多 2048 字节（UTF-8，一个汉字 3 字节），当前 3000 字节"),
    ({"title": "报" * 43}, "title", "标题最多 128 字节（UTF-8，一个汉字 3 字节），当前 129 字节"),
])
def test_r16_a_refused_directive_shows_the_error_next_to_its_field_and_writes_nothing(
        wb, sandbox_state, fields, field, words):
    client = as_user(wb, sandbox_state, "zhangwei")
    answer = compose(client, **fields)
    assert answer.status_code == 422
    assert f'data-error="{field}">{words}' in answer.text
    assert count(wb, Directive) == count(wb, DirectiveReceipt) == count(wb, LedgerEntry) == 0


def issue_urgent(wb, people=PEOPLE, issuer="caoyang", require="ack"):
    from wecom_app.directives import issue as directives

    runtime = rt(wb)
    now = runtime.clock()
    with runtime.sessions.begin() as db:
        return directives.issue(db, runtime.settings, title="今天下班前核对消防通道", body="请核对本层消防通道。",
                                assignees={"users": list(people)}, deadline=now + timedelta(hours=8),
                                issuer=issuer, now=now, urgent=True, require=require).id


def click(wb, sandbox_state, directive_id, userid, key="ack"):
    """The member presses the card's button: WeCom's encrypted callback, then the inbox job."""
    with rt(wb).sessions() as db:
        task_id = db.scalar(select(DirectiveBatch.task_id).where(DirectiveBatch.directive_id == directive_id,
                                                                 DirectiveBatch.kind == "card"))
    params, body = CallbackPusher("", TOKEN, AES_KEY, CORP_ID).envelope(sandbox_state.click(userid, task_id, key))
    answer = wb.test_client().post("/wecom/callback", query_string=params, data=body.encode(),
                                   content_type="text/xml")
    assert answer.status_code == 200
    run_job("inbox", rt(wb))


@pytest.fixture
def acknowledged(wb, sandbox_state):
    """An urgent directive of caoyang's to three people, delivered, zhuxia acknowledged from the card."""
    directive_id = issue_urgent(wb)
    run_job("outbox", rt(wb))
    click(wb, sandbox_state, directive_id, "zhuxia")
    return directive_id


def test_r16_matrix_counts_after_delivery_and_a_card_acknowledgment(wb, sandbox_state, acknowledged):
    client = as_user(wb, sandbox_state, "caoyang")
    page = client.get(f"/directives/{acknowledged}/receipts")
    assert page.status_code == 200
    html = page.text
    assert 'data-test="count-acknowledged">1<' in html and 'data-test="count-delivered">2<' in html
    assert 'data-test="count-queued">0<' in html and "width: 33%" in html and "1/3" in html
    assert 'data-userid="zhuxia" data-status="acknowledged"' in html and "消息卡片" in html
    assert ">提醒 2 人<" in html  # urgent: it goes at once, so no time (issue 13 item 4)
    only = client.get(f"/directives/{acknowledged}/receipts?status=delivered").text
    assert 'data-userid="gaoping"' in only and 'data-userid="zhuxia"' not in only
    by_department = client.get(f"/directives/{acknowledged}/receipts?department=5").text  # 销售部 ⊃ 华东销售组
    assert by_department.count("<tr data-userid=") == 3
    assert client.get(f"/directives/{acknowledged}/receipts?department=8").text.count("<tr data-userid=") == 0
    listed = client.get("/directives").text
    assert f'data-directive="{acknowledged}"' in listed and "1/3 已收到" in listed


def test_r16_matrix_is_for_its_issuer_and_admins_only(wb, sandbox_state, acknowledged):
    assert as_user(wb, sandbox_state, "zhangwei").get(f"/directives/{acknowledged}/receipts").status_code == 200
    other_issuer = as_user(wb, sandbox_state, "hujie")
    for path in ("receipts", "receipts.pdf", "receipts.xlsx", "correct"):
        assert other_issuer.get(f"/directives/{acknowledged}/{path}").status_code == 403
    token = csrf_of(other_issuer.get("/directives").text)
    for action in ("remind", "revoke"):
        answer = other_issuer.post(f"/directives/{acknowledged}/{action}", data={"csrf_token": token, "reason": "x"})
        assert answer.status_code == 403
    assert f'data-directive="{acknowledged}"' not in other_issuer.get("/directives").text
    employee = as_user(wb, sandbox_state, "zhuxia")
    assert employee.get(f"/directives/{acknowledged}/receipts").status_code == 403
    assert employee.get("/directives").status_code == 403 and employee.get("/directives/new").status_code == 403
    assert employee.get(f"/directives/{acknowledged}/receipts.pdf").status_code == 403
    assert as_user(wb, sandbox_state, "zhangwei").get("/directives/99999/receipts").status_code == 404
    with rt(wb).sessions() as db:
        assert db.get(Directive, acknowledged).status == "active"


def test_r16_remind_now_goes_only_to_those_not_done(wb, sandbox_state, acknowledged):
    client = as_user(wb, sandbox_state, "caoyang")
    token = csrf_of(client.get(f"/directives/{acknowledged}/receipts").text)
    answer = client.post(f"/directives/{acknowledged}/remind", data={"csrf_token": token}, follow_redirects=True)
    assert "已提醒 2 人：已发出" in answer.text
    run_job("outbox", rt(wb))
    reminded = {u for m in sandbox_state.messages if m["msgtype"] == "template_card"
                and m["body"]["template_card"]["main_title"]["title"].startswith("【提醒】") for u in m["deliveries"]}
    assert reminded == {"gaoping", "linfeng"}
    with rt(wb).sessions() as db:
        receipts = {r.userid: r for r in db.scalars(select(DirectiveReceipt))}
        entry = db.scalar(select(LedgerEntry).where(LedgerEntry.event == "reminded"))
        audited = db.scalar(select(AuditEntry).where(AuditEntry.action == "directive.remind"))
    assert receipts["gaoping"].reminders == 1 and receipts["gaoping"].last_reminded_at is not None
    assert receipts["zhuxia"].reminders == 0
    assert entry.actor == "caoyang" and sorted(entry.data["userids"]) == ["gaoping", "linfeng"]
    assert audited.details["people"] == 2


def test_r16_revoke_needs_a_reason_then_ends_the_directive(wb, sandbox_state, acknowledged):
    client = as_user(wb, sandbox_state, "caoyang")
    token = csrf_of(client.get(f"/directives/{acknowledged}/receipts").text)
    refused = client.post(f"/directives/{acknowledged}/revoke", data={"csrf_token": token, "reason": " "})
    assert refused.status_code == 422 and 'data-error="reason">请填写撤回原因' in refused.text
    with rt(wb).sessions() as db:
        assert db.get(Directive, acknowledged).status == "active"
    done = client.post(f"/directives/{acknowledged}/revoke", data={"csrf_token": token, "reason": "演练改期"},
                       follow_redirects=True)
    assert "已撤回" in done.text and 'data-test="revoked"' in done.text and 'data-test="remind"' not in done.text
    with rt(wb).sessions() as db:
        directive = db.get(Directive, acknowledged)
        assert directive.status == "revoked" and directive.revoke_reason == "演练改期" and directive.revoked_by == "caoyang"
        assert db.scalar(select(LedgerEntry).where(LedgerEntry.event == "revoked")).actor == "caoyang"


def test_r16_a_revoked_directive_keeps_each_persons_record_on_their_page_and_the_matrix(
        wb, sandbox_state, acknowledged):
    """Issue 13 item 9: revoking ends the directive, not its evidence: 我的 lists it under 已撤回
    with what the person did before, and the matrix keeps every row marked 撤回前."""
    client = as_user(wb, sandbox_state, "caoyang")
    token = csrf_of(client.get(f"/directives/{acknowledged}/receipts").text)
    client.post(f"/directives/{acknowledged}/revoke", data={"csrf_token": token, "reason": "演练改期"})
    mine = as_user(wb, sandbox_state, "zhuxia").get("/me").text
    revoked = mine.split('data-test="revoked"', 1)[1]
    assert f'data-directive="{acknowledged}"' in revoked and "撤回前：" in revoked and "已收到" in revoked
    assert f'data-directive="{acknowledged}"' not in mine.split('data-test="revoked"', 1)[0]  # not a 待办 any more
    other = as_user(wb, sandbox_state, "gaoping").get("/me").text.split('data-test="revoked"', 1)[1]
    assert f'data-directive="{acknowledged}"' in other and "已送达" in other
    matrix = client.get(f"/directives/{acknowledged}/receipts").text
    assert matrix.count("<tr data-userid=") == 3 and matrix.count('data-test="before-revoke"') == 3
    assert 'data-userid="zhuxia" data-status="acknowledged"' in matrix


def test_r16_correction_is_a_new_version_everyone_acknowledges_again(wb, sandbox_state, acknowledged):
    client = as_user(wb, sandbox_state, "zhangwei")
    form = client.get(f"/directives/{acknowledged}/correct").text
    assert "今天下班前核对消防通道" in form
    token = csrf_of(form)
    same = client.post(f"/directives/{acknowledged}/correct",
                       data={"csrf_token": token, "title": "今天下班前核对消防通道", "body": "请核对本层消防通道。"})
    assert same.status_code == 422 and 'data-error="body">更正须修改标题或正文' in same.text
    answer = client.post(f"/directives/{acknowledged}/correct",
                         data={"csrf_token": token, "title": "今天下班前核对消防通道", "body": "请核对本层和楼梯间的消防通道。",
                               "note": "补充楼梯间"}, follow_redirects=True)
    assert "已更正为第 2 版" in answer.text and 'data-test="count-acknowledged">0<' in answer.text
    with rt(wb).sessions() as db:
        assert db.get(Directive, acknowledged).version == 2
        assert db.scalar(select(func.count()).select_from(DirectiveVersion)) == 2
        assert {r.status for r in db.scalars(select(DirectiveReceipt))} == {"queued"}


def test_r16_receipt_sheet_as_pdf_and_xlsx(wb, sandbox_state, acknowledged):
    client = as_user(wb, sandbox_state, "caoyang")
    pdf = client.get(f"/directives/{acknowledged}/receipts.pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf" and pdf.data.startswith(b"%PDF")
    assert "attachment" in pdf.headers["Content-Disposition"]
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.data)).pages)
    assert "今天下班前核对消防通道" in text and "zhuxia" in text
    assert "发布人曹阳（caoyang）" in "".join(text.split())  # the issuer by name, userid beside (issue 13 item 7)
    xlsx = client.get(f"/directives/{acknowledged}/receipts.xlsx")
    assert xlsx.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    cells = {str(c.value) for ws in load_workbook(io.BytesIO(xlsx.data)) for row in ws.iter_rows() for c in row}
    assert any("今天下班前核对消防通道" in c for c in cells) and "曹阳（caoyang）" in cells
    with rt(wb).sessions() as db:
        assert db.scalar(select(func.count()).where(AuditEntry.action == "directive.export")) == 2


def test_csrf_missing_is_refused(wb, sandbox_state, acknowledged):
    client = as_user(wb, sandbox_state, "caoyang")
    assert client.post("/directives/new", data={"title": "x"}).status_code == 400
    assert client.post(f"/directives/{acknowledged}/remind").status_code == 400
    assert client.post(f"/directives/{acknowledged}/revoke", data={"reason": "x"}).status_code == 400
    with rt(wb).sessions() as db:
        assert db.get(Directive, acknowledged).status == "active"
    assert count(wb, Directive) == 1


def test_directive_list_empty_state_and_paging(wb, sandbox_state):
    client = as_user(wb, sandbox_state, "caoyang")
    assert "还没有下达过指令" in client.get("/directives").text
    for _ in range(21):
        issue_directive(rt(wb), ["zhuxia"], issuer="caoyang")
    html = client.get("/directives").text
    assert html.count("data-directive=") == 20 and "第 1 / 2 页" in html


def test_r16_a_big_directive_s_matrix_is_paginated(wb, sandbox_state):
    from wecom_app.directives import issue as directives

    runtime = rt(wb)
    now = runtime.clock()
    with runtime.sessions.begin() as db:  # the whole company: every active employee
        directive_id = directives.issue(db, runtime.settings, title="全员安全培训", body="请完成安全培训。",
                                        assignees={"departments": [1]}, deadline=now + timedelta(days=2),
                                        issuer="zhangwei", now=now).id
        people = db.scalar(select(func.count()).where(DirectiveReceipt.directive_id == directive_id))
    assert people > 50
    client = as_user(wb, sandbox_state, "zhangwei")
    first = client.get(f"/directives/{directive_id}/receipts").text
    assert first.count("<tr data-userid=") == 50 and f"第 1 / 2 页，共 {people} 条" in first
    assert f'data-test="count-queued">{people}<' in first
    second = client.get(f"/directives/{directive_id}/receipts?page=2").text
    assert second.count("<tr data-userid=") == people - 50
    assert "张伟 ·" in client.get("/directives").text  # the issuer, for an admin


def test_the_directive_page_s_manage_link_opens_the_matrix(wb, sandbox_state, acknowledged):
    client = as_user(wb, sandbox_state, "caoyang")
    page = client.get(f"/directives/{acknowledged}").text
    link = f'href="/directives/{acknowledged}/receipts"'
    assert link in page.split('data-test="manage"')[1]
    assert client.get(f"/directives/{acknowledged}/receipts").status_code == 200


def test_r4_a_non_urgent_directive_whose_cards_would_go_after_its_deadline_is_refused_in_chinese(wb, sandbox_state):
    from datetime import datetime, timezone

    client = as_user(wb, sandbox_state, "zhangwei")
    rt(wb).clock = lambda: datetime(2026, 11, 28, 2, 0, tzinfo=timezone.utc)  # Saturday 10:00 in Shanghai
    answer = compose(client, deadline_date="2026-11-28", deadline_time="18:00")
    assert answer.status_code == 422
    assert 'data-error="deadline_date">非紧急指令要到 2026-11-30 09:00（下一个工作时段，R4）才会发出' in answer.text
    assert count(wb, Directive) == 0
    assert compose(client, deadline_date="2026-11-28", deadline_time="18:00", urgent="y").status_code == 302


def test_r16_a_directive_tracked_from_a_group_shows_its_origin(wb, sandbox_state, acknowledged):
    """An instruction given in a group and tracked by its sender (archive/instructions.py): the
    directive's page and its receipt matrix say where it was said."""
    label = "群「研发部-日常沟通」2026-03-02 09:00 的消息"
    with rt(wb).sessions.begin() as db:
        db.get(Directive, acknowledged).origin = {"label": label, "msgid": "m1"}
    client = as_user(wb, sandbox_state, "caoyang")
    for path in (f"/directives/{acknowledged}", f"/directives/{acknowledged}/receipts"):
        assert label in client.get(path).text.split('data-test="origin"')[1]
