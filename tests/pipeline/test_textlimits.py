"""textlimits.py: WeCom's text limits in UTF-8 bytes (90236, 90248, 99398) and the ways a
long text is made to fit — split, fitted with a link, clipped — never cut inside a
character and never silently."""

from __future__ import annotations

import pytest

from wecom_app.wecom import textlimits
from wecom_app.wecom.textlimits import TooLong, check, fit, shorten, size, split


def test_limits_per_api_and_msgtype_are_bytes():
    assert textlimits.limit("message/send", "text") == 2048
    assert textlimits.limit("appchat/send", "markdown") == 2048
    assert textlimits.limit("webhook/send", "markdown") == 4096
    assert size("汉") == 3 and size("😀") == 4


@pytest.mark.parametrize("text", ["汉" * 2000, "a" * 5000, "\n".join(f"第{i}行：" + "汉" * 30 for i in range(200)),
                                  "😀" * 1500, "汉" * 682 + "ab"])
def test_split_keeps_every_character_in_parts_within_the_limit(text):
    parts = split(text)
    assert all(size(p) <= 2048 for p in parts)
    if len(parts) == 1:
        assert parts == [text]
    else:
        assert [p.split("\n", 1)[0] for p in parts] == [f"（{i}/{len(parts)}）" for i in range(1, len(parts) + 1)]
        assert "".join(p.split("\n", 1)[1] for p in parts).replace("\n", "") == text.replace("\n", "")


def test_split_breaks_between_lines_where_it_can():
    lines = [f"{i:03d} " + "汉" * 40 for i in range(60)]  # 125 bytes a line
    parts = split("\n".join(lines))
    assert len(parts) == 4
    assert all(line in part.split("\n") for part in parts for line in part.split("\n")[1:])


def test_shorten_never_cuts_a_character_in_half():
    assert shorten("汉" * 10, 10) == "汉汉…" and size(shorten("😀" * 10, 11)) <= 11
    assert shorten("short", 10) == "short"


def test_fit_keeps_the_head_and_the_link_and_says_how_many_more():
    names = [f"员工{i}（user{i}，华东销售组）" for i in range(300)]
    text = fit(["【指令逾期】《季度报表》"], [("逾期 300 人：", names)], ["详情：https://example.com/directives/7"])
    assert size(text) <= 2048 and text.startswith("【指令逾期】") and text.endswith("https://example.com/directives/7")
    shown = sum(1 for line in text.split("\n") if line.startswith("员工"))
    assert f"……另有 {300 - shown} 人" in text


def test_fit_with_a_head_too_long_still_ends_with_the_link():
    text = fit(["汉" * 1000], [("名单：", ["甲"])], ["详情：https://example.com/d/1"])
    assert size(text) <= 2048 and text.endswith("https://example.com/d/1")


@pytest.mark.parametrize("kind, payload", [
    ("message/send", {"touser": "a", "msgtype": "text", "text": {"content": "汉" * 683}}),
    ("appchat/send", {"chatid": "c", "msgtype": "markdown", "markdown": {"content": "a" * 2049}}),
    ("webhook/send", {"group_id": 1, "body": {"msgtype": "markdown", "markdown": {"content": "a" * 4097}}}),
    ("message/send", {"touser": "a", "msgtype": "template_card",
                      "template_card": {"card_type": "button_interaction", "main_title": {"title": "标" * 37}}}),
    ("message/update_template_card", {"response_code": "r", "template_card": {"sub_title_text": "字" * 161}}),
])
def test_check_refuses_what_wecom_would_cut(kind, payload):
    with pytest.raises(TooLong):
        check(kind, payload)


@pytest.mark.parametrize("kind, payload", [
    ("message/send", {"touser": "a", "msgtype": "text", "text": {"content": "汉" * 682 + "ab"}}),
    ("webhook/send", {"group_id": 1, "body": {"msgtype": "markdown", "markdown": {"content": "a" * 4096}}}),
    ("message/update_template_card", {"response_code": "r", "button": {"replace_name": "已确认 09:00"}}),
])
def test_check_lets_through_what_fits(kind, payload):
    check(kind, payload)


def test_a_long_text_to_members_is_queued_as_several_messages_never_cut(sessions):
    """notify.tell (violations, sanctions, reports, custodian tasks): a 3,000-byte text is
    two message/send rows, the first with the caller's key (idempotence unchanged)."""
    from datetime import datetime, timezone

    from sqlalchemy import select

    from tests.conftest import make_settings
    from wecom_app.governance import notify
    from wecom_app.models import OutboxAction

    text = "【群规处理】" + "汉" * 994  # 3,000 bytes
    with sessions.begin() as session:
        notify.tell(session, make_settings(), ["lina"], text, key="sanction:1", now=datetime.now(timezone.utc))
    with sessions() as session:
        rows = session.scalars(select(OutboxAction).order_by(OutboxAction.id)).all()
        assert [r.idempotency_key for r in rows] == ["sanction:1", "sanction:1:2"]
        contents = [r.payload["text"]["content"] for r in rows]
    assert all(size(c) <= 2048 for c in contents)
    assert "".join(c.split("\n", 1)[1] for c in contents) == text
