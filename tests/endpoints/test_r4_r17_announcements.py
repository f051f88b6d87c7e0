"""R17 announcements, R4 quiet hours: /api/v1/announcements against the WeCom emulator,
sent by the real outbox job.

One announcement reaches a managed group (appchat/send) and a registered group with
a robot (webhook/send); the groups that cannot be reached are listed with why. A
non-urgent one written at night waits for the next working window, an urgent one
goes at once; WeCom refusing is retried, or shown with its errcode. The emulator's
group robot (93000, 45002, 45009) is checked at the end."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
import requests
from sqlalchemy import func, select

import jobs.outbox
from wecom_app.models import Announcement, AnnouncementDelivery, AuditEntry, Group, OutboxAction
from wecom_app.sandbox.seed import CUSTOMER_CHATS, MANAGED_CHAT
from wecom_app.wecom import outbox

from tests.plugins.api import add_group, bearer, error, issue_token, seed_directory

SHANGHAI = timezone(timedelta(hours=8))
MONDAY_0900 = datetime(2026, 3, 2, 9, 0, tzinfo=SHANGHAI)  # the sandbox clock's start, working time
TEXT = {"msgtype": "text", "content": "周五下午三点消防演练，请各群成员准时参加。"}


@pytest.fixture
def settings(emulated_settings):
    return emulated_settings


@pytest.fixture
def runtime(emulated_runtime):
    """The app and the outbox job on the emulator's clock (tests/plugins/emulated.py)."""
    return emulated_runtime


@pytest.fixture
def admin(runtime):
    seed_directory(runtime)
    return issue_token(runtime, "admin", name="office")


@pytest.fixture
def groups(client, runtime, admin, sandbox_state):
    """The emulator's managed group; an internal group with a robot; an internal and a
    customer group without one; a managed group still being created; a dismissed one."""
    robot_chat = "wrInternalRobotChat"
    key = sandbox_state.add_robot(robot_chat)
    found = {
        "managed": add_group(runtime, kind="managed", chat_id=MANAGED_CHAT[0], name=MANAGED_CHAT[1], status="active"),
        "robot": register(client, admin, kind="internal", name="研发部-值班群", robot_webhook=webhook(key)),
        "internal": register(client, admin, kind="internal", name="研发部-闲聊群"),
        "customer": register(client, admin, kind="customer", chat_id=CUSTOMER_CHATS[0][0], name="华东客户交流群",
                             allow_external=True),
        "creating": add_group(runtime, kind="managed", chat_id="wa0123456789abcdef", name="研发部-新群",
                              status="creating"),
        "dismissed": add_group(runtime, kind="managed", chat_id="wa00000000dismissed", name="研发部-旧群",
                               status="dismissed"),
    }
    found.update(robot_key=key, robot_chat=robot_chat)
    yield found
    # issue 10: whatever the test did, the robot's key (a bearer secret) is in no outbox payload
    with runtime.sessions() as session:
        payloads = [json.dumps(p, ensure_ascii=False) for p in session.scalars(select(OutboxAction.payload))]
    assert not [p for p in payloads if key in p], "a robot key in an outbox payload"


def webhook(key: str) -> str:
    return f"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={key}"


