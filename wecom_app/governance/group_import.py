"""Registering (备案) many existing groups at once from a spreadsheet (issue 13 item 9):
the office fills in the template (XLSX or CSV, one group a row, the columns of the
workbench's 登记已有群 form) and uploads it in 群管理, or runs `wecom-app groups import FILE`.

- `read_file` turns the upload into rows, refusing what is not a spreadsheet we can
  read (a wrong type, a damaged file, too big, too many rows, no header) with one
  Chinese sentence: `FileRefused`.
- `import_groups` judges every row and registers every group through
  `registry.register_group`, the same rules as the form and `POST /api/v1/groups/register`,
  each row in a savepoint. People are named by userid or by a name only one person
  has (directory/people.py `resolve`, as the people picker's forms do); departments and
  tags by id or name. Duplicates within the file and names already held by a group are
  refused here. Every problem of every row is collected (row number, column, Chinese
  message); if there is any, `ImportRejected` is raised so the caller's transaction rolls
  back and nothing of the file is kept.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import unicodedata
import zipfile
from datetime import date, datetime
from pathlib import PurePath
from xml.etree.ElementTree import ParseError

from openpyxl import Workbook, load_workbook
from openpyxl.utils.exceptions import InvalidFileException
from sqlalchemy import select

from wecom_app import xlsx
from wecom_app.audit import audit
from wecom_app.directory import people
from wecom_app.governance import registry
from wecom_app.governance.registry_words import registry_message
from wecom_app.models import Department, Group, Tag

MAX_BYTES = 200 * 1024  # under the app's request limit (CALLBACK_MAX_BYTES, 256 KiB) with room for the form
MAX_ROWS = 500  # groups in one file: a page of results a person can read through
MAX_UNPACKED = 20_000_000  # bytes of an .xlsx once unzipped: a full template is well under 1 MB


@dataclasses.dataclass(frozen=True)
class Column:
    key: str
    header: str  # as the 登记已有群 form labels the field
    example: str
    help: str


COLUMNS = (
    Column("kind", "群类型", "内部群", "必填：客户群 或 内部群（应用管理群请在「新建应用管理群」创建）"),
    Column("chat_id", "群 ID（chat_id）", "", "客户群必填（客户群列表里的 chat_id）；内部群可不填"),
    Column("name", "群名称", "示例-行政部通知群", "必填，须符合公司的群命名规范，不能与已有的群同名"),
    Column("owner", "群主", "zhangsan", "必填：企业微信账号（userid），或通讯录中只有一人叫的姓名"),
    Column("custodian", "专管人员", "lisi", "必填：userid 或姓名"),
    Column("departments", "范围：部门", "行政部", "部门 ID 或名称，多个用逗号或顿号分开；含下级部门"),
    Column("tags", "范围：标签", "", "标签 ID 或名称，多个用逗号分开"),
    Column("users", "范围：人员", "", "userid 或姓名，多个用逗号分开"),
    Column("exclude", "排除人员", "", "userid 或姓名，多个用逗号分开"),
    Column("allow_external", "允许外部联系人", "否", "是 或 否（不填为否）"),
    Column("robot_webhook", "群机器人 Webhook", "", "内部群发公告用：…/cgi-bin/webhook/send?key=…（可不填）"),
)
HEADER = {c.key: c.header for c in COLUMNS}
REQUIRED = ("kind", "name", "owner", "custodian")
EXAMPLE = tuple(c.example for c in COLUMNS)
KINDS = {"客户群": "customer", "内部群": "internal", "customer": "customer", "internal": "internal",
         "内部群（备案）": "internal", "内部群（普通群，仅登记）": "internal"}
YES, NO = {"是", "y", "yes", "true", "1", "允许"}, {"", "否", "n", "no", "false", "0", "不允许"}
COLUMN_OF = {"kind": "kind", "chat_id": "chat_id", "name": "name", "owner": "owner", "custodian": "custodian",
             "scope": "departments", "scope.departments": "departments", "scope.tags": "tags",
             "scope.users": "users", "scope.exclude": "exclude", "allow_external": "allow_external",
             "robot_webhook": "robot_webhook"}
NAMED = ("creating", "active")  # groups that hold their name (a dismissed one does not)


class FileRefused(ValueError):
    """The upload is not a spreadsheet of registrations we can read: one sentence, in Chinese."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclasses.dataclass(frozen=True)
