"""R16 receipt sheet (签收单): the frozen content, every person's receipt and the
ledger head with how to verify it, as PDF and XLSX, times in the company's zone."""

import io
import re
from datetime import datetime, timedelta, timezone

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader
from sqlalchemy import insert

from wecom_app.directives import ledger
from wecom_app.directives.issue import content_hash
from wecom_app.directives.receipt_sheet import receipt_pdf, receipt_xlsx
from wecom_app.models import Department, Directive, DirectiveReceipt, DirectiveVersion, User

from tests.conftest import make_settings
from tests.plugins.world import push

T0 = datetime(2027, 3, 1, 1, 30, tzinfo=timezone.utc)  # 09:30:00 in Shanghai
DEADLINE = datetime(2027, 3, 5, 10, 0, tzinfo=timezone.utc)  # 18:00:00 in Shanghai
TITLE = "关于 2027 年春节值班安排的通知"
SETTINGS = make_settings()


def frozen(directive_id: int, version: int, title: str, body: str) -> str:
    return content_hash(directive_id, version, title=title, body=body, issuer="zhangsan", require="completion",
                        deadline=DEADLINE, urgent=True, confidential=False)


def make_directive(session, people: int = 4) -> Directive:
    """A directive corrected once (version 2), with receipts in every state, written as
    the directive code would write it, ledger included."""
    session.add(Department(id=2, name="销售部"))
    session.add(User(userid="zhangsan", name="张三", status=1, main_department=2))
    directive = Directive(title=TITLE, body="初稿", version=1, content_hash="", issuer="zhangsan",
                          require="completion", urgent=True, confidential=False, deadline=DEADLINE, created_at=T0)
    session.add(directive)
    session.flush()
    first = frozen(directive.id, 1, TITLE, "初稿")
    body = "各部门：\n春节期间请按排班表值班。<务必> & 准时"
    second = frozen(directive.id, 2, TITLE, body)
    directive.version, directive.body, directive.content_hash = 2, body, second
    session.add_all([
        DirectiveVersion(directive_id=directive.id, version=1, title=TITLE, body="初稿", content_hash=first,
                         created_by="zhangsan", created_at=T0),
        DirectiveVersion(directive_id=directive.id, version=2, title=TITLE, body=body, content_hash=second,
                         note="补充排班要求", created_by="zhangsan", created_at=T0 + timedelta(hours=1))])
    ledger.append(session, "issued", at=T0, directive_id=directive.id, actor="zhangsan", version=1,
                  content_hash=first)
    ledger.append(session, "corrected", at=T0 + timedelta(hours=1), directive_id=directive.id, actor="zhangsan",
                  version=2, content_hash=second)
    session.execute(insert(User), [dict(userid=f"user{n:05d}", name=f"员工{n}", status=1, main_department=2)
                                   for n in range(people)])
    session.execute(insert(DirectiveReceipt), [receipt(directive.id, n) for n in range(people)])
    ledger.append(session, "acknowledged", at=T0 + timedelta(hours=2), directive_id=directive.id,
                  userid="user00001", channel="card")
    return directive


def receipt(directive_id: int, n: int) -> dict:
    """user00000 completed, user00001 acknowledged on the card, user00002 overdue after
    2 reminders, user00003 undeliverable; and so on round."""
    row = dict(directive_id=directive_id, userid=f"user{n:05d}", version=2, status="delivered", reminders=0,
               delivered_at=T0 + timedelta(hours=1, minutes=1))
    kind = n % 4
    if kind == 0:
        row.update(status="completed", acknowledged_at=T0 + timedelta(hours=2), ack_channel="workbench",
                   completed_at=T0 + timedelta(days=1), complete_channel="workbench")
    elif kind == 1:
        row.update(status="acknowledged", acknowledged_at=T0 + timedelta(hours=2), ack_channel="card")
    elif kind == 2:
        row.update(reminders=2, overdue_at=DEADLINE)
    else:
        row.update(status="undeliverable", delivered_at=None, undeliverable="invaliduser")
    return row


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def compact(text: str) -> str:
    return re.sub(r"\s+", "", text)