def register(client, admin, **values) -> int:
    body = dict(owner="zhangsan", custodian="lisi", scope={"departments": [1]}, **values)
    response = client.post("/api/v1/groups/register", headers=bearer(admin), json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def announce(client, admin, group_ids, **values):
    response = client.post("/api/v1/announcements", headers=bearer(admin), json=dict(TEXT, groups=group_ids, **values))
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def shown(client, admin, announcement_id) -> dict:
    response = client.get(f"/api/v1/announcements/{announcement_id}", headers=bearer(admin))
    assert response.status_code == 200
    return response.get_json()


def by_group(body) -> dict[int, dict]:
    return {d["group"]: d for d in body["deliveries"]}


def posts(state, api=None) -> list[dict]:
    """What reached WeCom: appchat/send and webhook/send records, with their chat."""
    return [m for m in state.messages if m["api"] in ((api,) if api else ("appchat/send", "webhook/send"))]


def deliver(runtime):
    return jobs.outbox.run(runtime)  # send_due, then settle (the deliveries take WeCom's answers)


def at(sandbox_clock, moment: datetime) -> None:
    sandbox_clock.advance(moment.timestamp() - sandbox_clock())


def counts(runtime) -> tuple[int, ...]:
    with runtime.sessions() as session:
        return tuple(session.scalar(select(func.count()).select_from(model))
                     for model in (Announcement, AnnouncementDelivery, OutboxAction, AuditEntry))


# -- one announcement, many groups ------------------------------------------------------------


def test_r17_one_announcement_reaches_appchat_and_robot_and_lists_the_unreachable(client, runtime, admin, groups,
                                                                                   sandbox_state):
    ids = [groups[k] for k in ("managed", "robot", "internal", "customer", "creating", "dismissed")]
    response = client.post("/api/v1/announcements", headers=bearer(admin), json=dict(TEXT, groups=ids))
    assert response.status_code == 201
    body = response.get_json()
    assert body["id"] and response.headers["Location"].endswith(f"/api/v1/announcements/{body['id']}")
    deliveries = by_group(body)
    assert [d["group"] for d in body["deliveries"]] == ids  # every group, none skipped
    assert deliveries[groups["managed"]]["channel"] == "appchat" and deliveries[groups["robot"]]["channel"] == "webhook"
    assert {deliveries[groups[k]]["status"] for k in ("managed", "robot")} == {"queued"}
    unreachable = {u["group"]: u["reason"] for u in body["unreachable"]}
    assert set(unreachable) == {groups[k] for k in ("internal", "customer", "creating", "dismissed")}
    assert "internal group without a robot webhook" in unreachable[groups["internal"]]
    assert "customer group without a robot webhook" in unreachable[groups["customer"]]
    assert "still being created" in unreachable[groups["creating"]]
    assert "dismissed" in unreachable[groups["dismissed"]]
    assert body["counts"] == {"queued": 2, "sent": 0, "failed": 0, "unreachable": 4}
    assert groups["robot_key"] not in response.get_data(as_text=True)  # the robot key is a secret

    assert deliver(runtime).sent == 2
    after = shown(client, admin, body["id"])
    assert after["counts"] == {"queued": 0, "sent": 2, "failed": 0, "unreachable": 4}
    assert all(after["deliveries"][i]["sent_at"] for i in (0, 1))
    appchat, robot = posts(sandbox_state, "appchat/send"), posts(sandbox_state, "webhook/send")
    assert [(m["chatid"], m["body"]["text"]["content"]) for m in appchat] == [(MANAGED_CHAT[0], TEXT["content"])]
    assert [(m["chatid"], m["body"]) for m in robot] == [
        (groups["robot_chat"], {"msgtype": "text", "text": {"content": TEXT["content"]}})]
    assert len(posts(sandbox_state)) == 2  # nothing reached the unreachable groups
    with runtime.sessions() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "announcement.create")).one()
    assert entry.actor == "api:office" and entry.target == f"announcement:{body['id']}"
    assert entry.details["unreachable"] == [groups[k] for k in ("internal", "customer", "creating", "dismissed")]


def test_r17_markdown_goes_as_markdown_on_both_channels(client, runtime, admin, groups, sandbox_state):
    content = "**消防演练**\n> 时间：周五 15:00\n> 地点：一楼大厅"
    announce(client, admin, [groups["managed"], groups["robot"]], msgtype="markdown", content=content)
    assert deliver(runtime).sent == 2
    assert [(m["api"], m["msgtype"], m["body"]["markdown"]["content"]) for m in posts(sandbox_state)] == [
        ("appchat/send", "markdown", content), ("webhook/send", "markdown", content)]


def test_r17_the_same_group_twice_is_one_delivery(client, runtime, admin, groups, sandbox_state):
    body = announce(client, admin, [groups["robot"], groups["robot"]])
    assert len(body["deliveries"]) == 1
    deliver(runtime)
    assert len(posts(sandbox_state)) == 1


# -- R4: quiet hours, schedules, urgency ------------------------------------------------------------


