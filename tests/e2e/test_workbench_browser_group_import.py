"""In a real browser at phone size (390×844): an admin downloads the import template,
uploads an XLSX of group registrations with one bad row and sees the whole file refused
with that row's problems, as stacked cards; fixes it and sees every group registered
(issue 13 item 9, "done when": the XLSX import with one bad row refused whole)."""

from __future__ import annotations

import io

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from wecom_app.models import Group

pytestmark = pytest.mark.browser


def registrations(template: bytes, *rows) -> bytes:
    """The downloaded template, its example row replaced by `rows`."""
    book = load_workbook(io.BytesIO(template))
    sheet = book.worksheets[0]
    sheet.delete_rows(2)
    for values in rows:
        sheet.append(values)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def groups(live_app) -> int:
    with live_app.runtime.sessions() as db:
        return db.scalar(select(func.count()).select_from(Group))


def test_r7_an_xlsx_with_one_bad_row_is_refused_whole_then_imported_once_fixed(page, login_as, live_app, shot):
    login_as(page, "zhangwei")
    page.goto("/groups")
    page.click("[data-test=import-groups]")
    page.wait_for_url("**/groups/import")
    with page.expect_download() as download:
        page.click("[data-test=template-xlsx]")
    with open(download.value.path(), "rb") as downloaded:
        template = downloaded.read()
    before = groups(live_app)
    good = ["内部群", "", "研发部-技术交流群", "曹阳", "pengfei", "研发部", "", "", "", "否", ""]
    bad = ["内部群", "", "销售部-周报群", "ghost1", "hujie", "6", "", "", "", "否", ""]
    page.set_input_files("#import-file", files=[{"name": "登记.xlsx", "buffer": registrations(template, good, bad),
                                                  "mimeType": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}])
    page.click("[data-test=import-submit]")
    refused = page.locator("[data-test=import-rejected]")
    assert "共 2 行" in refused.inner_text() and "没有导入任何群" in refused.inner_text()
    card = page.locator('[data-test=import-errors] tr[data-row="3"]')
    assert card.is_visible() and "群主" in card.inner_text() and "通讯录中没有：ghost1" in card.inner_text()
    assert page.locator('[data-test=import-errors] tr[data-row="2"]').count() == 0
    box = card.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390  # a card on the phone, not a table off-screen
    assert groups(live_app) == before
    shot(page, "groups-import-refused")
    bad[3] = "wujun"
    page.set_input_files("#import-file", files=[{"name": "登记.xlsx", "buffer": registrations(template, good, bad),
                                                  "mimeType": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}])
    page.click("[data-test=import-submit]")
    page.wait_for_url("**/groups")
    assert "已从「登记.xlsx」登记 2 个群" in page.content()
    assert groups(live_app) == before + 2
    shot(page, "groups-import-done")
