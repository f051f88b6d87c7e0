"""群管理 › 批量登记 (issue 13 item 9) through the Flask test client: the template, a file
of registrations imported whole (R7), one bad row refusing the whole file with every
problem named by row and column, and every kind of file we cannot read refused in one
Chinese sentence with nothing written (never a 500)."""

from __future__ import annotations

import csv
import io

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from tests.plugins.workbench import as_user, csrf_of, rt
from wecom_app.governance import group_import
from wecom_app.models import AuditEntry, Group, OutboxAction

HEADER = [c.header for c in group_import.COLUMNS]
CUSTOMER_CHAT = "wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA"  # 华东客户交流群 in the emulator (sandbox/seed.py)


admin = as_user  # the office admin zhangwei unless told


def row(kind="内部群", chat_id="", name="研发部-技术交流群", owner="caoyang", custodian="pengfei", departments="研发部",
        tags="", users="", exclude="", allow_external="否", robot_webhook=""):
    return [kind, chat_id, name, owner, custodian, departments, tags, users, exclude, allow_external, robot_webhook]


def xlsx_file(*rows, header=HEADER) -> bytes:
    book = Workbook()
    book.active.append(header)
    for values in rows:
        book.active.append(values)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def csv_file(*rows, header=HEADER, encoding="utf-8-sig") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode(encoding)


def upload(client, data: bytes, filename="groups.xlsx"):
    token = csrf_of(client.get("/groups/import").text)
    return client.post("/groups/import", data={"csrf_token": token, "file": (io.BytesIO(data), filename)},
                       content_type="multipart/form-data")


def written(wb) -> tuple[int, int, int]:
    with rt(wb).sessions() as db:
        return (db.scalar(select(func.count()).select_from(Group)),
                db.scalar(select(func.count()).select_from(OutboxAction)),
                db.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action.like("group.%"))))


def test_r7_the_template_has_the_forms_columns_in_chinese_and_an_example_row(wb, sandbox_state):
    client = admin(wb, sandbox_state)
    assert 'data-test="import-groups"' in client.get("/groups").text
    answer = client.get("/groups/import/template.xlsx")
    assert answer.status_code == 200 and "attachment" in answer.headers["Content-Disposition"]
    sheet = load_workbook(io.BytesIO(answer.data)).worksheets[0]
    rows = [[v or "" for v in r] for r in sheet.iter_rows(values_only=True)]
    assert rows[0] == HEADER and rows[0][:3] == ["群类型", "群 ID（chat_id）", "群名称"]
    assert rows[1] == list(group_import.EXAMPLE) and len(rows) == 2
    text = client.get("/groups/import/template.csv").data.decode("utf-8")
    assert text.startswith("\ufeff群类型,") and "示例-行政部通知群" in text


def test_r7_only_an_admin_imports(wb, sandbox_state):
    client = admin(wb, sandbox_state, "zhuxia")
    for url in ("/groups/import", "/groups/import/template.xlsx"):
        assert client.get(url).status_code == 403
    assert client.post("/groups/import", data={}).status_code in (400, 403)  # no CSRF token, no role
    assert written(wb) == (0, 0, 0)


def test_r7_a_file_of_registrations_is_imported_through_the_registry(wb, sandbox_state):
    client = admin(wb, sandbox_state)
    data = xlsx_file(row(owner="曹阳", custodian="彭飞", users="zenglin、xiaojian", exclude="tianyu"),
                     row(kind="客户群", chat_id=CUSTOMER_CHAT, name="华东客户交流群", owner="hujie", custodian="wujun",
                         departments="6", tags="销售骨干", allow_external="是"))
    answer = upload(client, data)
    assert answer.status_code == 302 and answer.location.endswith("/groups")
    assert "已从「groups.xlsx」登记 2 个群" in client.get("/groups").text
    with rt(wb).sessions() as db:
        groups = {g.name: g for g in db.scalars(select(Group))}
        audit = db.scalar(select(AuditEntry).where(AuditEntry.action == "group.import"))
    internal, customer = groups["研发部-技术交流群"], groups["华东客户交流群"]
    assert internal.kind == "internal" and internal.owner == "caoyang" and internal.custodian == "pengfei"
    assert internal.scope == {"departments": [8], "tags": [], "users": ["zenglin", "xiaojian"], "exclude": ["tianyu"]}
    assert customer.kind == "customer" and customer.chat_id == CUSTOMER_CHAT and customer.allow_external
    assert customer.scope["departments"] == [6] and customer.scope["tags"] == [2] and customer.status == "active"
    assert audit.actor == "zhangwei" and audit.details["rows"] == 2 and audit.details["source"] == "groups.xlsx"