def test_r4_non_urgent_announcement_at_night_waits_for_the_next_working_window(client, runtime, admin, groups,
                                                                              sandbox_clock, sandbox_state):
    at(sandbox_clock, MONDAY_0900.replace(hour=20))
    body = announce(client, admin, [groups["managed"], groups["robot"]])
    tuesday = MONDAY_0900 + timedelta(days=1)
    # one send time for the announcement and each of its posts: the window's start plus its own 1-4 minutes
    goes = datetime.fromisoformat(body["goes_at"])
    assert tuesday + timedelta(minutes=1) <= goes <= tuesday + timedelta(minutes=4) and body["held"] is True
    stats = deliver(runtime)
    assert stats.claimed == 0 and stats.sent == 0 and posts(sandbox_state) == []
    for delivery in shown(client, admin, body["id"])["deliveries"]:
        assert delivery["status"] == "queued"
        assert datetime.fromisoformat(delivery["next_attempt_at"]) == goes

    at(sandbox_clock, tuesday - timedelta(minutes=30))  # still before the window: nothing due
    assert deliver(runtime).claimed == 0 and posts(sandbox_state) == []
    at(sandbox_clock, tuesday + timedelta(minutes=5))
    assert deliver(runtime).sent == 2
    sent = shown(client, admin, body["id"])["deliveries"]
    assert all(datetime.fromisoformat(d["sent_at"]) >= tuesday for d in sent)


def test_r4_saturday_announcement_waits_for_monday(client, runtime, admin, groups, sandbox_clock, sandbox_state):
    at(sandbox_clock, MONDAY_0900 + timedelta(days=5, hours=2))  # Saturday 2026-03-07 11:00
    body = announce(client, admin, [groups["robot"]])
    monday = MONDAY_0900 + timedelta(days=7)
    assert monday < datetime.fromisoformat(body["goes_at"]) <= monday + timedelta(minutes=4)
    assert deliver(runtime).claimed == 0 and posts(sandbox_state) == []


def test_r4_urgent_announcement_goes_at_once_at_night(client, runtime, admin, groups, sandbox_clock, sandbox_state):
    at(sandbox_clock, MONDAY_0900.replace(hour=23))
    body = announce(client, admin, [groups["managed"], groups["robot"]], urgent=True)
    assert body["urgent"] is True and body["goes_at"] == body["send_at"]
    assert deliver(runtime).sent == 2
    assert len(posts(sandbox_state)) == 2
    assert shown(client, admin, body["id"])["counts"]["sent"] == 2


def test_r4_a_scheduled_announcement_waits_until_send_at(client, runtime, admin, groups, sandbox_clock, sandbox_state):
    send_at = MONDAY_0900.replace(hour=10, minute=30)
    body = announce(client, admin, [groups["robot"]], send_at=send_at.isoformat())
    assert datetime.fromisoformat(body["send_at"]) == send_at
    assert deliver(runtime).claimed == 0 and posts(sandbox_state) == []
    at(sandbox_clock, send_at + timedelta(minutes=1))
    assert deliver(runtime).sent == 1 and len(posts(sandbox_state)) == 1


def test_r4_a_send_at_in_the_past_means_now(client, runtime, admin, groups, sandbox_state):
    body = announce(client, admin, [groups["robot"]], send_at="2026-03-01T08:00:00Z")
    assert datetime.fromisoformat(body["send_at"]) == MONDAY_0900
    assert deliver(runtime).sent == 1


# -- retries and failures -----------------------------------------------------------------------------


def test_r17_a_busy_robot_is_retried_then_sent(client, runtime, admin, groups, sandbox_clock, sandbox_state):
    sandbox_state.faults.add("webhook/send", "errcode", errcode=-1, count=1)
    body = announce(client, admin, [groups["robot"]])
    assert deliver(runtime).retried == 1 and posts(sandbox_state) == []
    (delivery,) = shown(client, admin, body["id"])["deliveries"]
    assert delivery["status"] == "queued" and delivery["attempts"] == 1 and delivery["last_errcode"] == -1

    sandbox_clock.advance(120)  # past the back-off
    assert deliver(runtime).sent == 1
    (delivery,) = shown(client, admin, body["id"])["deliveries"]
    assert delivery["status"] == "sent" and delivery["attempts"] == 2 and delivery["errcode"] is None
    assert len(posts(sandbox_state)) == 1  # once


