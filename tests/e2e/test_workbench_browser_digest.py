"""Issue 13 #9 in a real browser at phone size (390×844), R6: the office opens the
leadership digest from the tab bar's 更多 (two taps), reads its figures without
scrolling sideways, downloads its PDF, and follows a rule id to the rules help page;
the dashboard's trend charts fit the phone's width."""

from __future__ import annotations

from datetime import timedelta

import pytest

from wecom_app.digest import period as periods
from wecom_app.models import Violation

pytestmark = pytest.mark.browser

PHONE = 390


def test_r6_the_office_opens_the_digest_on_a_phone(live_app, page, login_as, shot):
    rt = live_app.runtime
    week = periods.last_complete("weekly", rt.clock(), rt.settings.tz)
    start, _ = week.bounds(rt.settings.tz)
    with rt.sessions.begin() as db:
        db.add_all([Violation(rule="R11", userid="caoyang", detected_by="system", created_at=start + timedelta(days=1)),
                    Violation(rule="R2", userid="xiaowang", detected_by="system", created_at=start + timedelta(days=2))])
    login_as(page, "zhangwei")
    charts = page.locator("[data-test=trends] svg")
    assert charts.count() == 2
    for i in range(2):
        box = charts.nth(i).bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE and box["height"] > 100
    shot(page, "digest-home-trends-phone")

    page.click("[data-test=tabbar] [data-tab=more]")
    page.click("[data-test=more] [data-more=digest]")
    assert page.locator("[data-test=digest-title]").inner_text() == week.title
    assert page.locator("[data-test=opened]").inner_text() == "2"
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE
    assert page.locator("[data-test=digest-violations]").is_visible()
    shot(page, "digest-phone")

    with page.expect_download() as download:
        page.click("[data-test=pdf]")
    assert download.value.suggested_filename == f"digest-{week.key}.pdf"
    with open(download.value.path(), "rb") as pdf:
        assert pdf.read(5) == b"%PDF-"

    page.click("[data-test=digest-violations] a[data-rule=R11]")
    page.wait_for_url(lambda url: url.endswith("/help/rules#R11"))
    rule = page.locator("section#R11")
    box = rule.bounding_box()
    assert box["y"] < 844 and box["x"] + box["width"] <= PHONE  # scrolled to it, on screen
    shot(page, "help-rules-phone")
