"""公告 for a custodian whose groups are all unreachable (issue 13 item 6): told so on the
compose page instead of "publishing" to nobody. No way to post at all (a customer or
internal group without a robot): no 发布, and a forced post is refused with nothing
written. WeCom refused the last post to each (86003: the appchat is gone): said with
the errcode, and sent again only with 仍然尝试发送 ticked (R17)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tests.plugins.workbench import as_user, csrf_of, rt
from wecom_app.models import Announcement, Group
from wecom_app.scheduler import run_job


def add(wb, **groups) -> dict[str, int]:
    with rt(wb).sessions.begin() as db:
        db.add_all(groups.values())
        db.flush()
        return {name: g.id for name, g in groups.items()}


def send(client, groups, **fields):
    data = {"csrf_token": csrf_of(client.get("/announcements/new").text), "msgtype": "text", "groups": groups,
            "content": "本周五下午三点消防演练，请各位准时参加。", "when": "now", "urgent": "y", **fields}
    return client.post("/announcements/new", data=data)


def count(wb) -> int:
    with rt(wb).sessions() as db:
        return db.scalar(select(func.count()).select_from(Announcement))


def test_r17_custodian_whose_groups_cannot_be_posted_into_is_told_and_cannot_publish(wb, sandbox_state):
    ids = add(wb, customer=Group(kind="customer", chat_id="wrNoRobot", name="华东客户群", owner="hujie", custodian="hujie"),
              internal=Group(kind="internal", name="销售-闲聊群", owner="hujie", custodian="hujie"))
    client = as_user(wb, sandbox_state, "hujie")
    page = client.get("/announcements/new").text
    notice = page.split('data-test="nothing-reachable"')[1].split("</div>")[0]
    assert "你负责的群现在都无法送达" in notice and "华东客户群：无法送达：客户群未登记群机器人" in notice
    assert "发布了也没有人收到" in notice and 'data-test="send"' not in page
    refused = send(client, [str(ids["customer"]), str(ids["internal"])])
    assert refused.status_code == 422 and 'data-error="groups">所选的群都无法送达' in refused.text
    assert count(wb) == 0


@pytest.fixture
def gone(wb, sandbox_state):
    """hujie's managed group whose appchat WeCom no longer knows (86003), after one refused post."""
    ids = add(wb, gone=Group(kind="managed", chat_id="wrGoneChat", name="华东销售群", owner="hujie", custodian="hujie"))
    client = as_user(wb, sandbox_state, "hujie")
    assert send(client, [str(ids["gone"])]).status_code == 302
    run_job("outbox", rt(wb))
    return client, ids["gone"]


def test_r17_groups_whose_last_post_wecom_refused_are_said_so_with_the_errcode(wb, gone):
    client, group_id = gone
    page = client.get("/announcements/new").text
    assert "上次发送失败（企业微信错误码 86003" in page.split(f'data-test="reach-{group_id}"')[1][:120]
    assert 'data-test="nothing-reachable"' in page and 'name="retry"' in page
    refused = send(client, [str(group_id)])
    assert refused.status_code == 422 and "请勾选「仍然尝试发送」" in refused.text and count(wb) == 1
    assert send(client, [str(group_id)], retry="y").status_code == 302 and count(wb) == 2


def test_a_custodian_with_one_reachable_group_is_not_stopped(wb, sandbox_state, gone):
    client, group_id = gone
    ok = add(wb, ok=Group(kind="managed", chat_id="companynotice", name="全员通知群", owner="hujie",
                          custodian="hujie"))["ok"]
    page = client.get("/announcements/new").text
    assert 'data-test="nothing-reachable"' not in page
    assert send(client, [str(group_id), str(ok)]).status_code == 302