class RowError:
    row: int  # as the spreadsheet numbers it (the header is row 1)
    column: str  # the column's header
    message: str


class ImportRejected(Exception):
    """Some rows are wrong: every problem, and nothing was imported."""

    def __init__(self, errors: list[RowError], rows: int):
        super().__init__(f"{len(errors)} problems in {rows} rows")
        self.errors, self.rows = errors, rows


# -- the template ---------------------------------------------------------------------------------


def template_xlsx() -> bytes:
    """The header row, an example row, and a second sheet saying how to fill each column."""
    book = Workbook()
    sheet = book.active
    sheet.title = "群登记"
    sheet.append(xlsx.row(c.header for c in COLUMNS))
    sheet.append(xlsx.row(EXAMPLE))
    for letter, column in zip("ABCDEFGHIJK", COLUMNS):
        sheet.column_dimensions[letter].width = max(12, 2 * len(column.header) + 4)
    sheet.freeze_panes = "A2"
    notes = book.create_sheet("填写说明")
    notes.append(["列", "怎么填"])
    for column in COLUMNS:
        notes.append(xlsx.row((column.header, column.help)))
    notes.append(xlsx.row(("", f"第 2 行是示例，请改成要登记的群或删除；一次最多 {MAX_ROWS} 个群。")))
    notes.column_dimensions["A"].width, notes.column_dimensions["B"].width = 18, 80
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def template_csv() -> bytes:
    """The same columns as CSV, UTF-8 with a BOM so that Excel shows the Chinese."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([c.header for c in COLUMNS])
    writer.writerow(xlsx.row(EXAMPLE))
    return ("\ufeff" + out.getvalue()).encode("utf-8")


# -- reading the file -----------------------------------------------------------------------------


def read_file(filename: str, data: bytes) -> list[tuple[int, dict[str, str]]]:
    """[(row number, {column key: text})] of the rows that are not blank; FileRefused otherwise."""
    if not data:
        raise FileRefused("文件是空的")
    if len(data) > MAX_BYTES:
        raise FileRefused(f"文件超过 {MAX_BYTES // 1024} KB 的上限：请分成几个文件导入")
    suffix = PurePath(filename or "").suffix.lower()
    if suffix == ".xls" or data.startswith(b"\xd0\xcf\x11\xe0"):  # the old binary Excel format
        raise FileRefused("不支持旧版 Excel 文件（.xls）：请在 Excel 中「另存为」.xlsx 后上传")
    if suffix == ".xlsx":
        table = _xlsx_rows(data)
    elif suffix == ".csv":
        table = _csv_rows(data)
    else:
        raise FileRefused("只能导入 .xlsx 或 .csv 文件：请下载模板填写")
    return _records(table)


def _xlsx_rows(data: bytes):
    if not data.startswith(b"PK\x03\x04"):  # every .xlsx is a zip archive
        raise FileRefused("这不是有效的 .xlsx 文件（可能已损坏，或只是改了扩展名）：请用 Excel 另存为 .xlsx")
    try:
        unpacked = sum(item.file_size for item in zipfile.ZipFile(io.BytesIO(data)).infolist())
    except (zipfile.BadZipFile, ValueError):
        raise FileRefused("无法读取这个 .xlsx 文件（文件已损坏或不是 Excel 表格）：请用 Excel 打开后另存为 .xlsx") from None
    if unpacked > MAX_UNPACKED:  # openpyxl reads shared strings whole: a small zip may unpack to gigabytes
        raise FileRefused(f"文件解压后超过 {MAX_UNPACKED // 1_000_000} MB：模板填满 {MAX_ROWS} 行也远小于此，请检查文件")
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        try:
            sheet = book.worksheets[0]
            rows = []
            for values in sheet.iter_rows(max_col=len(COLUMNS) + 5, values_only=True):
                rows.append([_text(v) for v in values])
                if len(rows) > MAX_ROWS + 50:  # blank rows are skipped later; enough to tell "too many"
                    break
            return rows
        finally:
            book.close()
    except (zipfile.BadZipFile, InvalidFileException, KeyError, IndexError, ValueError, TypeError, ParseError,
            OSError, EOFError):
        # a damaged or foreign zip: openpyxl raises any of these, never a reason worth showing
        raise FileRefused("无法读取这个 .xlsx 文件（文件已损坏或不是 Excel 表格）：请用 Excel 打开后另存为 .xlsx") from None


def _csv_rows(data: bytes):
    for encoding in ("utf-8-sig", "gb18030"):  # Excel in China saves CSV as GBK unless told UTF-8
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise FileRefused("无法识别 CSV 文件的编码：请保存为「CSV UTF-8」格式")
    if "\x00" in text:
        raise FileRefused("这不是文本格式的 CSV 文件：请下载模板，用 Excel 另存为「CSV UTF-8」")
    try:
        return [row for row, _ in zip(csv.reader(io.StringIO(text, newline=""), strict=True), range(MAX_ROWS + 52))]
    except csv.Error as exc:
        raise FileRefused(f"CSV 格式有误：{exc}（请检查引号是否成对）") from None


def _text(value) -> str:
    """A cell as text: numbers without `.0` (a userid of digits), dates as YYYY-MM-DD."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return str(value).strip()