def test_r16_receipt_pdf_shows_content_hashes_people_and_chain_head(sessions):
    with sessions.begin() as session:
        directive = make_directive(session)
        versions = {v.version: v.content_hash for v in session.query(DirectiveVersion)}
        seq, head = ledger.head(session)
    with sessions() as session:
        data = receipt_pdf(session, SETTINGS, directive.id, now=T0 + timedelta(days=5))
        last_hash = session.query(ledger.LedgerEntry).filter_by(seq=seq).one().hash
    assert data.startswith(b"%PDF")
    text = pdf_text(data)
    flat = compact(text)
    assert compact(TITLE) in flat and "春节期间请按排班表值班。<务必>&准时" in flat
    assert directive.content_hash in flat and versions[1] in flat and versions[2] in flat
    for n in range(4):
        assert f"user{n:05d}" in text
    assert head in flat and last_hash == head
    assert compact(f"wecom-app ledger verify --head {head}") in flat
    assert "2027-03-05 18:00:00" in text and "2027-03-01 09:30:00" in text  # Asia/Shanghai
    assert "2027-03-01 11:30:00 消息卡片" in text and "invaliduser" in text
    assert "须办结" in text and "紧急" in text and "员工1" in text and "销售部" in text
    assert "张三（zhangsan）" in flat  # the issuer by name, userid beside (issue 13 item 7)


def test_r16_receipt_pdf_of_a_revoked_directive_says_so(sessions):
    with sessions.begin() as session:
        directive = make_directive(session, 2)
        directive.status, directive.revoked_at, directive.revoked_by = "revoked", DEADLINE, "lisi"
        directive.revoke_reason = "排班调整"
    with sessions() as session:
        text = pdf_text(receipt_pdf(session, SETTINGS, directive.id))
    assert compact("已撤回 2027-03-05 18:00:00（lisi）：排班调整") in compact(text) and "【已撤回】" in text


def test_r16_receipt_xlsx_cells(sessions):
    with sessions.begin() as session:
        directive = make_directive(session)
        session.get(User, "user00001").name = "=HYPERLINK(\"http://evil\")"
        _, head = ledger.head(session)
    with sessions() as session:
        book = load_workbook(io.BytesIO(receipt_xlsx(session, SETTINGS, directive.id, now=DEADLINE)))
    assert book.sheetnames == ["签收单", "版本", "签收明细"]
    facts = {row[0]: row[1] for row in book["签收单"].iter_rows(values_only=True)}
    assert facts["标题"] == TITLE and facts["内容哈希 (SHA-256)"] == directive.content_hash
    assert facts["截止时间"] == datetime(2027, 3, 5, 18, 0) and facts["要求"] == "须办结 (completion)"  # a date
    assert facts["发布人"] == "张三（zhangsan）" and facts["时区"] == "Asia/Shanghai"
    assert facts["应签收人数"] == 4 and facts["已办结"] == 1 and facts["逾期"] == 1 and facts["无法送达"] == 1
    assert facts["提醒合计"] == 2 and head in facts["证据链链头 (导出时)"]
    assert f"wecom-app ledger verify --head {head}" in facts["核验方法"]
    versions = list(book["版本"].iter_rows(values_only=True))
    assert [row[:2] for row in versions[1:]] == [(1, None), (2, "是")] and versions[2][6] == "补充排班要求"
    assert versions[1][4:6] == (datetime(2027, 3, 1, 9, 30), "张三（zhangsan）")
    people = list(book["签收明细"].iter_rows(values_only=True))
    assert people[0][:7] == ("userid", "姓名", "部门", "状态", "状态代码", "送达", "收到")
    assert people[1] == ("user00000", "员工0", "销售部", "已办结", "completed", datetime(2027, 3, 1, 10, 31),
                         datetime(2027, 3, 1, 11, 30), "工作台", datetime(2027, 3, 2, 9, 30), "工作台", 0, None, None)
    assert people[2][1] == "'=HYPERLINK(\"http://evil\")"  # never a formula
    assert people[3][3:5] == ("逾期", "overdue") and people[3][10:12] == (2, datetime(2027, 3, 5, 18, 0))
    assert people[4][4] == "undeliverable" and people[4][5] is None and people[4][12] == "invaliduser"
    dates = [c for c in next(book["签收明细"].iter_rows(min_row=2, max_row=2)) if c.value is not None][5:9]
    assert all(c.is_date and c.number_format == "yyyy-mm-dd hh:mm:ss" for c in dates[:2])  # Excel's dates


