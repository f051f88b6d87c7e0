"""Internal groups come into view through the archive (issue 12 item 4): every roomid seen is
read with msgaudit/groupchat/get (92951) and becomes a discovered internal group, queued for
registration (GET /api/v1/groups?status=pending); once registered its members are mirrored
and judged like any other kind's (R1, R11, R2) as custodian tasks and violations — the app
removes no one from an internal group. A room that is not an internal group is kept with
its error and not read for ever; msgaudit_notify pulls at once; the permit list (91614)
gives "messages of N of its M members are seen". SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import select

from tests.plugins.archive import ARCHIVE_SECRET, ROOM, group_of, read_rooms, register, run_pull
from tests.plugins.api import bearer, issue_token
from tests.plugins.world import actions, member, push, texts_to
from wecom_app.archive import job as archive_job
from wecom_app.archive.rooms import read_permit_users
from wecom_app.governance import registry
from wecom_app.models import ArchiveRoom, Group, Violation
from wecom_app.sandbox.pusher import msgaudit_notify


def violations(session) -> list[tuple[str, str]]:
    return [(v.rule, v.userid) for v in session.scalars(select(Violation).order_by(Violation.id))]


def test_a_room_nobody_registered_becomes_a_discovered_internal_group_queued_for_registration(arc, engine):
    from wecom_app.app import Runtime, create_app

    arc.archive.post(ROOM, "lina", "大家好")
    run_pull(arc)
    counts = read_rooms(arc)
    assert (counts.read, counts.discovered) == (1, 1)
    group = group_of(arc)
    assert (group.kind, group.status, group.name, group.owner) == ("internal", "discovered", "行政部-日常沟通", "wangfang")
    with arc.sessions() as session:
        assert member(session, group.id, "chenjing").state == "present"
        assert member(session, group.id, "chenjing").compliance == "unknown"  # judged once registered
        assert texts_to(session, "lina") == []
    client = create_app(arc.settings, runtime=Runtime(arc.settings, engine=engine, clock=arc.now)).test_client()
    token = issue_token(SimpleRuntime(arc), "admin", name="office")
    pending = client.get("/api/v1/groups?status=pending", headers=bearer(token)).get_json()
    assert [(g["kind"], g["chatid"], g["status"]) for g in pending["items"]] == [("internal", ROOM, "discovered")]
    answer = client.post("/api/v1/groups/register", headers=bearer(token), json=dict(
        kind="internal", chat_id=ROOM, name="行政部-日常沟通", owner="wangfang", custodian="lina",
        scope={"departments": [3]}))
    assert answer.status_code == 201, answer.get_json()
    body = answer.get_json()
    assert (body["id"], body["kind"], body["status"]) == (group.id, "internal", "active")
    assert {m["userid"]: m["compliance"] for m in body["members"]} == {"wangfang": "ok", "lina": "ok", "chenjing": "ok"}
    assert client.get("/api/v1/groups?status=pending", headers=bearer(token)).get_json()["items"] == []


class SimpleRuntime:
    """What the jobs and helpers take of a Runtime: settings, sessions, clock, client."""

    def __init__(self, arc):
        self.settings, self.sessions, self.clock, self.client = arc.settings, arc.sessions, arc.now, arc.client


def test_r11_an_out_of_scope_member_of_a_registered_internal_group_is_a_custodian_task_never_a_removal(arc):
    arc.archive.add_room(ROOM, "行政部-日常沟通", "wangfang", ["wangfang", "lina", "chenjing", "caoyang"])
    arc.archive.post(ROOM, "lina", "大家好")
    run_pull(arc)
    read_rooms(arc)
    group_id = register(arc)
    with arc.sessions() as session:
        assert member(session, group_id, "caoyang").compliance == "out_of_scope"
        assert member(session, group_id, "chenjing").compliance == "ok"
        (task,) = texts_to(session, "lina")
        assert "内部群「行政部-日常沟通」" in task and "曹阳（caoyang）" in task and "R11" in task
        assert "不提供移出该群成员的接口" in task  # the app says it cannot remove anyone
        assert violations(session) == [("R11", "caoyang")]
        assert actions(session, "appchat/update") == []
    arc.clock.advance(16 * 60)  # reconciliation reads it again: the same finding is not told twice
    assert read_rooms(arc).read == 1
    with arc.sessions() as session:
        assert len(texts_to(session, "lina")) == 1 and len(violations(session)) == 1


def test_r1_a_new_member_who_speaks_gets_the_group_read_again_and_judged(arc):
    arc.archive.post(ROOM, "lina", "大家好")
    run_pull(arc)
    read_rooms(arc)
    group_id = register(arc)
    arc.archive.rooms[ROOM]["members"].append(dict(memberid="jiayun", jointime=int(arc.clock())))  # not activated
    arc.archive.permit_users(["jiayun"])
    arc.archive.post(ROOM, "jiayun", "我是新来的")
    run_pull(arc)
    with arc.sessions() as session:
        assert session.scalar(select(ArchiveRoom)).read_due_at is not None  # a speaker we have not seen
    assert read_rooms(arc).joined == 1
    with arc.sessions() as session:
        joined = member(session, group_id, "jiayun")
        assert (joined.state, joined.compliance, joined.join_time) == ("present", "not_active", int(arc.clock()))
        assert violations(session) == [("R1", "jiayun")]
    arc.archive.rooms[ROOM]["members"] = [m for m in arc.archive.rooms[ROOM]["members"] if m["memberid"] != "jiayun"]
    arc.clock.advance(16 * 60)
    assert read_rooms(arc).left == 1  # reconciliation: the custodian removed them in the client
    with arc.sessions() as session:
        assert member(session, group_id, "jiayun").state == "removed"


def test_a_room_that_is_not_an_internal_group_is_kept_with_its_error_and_not_read_for_ever(arc):
    arc.archive.add_room("wrNotInternal0000000000000001", "客户群？", "wangfang", ["wangfang", "lina"])
    arc.archive.post("wrNotInternal0000000000000001", "lina", "您好")
    del arc.archive.rooms["wrNotInternal0000000000000001"]  # msgaudit/groupchat/get answers 301059 for it
    run_pull(arc)
    for hours in (0, 1, 25):
        arc.clock.advance(hours * 3600)
        assert read_rooms(arc).not_readable == 1
    for _ in range(3):
        arc.clock.advance(7 * 86400)
        assert read_rooms(arc).total == 0
    with arc.sessions() as session:
        room = session.scalar(select(ArchiveRoom))
        assert (room.read_errcode, room.read_attempts, room.read_due_at, room.group_id) == (301059, 3, None, None)
    assert group_of(arc, "wrNotInternal0000000000000001") is None
    assert len(arc.state.calls("msgaudit/groupchat/get")) == 3


def test_a_room_that_is_a_known_customer_group_is_linked_not_read_as_internal(arc):
    chat = "wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA"  # 华东客户交流群, a customer group the registry knows
    with arc.sessions.begin() as session:
        registry.discover_customer_group(session, chat, arc.now())
    arc.archive.add_room(chat, "华东客户交流群", "hujie", ["hujie", "zhuxia"])
    arc.archive.permit_users(["hujie"])
    arc.archive.post(chat, "hujie", "客户群里的话")
    run_pull(arc)
    assert read_rooms(arc).total == 0
    customer = group_of(arc, chat)
    with arc.sessions() as session:
        room = session.scalar(select(ArchiveRoom))
        assert room.group_id == customer.id and room.read_due_at is None and customer.kind == "customer"
    assert arc.state.calls("msgaudit/groupchat/get") == []


def test_msgaudit_notify_makes_the_archive_pull_within_seconds(arc):
    arc.archive.post(ROOM, "lina", "新消息")
    runtime = SimpleRuntime(arc)
    assert archive_job.run(runtime, only_if_notified=True) is None  # nothing notified: the 5-second job does nothing
    # the callback (95039), stored and dispatched to handlers/archive.py
    push(arc, msgaudit_notify(ToUserName=arc.settings.corp_id, AgentID=1000002, CreateTime=int(arc.clock())))
    result = archive_job.run(runtime, only_if_notified=True)
    assert result.pull.stored == 1 and result.rooms.discovered == 1 and result.lag_seconds < 60
    assert archive_job.run(runtime, only_if_notified=True) is None  # the notify is used up


def test_the_group_shows_messages_of_n_of_its_m_members_are_seen(arc):
    arc.archive.permit.clear()
    arc.archive.permit_users(["wangfang", "lina"])
    arc.archive.post(ROOM, "lina", "大家好")
    run_pull(arc)
    read_rooms(arc)
    group_id = group_of(arc).id
    with arc.sessions() as session:
        assert registry.group_view(session, session.get(Group, group_id))["archive"] is None  # not read yet
    assert read_permit_users(arc.sessions, arc.client, arc.settings, arc.now()) == 2
    with arc.sessions() as session:
        shown = registry.group_view(session, session.get(Group, group_id))["archive"]
    assert (shown["seen_members"], shown["members"]) == (2, 3) and "3 名成员中 2 人" in shown["text"]


def test_the_group_page_shows_coverage_and_lag_or_what_the_archive_would_add(arc, engine, wb_settings):
    import dataclasses

    from tests.plugins.workbench import login, make_wb_app

    arc.archive.post(ROOM, "lina", "大家好")
    run_pull(arc)
    read_rooms(arc)
    read_permit_users(arc.sessions, arc.client, arc.settings, arc.now())
    group_id = group_of(arc).id
    on = dataclasses.replace(wb_settings, archive_secret=ARCHIVE_SECRET, finance_sdk="emulator",
                             archive_private_keys=arc.settings.archive_private_keys)
    for settings, shown in ((on, "本群 3 名成员中 3 人的消息在会话存档范围内"), (wb_settings, "未开通会话内容存档")):
        client = make_wb_app(settings, engine, synced=False).test_client()
        login(client, arc.state, "zhangwei")
        page = client.get(f"/groups/{group_id}").text
        assert 'data-test="archive"' in page and shown in page
    assert "仍然不能移出成员或拦截消息" in page  # off: what it would add, and what it still could not do