def _key(text: str) -> str:
    """Headers compared without width, case or spaces: 群 ID(chat_id) is 群 ID（chat_id）."""
    return "".join(unicodedata.normalize("NFKC", text or "").casefold().split())


HEADERS = {**{_key(c.header): c.key for c in COLUMNS}, **{_key(c.key): c.key for c in COLUMNS}}


def _records(table) -> list[tuple[int, dict[str, str]]]:
    numbered = [(n, [str(v).strip() for v in row]) for n, row in enumerate(table, start=1)]
    numbered = [(n, row) for n, row in numbered if any(row)]
    if not numbered:
        raise FileRefused("文件里没有内容：请下载模板填写")
    header_row, header = numbered[0]
    keys = []
    for text in header:
        key = HEADERS.get(_key(text)) if text else None
        if text and key is None:
            raise FileRefused(f"第 {header_row} 行（表头）有不认识的列「{text}」：请使用模板的表头")
        if key is not None and key in keys:
            raise FileRefused(f"第 {header_row} 行（表头）的列「{text}」重复了")
        keys.append(key)
    missing = [HEADER[k] for k in REQUIRED if k not in keys]
    if missing:
        raise FileRefused(f"第 {header_row} 行（表头）缺少列：{'、'.join(missing)}。请使用模板的表头")
    records = [(n, {key: (row[i] if i < len(row) else "") for i, key in enumerate(keys) if key})
               for n, row in numbered[1:]]
    if not records:
        raise FileRefused(f"文件里只有表头：请从第 {header_row + 1} 行起每行填写一个群")
    if len(records) > MAX_ROWS:
        raise FileRefused(f"一次最多导入 {MAX_ROWS} 个群，这个文件超过了：请分成几个文件")
    return records


# -- judging and importing ------------------------------------------------------------------------


