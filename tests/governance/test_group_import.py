"""Importing group registrations (备案) from a spreadsheet (governance/group_import.py,
issue 13 item 9) without a browser: what `read_file` reads out of a file, and how
`import_groups` judges rows through the registry, all or nothing."""

from __future__ import annotations

import io
import zipfile

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from wecom_app.governance import group_import
from wecom_app.governance.registry import discover_customer_group as discover
from wecom_app.models import Department, Group

HUADONG_CHAT = "wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA"


def xlsx(*rows) -> bytes:
    book = Workbook()
    for values in rows:
        book.active.append(values)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def run(world, records):
    with world.sessions.begin() as session:
        return [g.id for g in group_import.import_groups(session, world.settings, records, actor="zhangwei",
                                                         now=world.now(), source="t.xlsx")]


def groups(world) -> int:
    with world.sessions() as session:
        return session.scalar(select(func.count()).select_from(Group))


def test_cells_are_read_as_text_and_headers_forgive_width_and_spacing():
    data = xlsx(["群类型", "群ID(chat_id)", "群名称", "群主", "专管人员", "允许外部联系人"],
                [None, None, None, None, None, None],  # a blank row is skipped, the numbering kept
                ["内部群", None, "研发部-周会", 13800000000.0, "pengfei", True])
    ((number, record),) = group_import.read_file("g.xlsx", data)
    assert number == 3 and record["owner"] == "13800000000" and record["allow_external"] == "是"
    assert record["chat_id"] == "" and "tags" not in record  # an absent optional column is simply not there


def test_r7_a_discovered_customer_group_is_registered_by_its_chat_id(world):
    with world.sessions.begin() as session:
        found = discover(session, HUADONG_CHAT, world.now()).id
    record = dict(kind="客户群", chat_id=HUADONG_CHAT, name="华东客户交流群", owner="hujie", custodian="wujun",
                  departments="华东销售组", allow_external="是")
    assert run(world, [(2, record)]) == [found]
    with world.sessions() as session:
        group = session.get(Group, found)
        assert group.status == "active" and group.scope["departments"] == [6] and group.allow_external


def test_r7_rows_naming_one_chat_twice_or_an_ambiguous_department_are_refused_together(world):
    with world.sessions.begin() as session:
        session.add(Department(id=99, name="研发部", parentid=5))  # a second 研发部, under 销售部
    base = dict(kind="客户群", owner="hujie", custodian="wujun", allow_external="是")
    records = [(2, dict(base, chat_id=HUADONG_CHAT, name="华东客户交流群")),
               (3, dict(base, chat_id=HUADONG_CHAT, name="华东客户二群", departments="研发部"))]
    with pytest.raises(group_import.ImportRejected) as rejected:
        run(world, records)
    found = {(e.row, e.column, e.message) for e in rejected.value.errors}
    assert found == {(3, "群 ID（chat_id）", "与第 2 行的群 ID 重复"),
                     (3, "范围：部门", "有 2 个部门叫「研发部」：请填写部门 ID（8、99）")}
    assert groups(world) == 0


def test_r7_a_managed_group_is_not_imported(world):
    record = dict(kind="应用管理群", name="研发部-周会", owner="caoyang", custodian="pengfei")
    with pytest.raises(group_import.ImportRejected) as rejected:
        run(world, [(2, record)])
    (error,) = rejected.value.errors
    assert error.column == "群类型" and "新建应用管理群" in error.message


def test_an_xlsx_that_unpacks_to_more_than_the_limit_is_refused_before_it_is_read():
    """A zip bomb: under the upload limit packed, tens of megabytes unpacked (openpyxl would read
    the shared strings whole)."""
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/sharedStrings.xml", b"<si>" + b"0" * (group_import.MAX_UNPACKED + 1) + b"</si>")
    assert len(packed.getvalue()) < group_import.MAX_BYTES
    with pytest.raises(group_import.FileRefused, match="解压后超过"):
        group_import.read_file("登记.xlsx", packed.getvalue())