def test_r7_one_bad_row_refuses_the_whole_file_and_every_problem_is_named(wb, sandbox_state):
    client = admin(wb, sandbox_state)
    before = written(wb)
    data = xlsx_file(row(),
                     row(kind="群聊", name="财务部-报销群", owner="ghost1", custodian="李娜", departments="研发部，采购部",
                         users="ghost2", allow_external="也许"),
                     row(owner="jiayun", custodian="pengfei"),
                     row(name="行政部通知群🙂", owner="wangfang", custodian="lina"))
    answer = upload(client, data)
    assert answer.status_code == 422 and 'data-test="import-rejected"' in answer.text
    assert "共 4 行，发现" in answer.text and "没有导入任何群" in answer.text
    report = answer.text.split('data-test="import-errors"', 1)[1]
    expected = [
        (3, "群类型", "「群聊」不是群类型"),
        (3, "群主", "通讯录中没有：ghost1"),
        (3, "专管人员", "有 2 位「李娜」，请选择是哪一位"),
        (3, "范围：部门", "通讯录中没有部门「采购部」"),
        (3, "范围：人员", "通讯录中没有：ghost2"),
        (3, "允许外部联系人", "「也许」：请填写 是 或 否"),
        (4, "群名称", "与第 2 行的群名称重复"),
        (5, "群名称", "群名称须为 2–50 个字"),  # the registry's own rule, in the form's words
    ]
    for number, column, words in expected:
        block = report.split(f'<tr data-row="{number}">')
        assert any(column in part.split("</tr>")[0] and words in part.split("</tr>")[0] for part in block[1:]), \
            (number, column, words)
    assert 'data-row="2"' not in report  # the good row is not blamed, and not imported either
    assert written(wb) == before


def test_r7_registry_refusals_come_back_per_row_and_nothing_is_kept(wb, sandbox_state):
    """A row that passes the file's checks is still judged by registry.register_group (one rule
    for the form, the API and the import): an inactive owner, then the whole file rolls back."""
    client = admin(wb, sandbox_state)
    answer = upload(client, xlsx_file(row(), row(name="研发部-值班群", owner="jiayun")))
    assert answer.status_code == 422
    assert '<tr data-row="3">' in answer.text and "jiayun 不是本企业已激活的在职成员（R1）" in answer.text
    assert written(wb) == (0, 0, 0)


def test_r8_a_name_an_existing_group_holds_is_refused(wb, sandbox_state):
    with rt(wb).sessions.begin() as db:
        db.add(Group(kind="internal", name="研发部-技术交流群", owner="caoyang", custodian="pengfei", status="active"))
    answer = upload(admin(wb, sandbox_state), csv_file(row(name="研发部-技术交流群 ")), "groups.csv")
    assert answer.status_code == 422 and "已有同名的群（群 1）" in answer.text


def test_r7_the_template_example_row_is_not_imported(wb, sandbox_state):
    client = admin(wb, sandbox_state)
    answer = upload(client, client.get("/groups/import/template.csv").data, "群登记模板.csv")
    assert answer.status_code == 422 and "这是模板的示例行" in answer.text
    assert written(wb) == (0, 0, 0)


def test_r7_a_gbk_csv_from_excel_is_read(wb, sandbox_state):
    answer = upload(admin(wb, sandbox_state), csv_file(row(), encoding="gb18030"), "groups.csv")
    assert answer.status_code == 302 and written(wb)[0] == 1


@pytest.mark.parametrize("filename, data, words", [
    ("groups.xlsx", b"", "文件是空的"),
    ("groups.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, "不支持旧版 Excel 文件（.xls）"),
    ("groups.txt", b"kind,name\n", "只能导入 .xlsx 或 .csv 文件"),
    ("groups.xlsx", "群类型,群名称\n".encode(), "这不是有效的 .xlsx 文件"),
    ("groups.xlsx", b"PK\x03\x04" + b"\x00garbage" * 50, "无法读取这个 .xlsx 文件"),
    ("groups.csv", b"\x00\x01\x02binary", "这不是文本格式的 CSV 文件"),
    ("groups.csv", "群类型,群名称,群主,专管人员,座位号\n".encode(), "有不认识的列「座位号」"),
    ("groups.csv", "群类型,群名称\n内部群,研发部-交流群\n".encode(), "缺少列：群主、专管人员"),
    ("groups.csv", ",".join(HEADER).encode(), "文件里只有表头"),
    ("groups.csv", '群类型,群名称,群主,专管人员\n内部群,"研发部\n'.encode(), "CSV 格式有误"),
    ("groups.csv", csv_file(*[row(name=f"研发部-群{i}") for i in range(group_import.MAX_ROWS + 1)]),
     f"一次最多导入 {group_import.MAX_ROWS} 个群"),
    ("groups.csv", b"x" * (group_import.MAX_BYTES + 1), "文件超过 200 KB 的上限"),
])
def test_a_file_that_cannot_be_read_is_refused_in_one_sentence(wb, sandbox_state, filename, data, words):
    answer = upload(admin(wb, sandbox_state), data, filename)
    assert answer.status_code == 422 and 'data-test="import-refused"' in answer.text and words in answer.text
    assert written(wb) == (0, 0, 0)


def test_no_file_and_a_body_over_the_request_limit_are_refused_in_chinese(wb, sandbox_state):
    client = admin(wb, sandbox_state)
    token = csrf_of(client.get("/groups/import").text)
    answer = client.post("/groups/import", data={"csrf_token": token}, content_type="multipart/form-data")
    assert answer.status_code == 422 and "请选择要上传的 .xlsx 或 .csv 文件" in answer.text
    huge = client.post("/groups/import", data={"csrf_token": token, "file": (io.BytesIO(b"x" * 300_000), "a.csv")},
                       content_type="multipart/form-data")
    assert huge.status_code == 413 and "文件太大" in huge.text
