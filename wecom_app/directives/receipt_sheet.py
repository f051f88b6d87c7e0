"""The receipt sheet (签收单) of one directive (R16), as PDF (reportlab) and XLSX
(openpyxl): what the paper notice and its signature list were.

It shows the frozen content (the current version's title and body, and every
version with its SHA-256 and time), issuer, issue time, deadline, what is required,
the urgent and confidential flags and the status (a revocation with its reason);
one row per person (userid, name, department, status, delivered / acknowledged /
completed times with the channel, reminders, when they became overdue) and the
totals; and the evidence ledger's head at export time with the directive's own
last ledger row, with how to check them: `wecom-app ledger verify --head <hash>`
fails if the chain was altered, or no longer passes through that head, since.

Every time is in the company's time zone (`settings.timezone`): `YYYY-MM-DD HH:MM:SS` in the PDF,
a real spreadsheet date in the XLSX (`xlsx.append`); people read as 「曹阳（caoyang）」 (issue 13 item 7).
Pure functions of the database (no Flask): the endpoint that serves them decides
who may see a directive's content, confidential ones included (R12).

Every font in the PDF is embedded, subset (`pdf_fonts`): WenQuanYi Micro Hei, its
monospaced face for hashes and commands, so any viewer shows the Chinese (issue 13).
"""

from __future__ import annotations

import io
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

from sqlalchemy import select

from wecom_app import pdf_fonts
from wecom_app.db import utcnow
from wecom_app import labels
from wecom_app.labels import CHANNELS, RECEIPT_STATUSES, REQUIRES
from wecom_app.directives import ledger
from wecom_app.directives.issue import get as get_directive
from wecom_app.directives.issue import receipt_status
from wecom_app.models import Department, Directive, DirectiveReceipt, DirectiveVersion, LedgerEntry, User
from wecom_app.models.directives import done_at