def import_groups(session, settings, records, *, actor: str, now: datetime, source: str = "") -> list[Group]:
    """Register every row's group, or none: ImportRejected with every problem (the caller's
    transaction must roll back, as `with sessions.begin()` does when it propagates)."""
    errors: list[RowError] = []
    taken = {registry_name_key(name): group_id for group_id, name in
             session.execute(select(Group.id, Group.name).where(Group.status.in_(NAMED)))}
    names_seen: dict[str, int] = {}
    chats_seen: dict[str, int] = {}
    groups = []
    for number, record in records:
        problems = []

        def refuse(key: str, message: str) -> None:
            problems.append(RowError(number, HEADER[key], message))

        fields = _fields(session, record, refuse)
        if tuple(record.get(c.key, "") for c in COLUMNS) == EXAMPLE:
            refuse("name", "这是模板的示例行：请改成要登记的群，或删除这一行")
        name_key = registry_name_key(fields["name"])
        if name_key and name_key in names_seen:
            refuse("name", f"与第 {names_seen[name_key]} 行的群名称重复")
        elif name_key and name_key in taken:
            refuse("name", f"已有同名的群（群 {taken[name_key]}）：群名称不能重复")
        names_seen.setdefault(name_key, number)
        chat_id = fields["chat_id"]
        if chat_id and chat_id in chats_seen:
            refuse("chat_id", f"与第 {chats_seen[chat_id]} 行的群 ID 重复")
        if chat_id:
            chats_seen.setdefault(chat_id, number)
        if not problems:
            try:
                with session.begin_nested():  # a refused row leaves nothing behind
                    groups.append(registry.register_group(session, settings, **fields, actor=actor, now=now))
            except registry.RegistryError as exc:
                refuse(COLUMN_OF.get(exc.field, "name"), registry_message(exc))
        errors.extend(problems)
    if errors:
        raise ImportRejected(errors, len(records))
    audit(session, actor, "group.import", "groups", now=now, rows=len(records), source=source,
          groups=[g.id for g in groups])
    return groups


def registry_name_key(name: str) -> str:
    """Two group names are the same whatever their width, case and spacing."""
    return " ".join(unicodedata.normalize("NFKC", name or "").casefold().split())


def _fields(session, record: dict[str, str], refuse) -> dict:
    """The row as register_group's arguments; what cannot be read is refused by column."""
    kind_text = record.get("kind", "")
    kind = KINDS.get(kind_text) or KINDS.get(kind_text.lower())
    if not kind_text:
        refuse("kind", "请填写群类型：客户群 或 内部群")
    elif kind is None:
        refuse("kind", "应用管理群请在「新建应用管理群」创建，导入只登记已有的客户群和内部群"
               if kind_text in ("应用管理群", "managed") else f"「{kind_text}」不是群类型：填写 客户群 或 内部群")
    name = record.get("name", "")
    if not name:
        refuse("name", "请填写群名称")
    allow = record.get("allow_external", "").lower()
    if allow not in YES | NO:
        refuse("allow_external", f"「{record.get('allow_external')}」：请填写 是 或 否")
    return dict(kind=kind or "internal", chat_id=record.get("chat_id") or None, name=name,
                owner=_one_person(session, record, "owner", refuse), custodian=_one_person(session, record, "custodian", refuse),
                scope=dict(departments=_ids(session, record, "departments", Department, refuse),
                           tags=_ids(session, record, "tags", Tag, refuse),
                           users=_people(session, record, "users", refuse),
                           exclude=_people(session, record, "exclude", refuse)),
                allow_external=allow in YES, robot_webhook=record.get("robot_webhook") or None)


def _people(session, record, key: str, refuse) -> list[str]:
    found = people.resolve(session, record.get(key, ""))
    for message in found.errors():
        refuse(key, message)
    return found.userids


def _one_person(session, record, key: str, refuse) -> str:
    if not record.get(key):
        refuse(key, f"请填写{HEADER[key]}（userid 或姓名）")
        return ""
    if len(people.tokens(record[key])) > 1:
        refuse(key, f"{HEADER[key]}只能填一人")
        return ""
    userids = _people(session, record, key, refuse)
    return userids[0] if userids else ""


def _ids(session, record, key: str, model, refuse) -> list[int]:
    """Department or tag ids, each written as its id or its name (a name two share is asked about)."""
    what = "部门" if model is Department else "标签"
    ids = []
    for token in people.tokens(record.get(key, "")):
        if token.isdigit():
            ids.append(int(token))
            continue
        where = [model.name == token] + ([Department.deleted.is_(False)] if model is Department else [])
        found = session.scalars(select(model.id).where(*where).order_by(model.id)).all()
        if len(found) == 1:
            ids.append(found[0])
        elif found:
            refuse(key, f"有 {len(found)} 个{what}叫「{token}」：请填写{what} ID（{'、'.join(map(str, found))}）")
        else:
            refuse(key, f"通讯录中没有{what}「{token}」")
    return list(dict.fromkeys(ids))
