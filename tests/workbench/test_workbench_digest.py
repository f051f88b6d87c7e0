"""汇报 (/digest, R6), the dashboard's trend charts and the rules help page: the digest
page and its PDF show the period's figures (every PDF font embedded) to office admins
and DIGEST_LEADERS only; the home page's SVG charts carry each week's values, as text
for screen readers too; every rule id links to its anchor on /help/rules, which has one
section per rule R1–R17."""

from __future__ import annotations

import dataclasses
import io
import re
from datetime import timedelta

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from tests.directives.test_r16_receipt_sheet_fonts import fonts_of, not_embedded
from tests.plugins.workbench import as_user, issue_directive, make_wb_app, rt
from wecom_app import pdf_fonts
from wecom_app.digest import period as periods
from wecom_app.models import Directive, DirectiveReceipt, Violation
from wecom_app.regulation import RULES


def last_week(wb) -> periods.Period:
    return periods.last_complete("weekly", rt(wb).clock(), rt(wb).settings.tz)


def seed(wb) -> periods.Period:
    """In last week: violations R2 and R11 opened (R11 confirmed), a directive to four
    people, two of whom acknowledged, and zhuxia overdue."""
    week = last_week(wb)
    start, _ = week.bounds(rt(wb).settings.tz)
    directive_id = issue_directive(rt(wb), ["lina", "chenjing", "zhuxia", "gaoping"])
    with rt(wb).sessions.begin() as db:
        db.add_all([Violation(rule="R2", userid="xiaowang", detected_by="system", created_at=start + timedelta(days=1)),
                    Violation(rule="R11", userid="caoyang", detected_by="system", status="confirmed",
                              created_at=start + timedelta(days=2), decided_at=start + timedelta(days=3))])
        for receipt in db.scalars(select(DirectiveReceipt).where(DirectiveReceipt.directive_id == directive_id)):
            if receipt.userid in ("lina", "chenjing"):
                receipt.acknowledged_at = start + timedelta(days=1)
            if receipt.userid == "zhuxia":
                receipt.overdue_at = start + timedelta(days=2)
        db.get(Directive, directive_id).created_at = start + timedelta(hours=10)
    return week


def test_r6_digest_page_shows_the_weeks_figures_to_an_admin(wb, sandbox_state):
    week = seed(wb)
    client = as_user(wb, sandbox_state, "zhangwei")
    assert week.title in client.get("/digest").text  # the navigation's 汇报: the latest complete week
    page = client.get(f"/digest/weekly/{week.key}")
    assert page.status_code == 200
    html = page.text
    assert week.title in html
    assert re.search(r'data-test="opened">2<', html) and re.search(r'data-test="decided">1<', html)
    assert re.search(r'data-test="ack-rate">50%<', html)  # two of four
    assert re.search(r'data-test="overdue-people">1<', html) and "华东销售组" in html
    assert 'href="/help/rules#R11"' in html  # the rule id links to the help page


def test_r6_digest_pdf_embeds_every_font_and_carries_the_title(wb, sandbox_state):
    week = seed(wb)
    answer = as_user(wb, sandbox_state, "zhangwei").get(f"/digest/weekly/{week.key}.pdf")
    assert answer.status_code == 200 and answer.mimetype == "application/pdf"
    data = answer.data
    assert not_embedded(data) == []
    assert all(pdf_fonts.SANS in str(f.get("/BaseFont")) for f in fonts_of(data).values()
               if f.get("/Subtype") != "/Type0")
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)
    assert "签收率 50%" in text and "华东销售组" in text


def test_r6_digest_is_for_the_office_and_the_configured_leaders_only(wb_settings, engine, sandbox_state):
    app = make_wb_app(dataclasses.replace(wb_settings, digest_leaders=("liuqiang",)), engine)
    week = last_week(app)
    assert as_user(app, sandbox_state, "liuqiang").get(f"/digest/weekly/{week.key}").status_code == 200
    employee = as_user(app, sandbox_state, "zhuxia")
    assert employee.get(f"/digest/weekly/{week.key}").status_code == 403
    assert employee.get(f"/digest/weekly/{week.key}.pdf").status_code == 403


@pytest.mark.parametrize("path", ["/digest/weekly/2026-W60", "/digest/monthly/2026-13", "/digest/yearly/2026",
                                  "/digest/monthly/2199-01"])
def test_r6_an_unknown_or_future_period_is_not_found(wb, sandbox_state, path):
    assert as_user(wb, sandbox_state, "zhangwei").get(path).status_code == 404


def test_dashboard_trend_charts_carry_each_weeks_values(wb, sandbox_state):
    week = seed(wb)
    html = as_user(wb, sandbox_state, "zhangwei").get("/").text
    svg = re.search(r'<svg[^>]*data-test="trend-violations".*?</svg>', html, re.S).group(0)
    label = f"{week.start.month}/{week.start.day}"
    assert f"{label} 2" in svg  # the <desc>: every week's value as text
    assert re.search(r'class="wb-svg__value">2</text>', svg)
    ack = re.search(r'<svg[^>]*data-test="trend-ack".*?</svg>', html, re.S).group(0)
    assert f"{label} 50%" in ack and ">50%</text>" in ack
    assert html.count('<table class="wb-sr">') == 2 and f'<th scope="row">{label}</th><td>50%</td>' in html
    assert "<script" not in svg and "http" not in svg.replace("http://www.w3.org", "")


def test_help_page_has_every_rule_and_every_rule_link_resolves(wb, sandbox_state):
    seed(wb)
    client = as_user(wb, sandbox_state, "zhuxia")  # any employee may read the rules
    help_page = client.get("/help/rules").text
    anchors = set(re.findall(r'<section class="wb-help__rule" id="(R\d+)"', help_page))
    assert anchors == {r.id for r in RULES} == {f"R{n}" for n in range(1, 18)}
    admin = as_user(wb, sandbox_state, "zhangwei")
    with rt(wb).sessions() as db:
        violation_id = db.scalar(select(Violation.id).where(Violation.rule == "R2"))  # open: 处理（R6…）
    linked = set()
    for path in ("/", f"/digest/weekly/{last_week(wb).key}", f"/violations/{violation_id}", "/settings",
                 "/groups/new", "/directives/new"):
        page = admin.get(path)
        assert page.status_code == 200, path
        linked |= set(re.findall(r'href="/help/rules#(R\d+)"', page.text))
    assert {"R2", "R4", "R6", "R7", "R11"} <= linked and linked <= anchors