def test_r16_receipt_xlsx_names_are_never_formulas(sessions):
    """Issue 10: every text goes through the one cell function (xlsx.cell) — a formula
    behind a leading tab too, and a control character openpyxl refuses is dropped."""
    with sessions.begin() as session:
        directive = make_directive(session)
        session.get(User, "user00001").name = '=HYPERLINK("http://x","click")'
        session.get(User, "user00002").name = "\t=HYPERLINK(\"http://x\")"
        session.get(Department, 2).name = "销售\x01部"
    with sessions() as session:
        book = load_workbook(io.BytesIO(receipt_xlsx(session, SETTINGS, directive.id, now=DEADLINE)))
    people = list(book["签收明细"].iter_rows(values_only=True))
    assert people[2][1] == "'=HYPERLINK(\"http://x\",\"click\")" and people[3][1] == "'\t=HYPERLINK(\"http://x\")"
    assert people[1][2] == "销售部"
    assert not any(c.data_type == "f" for sheet in book for line in sheet.iter_rows() for c in line)


def test_r16_receipt_sheet_of_an_unknown_directive_is_missing(sessions):
    from wecom_app.directives.issue import DirectiveError

    with sessions() as session, pytest.raises(DirectiveError) as caught:
        receipt_pdf(session, SETTINGS, 999)
    assert caught.value.missing


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_r16_receipt_sheet_of_10000_people_paginates(sessions):
    with sessions.begin() as session:
        directive = make_directive(session, 10_000)
    with sessions() as session:  # how long it takes is a figure for bench/, not an assertion here
        data = receipt_pdf(session, SETTINGS, directive.id)
        book = load_workbook(io.BytesIO(receipt_xlsx(session, SETTINGS, directive.id)), read_only=True)
    pages = PdfReader(io.BytesIO(data)).pages
    assert len(pages) > 100 and len(data) < 1_000_000  # embedded font subsets included: measured 0.90 MB
    last = pages[-1].extract_text()
    assert "user09999" in last and "userid" in last  # the header repeats on every page
    assert sum(1 for _ in book["签收明细"].iter_rows(values_only=True)) == 10_001


def test_r16_receipt_sheet_of_an_issued_and_acknowledged_directive(world):
    """Issued, delivered and acknowledged by the real code paths (emulator): the sheet's
    chain head is one `ledger verify --head` accepts."""
    from tests.directives.test_r16_directives import issue, send_and_settle, task_of

    directive_id = issue(world)
    send_and_settle(world)
    push(world, world.state.click("lina", task_of(world, directive_id), "ack"))
    with world.sessions() as session:
        book = load_workbook(io.BytesIO(receipt_xlsx(session, world.settings, directive_id)))
        text = pdf_text(receipt_pdf(session, world.settings, directive_id))
        _, head = ledger.head(session)
        assert ledger.verify(session, expect_head=head).ok
    people = {row[0]: row for row in book["签收明细"].iter_rows(min_row=2, values_only=True)}
    assert set(people) == {"lina", "chenjing", "zhaolei"}
    assert people["lina"][4] == "acknowledged" and isinstance(people["lina"][6], datetime)
    assert people["lina"][7] == "消息卡片"
    assert people["chenjing"][4] == "delivered"
    assert "周五前提交季度报表" in text and head in compact(text)