FONT = pdf_fonts.SANS
MONO = pdf_fonts.MONO
MONO_RUN = re.compile(r"(wecom-app ledger verify --head )?\b[0-9a-f]{64}\b")
SHEET_TYPES = {"pdf": "application/pdf", "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
PEOPLE_HEADER = ["userid", "姓名", "部门", "状态", "送达", "收到", "办结", "提醒次数", "逾期于"]
# the workbook's: a time a column of its own (a real date), the channel beside it
XLSX_PEOPLE_HEADER = ["userid", "姓名", "部门", "状态", "状态代码", "送达", "收到", "收到方式", "办结", "办结方式",
                      "提醒次数", "逾期于", "无法送达原因"]
CHUNK = 200  # person rows per PDF table: one huge table is laid out far slower than many small ones


@dataclass(frozen=True)
class Person:
    userid: str
    name: str
    department: str
    status: str  # receipt_status: queued, delivered, undeliverable, acknowledged, completed, overdue
    receipt: DirectiveReceipt


@dataclass(frozen=True)
class Sheet:
    directive: Directive
    versions: list[DirectiveVersion]
    people: list[Person]
    totals: list[tuple[str, int]]
    chain_head: tuple[int, str]
    last_entry: LedgerEntry | None
    exported_at: datetime
    tz_name: str
    names: dict[str, str] = field(default_factory=dict)  # the issuer's, the revoker's, the versions' authors


def load(session, settings, directive_id: int, *, now: datetime | None = None) -> Sheet:
    """Everything a sheet shows, read in the caller's session (DirectiveError if unknown)."""
    directive = get_directive(session, directive_id)
    versions = session.scalars(select(DirectiveVersion).where(DirectiveVersion.directive_id == directive.id)
                               .order_by(DirectiveVersion.version)).all()
    rows = session.execute(
        select(DirectiveReceipt, User.name, Department.name)
        .outerjoin(User, User.userid == DirectiveReceipt.userid)
        .outerjoin(Department, Department.id == User.main_department)
        .where(DirectiveReceipt.directive_id == directive.id).order_by(DirectiveReceipt.userid)).all()
    people = [Person(r.userid, name or "", department or "", receipt_status(directive, r), r)
              for r, name, department in rows]
    last_entry = session.scalar(select(LedgerEntry).where(LedgerEntry.directive_id == directive.id)
                                .order_by(LedgerEntry.seq.desc()).limit(1))
    authors = {directive.issuer, directive.revoked_by, *(v.created_by for v in versions)} - {None, ""}
    names = dict(session.execute(select(User.userid, User.name).where(User.userid.in_(authors))).all())
    return Sheet(directive, list(versions), people, _totals(directive, people), ledger.head(session), last_entry,
                 now or utcnow(), settings.timezone, names)


def _totals(directive: Directive, people: list[Person]) -> list[tuple[str, int]]:
    counts = Counter(p.status for p in people)
    return ([("应签收人数", len(people)), ("已按要求处理", sum(done_at(directive, p.receipt) is not None for p in people))]
            + [(RECEIPT_STATUSES[s], counts.get(s, 0)) for s in RECEIPT_STATUSES]
            + [("曾逾期", sum(p.receipt.overdue_at is not None for p in people)),
               ("提醒合计", sum(p.receipt.reminders or 0 for p in people))])


class _Format:
    """Times in the company's zone; one place for the sheet's words."""

    def __init__(self, sheet: Sheet):
        self.sheet, self.tz = sheet, ZoneInfo(sheet.tz_name)

    def time(self, value: datetime | None) -> str:
        return value.astimezone(self.tz).strftime("%Y-%m-%d %H:%M:%S") if value is not None else ""

    def who(self, userid: str | None) -> str:
        return labels.person(self.sheet.names.get(userid or ""), userid)

    def acted(self, at: datetime | None, channel: str | None) -> str:
        return f"{self.time(at)} {CHANNELS.get(channel or '', channel or '')}".strip() if at else ""

    def delivered(self, person: Person) -> str:
        receipt = person.receipt
        if receipt.status == "undeliverable" and receipt.delivered_at is None:
            return receipt.undeliverable or "无法送达"
        return self.time(receipt.delivered_at)

    def status(self) -> str:
        d = self.sheet.directive
        if d.status == "revoked":
            return f"已撤回 {self.time(d.revoked_at)}（{self.who(d.revoked_by)}）：{d.revoke_reason or '未说明原因'}"
        return "有效"

    def facts(self) -> list[tuple[str, str]]:
        d, sheet = self.sheet.directive, self.sheet
        require = f"{REQUIRES[d.require]} ({d.require})" if d.require in REQUIRES else d.require
        return [("指令编号", str(d.id)), ("标题", d.title), ("当前版本", f"第 {d.version} 版"),
                ("内容哈希 (SHA-256)", d.content_hash), ("发布人", self.who(d.issuer)), ("发布时间", self.time(d.created_at)),
                ("截止时间", self.time(d.deadline)), ("要求", require),
                ("紧急", "是" if d.urgent else "否"), ("机密", "是" if d.confidential else "否"), ("状态", self.status()),
                ("导出时间", f"{self.time(sheet.exported_at)} ({sheet.tz_name})")] + self.origin()

    def origin(self) -> list[tuple[str, str]]:
        """An instruction given in a group (R16, archive/instructions.py): where it was said."""
        origin = self.sheet.directive.origin
        if not origin:
            return []
        return [("来源", f"{origin.get('label', '')}（msgid {origin.get('msgid', '')}）")]

    def ledger_lines(self) -> list[tuple[str, str]]:
        seq, head = self.sheet.chain_head
        entry = self.sheet.last_entry
        own = (f"第 {entry.seq} 条 ({entry.event}, {self.time(entry.at)}) {entry.hash}" if entry is not None
               else "无（尚无记录）")
        return [("证据链链头 (导出时)", f"第 {seq} 条 {head}"), ("本指令最后一条记录", own)]

    def how_to_check(self) -> str:
        head = self.sheet.chain_head[1]
        return ("核验方法：在服务器上运行 wecom-app ledger verify --head " + head + "。该命令重新计算整条证据链的"
                "哈希；若任何记录被修改、插入或删除，或证据链不再经过上述链头，即报告失败。"
                "To check: run wecom-app ledger verify --head " + head + " on the server; it fails if any "
                "ledger row was altered, inserted or deleted, or the chain no longer passes through this head.")

    def person_row(self, person: Person) -> list[str]:
        r = person.receipt
        return [person.userid, person.name, person.department, RECEIPT_STATUSES.get(person.status, person.status),
                self.delivered(person), self.acted(r.acknowledged_at, r.ack_channel),
                self.acted(r.completed_at, r.complete_channel), str(r.reminders or 0), self.time(r.overdue_at)]


# ---- PDF ----------------------------------------------------------------------------------------------------------

def receipt_pdf(session, settings, directive_id: int, *, now: datetime | None = None) -> bytes:
    """The sheet as an A4 landscape PDF; the person table runs over as many pages as it needs."""
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.units import mm
    from reportlab.platypus import SimpleDocTemplate

    sheet = load(session, settings, directive_id, now=now)
    fmt, styles = _Format(sheet), _styles()
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(buffer, pagesize=landscape(A4), leftMargin=12 * mm, rightMargin=12 * mm,
                            topMargin=12 * mm, bottomMargin=14 * mm, title=f"签收单 {sheet.directive.title}",
                            author="wecom-app", subject=sheet.directive.content_hash,
                            initialFontName=FONT)  # not Helvetica: every font in the PDF is embedded
    footer = f"指令 #{sheet.directive.id} 签收单 | 内容哈希 {sheet.directive.content_hash}"

    def on_page(canvas, doc_):
        canvas.saveState()
        canvas.setFont(FONT, 7)
        canvas.drawString(12 * mm, 7 * mm, f"{footer} | 第 {doc_.page} 页")
        canvas.restoreState()

    doc.build(_story(sheet, fmt, styles, doc.width), onFirstPage=on_page, onLaterPages=on_page)
    return buffer.getvalue()


def _styles() -> dict:
    from reportlab.lib.styles import ParagraphStyle

    pdf_fonts.register()
    base = ParagraphStyle("body", fontName=FONT, fontSize=9, leading=13, wordWrap="CJK")
    return {"title": ParagraphStyle("title", parent=base, fontSize=16, leading=22, spaceAfter=6),
            "h": ParagraphStyle("h", parent=base, fontSize=11, leading=16, spaceBefore=8, spaceAfter=4,
                                keepWithNext=1),
            "table": ParagraphStyle("table", parent=base, fontSize=11, leading=16, spaceBefore=8, spaceAfter=4),
            "body": base, "small": ParagraphStyle("small", parent=base, fontSize=8, leading=11)}


def _p(text: str, style):
    """A paragraph of plain text; hashes and the verify command in a monospace font."""
    from reportlab.platypus import Paragraph

    markup = MONO_RUN.sub(lambda m: f'<font name="{MONO}">{m.group(0)}</font>', escape(text)).replace("\n", "<br/>")
    return Paragraph(markup, style)


def _story(sheet: Sheet, fmt: _Format, styles: dict, width: float) -> list:
    from reportlab.platypus import CondPageBreak, Paragraph

    d = sheet.directive
    mark = "".join(f"【{w}】" for w, on in (("紧急", d.urgent), ("机密", d.confidential), ("已撤回", d.status == "revoked"))
                   if on)
    story = [Paragraph(f"签收单 {escape(mark)}", styles["title"]), _p(d.title, styles["h"])]
    story.append(_grid([[_p(k, styles["small"]), _p(v, styles["small"])]
                        for k, v in fmt.facts()], [40 * 2.83, width - 40 * 2.83]))
    story += [_p("正文（当前版本）", styles["h"]), _p(d.body, styles["body"]), _p("版本", styles["h"])]
    story.append(_grid([["版本", "标题", "内容哈希 (SHA-256)", "时间", "修订人", "说明"]] + [
        [str(v.version) + (" 当前" if v.version == d.version else ""), _p(v.title, styles["small"]),
         _p(v.content_hash, styles["small"]), fmt.time(v.created_at), _p(fmt.who(v.created_by), styles["small"]),
         _p(v.note or "", styles["small"])] for v in sheet.versions], [40, 115, 325, 90, 70, width - 640],
        header=True))
    story += [_p("合计", styles["h"]),
              _grid([[k for k, _ in sheet.totals], [str(v) for _, v in sheet.totals]], None, header=True)]
    story += [_p("证据链", styles["h"]),
              _grid([[_p(k, styles["small"]), _p(v, styles["small"])] for k, v in fmt.ledger_lines()],
                    [40 * 2.83, width - 40 * 2.83]),
              _p(fmt.how_to_check(), styles["small"]), CondPageBreak(80),  # a heading never ends a page
              _p(f"签收明细（{len(sheet.people)} 人）", styles["table"])]
    return story + _people_tables(sheet, fmt, width)


def _grid(rows: list, widths, *, header: bool = False):
    from reportlab.platypus import Table, TableStyle

    style = [("FONTNAME", (0, 0), (-1, -1), FONT), ("FONTSIZE", (0, 0), (-1, -1), 8),
             ("GRID", (0, 0), (-1, -1), 0.25, "#999999"), ("VALIGN", (0, 0), (-1, -1), "TOP")]
    if header:
        style.append(("BACKGROUND", (0, 0), (-1, 0), "#e8e8e8"))
    return Table(rows, colWidths=widths, repeatRows=1 if header else 0, style=TableStyle(style), hAlign="LEFT")


def _people_tables(sheet: Sheet, fmt: _Format, width: float) -> list:
    from reportlab.pdfbase.pdfmetrics import stringWidth
    from reportlab.platypus import Table, TableStyle

    widths = [100, 70, 100, 46, 92, 112, 112, 40, 92]
    widths[2] += width - sum(widths)
    style = TableStyle([("FONTNAME", (0, 0), (-1, -1), FONT), ("FONTSIZE", (0, 0), (-1, -1), 7),
                        ("GRID", (0, 0), (-1, -1), 0.25, "#999999"), ("BACKGROUND", (0, 0), (-1, 0), "#e8e8e8"),
                        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"), ("TOPPADDING", (0, 0), (-1, -1), 0),
                        ("BOTTOMPADDING", (0, 0), (-1, -1), 1)])

    def fit(text: str, room: float) -> str:  # a long name must not run into the next column
        if stringWidth(text, FONT, 7) <= room:
            return text
        while text and stringWidth(text + "…", FONT, 7) > room:
            text = text[:-1]
        return text + "…"

    free = (0, 1, 2, 4)  # the columns of free text: userid, name, department, delivered or why not
    rows = []
    for person in sheet.people:
        row = fmt.person_row(person)
        rows.append([fit(cell, widths[i] - 6) if i in free else cell for i, cell in enumerate(row)])
    tables = []
    for start in range(0, max(len(rows), 1), CHUNK):  # an empty list still gets its header
        part = [PEOPLE_HEADER] + rows[start:start + CHUNK]
        tables.append(Table(part, colWidths=widths, rowHeights=[12] * len(part), repeatRows=1, style=style,
                            hAlign="LEFT"))
    return tables


# ---- XLSX ---------------------------------------------------------------------------------------------------------

def receipt_xlsx(session, settings, directive_id: int, *, now: datetime | None = None) -> bytes:
    """The sheet as a workbook: 签收单 (the facts, totals and ledger), 版本, 签收明细 (one row a person);
    every time a real date in the company's time zone."""
    from openpyxl import Workbook

    from wecom_app import xlsx  # openpyxl only where a workbook is written

    sheet = load(session, settings, directive_id, now=now)
    fmt, tz, d = _Format(sheet), ZoneInfo(sheet.tz_name), sheet.directive
    book = Workbook(write_only=True)  # streams rows: a directive may have 100,000 people
    facts = book.create_sheet("签收单")
    facts.column_dimensions["A"].width, facts.column_dimensions["B"].width = 22, 100
    times = {"发布时间": d.created_at, "截止时间": d.deadline, "导出时间": sheet.exported_at}
    lines = ([(key, times.get(key, value)) for key, value in fmt.facts()] + [("时区", sheet.tz_name)]
             + [("正文", d.body), *sheet.totals, *fmt.ledger_lines(), ("核验方法", fmt.how_to_check())])
    for key, value in lines:  # every cell through xlsx: no formula, nothing openpyxl refuses (issue 10)
        xlsx.append(facts, [key, value], tz)
    versions = book.create_sheet("版本")
    versions.append(["版本", "当前", "标题", "内容哈希 (SHA-256)", "时间", "修订人", "说明", "正文"])
    for v in sheet.versions:
        xlsx.append(versions, [v.version, "是" if v.version == d.version else "", v.title, v.content_hash,
                               v.created_at, fmt.who(v.created_by), v.note or "", v.body], tz)
    people = book.create_sheet("签收明细")
    for column, width in zip("ABCDEFGHIJKLM", (18, 12, 18, 10, 14, 20, 20, 10, 20, 10, 10, 20, 30)):
        people.column_dimensions[column].width = width
    people.freeze_panes = "A2"
    people.append(XLSX_PEOPLE_HEADER)
    for p in sheet.people:
        r = p.receipt
        xlsx.append(people, [p.userid, p.name, p.department, RECEIPT_STATUSES.get(p.status, p.status), p.status,
                             r.delivered_at, r.acknowledged_at, CHANNELS.get(r.ack_channel or "", r.ack_channel or ""),
                             r.completed_at, CHANNELS.get(r.complete_channel or "", r.complete_channel or ""),
                             r.reminders or 0, r.overdue_at, r.undeliverable or ""], tz)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