def test_r17_a_removed_robot_fails_with_93000_and_an_operator_retry_sends_it(client, runtime, admin, groups,
                                                                             sandbox_state):
    chat = sandbox_state.robots.pop(groups["robot_key"])  # someone removed the robot from the group
    body = announce(client, admin, [groups["managed"], groups["robot"]])
    stats = deliver(runtime)
    assert stats.sent == 1 and stats.failed == 1
    after = shown(client, admin, body["id"])
    robot = by_group(after)[groups["robot"]]
    assert robot["status"] == "failed" and robot["errcode"] == 93000 and "invalid webhook url" in robot["reason"]
    assert after["counts"] == {"queued": 0, "sent": 1, "failed": 1, "unreachable": 0}

    sandbox_state.robots[groups["robot_key"]] = chat  # the robot is back; the operator re-sends
    with runtime.sessions.begin() as session:
        row = session.scalars(select(OutboxAction).where(OutboxAction.kind == "webhook/send")).one()
        outbox.retry_failed(session, row.id, now=runtime.clock())
    assert by_group(shown(client, admin, body["id"]))[groups["robot"]]["status"] == "queued"
    assert deliver(runtime).sent == 1
    robot = by_group(shown(client, admin, body["id"]))[groups["robot"]]
    assert robot["status"] == "sent" and robot["errcode"] is None and robot["reason"] == ""
    assert [m["chatid"] for m in posts(sandbox_state, "webhook/send")] == [chat]


def test_r17_the_robot_post_names_its_group_and_the_key_is_decrypted_when_sent(client, runtime, admin, groups,
                                                                               sandbox_state):
    """Issue 10: the outbox row carries the group, never the robot's key."""
    body = announce(client, admin, [groups["robot"]])
    with runtime.sessions() as session:
        row = session.scalars(select(OutboxAction).where(OutboxAction.kind == "webhook/send")).one()
    assert row.payload == {"group_id": groups["robot"],
                           "body": {"msgtype": "text", "text": {"content": TEXT["content"]}}}
    deliver(runtime)
    assert by_group(shown(client, admin, body["id"]))[groups["robot"]]["status"] == "sent"
    assert [m["chatid"] for m in posts(sandbox_state, "webhook/send")] == [groups["robot_chat"]]


@pytest.mark.parametrize("change, reason", [
    ({"robot_webhook": None}, "has no robot webhook any more"),
    ({"robot_webhook": "not-a-fernet-token"}, "cannot be decrypted (SECRET_KEY changed since)"),
])
def test_r17_a_robot_key_gone_before_sending_fails_the_delivery_with_why(client, runtime, admin, groups,
                                                                        sandbox_state, change, reason):
    body = announce(client, admin, [groups["robot"]])
    with runtime.sessions.begin() as session:
        for name, value in change.items():
            setattr(session.get(Group, groups["robot"]), name, value)
    deliver(runtime)
    robot = by_group(shown(client, admin, body["id"]))[groups["robot"]]
    assert robot["status"] == "failed" and reason in robot["reason"] and f"group {groups['robot']}" in robot["reason"]
    assert posts(sandbox_state, "webhook/send") == []


def test_r17_a_managed_group_gone_from_wecom_fails_with_86003(client, runtime, admin, groups, sandbox_state):
    del sandbox_state.appchats[MANAGED_CHAT[0]]
    body = announce(client, admin, [groups["managed"]])
    assert deliver(runtime).failed == 1
    (delivery,) = shown(client, admin, body["id"])["deliveries"]
    assert delivery["status"] == "failed" and delivery["errcode"] == 86003


# -- validation: 422 on the field, 400 for bad JSON, nothing stored ------------------------------------


