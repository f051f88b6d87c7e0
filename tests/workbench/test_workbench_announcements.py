"""公告 pages (R17, R4) through the Flask test client: compose with each group's
reachability shown, a custodian limited to their own groups, the byte limit and the
send time checked next to their fields with nothing written, per-group delivery
after the outbox ran with the unreachable groups listed, roles and CSRF."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from tests.plugins.workbench import as_user, csrf_of, rt
from wecom_app.models import Announcement, AnnouncementDelivery, Group, OutboxAction
from wecom_app.scheduler import run_job
from wecom_app.wecom.robot_keys import encrypt_robot_key


@pytest.fixture
def groups(wb, sandbox_state):
    """pengfei is custodian of the emulator's managed group, an internal group with a robot and
    one without; hujie of another managed group."""
    runtime = rt(wb)
    key = sandbox_state.add_robot("wrInternalRobotChat")
    with runtime.sessions.begin() as db:
        made = dict(
            managed=Group(kind="managed", chat_id="companynotice", name="全员通知群", owner="wangfang", custodian="pengfei"),
            robot=Group(kind="internal", name="研发部-值班群", owner="caoyang", custodian="pengfei",
                        robot_webhook=encrypt_robot_key(runtime.settings, key)),
            internal=Group(kind="internal", name="研发部-闲聊群", owner="caoyang", custodian="pengfei"),
            other=Group(kind="managed", chat_id="wrSalesChat", name="销售群", owner="hujie", custodian="hujie"),
        )
        db.add_all(made.values())
        db.flush()
        return {name: g.id for name, g in made.items()}


def send(client, **fields):
    data = {"csrf_token": csrf_of(client.get("/announcements/new").text), "msgtype": "text",
            "content": "本周五下午三点消防演练，请各位准时参加。", "when": "now"}
    data.update(fields)
    return client.post("/announcements/new", data=data)


def announcements(wb):
    with rt(wb).sessions() as db:
        return db.scalar(select(func.count()).select_from(Announcement)), \
            db.scalar(select(func.count()).select_from(OutboxAction))


def test_r17_compose_says_how_each_group_is_reached(wb, sandbox_state, groups):
    html = as_user(wb, sandbox_state, "zhangwei").get("/announcements/new").text
    assert "应用管理群：由应用直接发送（appchat/send）" in html.split(f'data-test="reach-{groups["managed"]}"')[1][:80]
    assert "群机器人" in html.split(f'data-test="reach-{groups["robot"]}"')[1][:80]
    assert "无法送达：内部群未登记群机器人" in html.split(f'data-test="reach-{groups["internal"]}"')[1][:80]
    assert "R4" in html and "下一个工作时段" in html


def test_r17_admin_sends_to_many_groups_and_sees_each_delivery(wb, sandbox_state, groups):
    client = as_user(wb, sandbox_state, "zhangwei")
    answer = send(client, groups=[str(groups[k]) for k in ("managed", "robot", "internal")], urgent="y")
    assert answer.status_code == 302
    run_job("outbox", rt(wb))
    html = client.get(answer.location).text
    assert 'data-test="count-sent">2<' in html and 'data-test="count-unreachable">1<' in html
    unreachable = html.split('data-test="unreachable"')[1].split("</div>")[0]
    assert "研发部-闲聊群" in unreachable and "企业微信没有向普通内部群发消息的接口" in unreachable
    assert f'data-group="{groups["managed"]}" data-status="sent"' in html
    texts = [m for m in sandbox_state.messages if m["api"] in ("appchat/send", "webhook/send")]
    assert len(texts) == 2
    listed = client.get("/announcements").text
    assert "已发送 2" in listed and "无法送达 1" in listed


def test_r17_custodian_announces_only_to_their_own_groups(wb, sandbox_state, groups):
    client = as_user(wb, sandbox_state, "pengfei")
    page = client.get("/announcements/new").text
    assert "研发部-值班群" in page and "销售群" not in page
    refused = send(client, groups=[str(groups["managed"]), str(groups["other"])])
    assert refused.status_code == 422 and 'data-error="groups">只能向你担任专管人员的群发送公告' in refused.text
    assert announcements(wb) == (0, 0)
    assert send(client, groups=[str(groups["managed"])]).status_code == 302
    with rt(wb).sessions() as db:
        assert db.scalar(select(Announcement)).created_by == "pengfei"
    admin = as_user(wb, sandbox_state, "zhangwei")
    send(admin, groups=[str(groups["other"])])
    with rt(wb).sessions() as db:
        admins = db.scalar(select(Announcement.id).where(Announcement.created_by == "zhangwei"))
    assert client.get(f"/announcements/{admins}").status_code == 403
    assert f'data-announcement="{admins}"' not in client.get("/announcements").text


def test_r17_content_is_counted_in_bytes_and_nothing_is_written(wb, sandbox_state, groups):
    client = as_user(wb, sandbox_state, "zhangwei")
    answer = send(client, groups=[str(groups["managed"])], content="通" * 700)  # 700 characters, 2,100 bytes
    assert answer.status_code == 422
    assert 'data-error="content">内容最多 2048 字节（UTF-8，一个汉字 3 字节），当前 2100 字节' in answer.text
    nothing = send(client, content="")
    assert 'data-error="content">请填写公告内容' in nothing.text and 'data-error="groups">请至少选择一个群' in nothing.text
    assert announcements(wb) == (0, 0)


def test_r4_a_scheduled_announcement_in_the_company_time_zone(wb, sandbox_state, groups):
    client = as_user(wb, sandbox_state, "zhangwei")
    past = send(client, groups=[str(groups["managed"])], when="at", send_date="2020-01-01", send_time="09:00")
    assert 'data-error="send_date">定时发送的时间须晚于现在' in past.text
    missing = send(client, groups=[str(groups["managed"])], when="at")
    assert 'data-error="send_date">定时发送请填写日期和时间' in missing.text
    assert announcements(wb) == (0, 0)
    day = (rt(wb).clock().astimezone(rt(wb).settings.tz) + timedelta(days=3)).date()
    answer = send(client, groups=[str(groups["managed"])], when="at", send_date=day.isoformat(), send_time="10:30")
    assert answer.status_code == 302
    with rt(wb).sessions() as db:
        announcement = db.scalar(select(Announcement))
        delivery = db.scalar(select(AnnouncementDelivery))
    assert announcement.send_at == datetime.combine(day, datetime.strptime("10:30", "%H:%M").time(),
                                                    tzinfo=rt(wb).settings.tz)
    assert delivery.status == "queued"
    assert 'data-test="count-queued">1<' in client.get(answer.location).text


def test_announcement_pages_refuse_employees_and_a_missing_csrf_token(wb, sandbox_state, groups):
    employee = as_user(wb, sandbox_state, "zhuxia")
    assert employee.get("/announcements").status_code == 403
    assert employee.get("/announcements/new").status_code == 403
    admin = as_user(wb, sandbox_state, "zhangwei")
    assert "还没有发布过公告" in admin.get("/announcements").text
    assert admin.post("/announcements/new", data={"groups": [str(groups["managed"])], "content": "x",
                                                  "msgtype": "text", "when": "now"}).status_code == 400
    assert announcements(wb) == (0, 0)
    assert admin.get("/announcements/999").status_code == 404
