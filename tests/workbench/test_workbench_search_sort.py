"""Search and sort on the workbench's long lists (issue 13 item 9): 指令, a directive's
receipt matrix, a group's members and 违规与举报. The search box finds a person by name,
pinyin, initials or userid (directory/people.py), a directive by title; `?sort=` orders by
a column either way; both stay in the URL, in the header links and in the pager."""

from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest

from tests.plugins.workbench import as_user, issue_directive, rt
from wecom_app.models import DirectiveReceipt, Group, GroupMember, Violation


def order(html: str, attribute: str) -> list[str]:
    return re.findall(rf'<(?:tr|a) [^>]*{attribute}="([^"]+)"', html)


@pytest.fixture
def directives(wb):
    runtime = rt(wb)
    return dict(
        drill=issue_directive(runtime, ["zhuxia", "gaoping", "linfeng"], title="关于周五消防演练的通知", hours=24 * 10),
        audit=issue_directive(runtime, ["zhuxia"], issuer="caoyang", title="季度报销单核对", hours=24 * 12),
        leave=issue_directive(runtime, ["gaoping"], issuer="caoyang", title="年假安排登记", hours=24 * 11),
    )


def test_directives_are_searched_by_title_or_issuer_and_sorted_by_deadline(wb, sandbox_state, directives):
    client = as_user(wb, sandbox_state)
    assert order(client.get("/directives?q=报销").text, "data-directive") == [str(directives["audit"])]
    by_issuer = {int(i) for i in order(client.get("/directives?q=曹阳").text, "data-directive")}
    assert by_issuer == {directives["audit"], directives["leave"]}
    assert set(order(client.get("/directives?q=cy").text, "data-directive")) == {str(directives["audit"]),
                                                                              str(directives["leave"])}  # 曹阳's initials
    soonest = order(client.get("/directives?sort=deadline").text, "data-directive")
    assert soonest == [str(directives[k]) for k in ("drill", "leave", "audit")]
    latest = client.get("/directives?sort=-deadline&q=通知").text
    assert order(latest, "data-directive") == [str(directives["drill"])]
    assert 'name="q" value="通知"' in latest and '<option value="-deadline" selected>' in latest


def test_the_receipt_matrix_is_searched_by_pinyin_and_sorted_by_a_column(wb, sandbox_state, directives):
    client = as_user(wb, sandbox_state)
    url = f"/directives/{directives['drill']}/receipts"
    assert order(client.get(f"{url}?q=gp").text, "data-userid") == ["gaoping"]  # 高平's initials
    assert order(client.get(f"{url}?q=林").text, "data-userid") == ["linfeng"]
    assert set(order(client.get(f"{url}?q=华东").text, "data-userid")) == {"zhuxia", "gaoping", "linfeng"}  # 华东销售组
    with rt(wb).sessions.begin() as db:
        for receipt in db.query(DirectiveReceipt).filter_by(directive_id=directives["drill"]):
            receipt.reminders = {"zhuxia": 2, "gaoping": 0, "linfeng": 1}[receipt.userid]
    most = client.get(f"{url}?sort=-reminders&page=1").text
    assert order(most, "data-userid") == ["zhuxia", "linfeng", "gaoping"]
    assert 'aria-sort="descending"' in most
    # the header links the other direction, from page 1, keeping the other arguments
    assert 'href="?sort=reminders" data-sort="reminders"' in most
    filtered = client.get(f"{url}?status=queued&sort=name").text
    assert 'href="?status=queued&amp;sort=-name" data-sort="name"' in filtered


def test_a_groups_members_are_searched_and_sorted(wb, sandbox_state):
    with rt(wb).sessions.begin() as db:
        group = Group(kind="internal", name="研发交流群", owner="caoyang", custodian="pengfei", scope={"departments": [8]})
        db.add(group)
        db.flush()
        checked = datetime(2026, 3, 2, 2, 0, tzinfo=timezone.utc)
        db.add_all([GroupMember(group_id=group.id, member_id="pengfei", compliance="ok", checked_at=checked),
                    GroupMember(group_id=group.id, member_id="zhuxia", compliance="out_of_scope", checked_at=checked),
                    GroupMember(group_id=group.id, member_id="zenglin", compliance="ok", group_nickname="后端-曾琳"),
                    GroupMember(group_id=group.id, member_id="wmOgQhDgAAexternal0001", member_type=2,
                                compliance="external_not_allowed", group_nickname="顾客老王")])
        group_id = group.id
    client = as_user(wb, sandbox_state)
    url = f"/groups/{group_id}"
    assert order(client.get(f"{url}?q=zx").text, "data-member") == ["zhuxia"]
    assert order(client.get(f"{url}?q=ceng").text, "data-member") == ["zenglin"]  # 曾 read as ceng too
    assert order(client.get(f"{url}?q=老王").text, "data-member") == ["wmOgQhDgAAexternal0001"]
    by_compliance = order(client.get(f"{url}?sort=compliance").text, "data-member")
    assert by_compliance[:2] == ["wmOgQhDgAAexternal0001", "pengfei"] and by_compliance[-1] == "zhuxia"
    assert order(client.get(f"{url}?members=bad&q=zhu").text, "data-member") == ["zhuxia"]
    assert "没有找到成员" in client.get(f"{url}?q=nobody").text


def test_violations_are_searched_by_person_group_or_rule_and_sorted(wb, sandbox_state):
    with rt(wb).sessions.begin() as db:
        group = Group(kind="internal", name="研发交流群", owner="caoyang", custodian="pengfei")
        db.add(group)
        db.flush()
        made = [Violation(rule=rule, userid=userid, group_id=gid, detected_by="system", status=status,
                          created_at=datetime(2026, 3, day, 2, 0, tzinfo=timezone.utc))
                for rule, userid, gid, status, day in (("R3", "zenglin", group.id, "open", 2),
                                                       ("R11", "zhuxia", group.id, "confirmed", 3),
                                                       ("R2", "gaoping", None, "open", 4))]
        db.add_all(made)
        db.flush()
        ids = {v.userid: str(v.id) for v in made}
    client = as_user(wb, sandbox_state)
    assert order(client.get("/violations?q=zl").text, "data-violation") == [ids["zenglin"]]
    assert order(client.get("/violations?q=r11").text, "data-violation") == [ids["zhuxia"]]
    assert set(order(client.get("/violations?q=研发交流").text, "data-violation")) == {ids["zenglin"], ids["zhuxia"]}
    assert order(client.get("/violations").text, "data-violation") == [ids[u] for u in ("gaoping", "zhuxia", "zenglin")]
    assert order(client.get("/violations?sort=created").text, "data-violation") == \
        [ids[u] for u in ("zenglin", "zhuxia", "gaoping")]
    assert order(client.get("/violations?sort=rule&status=open").text, "data-violation") == \
        [ids["gaoping"], ids["zenglin"]]  # R2 before R3, the confirmed one filtered out


def test_an_unknown_sort_falls_back_and_paging_keeps_search_and_sort(wb, sandbox_state):
    runtime = rt(wb)
    for n in range(21):
        issue_directive(runtime, ["zhuxia"], title=f"巡检通知 {n:02d}")
    client = as_user(wb, sandbox_state)
    first = client.get("/directives?q=巡检&sort=title").text
    assert "page=2" in first and "q=%E5%B7%A1%E6%A3%80" in first and "sort=title" in first
    second = client.get("/directives?q=巡检&sort=title&page=2").text
    assert len(order(second, "data-directive")) == 1 and "巡检通知 20" in second
    assert client.get("/directives?sort=drop+table").status_code == 200