@pytest.mark.parametrize("change, field", [
    ({"groups": [999]}, "groups"),  # no such group
    ({"groups": []}, "groups"),
    ({"groups": ["x"]}, "groups[0]"),
    ({"msgtype": "news"}, "msgtype"),
    ({"content": "汉" * 683}, "content"),  # 2049 bytes in UTF-8, under 2048 characters
    ({"content": "a" * 2049}, "content"),
    ({"content": "  "}, "content"),
    ({"send_at": "2026-03-02T10:00:00"}, "send_at"),  # no time zone
    ({"send_at": "next monday"}, "send_at"),
    ({"urgent": "yes"}, "urgent"),
    ({"colour": "red"}, "colour"),
])
def test_r17_an_invalid_announcement_is_422_naming_the_field_and_stores_nothing(client, runtime, admin, groups,
                                                                              change, field):
    before = counts(runtime)
    body = {**TEXT, "groups": [groups["robot"]], **change}
    response = client.post("/api/v1/announcements", headers=bearer(admin), json=body)
    assert response.status_code == 422 and error(response)["field"] == field
    assert counts(runtime) == before


def test_r17_content_of_exactly_2048_bytes_is_accepted(client, admin, groups):
    announce(client, admin, [groups["robot"]], content="汉" * 682 + "ab")


def test_r17_a_markdown_takes_the_smallest_limit_of_its_groups_channels(client, runtime, admin, groups):
    """A robot takes 4,096 bytes of markdown (99398), appchat/send 2,048 (90248): 3,000
    bytes go to the robot's group alone, and are refused, naming the limit and the
    channel, when a managed group is among the groups. Nothing WeCom would cut is sent."""
    markdown = {"msgtype": "markdown", "content": "**演练**ab" + "汉" * 996}  # 3,000 bytes
    before = counts(runtime)
    refused = client.post("/api/v1/announcements", headers=bearer(admin),
                          json=dict(markdown, groups=[groups["robot"], groups["managed"]]))
    assert refused.status_code == 422 and error(refused)["field"] == "content"
    assert "2048 bytes" in error(refused)["message"] and "appchat/send" in error(refused)["message"]
    assert counts(runtime) == before
    body = announce(client, admin, [groups["robot"]], **markdown)
    assert deliver(runtime).sent == 1
    assert shown(client, admin, body["id"])["deliveries"][0]["status"] == "sent"


def test_r17_content_over_every_channels_limit_is_refused_naming_the_bytes(client, runtime, admin, groups):
    refused = client.post("/api/v1/announcements", headers=bearer(admin),
                          json=dict(TEXT, msgtype="markdown", content="a" * 4097, groups=[groups["robot"]]))
    assert refused.status_code == 422 and error(refused)["field"] == "content"
    assert error(refused)["message"].startswith("must be at most 4096 bytes in UTF-8")


@pytest.mark.parametrize("raw", [b"{groups: [1]}", b"[1, 2]", b"\xff\xfe"])
def test_r17_malformed_json_is_400_and_stores_nothing(client, runtime, admin, groups, raw):
    before = counts(runtime)
    response = client.post("/api/v1/announcements", headers=dict(bearer(admin), **{"Content-Type": "application/json"}),
                           data=raw)
    assert response.status_code == 400 and error(response)["code"] == "malformed_json"
    assert counts(runtime) == before


def test_r17_only_admins_announce_readers_see(client, runtime, admin, groups):
    body = announce(client, admin, [groups["robot"]])
    before = counts(runtime)
    readonly = issue_token(runtime, "readonly")
    custodian = issue_token(runtime, "custodian", userid="lisi")
    for token in (readonly, custodian):
        assert client.post("/api/v1/announcements", headers=bearer(token),
                           json=dict(TEXT, groups=[groups["robot"]])).status_code == 403
    assert client.post("/api/v1/announcements", json=dict(TEXT, groups=[groups["robot"]])).status_code == 401
    assert counts(runtime) == before
    assert client.get(f"/api/v1/announcements/{body['id']}", headers=bearer(readonly)).status_code == 200
    assert client.get("/api/v1/announcements/9999", headers=bearer(readonly)).status_code == 404


def test_r17_the_list_is_paginated_newest_first_with_counts(client, admin, groups):
    made = [announce(client, admin, [groups["robot"], groups["internal"]], content=f"通知 {i}")["id"]
            for i in range(3)]
    response = client.get("/api/v1/announcements?per_page=2", headers=bearer(admin))
    page = response.get_json()
    assert page["total"] == 3 and [a["id"] for a in page["items"]] == made[:0:-1]
    assert page["items"][0]["counts"] == {"queued": 1, "sent": 0, "failed": 0, "unreachable": 1}
    assert "page=2" in page["next"]
    rest = client.get(page["next"], headers=bearer(admin)).get_json()
    assert [a["id"] for a in rest["items"]] == made[:1] and rest["next"] is None


