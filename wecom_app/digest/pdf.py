"""The digest (R6) as an A4 PDF for leadership: the same figures as its workbench page,
every font embedded (pdf_fonts: WenQuanYi Micro Hei, subset), times in company time."""

from __future__ import annotations

import io
from xml.sax.saxutils import escape

from wecom_app import pdf_fonts
from wecom_app.digest.figures import Digest
from wecom_app.digest.send import percent
from wecom_app.labels import GROUP_KINDS, REQUIRES, RULE_NAMES, VIOLATION_STATUSES

FONT = pdf_fonts.SANS


def digest_pdf(settings, digest: Digest) -> bytes:
    # reportlab is imported where a PDF is written, as the receipt sheet does (a second to load)
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate

    pdf_fonts.register()
    base = ParagraphStyle("body", fontName=FONT, fontSize=9, leading=13, wordWrap="CJK")
    title = ParagraphStyle("title", parent=base, fontSize=16, leading=22, spaceAfter=6)
    heading = ParagraphStyle("h", parent=base, fontSize=11, leading=16, spaceBefore=10, spaceAfter=4, keepWithNext=1)
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(buffer, pagesize=A4, leftMargin=15 * mm, rightMargin=15 * mm, topMargin=15 * mm,
                            bottomMargin=15 * mm, title=digest.period.title, author="wecom-app",
                            initialFontName=FONT)  # not Helvetica: every font in the PDF is embedded
    made = digest.generated_at.astimezone(settings.tz).strftime("%Y-%m-%d %H:%M")

    def p(text: str, style=base):
        return Paragraph(escape(text), style)

    story = [p(digest.period.title, title), p(f"生成时间：{made}（{settings.timezone}）。群的合规情况为生成时的状态，"
                                              "其余为本期内发生的事项。")]
    story += [p("群的合规情况", heading), _table(
        [["类型", "群数", "全部成员合规", "有不合规成员"]]
        + [[GROUP_KINDS.get(g.kind, g.kind), g.total, g.compliant, g.noncompliant] for g in digest.groups]
        + [["合计", digest.groups_total, digest.groups_compliant, digest.groups_total - digest.groups_compliant]])]
    story += [p("违规", heading), p(f"本期新增 {digest.opened} 起，处理 {digest.decided} 起"
                                   f"（{'，'.join(f'{VIOLATION_STATUSES[s]} {n}' for s, n in digest.violations_decided.items())}），"
                                   f"生成时待处理 {digest.violations_open_now} 起。")]
    if digest.violations_opened:
        story.append(_table([["规则", "新增"]] + [[f"{rule} {RULE_NAMES.get(rule, '')}".strip(), n]
                                                 for rule, n in digest.violations_opened]))
    story += [p("指令签收", heading), p(f"本期下达 {len(digest.directives)} 条（不含已撤回），签收率 {percent(digest.ack_rate)}，"
                                       f"办结率 {percent(digest.completion_rate)}（仅须办结的指令）。")]
    if digest.directives:
        story.append(_table([["指令", "要求", "接收人", "已收到", "签收率", "已办结", "办结率"]] + [
            [Paragraph(escape(d.title), base), REQUIRES.get(d.require, d.require), d.total, d.acknowledged,
             percent(d.ack_rate), d.completed if d.require == "completion" else "—", percent(d.completion_rate)]
            for d in digest.directives], widths=[190, 50, 45, 45, 45, 45, 45]))
    story += [p("逾期人员（按部门）", heading), p(f"本期逾期 {digest.overdue_people} 人。")]
    if digest.overdue:
        story.append(_table([["部门", "逾期人数", "逾期指令人次"]]
                            + [[row.department, row.people, row.receipts] for row in digest.overdue]))
    doc.build(story)
    return buffer.getvalue()


def _table(rows: list, widths=None):
    from reportlab.platypus import Table, TableStyle

    style = TableStyle([("FONTNAME", (0, 0), (-1, -1), FONT), ("FONTSIZE", (0, 0), (-1, -1), 9),
                        ("GRID", (0, 0), (-1, -1), 0.25, "#999999"), ("BACKGROUND", (0, 0), (-1, 0), "#e8e8e8"),
                        ("VALIGN", (0, 0), (-1, -1), "MIDDLE")])
    return Table([[str(c) if isinstance(c, int) else c for c in row] for row in rows], colWidths=widths,
                 repeatRows=1, style=style, hAlign="LEFT")