# -- the emulator's group robot (99398) ---------------------------------------------------------------


def robot_post(emulator_url, key, body):
    response = requests.post(emulator_url + "webhook/send", params={"key": key},
                             data=json.dumps(body, ensure_ascii=False).encode(), timeout=5)
    assert response.status_code == 200
    return response.json()


def test_r17_sandbox_robot_posts_without_an_access_token(emulator_url, sandbox_state):
    key = sandbox_state.add_robot("wrSomeChat")
    answer = robot_post(emulator_url, key, {"msgtype": "text", "text": {"content": "你好"}})
    assert answer == {"errcode": 0, "errmsg": "ok"}
    (record,) = posts(sandbox_state, "webhook/send")
    assert record["chatid"] == "wrSomeChat" and record["body"]["text"]["content"] == "你好"
    (call,) = sandbox_state.calls("webhook/send")
    assert call["params"]["key"] == "***"  # the key is a bearer secret, kept out of the call log


@pytest.mark.parametrize("key", ["", "00000000-0000-0000-0000-000000000000"])
def test_r17_sandbox_robot_unknown_key_is_93000(emulator_url, sandbox_state, key):
    answer = robot_post(emulator_url, key, {"msgtype": "text", "text": {"content": "x"}})
    assert answer["errcode"] == 93000 and "invalid webhook url" in answer["errmsg"]
    assert posts(sandbox_state) == []


@pytest.mark.parametrize("body, errcode", [
    ({"msgtype": "text", "text": {"content": ""}}, 44004),
    ({"msgtype": "template_card", "template_card": {}}, 40008),
])
def test_r17_sandbox_robot_refuses_what_wecom_refuses(emulator_url, sandbox_state, body, errcode):
    key = sandbox_state.add_robot("wrSomeChat")
    assert robot_post(emulator_url, key, body)["errcode"] == errcode
    assert posts(sandbox_state) == []


@pytest.mark.wecom_truncates
def test_r17_sandbox_robot_cuts_a_long_text_and_refuses_a_long_markdown(emulator_url, sandbox_state):
    """99398: text at most 2048 bytes (beyond: cut, UNCONFIRMED), markdown at most 4096
    (beyond: 40058 "markdown.content exceed max length 4096", as WeCom answers); both recorded."""
    key = sandbox_state.add_robot("wrSomeChat")
    assert robot_post(emulator_url, key, {"msgtype": "text", "text": {"content": "a" * 2049}})["errcode"] == 0
    answer = robot_post(emulator_url, key, {"msgtype": "markdown", "markdown": {"content": "a" * 4097}})
    assert answer["errcode"] == 40058 and "exceed max length 4096" in answer["errmsg"]
    (post,) = posts(sandbox_state)
    assert post["body"]["text"]["content"] == "a" * 2048
    assert [(c["msgtype"], c["action"]) for c in sandbox_state.truncated] == [("text", "truncated"),
                                                                             ("markdown", "refused")]


def test_r17_sandbox_robot_limits(emulator_url, sandbox_state, sandbox_clock):
    key, other = sandbox_state.add_robot("wrA"), sandbox_state.add_robot("wrB")
    assert robot_post(emulator_url, key, {"msgtype": "text", "text": {"content": "a" * 2048}})["errcode"] == 0
    assert robot_post(emulator_url, key, {"msgtype": "markdown", "markdown": {"content": "a" * 4096}})["errcode"] == 0
    for i in range(18):
        assert robot_post(emulator_url, key, {"msgtype": "text", "text": {"content": f"{i}"}})["errcode"] == 0
    assert robot_post(emulator_url, key, {"msgtype": "text", "text": {"content": "21st"}})["errcode"] == 45009
    assert robot_post(emulator_url, other, {"msgtype": "text", "text": {"content": "other"}})["errcode"] == 0
    sandbox_clock.advance(61)
    assert robot_post(emulator_url, key, {"msgtype": "text", "text": {"content": "later"}})["errcode"] == 0
